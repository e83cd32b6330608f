package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"stayup/internal/fleet"
	"stayup/internal/probe"
)

// fakeFleet records calls and answers Instances from a script: each read
// returns the next list, the last one repeating.
type fakeFleet struct {
	mu       sync.Mutex
	calls    []string
	capacity fleet.Capacity
	rollout  fleet.Rollout
	settings fleet.Settings
	lists    [][]fleet.Instance
	reads    int
	killErr  map[string]error
	onKill   func(id string)
	killed   []string
	checkErr error // what CheckKill answers (see checkingFleet)
}

func (f *fakeFleet) Cloud() string { return "aws" }
func (f *fakeFleet) Name() string  { return "group" }

func (f *fakeFleet) Capacity(context.Context) (fleet.Capacity, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "capacity")
	return f.capacity, nil
}

func (f *fakeFleet) Instances(context.Context) ([]fleet.Instance, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "instances")
	l := f.lists[min(f.reads, len(f.lists)-1)]
	f.reads++
	return slices.Clone(l), nil
}

func (f *fakeFleet) Kill(_ context.Context, id string, mode fleet.KillMode) error {
	f.mu.Lock()
	f.calls = append(f.calls, "kill "+id+" "+string(mode))
	err := f.killErr[id]
	if err == nil {
		f.killed = append(f.killed, id)
	}
	hook := f.onKill
	f.mu.Unlock()
	if hook != nil {
		hook(id)
	}
	return err
}

func (f *fakeFleet) Rollout(context.Context) (fleet.Rollout, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "rollout")
	return f.rollout, nil
}

func (f *fakeFleet) Settings(context.Context) (fleet.Settings, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "settings")
	return f.settings, nil
}

// checkingFleet is a fleet that checks the platform before a kill.
type checkingFleet struct{ *fakeFleet }

func (f checkingFleet) CheckKill(_ context.Context, mode fleet.KillMode) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "check "+string(mode))
	return f.checkErr
}

func (f *fakeFleet) kills() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.killed)
}

var t0 = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func inst(id, zone string, s fleet.State, h fleet.Health, launched time.Time) fleet.Instance {
	return fleet.Instance{ID: id, Zone: zone, State: s, Health: h, Revision: "lt:1", Launched: launched}
}

func healthyThree() []fleet.Instance {
	return []fleet.Instance{
		inst("i-1", "a", fleet.Running, fleet.Healthy, t0),
		inst("i-2", "b", fleet.Running, fleet.Healthy, t0),
		inst("i-3", "c", fleet.Running, fleet.Healthy, t0),
	}
}

func newFake(lists ...[]fleet.Instance) *fakeFleet {
	if len(lists) == 0 {
		lists = [][]fleet.Instance{healthyThree()}
	}
	return &fakeFleet{
		// The example stacks' capacity: an autoscaled group idles at its
		// minimum, so min = desired = 3.
		capacity: fleet.Capacity{Desired: 3, Min: 3, Max: 9},
		rollout:  fleet.Rollout{Status: "Successful", Percent: 100, Reached: true},
		settings: fleet.Settings{CheckInterval: 5 * time.Second, CheckTimeout: 3 * time.Second, HealthyThreshold: 2, UnhealthyThreshold: 2, Drain: 30 * time.Second, Grace: 180 * time.Second},
		lists:    lists,
		killErr:  map[string]error{},
	}
}

// okServer answers 200 (or 503 when failing) on loopback.
func okServer(t *testing.T, failing bool) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if failing {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String() + "/"
}

