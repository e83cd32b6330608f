package report

import (
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"stayup/internal/chaos"
	"stayup/internal/fleet"
	"stayup/internal/probe"
	"stayup/internal/rollout"
	"stayup/internal/runs"
)

// record rewrites testdata/runs: recorded runs of the example AWS stack as
// shipped (three instances over three zones of eu-west-1, ALB checks 5 s x
// 2, boot grace 180 s), built through the commands' own report types and
// marshalers so that they have exactly the shape a real run saves. The
// timings are those a live run of the stack shows; the requests follow
// from them.
var record = flag.Bool("record", false, "rewrite testdata/runs from the scenarios in record_test.go")

const runsDir = "testdata/runs/aws"

var (
	zones = []string{"eu-west-1a", "eu-west-1b", "eu-west-1c"}
	base  = time.Date(2026, 5, 12, 14, 2, 10, 0, time.UTC)
)

const (
	imageV1 = "us-docker.pkg.dev/google-samples/containers/gke/hello-app:1.0"
	imageV2 = "ghcr.io/acme/hello-app:2.1"
	revV1   = "lt-0f3a9c2e:3"
	revV2   = "lt-0f3a9c2e:4"
	revBack = "lt-0f3a9c2e:5"
)

// traffic is a probe's requests: two clients at 20 requests/s, each
// request's fate decided by serve from its scheduled time.
type traffic struct {
	m   *probe.Metrics
	rnd *rand.Rand
}

