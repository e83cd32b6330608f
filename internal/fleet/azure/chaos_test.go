package azure

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v7"

	"stayup/internal/chaos"
	"stayup/internal/fleet"
	"stayup/internal/probe"
)

// repairs plays automatic instance repairs behind a shippedFake: a VM whose
// container was killed fails the gateway's probe and the Application Health
// extension at once, and after the grace (graceReads backend health
// answers) the scale set deletes it and creates a VM in its zone, keeping
// the capacity ("Automatic instance repairs for Azure Virtual Machine Scale
// Sets": Replace deletes the unhealthy instance and creates a new one; the
// new VM then boots like any other).
type repairs struct {
	m          *model
	graceReads int
	crashed    map[string]int // VM -> answers left until the repair
}

// crash is the guest running the crash script (f.mu held): the container
// dies, nothing restarts it.
func (r *repairs) crash(id string) {
	f := r.m.f
	f.views[id] = view("running", "unhealthy")
	f.health[f.ips[id]] = down
	r.crashed[id] = r.graceReads
}

func (r *repairs) tick() {
	r.m.tick()
	f := r.m.f
	f.mu.Lock()
	defer f.mu.Unlock()
	for id, left := range r.crashed {
		if left--; left > 0 {
			r.crashed[id] = left
			continue
		}
		delete(r.crashed, id)
		zone := ""
		for _, v := range f.vms {
			if deref(v.InstanceID) == id {
				zone = *v.Zones[0]
			}
		}
		r.m.remove(id)
		next := 0
		for _, v := range f.vms {
			next = max(next, atoi(deref(v.InstanceID))+1)
		}
		r.m.add(strconv.Itoa(next), zone, t0.Add(2*time.Hour), false)
	}
}

func okURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String() + "/"
}

func azureExperiment(t *testing.T, f *fakeAzure, mode fleet.KillMode) chaos.Report {
	t.Helper()
	return azureExperimentSeed(t, f, mode, 5)
}

func azureExperimentSeed(t *testing.T, f *fakeAzure, mode fleet.KillMode, seed uint64) chaos.Report {
	t.Helper()
	e, err := chaos.Prepare(context.Background(), chaos.Options{
		Stack: "azure", Fleet: newFleet(f).WithWait(time.Millisecond, 5*time.Second), URL: okURL(t), Count: 1, Mode: mode,
		Timeout: 10 * time.Second, Poll: 5 * time.Millisecond, Baseline: 20 * time.Millisecond,
		Probe: []probe.Option{probe.Interval(10 * time.Millisecond)},
		Rand:  rand.New(rand.NewPCG(seed, seed)),
	})
	if err != nil {
		t.Fatalf("at the shipped capacity (min = desired = 3, one VM in each of zones 1-3): %v", err)
	}
	r, err := e.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if r.Verdict != chaos.Recovered || len(r.Victims) != 1 {
		t.Fatalf("verdict %q (%s), victims %+v; timeline %+v", r.Verdict, r.Reason, r.Victims, r.Timeline)
	}
	return r
}

// An abrupt kill of one of the shipped three: the crash script runs, the
// VM fails its checks, repairs replace it, and the fleet is whole again.
func TestChaosAbruptAtShippedCapacity(t *testing.T) {
	t.Parallel()
	f, m := shippedFake(3)
	r := &repairs{m: m, graceReads: 4, crashed: map[string]int{}}
	f.onHealth = r.tick
	f.guest = func(script string) (string, string) {
		if !strings.Contains(script, "docker kill --signal KILL stayup") {
			return killMarker + "1\n", "not the crash script"
		}
		r.crash(f.ranOn[len(f.ranOn)-1])
		return killMarker + "0\n", ""
	}
	rep := azureExperiment(t, f, fleet.Abrupt)
	v := rep.Victims[0]
	if v.HealedBy != chaos.HealedReplaced || v.Replacement == "" || v.Replacement == v.ID || v.Detected == nil {
		t.Errorf("victim %+v: want seen out, then replaced by a new VM", v)
	}
	if f.count("vms.runCommand") != 1 || len(f.deleted) != 0 || len(f.updates) != 0 {
		t.Errorf("run commands %d, deletes %v, capacity updates %v: an abrupt kill is one crash in the guest, nothing else", f.count("vms.runCommand"), f.deleted, f.updates)
	}
}

// A graceful kill of one of the shipped three on an idle fleet: the hold
// keeps autoscale from removing the extra VM, the victim is deleted once
// the extra VM serves, and the minimum is back where it was.
func TestChaosGracefulAtShippedCapacity(t *testing.T) {
	t.Parallel()
	f, m := shippedFake(2)
	rep := azureExperiment(t, f, fleet.Graceful)
	if v := rep.Victims[0]; v.HealedBy != chaos.HealedReplaced || v.Replacement == v.ID {
		t.Errorf("victim %+v: want replaced by the extra VM", v)
	}
	if len(m.actions) != 0 {
		t.Errorf("autoscale acted during the experiment: %v", m.actions)
	}
	if min, h := storedHold(t, f); min != "3" || h != nil {
		t.Errorf("after the experiment: minimum %s, hold %+v; want 3 and no hold", min, h)
	}
}

// With repairs suspended nothing would replace a crashed VM: chaos refuses
// while preparing, so a dry run says so too, and nothing runs in a guest.
func TestChaosRefusesAbruptWhileRepairsSuspended(t *testing.T) {
	t.Parallel()
	f, _ := shippedFake(3)
	f.repairs = armcompute.OrchestrationServiceStateSuspended
	_, err := chaos.Prepare(context.Background(), chaos.Options{
		Stack: "azure", Fleet: newFleet(f), URL: "http://127.0.0.1:1/", Count: 1, Mode: fleet.Abrupt,
	})
	var refused *chaos.RefusedError
	if !errors.As(err, &refused) || !strings.Contains(err.Error(), "Suspended") {
		t.Errorf("Prepare() = %v, want a refusal naming the suspended repairs", err)
	}
	if f.count("vms.runCommand") != 0 {
		t.Errorf("ran a command in a guest after refusing")
	}
}

// The extra VM lands where the scale set puts it (the fake: the zone with
// the fewest, ties to the lowest, as zone balance does). A graceful kill of
// a victim chaos picked removes the old VM in that zone when the victim is
// elsewhere, so the shipped 1/1/1 stays 1/1/1.
func TestChaosGracefulKeepsTheZonesEven(t *testing.T) {
	t.Parallel()
	swapped := 0
	for seed := uint64(1); seed <= 6; seed++ {
		f, m := shippedFake(2)
		rep := azureExperimentSeed(t, f, fleet.Graceful, seed)
		if rep.Victims[0].ID != rep.Plan.Victims[0].ID {
			swapped++
			found := false
			for _, e := range rep.Timeline {
				found = found || e.Kind == chaos.EvSubstituted
			}
			if !found {
				t.Errorf("seed %d: killed %s for %s without saying so", seed, rep.Victims[0].ID, rep.Plan.Victims[0].ID)
			}
		}
		f.mu.Lock()
		zones := map[string]int{}
		for _, v := range m.active() {
			zones[*v.Zones[0]]++
		}
		f.mu.Unlock()
		if zones["1"] != 1 || zones["2"] != 1 || zones["3"] != 1 {
			t.Errorf("seed %d: zones %v after a graceful kill of %s, want 1/1/1", seed, zones, rep.Plan.Victims[0].ID)
		}
	}
	if swapped == 0 {
		t.Errorf("no seed picked a victim outside the extra VM's zone: the test proves nothing")
	}
}
