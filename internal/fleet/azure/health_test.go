package azure

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v7"

	"stayup/internal/fleet"
)

// clock is a test's time, moved by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// The gateway's backend health is a long-running operation of 10 to 30 s:
// at the shipped cadence, polls within 30 s of a read answer from it and
// start none; an older view starts exactly one background read (however
// many polls come while it runs), is answered at once meanwhile and says
// how old it is; the new read's answer then replaces it.
func TestBackendHealthIsReadAtItsOwnCadence(t *testing.T) {
	t.Parallel()
	f := newFake()
	c := &clock{t: t0.Add(time.Hour)}
	fl := newFleet(f).WithHealthEvery(BackendHealthEvery)
	fl.now = c.now
	ctx := ctxT(t)

	first := c.now()
	list, err := fl.Instances(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.count("gateways.backendHealth"); got != 1 {
		t.Fatalf("the first read started %d backend health operations, want 1", got)
	}
	if list[0].HealthAsOf != first || list[0].Health != fleet.Healthy {
		t.Fatalf("first read: %+v, want healthy as of %v", list[0], first)
	}

	// Polls every 5 s within the window: no new operation.
	for range 5 {
		c.add(5 * time.Second)
		if _, err := fl.Instances(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got := f.count("gateways.backendHealth"); got != 1 {
		t.Fatalf("polls within %v started %d operations, want none after the first", BackendHealthEvery, got-1)
	}

	// The view is 30 s old: the next poll starts one read, held here as a
	// slow operation is; the polls meanwhile answer from the old view,
	// labelled with its age, and start no other.
	release := make(chan struct{})
	f.mu.Lock()
	f.onHealth = func() { <-release }
	f.health["10.0.1.4"] = armnetwork.ApplicationGatewayBackendHealthServerHealthDown
	f.mu.Unlock()
	c.add(5 * time.Second)
	for range 3 {
		list, err := fl.Instances(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if list[0].HealthAsOf != first || list[0].Health != fleet.Healthy {
			t.Fatalf("during the refresh: %+v, want the old view (healthy, as of %v)", list[0], first)
		}
		c.add(5 * time.Second)
	}
	close(release)
	deadline := time.Now().Add(5 * time.Second)
	for {
		list, err := fl.Instances(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if list[0].HealthAsOf.After(first) {
			if list[0].Health != fleet.Unhealthy || list[0].HealthAsOf != first.Add(30*time.Second) {
				t.Errorf("after the refresh: %+v, want unhealthy as of the refresh's start %v", list[0], first.Add(30*time.Second))
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the background read's answer never replaced the old view")
		}
		time.Sleep(time.Millisecond)
	}
	if got := f.count("gateways.backendHealth"); got != 2 {
		t.Errorf("%d operations in all, want 2: one per 30 s, never two in flight", got)
	}
}

// A background read that fails keeps the last answer, which grows older
// (and says so); a first read that fails is the caller's error.
func TestBackendHealthFailureKeepsTheLastView(t *testing.T) {
	t.Parallel()
	f := newFake()
	c := &clock{t: t0.Add(time.Hour)}
	fl := newFleet(f).WithHealthEvery(BackendHealthEvery)
	fl.now = c.now
	ctx := ctxT(t)
	first := c.now()
	if _, err := fl.Instances(ctx); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.errs = map[string][]error{"gateways.backendHealth": {apiError(http.StatusInternalServerError, "InternalServerError"), apiError(http.StatusInternalServerError, "InternalServerError"), apiError(http.StatusInternalServerError, "InternalServerError"), apiError(http.StatusInternalServerError, "InternalServerError")}}
	f.mu.Unlock()
	c.add(time.Minute)
	list, err := fl.Instances(ctx)
	if err != nil || list[0].HealthAsOf != first {
		t.Fatalf("got %v, %v; want the old view as of %v", list, err, first)
	}

	g := newFake()
	g.errs = map[string][]error{"gateways.backendHealth": {apiError(http.StatusInternalServerError, "InternalServerError")}}
	if _, err := newFleet(g).WithHealthEvery(BackendHealthEvery).Instances(ctx); err == nil {
		t.Error("a first read that fails gave no error")
	}
}
