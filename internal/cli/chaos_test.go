package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"stayup/internal/fleet"
	"stayup/internal/probe"
)

// healingFleet loses i-2 and gets i-4 in its place, at the capacity the
// example stacks ship (min = desired = 3, one instance per zone).
func healingFleet() *scriptedFleet {
	whole := wholeFleet()
	lost := wholeFleet()
	lost[1].Health, lost[1].State = fleet.Unhealthy, fleet.Stopping
	launched := []fleet.Instance{whole[0], whole[2], member("i-4", "us-east-1b", fleet.Initial)}
	launched[2].Launched = time.Time{}
	healed := []fleet.Instance{whole[0], whole[2], member("i-4", "us-east-1b", fleet.Healthy)}
	healed[2].Launched = time.Time{}
	return &scriptedFleet{capacity: fleet.Capacity{Desired: 3, Min: 3, Max: 9}, lists: [][]fleet.Instance{whole, lost, launched, healed}}
}

func chaosFor(t *testing.T, f fleet.Fleet) *chaosOpts {
	url, _ := probeServer(t)
	return &chaosOpts{
		stack: "aws", count: 0, instances: []string{"i-2"}, mode: "abrupt", timeout: 3 * time.Second, minHealthy: 2,
		open: opener(f, url), poll: 10 * time.Millisecond, baseline: 20 * time.Millisecond,
		signals: make(chan os.Signal, 1),
		probe:   []probe.Option{probe.Interval(10 * time.Millisecond)},
	}
}

func runChaos(o *chaosOpts, input string) (stdout, stderr string, err error) {
	var out, errb bytes.Buffer
	if err := o.Validate(); err != nil {
		return "", "", err
	}
	err = o.Execute(context.Background(), streams{in: strings.NewReader(input), out: &out, err: &errb})
	return out.String(), errb.String(), err
}

func TestChaosDryRunKillsNothing(t *testing.T) {
	t.Parallel()
	f := healingFleet()
	o := chaosFor(t, f)
	o.dryRun, o.instances, o.count, o.timeout = true, nil, 1, 0
	out, _, err := runChaos(o, "")
	if err != nil {
		t.Fatalf("a dry run on a fleet at min = desired = 3: %v", err)
	}
	if len(f.kills()) > 0 {
		t.Errorf("dry run killed %v", f.kills())
	}
	for _, want := range []string{"would kill i-", "verdict: dry run", "would watch for up to", "(the stack's settings), keeping at least 2 in service"} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run output lacks %q:\n%s", want, out)
		}
	}
}

func TestChaosAsksWithoutYes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, input string
		want        func(error) bool
	}{
		{"no one to ask", "", func(err error) bool {
			var u usageError
			return errors.As(err, &u) && strings.Contains(err.Error(), "--yes")
		}},
		{"answered no", "n\n", func(err error) bool { return errors.Is(err, errNotConfirmed) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := healingFleet()
			_, stderr, err := runChaos(chaosFor(t, f), tc.input)
			if !tc.want(err) {
				t.Errorf("err %v", err)
			}
			if len(f.kills()) > 0 {
				t.Errorf("killed %v without a yes", f.kills())
			}
			if !strings.Contains(stderr, "Kill 1 instance(s) of stack aws") {
				t.Errorf("did not ask: %q", stderr)
			}
		})
	}
}

func TestChaosRefusesDegradedFleet(t *testing.T) {
	t.Parallel()
	f := healingFleet()
	f.lists = f.lists[1:] // starts with i-2 unhealthy
	o := chaosFor(t, f)
	o.yes = true
	_, stderr, err := runChaos(o, "")
	var exit exitError
	if !errors.As(err, &exit) || exit.code != 1 {
		t.Fatalf("err %v, want exit 1", err)
	}
	if !strings.Contains(stderr, "refusing to kill") || len(f.kills()) > 0 {
		t.Errorf("stderr %q, kills %v", stderr, f.kills())
	}
}

func TestChaosRecoversJSON(t *testing.T) {
	t.Parallel()
	f := healingFleet()
	o := chaosFor(t, f)
	o.yes, o.json = true, true
	out, stderr, err := runChaos(o, "")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	if got := f.kills(); !slices.Equal(got, []string{"i-2"}) {
		t.Errorf("killed %v, want i-2", got)
	}
	var r map[string]any
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if r["verdict"] != "recovered" || r["time_to_recover_ms"] == nil {
		t.Errorf("report %s", out)
	}
	for _, want := range []string{"killed i-2", "seen unhealthy by the load balancer i-2", "replacement healthy i-4", "desired 3, healthy 2"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("live view lacks %q:\n%s", want, stderr)
		}
	}
}

func TestChaosNotRecoveredExitsNonZero(t *testing.T) {
	t.Parallel()
	f := healingFleet()
	f.lists = f.lists[:2] // never replaced
	o := chaosFor(t, f)
	o.yes, o.timeout = true, 100*time.Millisecond
	out, _, err := runChaos(o, "")
	var exit exitError
	if !errors.As(err, &exit) || exit.code != 1 {
		t.Fatalf("err %v, want exit 1", err)
	}
	if !strings.Contains(out, "verdict: not recovered") {
		t.Errorf("report:\n%s", out)
	}
}

// Ctrl-C: no more kills, the report so far, exit 130.
func TestChaosInterruptPrintsReportSoFar(t *testing.T) {
	t.Parallel()
	// Scaled out to two per zone, so that two victims pass the guards.
	six := append(wholeFleet(), member("i-4", "us-east-1a", fleet.Healthy), member("i-5", "us-east-1b", fleet.Healthy), member("i-6", "us-east-1c", fleet.Healthy))
	f := &scriptedFleet{capacity: fleet.Capacity{Desired: 6, Min: 3, Max: 9}, lists: [][]fleet.Instance{six}}
	o := chaosFor(t, f)
	o.instances = []string{"i-1", "i-2"}
	o.yes = true
	sig := make(chan os.Signal, 1)
	o.signals = sig
	f.onKill = func() { sig <- os.Interrupt; time.Sleep(50 * time.Millisecond) }
	out, stderr, err := runChaos(o, "")
	var exit exitError
	if !errors.As(err, &exit) || exit.code != exitInterrupted {
		t.Fatalf("err %v, want exit %d", err, exitInterrupted)
	}
	if got := f.kills(); len(got) != 1 {
		t.Errorf("killed %v after Ctrl-C, want only the first", got)
	}
	if !strings.Contains(out, "verdict: interrupted") || !strings.Contains(out, "killed i-1") {
		t.Errorf("report so far:\n%s", out)
	}
	if !strings.Contains(stderr, "interrupted: no more kills") {
		t.Errorf("stderr %q", stderr)
	}
}

func TestChaosFlags(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"chaos"}, "--stack"},
		{[]string{"chaos", "--stack", "aws", "--mode", "gentle"}, "mode"},
		{[]string{"chaos", "--stack", "aws", "--count", "0"}, "--count 0"},
		{[]string{"chaos", "--stack", "aws", "--count", "2", "--instance", "i-1"}, "one or the other"},
		{[]string{"chaos", "--stack", "aws", "--timeout", "-1s"}, "--timeout"},
		{[]string{"chaos", "--stack", "aws", "--min-healthy", "0"}, "--min-healthy 0"},
	} {
		code, _, errOut := runCLI(tc.args...)
		if code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q: want 2 and %q", tc.args, code, errOut, tc.want)
		}
	}
}
