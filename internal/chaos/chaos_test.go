package chaos

import (
	"context"
	"encoding/json"
	"errors"
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
		capacity: fleet.Capacity{Desired: 3, Min: 2, Max: 9},
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
		{"timeout", func(o *Options) { o.Timeout = 0 }, "timeout"},
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
		{"minimum", three, func(f *fakeFleet, _ *Options) { f.capacity.Min = 3 }, "would leave 2, below the group's minimum of 3"},
		{"minimum with count", three, func(_ *fakeFleet, o *Options) { o.Count = 2 }, "killing 2 of 3 healthy instances would leave 1"},
		{"rollout", three, func(f *fakeFleet, _ *Options) { f.rollout = fleet.Rollout{InProgress: true, Status: "InProgress"} }, "rollout is in progress"},
		{"named not in fleet", three, func(_ *fakeFleet, o *Options) { o.Instances = []string{"i-9"} }, "i-9 is not in the fleet"},
		{"named twice", three, func(f *fakeFleet, o *Options) { f.capacity.Min = 1; o.Count = 0; o.Instances = []string{"i-1", "i-1"} }, "named twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(tc.list)
			o := opts(f, "http://127.0.0.1:1/")
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

func TestGuardsAllowHealthyFleet(t *testing.T) {
	t.Parallel()
	f := newFake()
	o := opts(f, "http://127.0.0.1:1/")
	o.Count = 1
	e, err := Prepare(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(e.Plan.Victims); got != 1 {
		t.Errorf("%d victims, want 1", got)
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
	if v.ID != "i-2" || v.Replacement != "i-4" || v.DetectedAs != "unhealthy" || v.Detected == nil || v.Launched == nil || v.Healthy == nil {
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
	for _, k := range []string{"timeline", "time_to_detect_ms", "time_to_recover_ms", "predicted", "probe", "verdict", "victims"} {
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
	f := newFake()
	f.capacity.Min = 1
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
	s := fleet.Settings{CheckInterval: 5 * time.Second, HealthyThreshold: 2, UnhealthyThreshold: 2, Drain: 30 * time.Second, Grace: 180 * time.Second}
	for _, tc := range []struct {
		cloud           string
		mode            fleet.KillMode
		detect, recover time.Duration
	}{
		{"aws", fleet.Abrupt, 10 * time.Second, 190 * time.Second},
		{"gcp", fleet.Graceful, 0, 220 * time.Second},
		{"azure", fleet.Abrupt, 10 * time.Second, 370 * time.Second},
	} {
		p := predict(tc.cloud, tc.mode, s)
		if p.Detect != tc.detect || p.Recover != tc.recover {
			t.Errorf("%s %s: detect %v recover %v, want %v %v", tc.cloud, tc.mode, p.Detect, p.Recover, tc.detect, tc.recover)
		}
		if len(p.Basis) == 0 {
			t.Errorf("%s %s: no basis", tc.cloud, tc.mode)
		}
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
	capa := fleet.Capacity{Desired: 3, Min: 2}

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
