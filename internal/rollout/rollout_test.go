package rollout

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"stayup/internal/fleet"
	"stayup/internal/probe"
	"stayup/internal/rollout/rollouttest"
)

const step = 30 * time.Millisecond

func opts(c *rollouttest.Cloud, s *rollouttest.Stack, image string) Options {
	return Options{
		StackName: "sim", Stack: s, Fleet: c, Image: image,
		Timeout: 5 * time.Second, Poll: 20 * time.Millisecond,
		Baseline: 100 * time.Millisecond, Settle: 200 * time.Millisecond,
		Probe: []probe.Option{probe.Interval(10 * time.Millisecond), probe.Timeout(500 * time.Millisecond)},
	}
}

func runRollout(t *testing.T, ctx context.Context, o Options) Report {
	t.Helper()
	ro, err := Prepare(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	r, err := ro.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := json.Marshal(r); err != nil {
		t.Fatal(err)
	}
	if testing.Verbose() {
		var b strings.Builder
		r.Print(&b)
		t.Log("\n" + b.String())
	}
	return r
}

func phases(r Report) []string {
	var out []string
	for _, p := range r.Phases {
		out = append(out, p.Name+":"+p.Outcome)
	}
	return out
}

// A clean rollout: no failures, the new version everywhere, and the
// probe saw the version switch.
func TestCleanRollout(t *testing.T) {
	t.Parallel()
	c := rollouttest.New(t, "aws", "v1", 3, step)
	s := rollouttest.NewStack(c, "v1")
	r := runRollout(t, context.Background(), opts(c, s, "v2"))
	if r.Verdict != Succeeded {
		t.Fatalf("verdict %q (%s), phases %v", r.Verdict, r.Reason, phases(r))
	}
	if r.Probe.Failures != 0 {
		t.Errorf("%d failures", r.Probe.Failures)
	}
	if got := c.Images(); !slices.Equal(got, []string{"v2", "v2", "v2"}) {
		t.Errorf("images in service %v", got)
	}
	if got, want := phases(r), []string{"baseline:clean", "up:ok", "roll:converged", "settle:clean"}; !slices.Equal(got, want) {
		t.Errorf("phases %v, want %v", got, want)
	}
	if v := r.Phases[0].Versions; v["v1"] == 0 || v["v2"] != 0 {
		t.Errorf("baseline versions %v", v)
	}
	if v := r.Phases[3].Versions; v["v2"] == 0 || len(v) != 1 {
		t.Errorf("settle versions %v", v)
	}
	if r.Rollback != nil || s.Image() != "v2" {
		t.Errorf("rollback %+v, config image %s", r.Rollback, s.Image())
	}
}

// Servers that drop requests while the group rolls: the probe's budget is
// spent, rollout rolls back to the previous image itself.
func TestDroppedRequestsRollBack(t *testing.T) {
	t.Parallel()
	c := rollouttest.New(t, "aws", "v1", 3, step)
	c.Bad["v2"] = rollouttest.Abrupt
	s := rollouttest.NewStack(c, "v1")
	r := runRollout(t, context.Background(), opts(c, s, "v2"))
	if r.Verdict != RolledBack {
		t.Fatalf("verdict %q (%s), phases %v", r.Verdict, r.Reason, phases(r))
	}
	if r.Probe.Failures == 0 || !strings.Contains(r.Reason, "above the allowed 0") {
		t.Errorf("failures %d, reason %s", r.Probe.Failures, r.Reason)
	}
	if r.Rollback == nil || r.Rollback.Owner != OwnerStayup || !r.Rollback.Done {
		t.Fatalf("rollback %+v", r.Rollback)
	}
	if got := c.Images(); !slices.Equal(got, []string{"v1", "v1", "v1"}) {
		t.Errorf("images in service after rollback %v", got)
	}
	if got := s.CallLog(); !slices.Equal(got, []string{"set stayup:image=v2", "up", "set stayup:image=v1", "up"}) {
		t.Errorf("stack calls %v", got)
	}
}

// A new image that never gets healthy on GCP: the group does not converge
// within the timeout; rollout rolls back.
func TestNeverHealthyRollsBack(t *testing.T) {
	t.Parallel()
	c := rollouttest.New(t, "gcp", "v1", 3, step)
	c.Bad["v2"] = rollouttest.NeverHealthy
	s := rollouttest.NewStack(c, "v1")
	o := opts(c, s, "v2")
	o.Timeout = time.Second
	r := runRollout(t, context.Background(), o)
	if r.Verdict != RolledBack || !strings.Contains(r.Reason, "did not converge") {
		t.Fatalf("verdict %q (%s)", r.Verdict, r.Reason)
	}
	if r.Probe.Failures != 0 {
		t.Errorf("clients saw %d failures; surge should have kept them whole", r.Probe.Failures)
	}
	if got := c.Images(); !slices.Equal(got, []string{"v1", "v1", "v1"}) {
		t.Errorf("images in service %v", got)
	}
	if s.Image() != "v1" {
		t.Errorf("config image %s", s.Image())
	}
}

// Azure rolls back by itself: rollout notices the Faulted upgrade,
// refreshes the stack and restores the config, without an up.
func TestPlatformRollbackRestoresConfig(t *testing.T) {
	t.Parallel()
	c := rollouttest.New(t, "azure", "v1", 3, step)
	c.Bad["v2"] = rollouttest.NeverHealthy
	s := rollouttest.NewStack(c, "v1")
	r := runRollout(t, context.Background(), opts(c, s, "v2"))
	if r.Verdict != RolledBack || r.Rollback == nil || r.Rollback.Owner != OwnerPlatform {
		t.Fatalf("verdict %q (%s), rollback %+v", r.Verdict, r.Reason, r.Rollback)
	}
	if !strings.Contains(r.Reason, "Faulted") {
		t.Errorf("reason %s", r.Reason)
	}
	if got := s.CallLog(); !slices.Equal(got, []string{"set stayup:image=v2", "up", "refresh", "set stayup:image=v1"}) {
		t.Errorf("stack calls %v", got)
	}
}

// --no-rollback leaves the failure as it is.
func TestNoRollback(t *testing.T) {
	t.Parallel()
	c := rollouttest.New(t, "gcp", "v1", 3, step)
	c.Bad["v2"] = rollouttest.NeverHealthy
	s := rollouttest.NewStack(c, "v1")
	o := opts(c, s, "v2")
	o.Timeout, o.NoRollback = 500*time.Millisecond, true
	r := runRollout(t, context.Background(), o)
	if r.Verdict != Failed || r.Rollback != nil || s.Image() != "v2" {
		t.Fatalf("verdict %q (%s), rollback %+v, image %s", r.Verdict, r.Reason, r.Rollback, s.Image())
	}
}

// Ctrl-C while the fleet rolls triggers the rollback.
func TestInterruptRollsBack(t *testing.T) {
	t.Parallel()
	c := rollouttest.New(t, "aws", "v1", 3, 60*time.Millisecond)
	s := rollouttest.NewStack(c, "v1")
	ctx, cancel := context.WithCancel(context.Background())
	o := opts(c, s, "v2")
	o.OnEvent = func(e Event) {
		if e.Kind == "update started" {
			cancel()
		}
	}
	r := runRollout(t, ctx, o)
	if r.Verdict != Interrupted || r.Rollback == nil || !r.Rollback.Done {
		t.Fatalf("verdict %q (%s), rollback %+v", r.Verdict, r.Reason, r.Rollback)
	}
	if s.Image() != "v1" {
		t.Errorf("config image %s", s.Image())
	}
	if got := c.Images(); !slices.Equal(got, []string{"v1", "v1", "v1"}) {
		t.Errorf("images in service %v", got)
	}
}

// An up that fails is rolled back too (the engine may have changed part
// of the stack).
func TestUpFailureRollsBack(t *testing.T) {
	t.Parallel()
	c := rollouttest.New(t, "aws", "v1", 3, step)
	s := rollouttest.NewStack(c, "v1")
	s.UpErr = errors.New("boom")
	r := runRollout(t, context.Background(), opts(c, s, "v2"))
	if r.Verdict != RollbackFailed || !strings.Contains(r.Reason, "up failed: boom") {
		t.Fatalf("verdict %q (%s)", r.Verdict, r.Reason)
	}
}

// The preflight refuses, changing nothing.
func TestPreflightRefuses(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		change func(*rollouttest.Cloud, *rollouttest.Stack, *Options)
		want   string
	}{
		{"same image", func(_ *rollouttest.Cloud, _ *rollouttest.Stack, o *Options) { o.Image = "v1" }, "already runs v1"},
		{"rollout in progress", func(c *rollouttest.Cloud, _ *rollouttest.Stack, _ *Options) {
			c.Bad["v0"] = rollouttest.NeverHealthy
			c.RollTo("v0")
		}, "already in progress"},
		{"not whole", func(_ *rollouttest.Cloud, _ *rollouttest.Stack, o *Options) { o.Fleet = shrunk{o.Fleet} }, "not at its desired capacity"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := rollouttest.New(t, "aws", "v1", 3, step)
			s := rollouttest.NewStack(c, "v1")
			o := opts(c, s, "v2")
			tc.change(c, s, &o)
			_, err := Prepare(context.Background(), o)
			var refused *RefusedError
			if !errors.As(err, &refused) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Prepare() = %v, want refusal %q", err, tc.want)
			}
			if len(s.CallLog()) != 0 {
				t.Errorf("stack calls %v", s.CallLog())
			}
		})
	}
}

