package chaos

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"stayup/internal/fleet"
	awsfleet "stayup/internal/fleet/aws"
	"stayup/internal/probe"
)

// probeEvery is the probe's interval in the end-to-end runs; time
// tolerances are a multiple of it, never tighter.
const probeEvery = 10 * time.Millisecond

// experiment runs a whole chaos experiment against the simulated fleet
// through the real AWS fleet code, the real probe and a real proxy, at the
// capacity the example stacks ship: min = desired = 3, max 9, one instance
// in each of three zones.
func experiment(t *testing.T, mode fleet.KillMode) (Report, *sim) {
	t.Helper()
	l, url := newLB(t, 40*time.Millisecond)
	s := newSim(t, l, 3)
	deadline := time.Now().Add(5 * time.Second)
	for !l.allHealthy(3) {
		if time.Now().After(deadline) {
			t.Fatal("the simulated fleet never became healthy")
		}
		time.Sleep(10 * time.Millisecond)
	}
	f := awsfleet.New(awsfleet.Outputs{ASGName: "sim-asg", TargetGroupARN: "arn:sim", LaunchTemplateID: "lt-sim"},
		awsfleet.Clients{ASG: s, EC2: s, ELB: s})
	e, err := Prepare(context.Background(), Options{
		Stack: "sim", Fleet: f, URL: url, Count: 1, Mode: mode,
		Timeout: 10 * time.Second, Poll: 25 * time.Millisecond, Baseline: 100 * time.Millisecond,
		Probe: []probe.Option{probe.Interval(probeEvery), probe.Timeout(500 * time.Millisecond)},
		Rand:  rand.New(rand.NewPCG(7, 7)),
	})
	if err != nil {
		t.Fatal(err)
	}
	r, err := e.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if r.Verdict != Recovered {
		t.Fatalf("verdict %q (%s), want recovered; timeline %+v", r.Verdict, r.Reason, r.Timeline)
	}
	checkTimeline(t, r)
	if _, err := json.Marshal(r); err != nil {
		t.Fatal(err)
	}
	if testing.Verbose() {
		var b strings.Builder
		r.Print(&b)
		t.Log("\n" + b.String())
	}
	return r, s
}

// checkTimeline checks presence and order, not durations: killed, then
// seen unhealthy, and a replacement launched and then healthy, then
// recovered.
func checkTimeline(t *testing.T, r Report) {
	t.Helper()
	if len(r.Victims) != 1 {
		t.Fatalf("victims %+v, want 1", r.Victims)
	}
	v := r.Victims[0]
	if v.Detected == nil || v.Launched == nil || v.Healthy == nil || v.Replacement == "" || v.Replacement == v.ID {
		t.Fatalf("victim %+v: want detected, a new replacement launched and healthy", v)
	}
	if v.Detected.Before(v.Killed) || v.Launched.Before(v.Killed) || v.Healthy.Before(*v.Launched) {
		t.Errorf("out of order: killed %v, detected %v, launched %v, healthy %v", v.Killed, *v.Detected, *v.Launched, *v.Healthy)
	}
	if r.TimeToDetect == nil || r.TimeToRecover == nil || *r.TimeToDetect > *r.TimeToRecover {
		t.Errorf("time to detect %v, to recover %v", r.TimeToDetect, r.TimeToRecover)
	}
	var kinds []string
	for i, e := range r.Timeline {
		kinds = append(kinds, e.Kind)
		if i > 0 && e.Time.Before(r.Timeline[i-1].Time) {
			t.Errorf("timeline not in time order at %d: %+v", i, r.Timeline)
		}
	}
	for _, k := range []string{EvProbeStarted, EvKilled, EvUnhealthy, EvLaunched, EvHealthy, EvRecovered} {
		found := false
		for _, got := range kinds {
			found = found || got == k
		}
		if !found {
			t.Errorf("timeline lacks %q: %v", k, kinds)
		}
	}
	if r.Probe == nil || r.Probe.Requests == 0 {
		t.Fatalf("no probe figures")
	}
}

// An abrupt kill: clients fail until the load balancer takes the dead
// instance out, and the failures lie between the kill and the recovery.
func TestEndToEndAbrupt(t *testing.T) {
	t.Parallel()
	r, s := experiment(t, fleet.Abrupt)
	if len(s.skipOS) != 1 || !s.skipOS[0] {
		t.Errorf("abrupt kill TerminateInstances SkipOsShutdown %v, want [true]: a clean OS shutdown drains the app", s.skipOS)
	}
	p := r.Probe
	if p.Failures == 0 || len(p.Windows) == 0 {
		t.Fatalf("an abrupt kill behind a load balancer that checks every 40 ms x 2 showed no failures: %+v", p)
	}
	kill := r.Victims[0].Killed
	recovered := kill.Add(*r.TimeToRecover)
	for _, w := range p.Windows {
		// A request scheduled just before the kill may fail with it.
		if w.Start.Before(kill.Add(-2*probeEvery)) || w.End.After(recovered.Add(2*probeEvery)) {
			t.Errorf("failure window %v → %v is not between the kill %v and the recovery %v", w.Start, w.End, kill, recovered)
		}
	}
	if r.ClientsFailedFor == nil || *r.ClientsFailedFor > *r.TimeToRecover+2*probeEvery {
		t.Errorf("clients failed for %v, recovery %v", r.ClientsFailedFor, r.TimeToRecover)
	}
	if got := r.Victims[0].DetectedAs; got != string(fleet.Unhealthy) && got != "gone" {
		t.Errorf("victim seen as %q, want unhealthy (or gone)", got)
	}
}

// A graceful kill: the group drains the instance first, so clients see
// nothing.
func TestEndToEndGraceful(t *testing.T) {
	t.Parallel()
	r, _ := experiment(t, fleet.Graceful)
	if p := r.Probe; p.Failures != 0 || len(p.Windows) != 0 {
		t.Errorf("a graceful kill showed %d failures in %d windows: %+v", p.Failures, len(p.Windows), p.Windows)
	}
	if r.ClientsFailedFor != nil {
		t.Errorf("clients failed for %v after a graceful kill", *r.ClientsFailedFor)
	}
	if got := r.Victims[0].DetectedAs; got != string(fleet.Draining) && got != "gone" {
		t.Errorf("victim seen as %q, want draining (or gone)", got)
	}
}
