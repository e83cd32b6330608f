package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"stayup/internal/fleet"
	"stayup/internal/runs"
)

// savedRun is the part of a kept report these tests read.
type savedRun struct {
	Verdict string `json:"verdict"`
	Reads   []any  `json:"fleet_reads"`
	Probe   *struct {
		Buckets []any `json:"buckets"`
	} `json:"probe"`
	Buckets []any `json:"buckets"` // a probe's own
}

func onlyRun(t *testing.T, dir, kind string) (string, savedRun) {
	t.Helper()
	saved, err := runs.List(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(saved) != 1 || saved[0].Kind != kind {
		t.Fatalf("runs kept in %s: %+v, want one %s", dir, saved, kind)
	}
	var r savedRun
	if err := json.Unmarshal(saved[0].Data, &r); err != nil {
		t.Fatalf("%s is not readable: %v", saved[0].Path, err)
	}
	return saved[0].Path, r
}

// A chaos run is kept under .stayup/reports/<stack>/<time>-chaos.json with
// its fleet reads and the probe's buckets, and the path is printed.
func TestChaosKeepsTheRun(t *testing.T) {
	t.Parallel()
	o := chaosFor(t, healingFleet())
	o.yes = true
	o.root = t.TempDir()
	o.reports = reportsDir(o.root, o.stack, false)
	_, errOut, err := runChaos(o, "")
	if err != nil {
		t.Fatal(err)
	}
	path, r := onlyRun(t, filepath.Join(o.root, ".stayup", "reports", "aws"), runs.Chaos)
	if !strings.HasSuffix(path, "-chaos.json") || !strings.Contains(errOut, "saved .stayup/reports/aws/"+filepath.Base(path)) {
		t.Errorf("path %s, stderr:\n%s", path, errOut)
	}
	if r.Verdict != "recovered" || len(r.Reads) == 0 || r.Probe == nil || len(r.Probe.Buckets) == 0 {
		t.Errorf("kept run: verdict %q, %d reads, probe %+v", r.Verdict, len(r.Reads), r.Probe)
	}
}

// --no-save keeps nothing.
func TestNoSave(t *testing.T) {
	t.Parallel()
	if got := reportsDir("/p", "aws", true); got != "" {
		t.Errorf("--no-save dir %q", got)
	}
	if got := reportsDir("/p", "aws", false); got != filepath.Join("/p", ".stayup", "reports", "aws") {
		t.Errorf("dir %q", got)
	}
	o := chaosFor(t, healingFleet())
	o.yes = true
	o.root = t.TempDir()
	o.reports = reportsDir(o.root, o.stack, true)
	if _, errOut, err := runChaos(o, ""); err != nil || strings.Contains(errOut, "sav") {
		t.Errorf("err %v, stderr %s", err, errOut)
	}
	if _, err := os.Stat(filepath.Join(o.root, ".stayup")); !os.IsNotExist(err) {
		t.Errorf("--no-save made .stayup: %v", err)
	}
	for _, name := range []string{"chaos", "rollout", "probe"} {
		cmd, _, err := newRoot(streams{}).Find([]string{name})
		if err != nil || cmd.Flags().Lookup("no-save") == nil {
			t.Errorf("%s has no --no-save (%v)", name, err)
		}
	}
}

// A run that dies mid-way leaves its last checkpoint: readable, verdict
// running, with the fleet reads so far. Here the file is read while the
// fleet has not healed (what a SIGKILL would leave), then Ctrl-C ends the
// run, whose final report says interrupted.
func TestChaosKilledMidwayLeavesReadableRun(t *testing.T) {
	t.Parallel()
	whole := wholeFleet()
	lost := wholeFleet()
	lost[1].Health, lost[1].State = fleet.Unhealthy, fleet.Stopping
	f := &scriptedFleet{capacity: fleet.Capacity{Desired: 3, Min: 3, Max: 9}, lists: [][]fleet.Instance{whole, lost}}
	o := chaosFor(t, f)
	o.yes, o.timeout = true, 20*time.Second
	o.root = t.TempDir()
	o.reports = reportsDir(o.root, o.stack, false)
	sig := make(chan os.Signal, 1)
	o.signals = sig
	mid := make(chan savedRun, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for ctx.Err() == nil {
			time.Sleep(5 * time.Millisecond)
			saved, err := runs.List(o.reports)
			if err != nil || len(saved) != 1 {
				continue
			}
			var r savedRun
			if err := json.Unmarshal(saved[0].Data, &r); err != nil {
				t.Errorf("checkpoint not readable: %v\n%s", err, saved[0].Data)
				break
			}
			if len(r.Reads) >= 2 {
				mid <- r
				break
			}
		}
		sig <- os.Interrupt
	}()
	_, _, err := runChaos(o, "")
	if err == nil {
		t.Fatal("an interrupted run exited 0")
	}
	select {
	case r := <-mid:
		if r.Verdict != "running" || r.Probe == nil {
			t.Errorf("mid-way: verdict %q, probe %v", r.Verdict, r.Probe != nil)
		}
	default:
		t.Fatal("no readable checkpoint with fleet reads while the run went on")
	}
	_, r := onlyRun(t, o.reports, runs.Chaos)
	if r.Verdict != "interrupted" {
		t.Errorf("final verdict %q, want interrupted", r.Verdict)
	}
}

// probe --stack keeps its summary, with buckets, as <time>-probe.json.
func TestProbeStackKeepsTheRun(t *testing.T) {
	url, _ := probeServer(t)
	old := stackURL
	t.Cleanup(func() { stackURL = old })
	stackURL = func(context.Context, string, string) (string, error) { return url, nil }
	root := t.TempDir()
	o := &probeOpts{stack: "aws", rate: 20, timeout: time.Second, duration: 300 * time.Millisecond, root: root, reports: reportsDir(root, "aws", false)}
	var errb strings.Builder
	err := o.Execute(context.Background(), streams{in: strings.NewReader(""), out: &strings.Builder{}, err: &errb})
	if err != nil {
		t.Fatal(err)
	}
	path, r := onlyRun(t, o.reports, runs.Probe)
	if !strings.Contains(errb.String(), filepath.Base(path)) || r.Verdict != "pass" || len(r.Buckets) == 0 {
		t.Errorf("kept %s: verdict %q, %d buckets; stderr %s", path, r.Verdict, len(r.Buckets), errb.String())
	}
}