// A failing endpoint during the baseline refuses before any change.
func TestBaselineFailureRefuses(t *testing.T) {
	t.Parallel()
	c := rollouttest.New(t, "aws", "v1", 3, step)
	s := rollouttest.NewStack(c, "v1")
	o := opts(c, s, "v2")
	ro, err := Prepare(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	ro.o.URL = c.URL + "nowhere"
	ro.o.Probe = append(ro.o.Probe, probe.Expect("text no server sends"))
	r, err := ro.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if r.Verdict != Refused || len(s.CallLog()) != 0 {
		t.Fatalf("verdict %q (%s), calls %v", r.Verdict, r.Reason, s.CallLog())
	}
}

// shrunk hides one instance: the fleet is below its desired capacity.
type shrunk struct{ fleet.Fleet }

func (s shrunk) Instances(ctx context.Context) ([]fleet.Instance, error) {
	l, err := s.Fleet.Instances(ctx)
	return l[1:], err
}

func TestUpdateSeen(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 26, 5, 0, 0, 0, time.UTC)
	done := fleet.Rollout{Status: "Completed", Target: "latest", Reached: true, Started: t0}
	for _, tc := range []struct {
		name string
		now  fleet.Rollout
		want bool
	}{
		{"nothing happened", done, false},
		{"started and finished between two looks", fleet.Rollout{Status: "Completed", Target: "latest", Reached: true, Started: t0.Add(time.Minute)}, true},
		{"under way", fleet.Rollout{Status: "RollingForward", Target: "latest", InProgress: true, Started: t0.Add(time.Minute)}, true},
		{"new target", fleet.Rollout{Status: "Completed", Target: "lt-1:8", Reached: true, Started: t0}, true},
		{"instances behind", fleet.Rollout{Status: "Completed", Target: "latest", Started: t0}, true},
	} {
		if got := updateSeen(done, tc.now); got != tc.want {
			t.Errorf("%s: updateSeen = %v, want %v", tc.name, got, tc.want)
		}
	}
}