func opts(f fleet.Fleet, url string) Options {
	return Options{
		Stack: "aws", Fleet: f, URL: url, Count: 1, Mode: fleet.Abrupt,
		Timeout: 3 * time.Second, Poll: 10 * time.Millisecond, Baseline: 30 * time.Millisecond,
		Probe: []probe.Option{probe.Interval(10 * time.Millisecond)},
		Rand:  rand.New(rand.NewPCG(1, 2)),
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	ok := opts(newFake(), "http://x/")
	for _, tc := range []struct {
		name   string
		change func(*Options)
		want   string
	}{
		{"ok", func(*Options) {}, ""},
		{"no fleet", func(o *Options) { o.Fleet = nil }, "no fleet"},
		{"mode", func(o *Options) { o.Mode = "gentle" }, "mode"},
		{"count", func(o *Options) { o.Count = 0 }, "count 0"},
		{"count and instances", func(o *Options) { o.Count = 2; o.Instances = []string{"i-1"} }, "one or the other"},
		{"timeout", func(o *Options) { o.Timeout = -time.Second }, "timeout"},
		{"derived timeout", func(o *Options) { o.Timeout = 0 }, ""},
		{"min healthy", func(o *Options) { o.MinHealthy = -1 }, "min healthy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := ok
			tc.change(&o)
			err := o.Validate()
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("Validate() = %v, want %q", err, tc.want)
			}
		})
	}
}

// Each guard refuses before anything is killed.
func TestGuardsRefuse(t *testing.T) {
	t.Parallel()
	three := healthyThree()
	initial := healthyThree()
	initial[2].Health = fleet.Initial
	stopping := healthyThree()
	stopping[0].State = fleet.Stopping
	for _, tc := range []struct {
		name   string
		list   []fleet.Instance
		change func(*fakeFleet, *Options)
		want   string
	}{
		{"outage: one not yet healthy", initial, nil, "not at its desired capacity and all healthy"},
		{"outage: one stopping", stopping, nil, "i-1 stopping/healthy"},
		{"outage: below desired", three[:2], nil, "2 of 3 desired in service"},
		{"outage: above desired", three, func(f *fakeFleet, _ *Options) { f.capacity.Desired = 4 }, "3 of 4 desired"},
		{"min healthy with count", three, func(_ *fakeFleet, o *Options) { o.Count = 2 }, "killing 2 of 3 healthy instances would leave 1 in service, fewer than --min-healthy 2"},
		{"min healthy raised", three, func(_ *fakeFleet, o *Options) { o.MinHealthy = 3 }, "would leave 2 in service, fewer than --min-healthy 3"},
		{"one zone left serving", twoZones(), func(_ *fakeFleet, o *Options) { o.Instances, o.Count = []string{"i-3"}, 0 }, "would leave 1 zone(s) serving (a: 2)"},
		{"platform cannot heal", three, func(f *fakeFleet, _ *Options) {
			f.checkErr = fmt.Errorf("automatic repairs of scale set vmss are Suspended: %w", fleet.ErrRefused)
		}, "automatic repairs of scale set vmss are Suspended"},
		{"rollout", three, func(f *fakeFleet, _ *Options) { f.rollout = fleet.Rollout{InProgress: true, Status: "InProgress"} }, "rollout is in progress"},
		{"named not in fleet", three, func(_ *fakeFleet, o *Options) { o.Instances = []string{"i-9"} }, "i-9 is not in the fleet"},
		{"named twice", three, func(_ *fakeFleet, o *Options) { o.Count = 0; o.Instances = []string{"i-1", "i-1"} }, "named twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(tc.list)
			o := opts(checkingFleet{f}, "http://127.0.0.1:1/")
			if tc.change != nil {
				tc.change(f, &o)
			}
			_, err := Prepare(context.Background(), o)
			var refused *RefusedError
			if !errors.As(err, &refused) {
				t.Fatalf("Prepare() = %v, want a refusal", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("refusal %q does not say %q", err, tc.want)
			}
			if k := f.kills(); len(k) > 0 {
				t.Errorf("killed %v after refusing", k)
			}
		})
	}
}

// sixHealthy is the fleet scaled out to two instances per zone.
func sixHealthy() []fleet.Instance {
	return append(healthyThree(), inst("i-4", "a", fleet.Running, fleet.Healthy, t0), inst("i-5", "b", fleet.Running, fleet.Healthy, t0), inst("i-6", "c", fleet.Running, fleet.Healthy, t0))
}

func twoZones() []fleet.Instance {
	return []fleet.Instance{
		inst("i-1", "a", fleet.Running, fleet.Healthy, t0),
		inst("i-2", "a", fleet.Running, fleet.Healthy, t0),
		inst("i-3", "b", fleet.Running, fleet.Healthy, t0),
	}
}