func newTraffic(t *testing.T, start time.Time, opts ...probe.Option) *traffic {
	m, err := probe.NewMetrics("http://stayup-alb-1843772.eu-west-1.elb.amazonaws.com/", start, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return &traffic{m: m, rnd: rand.New(rand.NewPCG(7, uint64(start.Unix())))}
}

// outcome is what one request met: ok with a version, or an error.
type outcome struct {
	status  int
	err     string
	version string
	slow    float64 // latency factor
}

func (tr *traffic) run(start, end time.Time, interval time.Duration, serve func(el time.Duration, n int) outcome) {
	n := 0
	for at := start; at.Before(end); at = at.Add(interval) {
		for _, c := range []probe.Client{probe.KeepAlive, probe.NewConn} {
			o := serve(at.Sub(start), n)
			n++
			lat := time.Duration(18+tr.rnd.ExpFloat64()*9) * time.Millisecond
			if c == probe.NewConn {
				lat += 14 * time.Millisecond // a new TCP connection to the ALB
			}
			if o.slow > 0 {
				lat = time.Duration(float64(lat) * o.slow)
			}
			r := probe.Result{Client: c, Scheduled: at, Sent: at, Latency: lat, Status: o.status, Err: o.err, HeaderValue: o.version, FromBody: o.version != "", Reused: c == probe.KeepAlive}
			if r.Status == 0 && r.Err == "" {
				r.Status = 200
			}
			tr.m.Add(r)
		}
	}
}

func instance(id, zone, rev string, h fleet.Health, launched time.Time) fleet.Instance {
	st := fleet.Running
	if h == fleet.Initial {
		st = fleet.Pending
	}
	return fleet.Instance{ID: id, Zone: zone, State: st, Health: h, Image: "ami-0c1bc246476a5572b", Revision: rev, Launched: launched}
}

func awsSettings() fleet.Settings {
	return fleet.Settings{CheckInterval: 5 * time.Second, CheckTimeout: 4 * time.Second, HealthyThreshold: 2, UnhealthyThreshold: 2,
		Drain: 30 * time.Second, Grace: 180 * time.Second}
}

func tp(t time.Time) *time.Time { return &t }
func dp(d time.Duration) *time.Duration {
	return &d
}

// abruptChaos: an abrupt kill of one of three instances, healed by the
// Auto Scaling group.
func abruptChaos(t *testing.T) chaos.Report {
	start := base
	kill := start.Add(3*time.Second + 210*time.Millisecond)
	before := []fleet.Instance{
		instance("i-0a41c7d2e9b3f1a08", zones[0], revV1, fleet.Healthy, start.Add(-26*time.Hour)),
		instance("i-0b7e22f4c1d9a6e35", zones[1], revV1, fleet.Healthy, start.Add(-26*time.Hour)),
		instance("i-0c93d5a7b2e8f4c61", zones[2], revV1, fleet.Healthy, start.Add(-26*time.Hour)),
	}
	victim := before[1]
	const repl = "i-0d18f6b3a5c2e9d74"
	detected := kill.Add(12*time.Second + 400*time.Millisecond)
	launched := kill.Add(67*time.Second + 400*time.Millisecond)
	healthy := kill.Add(3*time.Minute + 12*time.Second + 400*time.Millisecond)
	end := healthy.Add(600 * time.Millisecond)

	// Until the ALB's two failed checks (5 s apart) take the victim out,
	// the third of the requests it is sent fail: the instance is gone
	// without a word, so they time out at the probe's 1 s.
	out := kill.Add(9*time.Second + 600*time.Millisecond)
	tr := newTraffic(t, start, probe.Rate(20), probe.Timeout(time.Second))
	tr.run(start, end, 50*time.Millisecond, func(el time.Duration, n int) outcome {
		at := start.Add(el)
		if !at.Before(kill) && at.Before(out) && n%3 == 1 {
			return outcome{err: "timeout after 1s"}
		}
		return outcome{}
	})
	sum := tr.m.Summary(end)
	sum.Stopped = "stopped"

	var reads []fleet.Read
	list := func(at time.Time) []fleet.Instance {
		l := []fleet.Instance{before[0], before[2]}
		v := victim
		switch {
		case at.Before(detected):
		case at.Before(launched):
			v.State, v.Health = fleet.Stopping, fleet.Unhealthy
			l = append(l, v)
			return l
		}
		if at.Before(detected) {
			return append(l, v)
		}
		h := fleet.Initial
		if !at.Before(healthy) {
			h = fleet.Healthy
		}
		return append(l, instance(repl, zones[1], revV1, h, launched.Add(-2*time.Second)))
	}
	for at := kill.Add(2*time.Second + 400*time.Millisecond); !at.After(healthy); at = at.Add(5 * time.Second) {
		reads = append(reads, fleet.NewRead(at, fleet.Capacity{Desired: 3, Min: 3, Max: 9}, list(at), nil))
	}
	rep := chaos.Report{
		Plan: chaos.Plan{Stack: "aws", Cloud: "aws", Group: "stayup-aws-fleet-3f9a", URL: sum.URL, Mode: fleet.Abrupt,
			Capacity: fleet.Capacity{Desired: 3, Min: 3, Max: 9}, Instances: before, Victims: []fleet.Instance{victim},
			Settings: awsSettings(), MinHealthy: 2, Timeout: 7*time.Minute + 10*time.Second, TimeoutFrom: "the stack's settings",
			Predicted: chaos.Prediction{Detect: 10 * time.Second, Rejoin: 10 * time.Second, Recover: 4*time.Minute + 30*time.Second,
				Basis: []string{
					"detect: the ALB checks every 5s and takes a target out after 2 failures: 10s",
					"the Auto Scaling group's health check notices a terminated instance within about 1m0s (assumed) and launches a replacement",
					"the replacement boots within the group's grace of 3m0s, then passes 2 checks 5s apart: 10s",
					"recover: at most 10s + 1m0s + 3m0s + 10s + 10s margin for the polls: 4m30s",
				}}},
		Start: start, End: end,
		Timeline: []chaos.Event{
			{Time: start, Kind: chaos.EvProbeStarted, Detail: sum.URL},
			{Time: kill, Kind: chaos.EvKilled, Instance: victim.ID, Detail: "abrupt, " + victim.Zone},
			{Time: detected, Kind: chaos.EvUnhealthy, Instance: victim.ID, Detail: "unhealthy"},
			{Time: launched, Kind: chaos.EvLaunched, Instance: repl, Detail: "in " + zones[1]},
			{Time: healthy, Kind: chaos.EvHealthy, Instance: repl},
			{Time: healthy, Kind: chaos.EvRecovered},
		},
		Victims: []chaos.VictimReport{{ID: victim.ID, Zone: victim.Zone, Killed: kill, Detected: tp(detected), DetectedAs: "unhealthy",
			Replacement: repl, Launched: tp(launched), Healthy: tp(healthy), HealedBy: chaos.HealedReplaced}},
		TimeToDetect: dp(detected.Sub(kill)), TimeToRecover: dp(healthy.Sub(kill)),
		Probe: &sum, Verdict: chaos.Recovered, Reads: reads,
	}
	if len(sum.Windows) > 0 {
		rep.ClientsFailedFor = dp(sum.Windows[len(sum.Windows)-1].End.Sub(kill))
	}
	return rep
}

// interruptedChaos: a graceful kill stopped by Ctrl-C while the
// replacement booted.
func interruptedChaos(t *testing.T) chaos.Report {
	start := base.Add(26 * time.Minute)
	kill := start.Add(3*time.Second + 180*time.Millisecond)
	before := []fleet.Instance{
		instance("i-0a41c7d2e9b3f1a08", zones[0], revV1, fleet.Healthy, base.Add(-26*time.Hour)),
		instance("i-0d18f6b3a5c2e9d74", zones[1], revV1, fleet.Healthy, base.Add(4*time.Minute)),
		instance("i-0c93d5a7b2e8f4c61", zones[2], revV1, fleet.Healthy, base.Add(-26*time.Hour)),
	}
	victim := before[2]
	const repl = "i-0e5a9b1c7d3f2a846"
	detected := kill.Add(2*time.Second + 300*time.Millisecond)
	launched := kill.Add(7*time.Second + 300*time.Millisecond)
	stop := kill.Add(41*time.Second + 700*time.Millisecond)
	end := stop.Add(900 * time.Millisecond)
	tr := newTraffic(t, start, probe.Rate(20), probe.Timeout(time.Second))
	tr.run(start, end, 50*time.Millisecond, func(time.Duration, int) outcome { return outcome{} })
	sum := tr.m.Summary(end)
	sum.Stopped = "stopped"
	var reads []fleet.Read
	for at := kill.Add(2*time.Second + 300*time.Millisecond); at.Before(stop); at = at.Add(5 * time.Second) {
		v := victim
		v.State, v.Health = fleet.Stopping, fleet.Draining
		l := []fleet.Instance{before[0], before[1], v}
		if !at.Before(launched) {
			l = append(l, instance(repl, zones[2], revV1, fleet.Initial, launched))
		}
		if at.After(kill.Add(33 * time.Second)) {
			l = l[:2]
			l = append(l, instance(repl, zones[2], revV1, fleet.Initial, launched))
		}
		reads = append(reads, fleet.NewRead(at, fleet.Capacity{Desired: 3, Min: 3, Max: 9}, l, nil))
	}
	return chaos.Report{
		Plan: chaos.Plan{Stack: "aws", Cloud: "aws", Group: "stayup-aws-fleet-3f9a", URL: sum.URL, Mode: fleet.Graceful,
			Capacity: fleet.Capacity{Desired: 3, Min: 3, Max: 9}, Instances: before, Victims: []fleet.Instance{victim},
			Settings: awsSettings(), MinHealthy: 2, Timeout: 6*time.Minute + 40*time.Second, TimeoutFrom: "the stack's settings",
			Predicted: chaos.Prediction{Detect: 0, Rejoin: 10 * time.Second, Recover: 4 * time.Minute,
				Basis: []string{
					"detect: the group deregisters the instance itself: at once",
					"drain: the ALB's deregistration delay, 30s",
					"the replacement boots within the group's grace of 3m0s, then passes 2 checks 5s apart: 10s",
				}}},
		Start: start, End: end,
		Timeline: []chaos.Event{
			{Time: start, Kind: chaos.EvProbeStarted, Detail: sum.URL},
			{Time: kill, Kind: chaos.EvKilled, Instance: victim.ID, Detail: "graceful, " + victim.Zone},
			{Time: detected, Kind: chaos.EvUnhealthy, Instance: victim.ID, Detail: "draining"},
			{Time: launched, Kind: chaos.EvLaunched, Instance: repl, Detail: "in " + zones[2]},
			{Time: stop, Kind: chaos.EvInterrupted, Detail: "while watching"},
		},
		Victims: []chaos.VictimReport{{ID: victim.ID, Zone: victim.Zone, Killed: kill, Detected: tp(detected), DetectedAs: "draining",
			Replacement: repl, Launched: tp(launched)}},
		TimeToDetect: dp(detected.Sub(kill)),
		Probe:        &sum, Verdict: chaos.Interrupted, Reason: "interrupted before the fleet was seen to recover", Reads: reads,
	}
}

// rolledBackRollout: a new image that fails some requests; the probe's
// budget (0) is spent once its first instance serves, and rollout rolls
// back to the previous image itself.
func rolledBackRollout(t *testing.T) rollout.Report {
	start := base.Add(9 * time.Minute)
	s := func(sec float64) time.Time { return start.Add(time.Duration(sec * float64(time.Second))) }
	upEnd, newIn, rbStart, rbUpEnd, secondBack, badOut, converged, end := s(52.6), s(188.4), s(191.9), s(237.5), s(322.1), s(385.6), s(391.2), s(391.4)
	tr := newTraffic(t, start, probe.Rate(20), probe.Timeout(time.Second), probe.Header(rollout.VersionHeader), probe.BodyPattern(rollout.DefaultVersionPattern), probe.AllowFailures(0))
	// The ALB spreads requests over the instances in service: three old
	// ones, then a fourth on the new image, which crash-loops: for 2 s in
	// every 15 s it answers 500 to half the requests, until it is drained
	// and terminated.
	tr.run(start, end, 50*time.Millisecond, func(el time.Duration, n int) outcome {
		at := start.Add(el)
		if at.Before(newIn) || !at.Before(badOut) {
			return outcome{version: "1.0.0"}
		}
		if at.Sub(newIn)%(15*time.Second) < 2*time.Second && n%2 == 0 {
			return outcome{status: 500, err: "status 500", version: "2.1.0"}
		}
		if n%4 == 3 {
			return outcome{version: "2.1.0", slow: 1.6}
		}
		return outcome{version: "1.0.0"}
	})
	sum := tr.m.Summary(end)
	sum.Stopped = "stopped"

	old := []fleet.Instance{
		instance("i-0a41c7d2e9b3f1a08", zones[0], revV1, fleet.Healthy, base.Add(-26*time.Hour)),
		instance("i-0d18f6b3a5c2e9d74", zones[1], revV1, fleet.Healthy, base.Add(4*time.Minute)),
		instance("i-0c93d5a7b2e8f4c61", zones[2], revV1, fleet.Healthy, base.Add(-26*time.Hour)),
	}
	bad := instance("i-0f2c8e4a6b1d9e357", zones[0], revV2, fleet.Initial, s(60))
	back := []fleet.Instance{
		instance("i-01b9d3f5a7c2e4068", zones[1], revBack, fleet.Initial, s(241)),
		instance("i-02c4e6a8b0d2f4179", zones[2], revBack, fleet.Initial, s(243)),
		instance("i-03d5f7b9c1e3a5280", zones[0], revBack, fleet.Initial, s(326)),
	}
	capa := fleet.Capacity{Desired: 3, Min: 3, Max: 9}
	var reads []fleet.Read
	fleetAt := func(at time.Time) []fleet.Instance {
		var l []fleet.Instance
		up := func(i fleet.Instance, launched, healthy time.Time) {
			if at.Before(launched) {
				return
			}
			if !at.Before(healthy) {
				i.State, i.Health = fleet.Running, fleet.Healthy
			}
			l = append(l, i)
		}
		// Old instances leave as the rollback's refresh replaces them.
		if at.Before(s(318)) {
			l = append(l, old[1])
		}
		if at.Before(s(318)) {
			l = append(l, old[2])
		}
		if at.Before(s(388)) {
			l = append(l, old[0])
		}
		if at.Before(badOut) {
			up(bad, s(60), newIn)
		}
		up(back[0], s(241), s(312))
		up(back[1], s(243), s(314))
		up(back[2], s(326), secondBack.Add(60*time.Second))
		return l
	}
	for at := s(55); at.Before(end); at = at.Add(5 * time.Second) {
		if at.After(rbStart) && at.Before(rbUpEnd) {
			continue // the rollback's up: no reads
		}
		reads = append(reads, fleet.NewRead(at, capa, fleetAt(at), nil))
	}
	reads = append(reads, fleet.NewRead(converged, capa, fleetAt(converged), nil))
	versions := func(from, to time.Time) map[string]int {
		out := map[string]int{}
		for _, b := range sum.Buckets {
			if !b.Start.Before(from) && b.Start.Before(to) {
				for v, n := range b.Versions {
					out[v] += n
				}
			}
		}
		return out
	}
	ph := func(name string, from, to time.Time, outcome string) rollout.Phase {
		return rollout.Phase{Name: name, Start: from, End: to, Outcome: outcome, Versions: versions(from, to)}
	}
	ev := func(at time.Time, phase, kind, detail string) rollout.Event {
		return rollout.Event{Time: at, Phase: phase, Kind: kind, Detail: detail}
	}
	firstFail := sum.Windows[0].Start
	return rollout.Report{
		Plan: rollout.Plan{Stack: "aws", Cloud: "aws", Group: "stayup-aws-fleet-3f9a", URL: sum.URL, From: imageV1, To: imageV2,
			Capacity: capa, Instances: old, Before: fleet.Rollout{Status: "Successful", Percent: 100, Target: revV1, Reached: true},
			Settings: awsSettings(), NoProgress: 5*time.Minute + 30*time.Second},
		Start: start, End: end,
		Phases: []rollout.Phase{
			ph(rollout.PhaseBaseline, start, s(5), "clean"),
			ph(rollout.PhaseUp, s(5), upEnd, "ok"),
			ph(rollout.PhaseRoll, upEnd, rbStart, "probe budget"),
			ph(rollout.PhaseRollback, rbStart, converged, "rolled back"),
		},
		Timeline: []rollout.Event{
			ev(start, rollout.PhaseBaseline, "phase started", ""),
			ev(start, rollout.PhaseBaseline, "probe started", sum.URL),
			ev(s(5), rollout.PhaseUp, "phase started", ""),
			ev(s(5.1), rollout.PhaseUp, "config set", rollout.ImageKey+"="+imageV2),
			ev(upEnd, rollout.PhaseUp, "up succeeded", "image output "+imageV2),
			ev(upEnd, rollout.PhaseRoll, "phase started", ""),
			ev(s(57.6), rollout.PhaseRoll, "update started", "instance refresh InProgress, target "+revV2),
			ev(firstFail, rollout.PhaseRoll, "cloud rollout status", "InProgress 0%: 1 instance launched"),
			ev(rbStart, rollout.PhaseRollback, "rolling back", "clients saw 1 failures (status 500), above the allowed 0"),
			ev(s(196.4), rollout.PhaseRollback, "cloud rollout status", "Cancelled"),
			ev(s(196.6), rollout.PhaseRollback, "config set", rollout.ImageKey+"="+imageV1),
			ev(rbUpEnd, rollout.PhaseRollback, "up succeeded", "image output "+imageV1),
			ev(converged, rollout.PhaseRollback, "fleet converged", "3 in service on "+revBack),
			ev(end, rollout.PhaseRollback, "verdict", rollout.RolledBack),
		},
		Forward: fleet.Rollout{InProgress: true, Status: "InProgress", Percent: 0, Target: revV2},
		Final:   fleet.Rollout{Status: "Successful", Percent: 100, Target: revBack, Reached: true},
		Rollback: &rollout.RollbackReport{Owner: rollout.OwnerStayup, Reason: "clients saw 1 failures (status 500), above the allowed 0",
			Start: rbStart, End: converged, Done: true, Final: fleet.Rollout{Status: "Successful", Percent: 100, Target: revBack, Reached: true},
			Steps: []string{"cancelled the instance refresh (Cancelled after 4.5s)", "set " + rollout.ImageKey + "=" + imageV1, "ran up (45.6s)", "waited for the instance refresh to " + revBack + ": Successful"}},
		Probe: &sum, AllowedFailures: 0, VersionEvidence: "body",
		Verdict: rollout.RolledBack, Reason: "clients saw 1 failures (status 500), above the allowed 0; rolled back to " + imageV1 + " (3 in service on " + revBack + ")",
		Reads: reads,
	}
}

// seedProbe: probe --stack in the seed's downtime-script mode (every
// 0.5 s, stop at the first failure), run beside the rollout.
func seedProbe(t *testing.T) probe.Summary {
	start := base.Add(9*time.Minute + 2*time.Second)
	firstFail := base.Add(9*time.Minute + 188*time.Second + 450*time.Millisecond)
	tr := newTraffic(t, start, probe.Interval(500*time.Millisecond), probe.Timeout(time.Second), probe.UntilFailure())
	end := firstFail.Add(500 * time.Millisecond)
	tr.run(start, end, 500*time.Millisecond, func(el time.Duration, n int) outcome {
		if !start.Add(el).Before(firstFail) && n%2 == 1 {
			return outcome{status: 500, err: "status 500"}
		}
		return outcome{}
	})
	s := tr.m.Summary(end)
	s.Stopped = "first failure"
	return s
}

func TestRecord(t *testing.T) {
	if !*record {
		t.Skip("run with -record to rewrite testdata/runs")
	}
	if err := os.RemoveAll(runsDir); err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct {
		kind  string
		start time.Time
		v     any
	}{
		{runs.Chaos, base, abruptChaos(t)},
		{runs.Rollout, base.Add(9 * time.Minute), rolledBackRollout(t)},
		{runs.Probe, base.Add(9*time.Minute + 2*time.Second), seedProbe(t)},
		{runs.Chaos, base.Add(26 * time.Minute), interruptedChaos(t)},
	} {
		f, err := runs.Create(runsDir, r.kind, r.start, r.v)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(r.v)
		fmt.Printf("%s: %d bytes\n", filepath.Base(f.Path), len(b))
	}
}
