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
	"stayup/internal/plan"
	"stayup/internal/probe"
	"stayup/internal/project"
	"stayup/internal/rollout/rollouttest"
)

const step = 30 * time.Millisecond

func opts(c *rollouttest.Cloud, s *rollouttest.Stack, image string) Options {
	return Options{
		StackName: "sim", Stack: s, Fleet: c.Fleet(), Image: image,
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

// Azure rolls the failed instance back by itself on the policy breach and
// reports Faulted, but the scale set model keeps the new image ("Rollback
// failed instances to previous model", Configure rolling upgrades on
// Virtual Machine Scale Sets: the instances go back, the model does not;
// a later model change starts a new rolling upgrade). rollout ends the
// wait at Faulted, refreshes the stack, then rolls the model back with an
// up of the previous image and waits for that upgrade.
func TestPlatformRollbackRollsTheModelBack(t *testing.T) {
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
	if got := s.CallLog(); !slices.Equal(got, []string{"set stayup:image=v2", "up", "refresh", "set stayup:image=v1", "up"}) {
		t.Errorf("stack calls %v: want the model rolled back by an up after the refresh", got)
	}
	if !r.Rollback.Done || r.Rollback.Final.Target != "v1" {
		t.Errorf("rollback %+v: want it to wait until the fleet converged on the previous model", r.Rollback)
	}
	if ro, _ := c.Rollout(context.Background()); ro.Target != "v1" || !ro.Reached || ro.InProgress {
		t.Errorf("the group's model after the rollback %+v: want v1, reached (a repair or scale-out would boot the model)", ro)
	}
	if got := c.Images(); !slices.Equal(got, []string{"v1", "v1", "v1"}) {
		t.Errorf("images in service %v", got)
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

// shippedTimeout is the command's default wait on AWS: a test that needs
// it to run out fails by its own deadline instead.
const shippedTimeout = 30 * time.Minute

// The AWS group as a stack deployed with the refresh's auto rollback on
// behaves: the refresh has a desired configuration, rolls back after a
// failed replacement and relaunches the new image for ever, and the group
// refuses an up meanwhile. rollout ends the forward wait at the rollback
// with its reason, cancels the refresh, waits until it is over, and only
// then rolls back with an up.
func TestAWSRollbackInProgressIsCancelledThenRolledBack(t *testing.T) {
	t.Parallel()
	c := rollouttest.New(t, "aws", "v1", 3, step)
	c.Bad["v2"] = rollouttest.NeverHealthy
	c.AutoRollback = true
	c.GraceSteps = 5
	s := rollouttest.NewStack(c, "v1")
	o := opts(c, s, "v2")
	o.Timeout = shippedTimeout
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r := runRollout(t, ctx, o)
	if r.Verdict != RolledBack {
		t.Fatalf("verdict %q (%s), phases %v", r.Verdict, r.Reason, phases(r))
	}
	if !strings.Contains(r.Reason, "RollbackInProgress") || !strings.Contains(r.Reason, rollouttest.RollbackReason) {
		t.Errorf("reason %q: want the status and its reason", r.Reason)
	}
	if got, want := phases(r)[2], "roll:platform failed"; got != want {
		t.Errorf("roll phase %s, want %s", got, want)
	}
	cancels, refused, _ := c.Counts()
	if cancels != 1 || refused != 0 {
		t.Errorf("%d cancels, %d refused updates: want the refresh cancelled once before the up", cancels, refused)
	}
	steps := strings.Join(r.Rollback.Steps, "; ")
	for _, want := range []string{"cancel requested", "the update stopped", "Cancelled", "up with the previous image succeeded"} {
		if !strings.Contains(steps, want) {
			t.Errorf("rollback steps %q lack %q", steps, want)
		}
	}
	if got := s.CallLog(); !slices.Equal(got, []string{"set stayup:image=v2", "up", "set stayup:image=v1", "up"}) {
		t.Errorf("stack calls %v", got)
	}
	if got := c.Images(); !slices.Equal(got, []string{"v1", "v1", "v1"}) {
		t.Errorf("images in service %v", got)
	}
	if r.Probe.Failures != 0 {
		t.Errorf("clients saw %d failures", r.Probe.Failures)
	}
}

// The simulated group refuses an up while a refresh with a desired
// configuration is active, as AWS does.
func TestAWSGroupRefusesUpDuringDesiredConfigurationRefresh(t *testing.T) {
	t.Parallel()
	c := rollouttest.New(t, "aws", "v1", 3, step)
	c.Bad["v2"] = rollouttest.NeverHealthy
	c.AutoRollback = true
	if err := c.RollTo("v2"); err != nil {
		t.Fatal(err)
	}
	if err := c.RollTo("v1"); !errors.Is(err, rollouttest.ErrActiveDesiredConfiguration) {
		t.Fatalf("up during the refresh: %v, want the ValidationError", err)
	}
	if err := c.Fleet().(fleet.Canceller).CancelRollout(context.Background()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		ro, _ := c.Rollout(context.Background())
		if !ro.InProgress {
			if ro.Status != "Cancelled" {
				t.Fatalf("status %s after the cancel", ro.Status)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still %s", ro.Status)
		}
		time.Sleep(step)
	}
	if err := c.RollTo("v1"); err != nil {
		t.Errorf("up after the cancel: %v", err)
	}
}

// A new image whose replacements never turn healthy, at the shipped
// MinHealthyPercentage 100: the refresh stays InProgress and clients see
// nothing wrong. rollout gives up at the no-progress bound (grace +
// warm-up + margin, here scaled down), not at the 30-minute timeout, and
// rolls back: cancel, wait, up.
func TestAWSNoProgressGivesUpAtTheBound(t *testing.T) {
	t.Parallel()
	c := rollouttest.New(t, "aws", "v1", 3, step)
	c.Bad["v2"] = rollouttest.NeverHealthy
	c.GraceSteps = 100 // the group takes long to give up on a replacement
	c.Health = fleet.Settings{Grace: 10 * step, Warmup: 2 * step}
	s := rollouttest.NewStack(c, "v1")
	o := opts(c, s, "v2")
	o.Timeout = shippedTimeout
	o.ProgressMargin = 5 * step
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r := runRollout(t, ctx, o)
	if r.Verdict != RolledBack {
		t.Fatalf("verdict %q (%s), phases %v", r.Verdict, r.Reason, phases(r))
	}
	if got, want := r.NoProgress, 17*step; got != want {
		t.Errorf("no-progress bound %v, want grace + warm-up + margin = %v", got, want)
	}
	if !strings.Contains(r.Reason, "no replacement on the new revision was in service within") {
		t.Errorf("reason %q", r.Reason)
	}
	roll := r.Phases[2]
	if roll.Outcome != "no progress" || roll.End.Sub(roll.Start) > r.NoProgress+2*time.Second {
		t.Errorf("roll phase %s after %v, want no progress within about %v", roll.Outcome, roll.End.Sub(roll.Start), r.NoProgress)
	}
	if cancels, refused, _ := c.Counts(); cancels != 1 || refused != 0 {
		t.Errorf("%d cancels, %d refused", cancels, refused)
	}
	if got := c.Images(); !slices.Equal(got, []string{"v1", "v1", "v1"}) {
		t.Errorf("images in service %v", got)
	}
	if r.Probe.Failures != 0 {
		t.Errorf("clients saw %d failures", r.Probe.Failures)
	}
}

// Replacements the group terminates as unhealthy: after the second,
// rollout stops waiting even though the time bound is far away.
func TestAWSFailedReplacementsEndTheWait(t *testing.T) {
	t.Parallel()
	c := rollouttest.New(t, "aws", "v1", 3, step)
	c.Bad["v2"] = rollouttest.NeverHealthy
	c.GraceSteps = 4
	c.Health = fleet.Settings{Grace: 180 * time.Second, Warmup: 60 * time.Second}
	s := rollouttest.NewStack(c, "v1")
	o := opts(c, s, "v2")
	o.Timeout = shippedTimeout
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r := runRollout(t, ctx, o)
	if r.Verdict != RolledBack || !strings.Contains(r.Reason, "2 replacements on the new revision left the group without ever serving") {
		t.Fatalf("verdict %q (%s)", r.Verdict, r.Reason)
	}
	if r.NoProgress != 6*time.Minute {
		t.Errorf("no-progress bound %v, want 180 s + 60 s + 2 min with the shipped settings", r.NoProgress)
	}
	if _, _, gone := c.Counts(); gone < 2 {
		t.Errorf("the group terminated %d replacements", gone)
	}
}

func TestProgressRule(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 26, 5, 0, 0, 0, time.UTC)
	old := []fleet.Instance{
		{ID: "i-1", Zone: "a", State: fleet.Running, Health: fleet.Healthy, Revision: "lt:4", Launched: t0.Add(-time.Hour)},
		{ID: "i-2", Zone: "b", State: fleet.Running, Health: fleet.Healthy, Revision: "lt:4", Launched: t0.Add(-time.Hour)},
		{ID: "i-3", Zone: "c", State: fleet.Running, Health: fleet.Healthy, Revision: "lt:4", Launched: t0.Add(-time.Hour)},
	}
	with := func(extra ...fleet.Instance) []fleet.Instance { return append(slices.Clone(old), extra...) }
	booting := func(id string) fleet.Instance {
		return fleet.Instance{ID: id, Zone: "a", State: fleet.Pending, Health: fleet.Initial, Revision: "lt:5", Launched: t0}
	}
	bound := 6 * time.Minute

	p := newProgress(old, t0, bound)
	p.observe(t0.Add(time.Minute), "lt:5", with(booting("i-4"), booting("i-5"), booting("i-6")))
	if why := p.verdict(t0.Add(5 * time.Minute)); why != "" {
		t.Errorf("booting within the bound: %q", why)
	}
	if why := p.verdict(t0.Add(bound + time.Second)); !strings.Contains(why, "within 6m0s") {
		t.Errorf("nothing in service past the bound: %q", why)
	}

	p = newProgress(old, t0, bound)
	p.observe(t0.Add(time.Minute), "lt:5", with(booting("i-4"), booting("i-5")))
	gone := booting("i-5")
	gone.State = fleet.Stopping
	p.observe(t0.Add(3*time.Minute), "lt:5", with(booting("i-4"), booting("i-6"), gone))
	if why := p.verdict(t0.Add(3 * time.Minute)); why != "" {
		t.Errorf("one replacement lost is not yet the image: %q", why)
	}
	p.observe(t0.Add(4*time.Minute), "lt:5", with(booting("i-6")))
	if why := p.verdict(t0.Add(4 * time.Minute)); !strings.Contains(why, "2 replacements") || !strings.Contains(why, "(i-5, i-4)") {
		t.Errorf("two replacements lost: %q", why)
	}

	p = newProgress(old, t0, bound)
	up := booting("i-4")
	up.State, up.Health = fleet.Running, fleet.Healthy
	p.observe(t0.Add(2*time.Minute), "lt:5", with(up))
	if why := p.verdict(t0.Add(time.Hour)); why != "" {
		t.Errorf("a replacement served: the time bound is met: %q", why)
	}
	// Instances already there before the rollout are no replacements,
	// whatever their revision (SkipMatching keeps those on the target).
	p = newProgress(old, t0, bound)
	p.observe(t0.Add(time.Minute), "lt:4", old)
	if p.served {
		t.Error("an instance from before the rollout counted as a replacement")
	}
}

// hello-app sends no version header but prints its version: with the
// default pattern the probe reads it from the body, so the switch from v1
// to v2 is observed; with no pattern the report says no version was seen
// and the verdict rests on the instances.
func TestVersionFromHelloAppBody(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		pattern, evidence string
		settle            string
	}{
		{DefaultVersionPattern, "body", "v2"},
		{"", "none", ""},
	} {
		t.Run(tc.evidence, func(t *testing.T) {
			t.Parallel()
			c := rollouttest.New(t, "aws", "v1", 3, step, rollouttest.HelloApp)
			s := rollouttest.NewStack(c, "v1")
			o := opts(c, s, "v2")
			o.VersionPattern = tc.pattern
			r := runRollout(t, context.Background(), o)
			if r.Verdict != Succeeded {
				t.Fatalf("verdict %q (%s)", r.Verdict, r.Reason)
			}
			if r.VersionEvidence != tc.evidence {
				t.Errorf("version evidence %q, want %q", r.VersionEvidence, tc.evidence)
			}
			if v := r.Phases[3].Versions; len(v) != 1 || v[tc.settle] == 0 {
				t.Errorf("settle versions %v, want only %q", v, tc.settle)
			}
			var b strings.Builder
			r.Print(&b)
			if tc.evidence == "none" && !strings.Contains(b.String(), "carried no version") {
				t.Errorf("the report does not say no version was seen:\n%s", b.String())
			}
			if tc.evidence == "body" && (r.Probe.Header == nil || r.Probe.Header.FromBody == 0) {
				t.Errorf("probe header mix %+v, want values from the body", r.Probe.Header)
			}
		})
	}
}

func TestSameVersionBeforeAndAfter(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		before, after map[string]int
		want          bool
	}{
		{map[string]int{"1.0.0": 9}, map[string]int{"1.0.0": 9}, true},
		{map[string]int{"1.0.0": 9}, map[string]int{"2.0.0": 9}, false},
		{map[string]int{"": 9}, map[string]int{"": 9}, false},
		{map[string]int{"1.0.0": 9, "": 1}, map[string]int{"1.0.0": 9}, false},
	} {
		if _, got := sameVersion(tc.before, tc.after); got != tc.want {
			t.Errorf("sameVersion(%v, %v) = %v, want %v", tc.before, tc.after, got, tc.want)
		}
	}
}

// gcpProviderWaits reads the shipped GCP program under mocks: does the
// provider hold up until the group's roll is done (waitForInstances)?
func gcpProviderWaits(t *testing.T) bool {
	t.Helper()
	root, err := project.Root(".")
	if err != nil {
		t.Fatal(err)
	}
	stack, cfg, err := plan.Source{Root: root, Cloud: "gcp"}.Config()
	if err != nil {
		t.Fatal(err)
	}
	res, err := plan.Run(stack, cfg)
	if err != nil {
		t.Fatal(err)
	}
	migs := res.Graph.ByType("gcp:compute/regionInstanceGroupManager:RegionInstanceGroupManager")
	if len(migs) != 1 {
		t.Fatalf("%d instance group managers in the GCP plan", len(migs))
	}
	wait, _ := migs[0].Bool("waitForInstances")
	return wait
}

// A new image that passes its health checks but answers clients with
// errors, on the shipped GCP program: up returns as soon as the group
// targets the new template, rollout sees the failures while the group
// rolls, and within one poll (plus the rollback's up, instant here; see
// docs/rollout.md for the live bound) retargets the group to a template
// with the previous image. The forward roll stops after the replacement
// that failed, the group rolls back over every instance, and the
// templates it rolled off are deleted once it converged.
func TestGCPBadImageRolledBackWhileTheGroupRolls(t *testing.T) {
	t.Parallel()
	const step = 100 * time.Millisecond // a roll of 3 takes over a second
	c := rollouttest.New(t, "gcp", "v1", 3, step)
	c.Bad["v2"] = rollouttest.ServesErrors
	s := rollouttest.NewStack(c, "v1")
	s.ProviderWaits, s.ProviderTimeout = gcpProviderWaits(t), 30*time.Second
	o := opts(c, s, "v2")
	o.Timeout = shippedTimeout
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r := runRollout(t, ctx, o)
	if r.Verdict != RolledBack || !strings.Contains(r.Reason, "above the allowed 0") {
		t.Fatalf("verdict %q (%s), phases %v", r.Verdict, r.Reason, phases(r))
	}
	if got, want := phases(r)[2], "roll:probe budget"; got != want {
		t.Errorf("roll phase %s, want %s: the budget must be checked while the group rolls", got, want)
	}
	if len(r.Probe.Windows) == 0 || len(s.UpReturned) < 2 {
		t.Fatalf("failure windows %v, ups returned %v", r.Probe.Windows, s.UpReturned)
	}
	firstFailure := r.Probe.Windows[0].Start
	if !s.UpReturned[0].Before(firstFailure) {
		t.Errorf("the forward up returned %v after the first failure: it waited for the roll", s.UpReturned[0].Sub(firstFailure))
	}
	retargets := c.Retargets()
	if len(retargets) != 2 {
		t.Fatalf("the group was retargeted %d times, want forward and back", len(retargets))
	}
	// Detection is one poll after the failures cross the budget; the
	// margin covers a loaded test machine.
	if reaction, bound := retargets[1].Sub(firstFailure), o.Poll+500*time.Millisecond; reaction > bound {
		t.Errorf("the group was retargeted to the previous image %v after the first failure, want within %v", reaction, bound)
	}
	if n := c.Launched("v2"); n != 1 {
		t.Errorf("%d instances launched on the bad image, want the forward roll stopped after the first", n)
	}
	if got := c.Images(); !slices.Equal(got, []string{"v1", "v1", "v1"}) {
		t.Errorf("images in service %v", got)
	}
	if got := c.Templates(); !slices.Equal(got, []string{"tpl-3"}) {
		t.Errorf("templates left %v, want only the rollback's tpl-3", got)
	}
	if s.Image() != "v1" {
		t.Errorf("config image %s", s.Image())
	}
}

// Templates an earlier run left (a crash, a plain up) are deleted before
// the roll, the one rolled from after it; a clean GCP rollout converges.
func TestGCPRolloutDeletesSupersededTemplates(t *testing.T) {
	t.Parallel()
	c := rollouttest.New(t, "gcp", "v1", 3, step)
	for _, img := range []string{"v0", "v1"} { // tpl-2 (v0), then tpl-3 (v1)
		if err := c.RollTo(img); err != nil {
			t.Fatal(err)
		}
		for ro, _ := c.Rollout(context.Background()); ro.InProgress || !ro.Reached; ro, _ = c.Rollout(context.Background()) {
			time.Sleep(step)
		}
	}
	s := rollouttest.NewStack(c, "v1")
	r := runRollout(t, context.Background(), opts(c, s, "v2"))
	if r.Verdict != Succeeded {
		t.Fatalf("verdict %q (%s)", r.Verdict, r.Reason)
	}
	var cleaned []string
	for _, e := range r.Timeline {
		if e.Kind == "superseded revisions cleaned" {
			cleaned = append(cleaned, e.Phase+": "+e.Detail)
		}
	}
	want := []string{"baseline: left by an earlier run: deleted 2 [tpl-1 tpl-2]", "settle: after the roll: deleted 1 [tpl-3]"}
	if !slices.Equal(cleaned, want) {
		t.Errorf("cleanups %q, want %q", cleaned, want)
	}
	if got := c.Templates(); !slices.Equal(got, []string{"tpl-4"}) {
		t.Errorf("templates left %v", got)
	}
}

// Max surge finds no quota and Azure upgrades the VMs in place: every VM
// reports the latest model and the upgrade completes, but customData does
// not run again, so the old container serves on. rollout fails the roll
// forward at once, naming the VMs and the reason, and rolls back. With the
// version in the body the clients' view would also catch it after
// settling; without any version evidence the instances are all there is,
// and they must prove they were created by the update.
func TestAzureInPlaceFallbackFails(t *testing.T) {
	t.Parallel()
	for _, pattern := range []string{DefaultVersionPattern, ""} {
		t.Run("pattern "+pattern, func(t *testing.T) {
			t.Parallel()
			c := rollouttest.New(t, "azure", "v1", 3, step, rollouttest.HelloApp)
			c.Bad["v2"] = rollouttest.InPlace
			s := rollouttest.NewStack(c, "v1")
			o := opts(c, s, "v2")
			o.VersionPattern = pattern
			r := runRollout(t, context.Background(), o)
			if r.Verdict != RolledBack {
				t.Fatalf("verdict %q (%s), phases %v", r.Verdict, r.Reason, phases(r))
			}
			if got, want := phases(r)[2], "roll:in place"; got != want {
				t.Errorf("roll phase %s, want %s", got, want)
			}
			for _, want := range []string{"i-1, i-2, i-3", "updated in place", "quota"} {
				if !strings.Contains(r.Reason, want) {
					t.Errorf("reason %q lacks %q", r.Reason, want)
				}
			}
			if got := c.Images(); !slices.Equal(got, []string{"v1", "v1", "v1"}) {
				t.Errorf("images in service %v", got)
			}
		})
	}
}

// The in-place rule is Azure's only: an AWS refresh with SkipMatching
// keeps instances already on the target, which then were created before
// it began and rightly count as converged.
func TestRecreatesOnAzureOnly(t *testing.T) {
	t.Parallel()
	for cloud, want := range map[string]bool{"azure": true, "aws": false, "gcp": false} {
		if got := recreates(cloud); got != want {
			t.Errorf("recreates(%s) = %v, want %v", cloud, got, want)
		}
	}
}

// The report keeps every fleet read, whose revisions converge on the
// target, and the run is checkpointed (verdict running) at each phase and
// read: what a saved run holds if the process dies before the end.
func TestReadsAndCheckpoints(t *testing.T) {
	t.Parallel()
	c := rollouttest.New(t, "aws", "v1", 3, step)
	s := rollouttest.NewStack(c, "v1")
	o := opts(c, s, "v2")
	var phasesSeen []string
	n := 0
	o.OnCheckpoint = func(r Report) {
		n++
		b, err := json.Marshal(r)
		if err != nil {
			t.Error(err)
			return
		}
		var j struct {
			Verdict string         `json:"verdict"`
			P       map[string]any `json:"probe"`
			Phases  []struct {
				Name string `json:"name"`
			} `json:"phases"`
		}
		if err := json.Unmarshal(b, &j); err != nil {
			t.Error(err)
		}
		if j.Verdict != Running || j.P == nil || len(j.Phases) == 0 {
			t.Errorf("checkpoint %d: verdict %q, probe %v, phases %v", n, j.Verdict, j.P != nil, j.Phases)
			return
		}
		if last := j.Phases[len(j.Phases)-1].Name; !slices.Contains(phasesSeen, last) {
			phasesSeen = append(phasesSeen, last)
		}
	}
	r := runRollout(t, context.Background(), o)
	if r.Verdict != Succeeded {
		t.Fatalf("verdict %q (%s)", r.Verdict, r.Reason)
	}
	if want := []string{PhaseBaseline, PhaseUp, PhaseRoll, PhaseSettle}; !slices.Equal(phasesSeen, want) {
		t.Errorf("checkpoints in phases %v, want %v", phasesSeen, want)
	}
	if len(r.Reads) < 2 || n < len(r.Reads)+4 {
		t.Fatalf("%d reads, %d checkpoints", len(r.Reads), n)
	}
	target := r.Final.Target
	if got := r.Reads[len(r.Reads)-1]; got.InServiceRevisions[target] != 3 || len(got.Revisions) != 1 {
		t.Errorf("last read %+v: want all 3 on %s", got, target)
	}
	if got := r.Reads[0]; got.Revisions[target] == 3 {
		t.Errorf("first read %+v already all on the target", got)
	}
}