// The shipped fleet, one instance per zone at min = desired = 3: killing
// one is the experiment, not a breach of the group's minimum.
func TestGuardsAllowShippedFleet(t *testing.T) {
	t.Parallel()
	f := newFake()
	o := opts(checkingFleet{f}, "http://127.0.0.1:1/")
	o.Count, o.Timeout, o.MinHealthy = 1, 0, 0
	e, err := Prepare(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(e.Plan.Victims); got != 1 {
		t.Errorf("%d victims, want 1", got)
	}
	if !slices.Contains(f.calls, "check abrupt") {
		t.Errorf("the platform was not asked whether it can heal: calls %v", f.calls)
	}
	if e.Plan.MinHealthy != DefaultMinHealthy || e.Plan.Timeout != e.Plan.Predicted.Timeout || e.Plan.Timeout == 0 {
		t.Errorf("plan min healthy %d, timeout %v (%s), want %d and the predicted %v", e.Plan.MinHealthy, e.Plan.Timeout, e.Plan.TimeoutFrom, DefaultMinHealthy, e.Plan.Predicted.Timeout)
	}
	if got, want := e.Plan.Predicted.Detect, 10*time.Second; got != want {
		t.Errorf("predicted detect %v, want %v (5 s x 2)", got, want)
	}
}

func TestPickRandomAndNamed(t *testing.T) {
	t.Parallel()
	list := healthyThree()
	seen := map[string]bool{}
	for seed := range uint64(20) {
		v, err := pick(list, nil, 2, rand.New(rand.NewPCG(seed, 0)))
		if err != nil {
			t.Fatal(err)
		}
		if len(v) != 2 || v[0].ID == v[1].ID {
			t.Fatalf("pick 2: %+v", v)
		}
		seen[v[0].ID+v[1].ID] = true
	}
	if len(seen) < 2 {
		t.Errorf("20 seeds picked the same pair every time: %v", seen)
	}
	// Random victims come from the fullest zones, so the zones stay even.
	six := append(healthyThree(), inst("i-4", "a", fleet.Running, fleet.Healthy, t0), inst("i-5", "a", fleet.Running, fleet.Healthy, t0), inst("i-6", "b", fleet.Running, fleet.Healthy, t0))
	for seed := range uint64(20) {
		v, err := pick(six, nil, 2, rand.New(rand.NewPCG(seed, 0)))
		if err != nil {
			t.Fatal(err)
		}
		zones := zoneCounts(inService(six, v))
		if zones["a"]+zones["b"] != 3 || zones["a"] == 0 || zones["b"] == 0 || zones["c"] != 1 {
			t.Fatalf("seed %d: picked %s from a: 3, b: 2, c: 1, leaving %v; want the first from a, the second from a or b, never c's only one", seed, ids(v), zones)
		}
	}
	v, err := pick(list, []string{"i-3"}, 1, rand.New(rand.NewPCG(1, 1)))
	if err != nil || len(v) != 1 || v[0].ID != "i-3" {
		t.Errorf("named i-3: %+v, %v", v, err)
	}
	list[1].Health = fleet.Draining
	if _, err := pick(list, []string{"i-2"}, 1, nil); err == nil || !strings.Contains(err.Error(), "not in service") {
		t.Errorf("named draining instance: %v, want a refusal", err)
	}
}

func TestDryRunKillsNothing(t *testing.T) {
	t.Parallel()
	f := newFake()
	e, err := Prepare(context.Background(), opts(f, "http://127.0.0.1:1/"))
	if err != nil {
		t.Fatal(err)
	}
	r := e.DryRunReport()
	if r.Verdict != DryRun || len(f.kills()) > 0 {
		t.Errorf("dry run: verdict %q, kills %v", r.Verdict, f.kills())
	}
	var b strings.Builder
	r.Print(&b)
	if !strings.Contains(b.String(), "would kill "+e.Plan.Victims[0].ID) {
		t.Errorf("dry run output does not say who would die:\n%s", b.String())
	}
}

// healing scripts a fleet that loses i-2 and replaces it with i-4.
func healing() [][]fleet.Instance {
	before := healthyThree()
	out := healthyThree()
	out[1].Health = fleet.Unhealthy
	out[1].State = fleet.Stopping
	launched := append(slices.Clone(out[:1]), out[2], inst("i-4", "b", fleet.Pending, fleet.Initial, time.Time{}))
	rejoined := append(slices.Clone(out[:1]), out[2], inst("i-4", "b", fleet.Running, fleet.Healthy, time.Time{}))
	return [][]fleet.Instance{before, before, out, launched, rejoined}
}

func TestRunRecovers(t *testing.T) {
	t.Parallel()
	f := newFake(healing()...)
	o := opts(f, okServer(t, false))
	o.Instances, o.Count = []string{"i-2"}, 0
	var events []string
	o.OnEvent = func(e Event) { events = append(events, e.Kind) }
	e, err := Prepare(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	r, err := e.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if r.Verdict != Recovered || !r.Recovered() {
		t.Fatalf("verdict %q (%s), want recovered", r.Verdict, r.Reason)
	}
	want := []string{EvProbeStarted, EvKilled, EvUnhealthy, EvLaunched, EvHealthy, EvRecovered}
	if !slices.Equal(events, want) {
		t.Errorf("events %v, want %v", events, want)
	}
	v := r.Victims[0]
	if v.ID != "i-2" || v.Replacement != "i-4" || v.HealedBy != HealedReplaced || v.DetectedAs != "unhealthy" || v.Detected == nil || v.Launched == nil || v.Healthy == nil {
		t.Errorf("victim %+v", v)
	}
	if r.TimeToDetect == nil || r.TimeToRecover == nil || *r.TimeToDetect > *r.TimeToRecover {
		t.Errorf("detect %v, recover %v", r.TimeToDetect, r.TimeToRecover)
	}
	if r.Probe == nil || r.Probe.Requests == 0 {
		t.Errorf("no probe figures: %+v", r.Probe)
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var j map[string]any
	if err := json.Unmarshal(b, &j); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"timeline", "time_to_detect_ms", "time_to_recover_ms", "predicted", "probe", "verdict", "victims", "deadline", "timeout_ms", "min_healthy"} {
		if j[k] == nil {
			t.Errorf("JSON lacks %s: %s", k, b)
		}
	}
	if got := j["verdict"]; got != "recovered" {
		t.Errorf("JSON verdict %v", got)
	}
}

func TestRunTimesOut(t *testing.T) {
	t.Parallel()
	h := healing()
	f := newFake(h[:3]...) // never replaced
	o := opts(f, okServer(t, false))
	o.Timeout = 100 * time.Millisecond
	e, err := Prepare(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	r, err := e.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if r.Verdict != NotRecovered || r.TimeToRecover != nil {
		t.Errorf("verdict %q, recover %v: want not recovered", r.Verdict, r.TimeToRecover)
	}
	if last := r.Timeline[len(r.Timeline)-1]; last.Kind != EvTimeout {
		t.Errorf("last event %q, want the timeout", last.Kind)
	}
}

// Ctrl-C during the kills: the rest are not killed, the report so far is
// returned as interrupted, with the probe's figures.
func TestInterruptStopsKillingAndReports(t *testing.T) {
	t.Parallel()
	f := newFake(sixHealthy())
	f.capacity.Desired = 6
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f.onKill = func(string) { cancel() }
	o := opts(f, okServer(t, false))
	o.Count = 2
	e, err := Prepare(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	r, err := e.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.kills(); len(got) != 1 {
		t.Errorf("killed %v, want only the first", got)
	}
	if r.Verdict != Interrupted || r.Probe == nil {
		t.Errorf("verdict %q, probe %v: want interrupted with the probe's figures", r.Verdict, r.Probe != nil)
	}
}

func TestInterruptWhileWatching(t *testing.T) {
	t.Parallel()
	h := healing()
	f := newFake(h[:3]...)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	o := opts(f, okServer(t, false))
	o.OnStatus = func(s Status) {
		if s.Elapsed > 50*time.Millisecond {
			cancel()
		}
	}
	e, err := Prepare(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	r, err := e.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r.Verdict != Interrupted || len(r.Victims) != 1 || r.Victims[0].Detected == nil {
		t.Errorf("verdict %q, victims %+v: want interrupted with what was seen so far", r.Verdict, r.Victims)
	}
}

func TestBaselineFailuresAbortBeforeKilling(t *testing.T) {
	t.Parallel()
	f := newFake()
	e, err := Prepare(context.Background(), opts(f, okServer(t, true)))
	if err != nil {
		t.Fatal(err)
	}
	r, err := e.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if r.Verdict != Aborted || len(f.kills()) > 0 {
		t.Errorf("verdict %q, kills %v: want aborted, nothing killed", r.Verdict, f.kills())
	}
}

func TestKillFailureAborts(t *testing.T) {
	t.Parallel()
	f := newFake()
	denied := &fleet.PermissionError{Action: "ec2:TerminateInstances", Err: errors.New("UnauthorizedOperation")}
	for _, id := range []string{"i-1", "i-2", "i-3"} {
		f.killErr[id] = denied
	}
	e, err := Prepare(context.Background(), opts(f, okServer(t, false)))
	if err != nil {
		t.Fatal(err)
	}
	r, err := e.Run(context.Background())
	if !errors.Is(err, fleet.ErrPermission) {
		t.Errorf("err %v, want the permission error", err)
	}
	if r.Verdict != Aborted || !strings.Contains(r.Reason, "ec2:TerminateInstances") {
		t.Errorf("verdict %q (%s)", r.Verdict, r.Reason)
	}
}

func TestPredict(t *testing.T) {
	t.Parallel()
	// The settings the example stacks deploy: target group / backend
	// service 5 s x 2, 30 s drain, 180 s grace; GCP autohealing 10 s x 3;
	// Azure repairs after PT10M, the health extension 5 s x 2.
	s := fleet.Settings{CheckInterval: 5 * time.Second, HealthyThreshold: 2, UnhealthyThreshold: 2, Drain: 30 * time.Second, Grace: 180 * time.Second}
	gcp := s
	gcp.HealInterval, gcp.HealThreshold = 10*time.Second, 3
	az := fleet.Settings{CheckInterval: 5 * time.Second, HealthyThreshold: 1, UnhealthyThreshold: 2, Drain: 30 * time.Second, Grace: 10 * time.Minute, HealInterval: 5 * time.Second, HealThreshold: 2}
	for _, tc := range []struct {
		cloud           string
		mode            fleet.KillMode
		s               fleet.Settings
		detect, recover time.Duration
	}{
		// the group's notice (1 m) + launch to InService (1 m) + grace + 2 checks
		{"aws", fleet.Abrupt, s, 10 * time.Second, 310 * time.Second},
		// drain + recreate (1 m) + grace + 2 checks
		{"gcp", fleet.Graceful, gcp, 0, 280 * time.Second},
		// autohealing 30 s + recreate (1 m) + grace + 2 checks
		{"gcp", fleet.Abrupt, gcp, 10 * time.Second, 280 * time.Second},
		// the repair grace (the extension's verdict comes within it) + provisioning (2 m) + the new VM's grace + 1 check
		{"azure", fleet.Abrupt, az, 10 * time.Second, 22*time.Minute + 5*time.Second},
		// the extra VM's grace + 1 check + drain
		{"azure", fleet.Graceful, az, 0, 10*time.Minute + 35*time.Second},
	} {
		p := predict(tc.cloud, tc.mode, tc.s)
		if p.Detect != tc.detect || p.Recover != tc.recover {
			t.Errorf("%s %s: detect %v recover %v, want %v %v", tc.cloud, tc.mode, p.Detect, p.Recover, tc.detect, tc.recover)
		}
		if want := ceil10(tc.recover + tc.recover/4 + 2*time.Minute); p.Timeout != want || want < tc.recover+tc.recover/4+2*time.Minute {
			t.Errorf("%s %s: timeout %v, want the bound with its margin, %v", tc.cloud, tc.mode, p.Timeout, want)
		}
		if len(p.Basis) == 0 {
			t.Errorf("%s %s: no basis", tc.cloud, tc.mode)
		}
	}
}

// Named victims that leave the zones uneven are allowed with a warning
// the user sees before saying yes.
func TestNamedVictimsUnbalancingZonesWarn(t *testing.T) {
	t.Parallel()
	f := newFake(sixHealthy())
	f.capacity.Desired = 6
	o := opts(f, "http://127.0.0.1:1/")
	o.Instances, o.Count = []string{"i-1", "i-4"}, 0
	e, err := Prepare(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if len(e.Plan.Warnings) != 1 || !strings.Contains(e.Plan.Warnings[0], "unbalanced (a: 0, b: 2, c: 2)") {
		t.Errorf("warnings %q, want the zones named", e.Plan.Warnings)
	}
	var b strings.Builder
	e.Plan.PrintPlan(&b)
	if !strings.Contains(b.String(), "warning: killing i-1, i-4 leaves the zones unbalanced") {
		t.Errorf("the plan printed before the question does not warn:\n%s", b.String())
	}
	o.Instances = []string{"i-1", "i-2"}
	e, err = Prepare(context.Background(), o)
	if err != nil || len(e.Plan.Warnings) != 0 {
		t.Errorf("one from each of two zones: %v, warnings %q; want none", err, e.Plan.Warnings)
	}
}

// A VM hard-reset on GCP stays RUNNING under its name and creation time:
// seen out by the load balancer, then back in. That is a recovery by
// reboot, not a victim that was never killed.
func TestWatchRebootedVictimRecovers(t *testing.T) {
	t.Parallel()
	before := healthyThree()
	w := newWatch(Plan{Instances: before})
	kill := t0.Add(time.Hour)
	w.killed(before[1], kill)
	capa := fleet.Capacity{Desired: 3, Min: 3, Max: 9}
	out := healthyThree()
	out[1].Health = fleet.Unhealthy
	w.observe(kill.Add(10*time.Second), capa, out)
	if w.recovered != nil || w.victims[0].detected == nil {
		t.Fatalf("the reset VM out of the load balancer: recovered %v, detected %v", w.recovered, w.victims[0].detected)
	}
	evs := w.observe(kill.Add(70*time.Second), capa, healthyThree())
	if len(evs) != 1 || evs[0].Kind != EvRejoined {
		t.Errorf("events %+v, want the victim rejoined", evs)
	}
	if how, ok := w.victims[0].healed(); w.recovered == nil || !ok || how != HealedRebooted {
		t.Errorf("recovered %v, healed %q %v: want recovered by reboot", w.recovered, how, ok)
	}
	var r Report
	r.fill(w)
	if v := r.Victims[0]; v.HealedBy != HealedRebooted || v.Replacement != "" || v.Rejoined == nil {
		t.Errorf("victim report %+v, want rebooted, no replacement", v)
	}
	// With autohealing's check as a hold: back in service, then out again
	// (the group condemned it meanwhile), is no recovery; back for the
	// whole hold is.
	w3 := newWatch(Plan{Instances: before, Settings: fleet.Settings{HealInterval: 10 * time.Second, HealThreshold: 3}})
	w3.killed(before[1], kill)
	w3.observe(kill.Add(10*time.Second), capa, out)
	w3.observe(kill.Add(60*time.Second), capa, healthyThree())
	w3.observe(kill.Add(70*time.Second), capa, out)
	w3.observe(kill.Add(80*time.Second), capa, healthyThree())
	if w3.recovered != nil {
		t.Fatalf("recovered at %v: the VM was out again within the hold", w3.recovered)
	}
	if evs := w3.observe(kill.Add(110*time.Second), capa, healthyThree()); w3.recovered == nil || len(evs) != 1 || !evs[0].Time.Equal(kill.Add(80*time.Second)) {
		t.Errorf("after 30 s back in service: recovered %v, events %+v; want it rejoined at +80s", w3.recovered, evs)
	}
	// The autoscaler's instance launched while the victim reboots does not
	// stand in for it.
	w2 := newWatch(Plan{Instances: before})
	w2.killed(before[1], kill)
	w2.observe(kill.Add(10*time.Second), capa, out)
	extra := append(slices.Clone(out), inst("i-9", "a", fleet.Pending, fleet.Initial, kill.Add(20*time.Second)))
	w2.observe(kill.Add(30*time.Second), capa, extra)
	back := append(healthyThree(), inst("i-9", "a", fleet.Pending, fleet.Initial, kill.Add(20*time.Second)))
	w2.observe(kill.Add(70*time.Second), capa, back)
	if how, _ := w2.victims[0].healed(); w2.recovered == nil || how != HealedRebooted {
		t.Errorf("with an autoscaler's instance booting: recovered %v, healed %q; want rebooted", w2.recovered, how)
	}
}

// GCP recreates a VM under the same name: the new incarnation (launched
// after the kill) is the replacement, the old one is gone.
func TestWatchSameNameRecreate(t *testing.T) {
	t.Parallel()
	before := healthyThree()
	w := newWatch(Plan{Instances: before})
	kill := t0.Add(time.Hour)
	w.killed(before[1], kill)
	capa := fleet.Capacity{Desired: 3, Min: 3, Max: 9}

	recreating := healthyThree()
	recreating[1] = inst("i-2", "b", fleet.Pending, fleet.Unregistered, kill.Add(20*time.Second))
	evs := w.observe(kill.Add(30*time.Second), capa, recreating)
	var kinds []string
	for _, e := range evs {
		kinds = append(kinds, e.Kind)
	}
	if !slices.Equal(kinds, []string{EvUnhealthy, EvLaunched}) {
		t.Fatalf("events %v, want the old i-2 gone and the new one launched", kinds)
	}
	if got := w.victims[0].launched; got == nil || !got.Equal(kill.Add(20*time.Second)) {
		t.Errorf("launched at %v, want the cloud's creation time", got)
	}
	up := healthyThree()
	up[1] = inst("i-2", "b", fleet.Running, fleet.Healthy, kill.Add(20*time.Second))
	w.observe(kill.Add(60*time.Second), capa, up)
	if w.recovered == nil || w.victims[0].healthy == nil {
		t.Errorf("not recovered after the new i-2 turned healthy: %+v", w.victims[0])
	}
	// The old incarnation still listed healthy is not a recovery.
	w2 := newWatch(Plan{Instances: before})
	w2.killed(before[1], kill)
	w2.observe(kill.Add(time.Second), capa, healthyThree())
	if w2.recovered != nil || w2.victims[0].detected != nil {
		t.Errorf("the victim still healthy counted as detected or recovered")
	}
}

// The report keeps each fleet read of the watch, and a checkpoint after
// the kills and after each read that did not end the run: what a saved
// run holds if the process dies before the end.
func TestRunKeepsReadsAndCheckpoints(t *testing.T) {
	t.Parallel()
	f := newFake(healing()...)
	o := opts(f, okServer(t, false))
	o.Instances, o.Count = []string{"i-2"}, 0
	var cps []map[string]any
	o.OnCheckpoint = func(r Report) {
		b, err := json.Marshal(r)
		if err != nil {
			t.Error(err)
			return
		}
		var j map[string]any
		if err := json.Unmarshal(b, &j); err != nil {
			t.Error(err)
		}
		cps = append(cps, j)
	}
	e, err := Prepare(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	r, err := e.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// The fake answers the watch four times: not yet noticed, unhealthy,
	// launched, healed.
	if len(r.Reads) != 4 {
		t.Fatalf("%d reads, want 4: %+v", len(r.Reads), r.Reads)
	}
	if got := r.Reads[1]; got.Total() != 2 || got.InService["b"] != 0 || got.Desired != 3 {
		t.Errorf("second read %+v: want 2 in service, none in zone b", got)
	}
	if got := r.Reads[3]; got.Total() != 3 {
		t.Errorf("last read %+v: want 3 in service", got)
	}
	// After the kills, then after the three reads that did not recover.
	if len(cps) != 4 {
		t.Fatalf("%d checkpoints, want 4", len(cps))
	}
	for i, c := range cps {
		if c["verdict"] != Running {
			t.Errorf("checkpoint %d verdict %v, want running", i, c["verdict"])
		}
		if c["probe"] == nil || len(c["victims"].([]any)) != 1 {
			t.Errorf("checkpoint %d lacks the probe or the victim: %v", i, c)
		}
		if got := len(c["fleet_reads"].([]any)); got != i {
			t.Errorf("checkpoint %d has %d reads, want %d", i, got, i)
		}
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var j struct {
		Reads []fleet.Read `json:"fleet_reads"`
	}
	if err := json.Unmarshal(b, &j); err != nil || len(j.Reads) != 4 {
		t.Errorf("JSON fleet_reads %+v (%v)", j.Reads, err)
	}
}
