package cli

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"

	"stayup/internal/fleet"
	"stayup/internal/plan"
	"stayup/internal/policy"
	"stayup/internal/stackops"
)

// fakeStack records the operations called and returns scripted changes
// and outputs (nil: never deployed).
type fakeStack struct {
	changes stackops.Changes
	outputs map[string]any
	calls   []string
}

func (f *fakeStack) Outputs(context.Context) (map[string]any, error) {
	f.calls = append(f.calls, "outputs")
	return f.outputs, nil
}

func (f *fakeStack) EnsureGenerated(context.Context) ([]string, error) {
	f.calls = append(f.calls, "generate")
	return nil, nil
}

func (f *fakeStack) Config(context.Context) (map[string]auto.ConfigValue, error) {
	f.calls = append(f.calls, "config")
	return map[string]auto.ConfigValue{"stayup:cloud": {Value: "aws"}, "stayup:token": {Value: "decrypted", Secret: true}}, nil
}

func (f *fakeStack) Preview(context.Context) (stackops.Changes, error) {
	f.calls = append(f.calls, "preview")
	return f.changes, nil
}

func (f *fakeStack) PreviewDestroy(context.Context) (stackops.Changes, error) {
	f.calls = append(f.calls, "preview-destroy")
	return f.changes, nil
}

func (f *fakeStack) Up(context.Context) (map[string]any, error) {
	f.calls = append(f.calls, "up")
	return map[string]any{"url": "http://lb.example/"}, nil
}

func (f *fakeStack) Destroy(context.Context) error {
	f.calls = append(f.calls, "destroy")
	return nil
}

func TestStackOpCommands(t *testing.T) {
	t.Parallel()
	some := stackops.Changes{"create": 3}
	for _, tc := range []struct {
		name      string
		op        string
		yes       bool
		input     string
		changes   stackops.Changes
		wantCalls string
		wantErr   string // in the error; "" for none
		wantOut   string
		badConfig bool
		finding   policy.Severity // a finding the check reports
		force     bool
	}{
		{"up --yes deploys without asking", "up", true, "", some, "generate config preview up", "", "stack dev is up: http://lb.example/", false, "", false},
		{"up asks, yes", "up", false, "y\n", some, "generate config preview up", "", "http://lb.example/", false, "", false},
		{"up asks, no", "up", false, "n\n", some, "generate config preview", "not confirmed", "", false, "", false},
		{"up with no one to ask refuses, naming --yes", "up", false, "", some, "generate config preview", "pass --yes", "", false, "", false},
		{"up with nothing to change does not ask", "up", false, "", stackops.Changes{"same": 3}, "generate config preview", "", "up to date", false, "", false},
		{"up with bad config stops before the preview", "up", true, "", some, "generate config", "check stack dev before deploying: stayup:minSize", "", true, "", false},
		{"preview checks, never asks", "preview", false, "", some, "config preview", "", "", false, "", false},
		{"destroy --yes", "destroy", true, "", stackops.Changes{"delete": 3}, "preview-destroy destroy", "", "stack dev destroyed", false, "", false},
		{"destroy asks, yes", "destroy", false, "yes\n", stackops.Changes{"delete": 3}, "preview-destroy destroy", "", "destroyed", false, "", false},
		{"destroy with no one to ask refuses", "destroy", false, "", stackops.Changes{"delete": 3}, "preview-destroy", "pass --yes", "", false, "", false},
		{"destroy of an empty stack", "destroy", false, "", stackops.Changes{}, "preview-destroy", "", "nothing to destroy", false, "", false},
		{"up refuses a high finding", "up", true, "", some, "generate config", "1 compliance finding(s) at or above high", "", false, policy.High, false},
		{"up deploys past a finding with --force", "up", true, "", some, "generate config preview up", "", "http://lb.example/", false, policy.High, true},
		{"up deploys with a finding below --fail-on", "up", true, "", some, "generate config preview up", "", "http://lb.example/", false, policy.Medium, false},
		{"preview shows a finding, never refuses", "preview", false, "", some, "config preview", "", "", false, policy.Critical, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fake := &fakeStack{changes: tc.changes}
			var gotCreate bool
			o := &stackOpOpts{
				op: tc.op, stack: "dev", yes: tc.yes, root: t.TempDir(), severity: policy.High, force: tc.force,
				signals: make(chan os.Signal),
				check: func(stack string, cfg map[string]string) (*plan.Result, error) {
					if cfg["stayup:token"] != "decrypted" {
						t.Errorf("checked config %v: want the values as the engine gets them", cfg)
					}
					if tc.badConfig {
						return nil, errors.New("stayup:minSize: must be at least 2")
					}
					if tc.finding != "" {
						return &plan.Result{Findings: []policy.Finding{{Rule: "x-rule", Severity: tc.finding, Message: "fix x"}}}, nil
					}
					return &plan.Result{}, nil
				},
				open: func(_ context.Context, opts stackops.Options, create bool) (stackOps, error) {
					if opts.Stack != "dev" || opts.Program == nil || opts.Abort == nil {
						t.Errorf("options %+v", opts)
					}
					gotCreate = create
					return fake, nil
				},
			}
			var out, errOut bytes.Buffer
			err := o.Execute(context.Background(), streams{in: strings.NewReader(tc.input), out: &out, err: &errOut})
			if got := strings.Join(fake.calls, " "); got != tc.wantCalls {
				t.Errorf("calls %q, want %q", got, tc.wantCalls)
			}
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("error %v, want %q", err, tc.wantErr)
			}
			if !strings.Contains(out.String(), tc.wantOut) {
				t.Errorf("stdout %q, want %q", out.String(), tc.wantOut)
			}
			if want := tc.op != "destroy"; gotCreate != want {
				t.Errorf("create a new stack = %v, want %v (only up and preview create one)", gotCreate, want)
			}
		})
	}
}

func TestStackOpNeedsStack(t *testing.T) {
	t.Parallel()
	for _, op := range []string{"up", "preview", "destroy"} {
		code, _, errOut := runCLI(op)
		if code != 2 || !strings.Contains(errOut, "--stack") {
			t.Errorf("%s without --stack: exit %d, stderr %q", op, code, errOut)
		}
	}
	if code, _, errOut := runCLI("preview", "--stack", "x", "--yes"); code != 2 || !strings.Contains(errOut, "--yes") {
		t.Errorf("preview --yes: exit %d, stderr %q; preview changes nothing and has no --yes", code, errOut)
	}
}

// The first interrupt cancels gracefully (ctx ends), the second aborts.
func TestHandleInterrupts(t *testing.T) {
	t.Parallel()
	signals := make(chan os.Signal, 1)
	ctx, abort, stop := handleInterrupts(context.Background(), signals, io.Discard, "first", "second")
	defer stop()

	signals <- os.Interrupt
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the first interrupt did not end the context")
	}
	select {
	case <-abort:
		t.Fatal("the first interrupt aborted")
	case <-time.After(100 * time.Millisecond):
	}
	signals <- os.Interrupt
	select {
	case <-abort:
	case <-time.After(5 * time.Second):
		t.Fatal("the second interrupt did not abort")
	}
}

// azureStack is a fakeStack whose config is an Azure stack's.
type azureStack struct{ fakeStack }

func (f *azureStack) Config(context.Context) (map[string]auto.ConfigValue, error) {
	f.calls = append(f.calls, "config")
	return map[string]auto.ConfigValue{"stayup:cloud": {Value: "azure"}, "stayup:token": {Value: "decrypted"}}, nil
}

func TestUpRunsDoctorFirst(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		doctor     error
		skipDoctor bool
		wantCalls  string
		wantErr    string
	}{
		{"a blocking check stops up before the preview", errors.New("doctor: 1 check(s) would make up fail part-way"), false, "generate config outputs", "part-way"},
		{"passing checks let it go on", nil, false, "generate config outputs preview up", ""},
		{"--skip-doctor does not run it", errors.New("not to be called"), true, "generate config preview up", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fake := &azureStack{fakeStack{changes: stackops.Changes{"create": 1}}}
			var checked map[string]string
			o := &stackOpOpts{
				op: "up", stack: "dev", yes: true, root: t.TempDir(), severity: policy.High, skipDoctor: tc.skipDoctor,
				signals: make(chan os.Signal),
				check:   func(string, map[string]string) (*plan.Result, error) { return &plan.Result{}, nil },
				open: func(context.Context, stackops.Options, bool) (stackOps, error) {
					return fake, nil
				},
				doctor: func(_ context.Context, _ string, cfg map[string]string, _ map[string]any, _ streams) error {
					checked = cfg
					return tc.doctor
				},
			}
			var out, errOut bytes.Buffer
			err := o.Execute(context.Background(), streams{in: strings.NewReader(""), out: &out, err: &errOut})
			if got := strings.Join(fake.calls, " "); got != tc.wantCalls {
				t.Errorf("calls %q, want %q", got, tc.wantCalls)
			}
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("error %v, want %q", err, tc.wantErr)
			}
			if ran := checked != nil; ran == tc.skipDoctor {
				t.Errorf("doctor ran = %v with --skip-doctor = %v", ran, tc.skipDoctor)
			}
			if !tc.skipDoctor && checked["stayup:cloud"] != "azure" {
				t.Errorf("doctor checked config %v, want the stack's (decrypted)", checked)
			}
		})
	}
}

// holdingFleet is a fleet with a stale hold to restore.
type holdingFleet struct {
	*scriptedFleet
	restored  int
	readFirst bool // the fleet was read before the restore
	trace     *[]string
}

func (h *holdingFleet) RestoreStaleHolds(context.Context) ([]string, error) {
	h.restored++
	h.mu.Lock()
	h.readFirst = h.readFirst || h.reads > 0
	h.mu.Unlock()
	if h.trace != nil {
		*h.trace = append(*h.trace, "restore")
	}
	return []string{"restored the minimum of autoscale setting as-1 to 3"}, nil
}

func TestUpRestoresStaleHoldsBeforeDeploying(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		outputs   map[string]any
		wantCalls string
		restored  int
	}{
		{"deployed", map[string]any{"cloud": "azure", "fleet": map[string]any{"scaleSetName": "ss"}}, "generate config outputs restore preview up", 1},
		{"first up: nothing deployed", map[string]any{}, "generate config outputs preview up", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fake := &fakeStack{changes: stackops.Changes{"update": 1}, outputs: tc.outputs}
			hf := &holdingFleet{scriptedFleet: &scriptedFleet{}, trace: &fake.calls}
			opened := 0
			o := &stackOpOpts{
				op: "up", stack: "dev", yes: true, root: t.TempDir(), severity: policy.High, signals: make(chan os.Signal),
				check: func(string, map[string]string) (*plan.Result, error) { return &plan.Result{}, nil },
				open:  func(context.Context, stackops.Options, bool) (stackOps, error) { return fake, nil },
				fleetOf: func(_ context.Context, stack string, out map[string]any) (*stackFleet, error) {
					opened++
					if out["fleet"] == nil {
						t.Errorf("fleet opened from outputs %v without a fleet", out)
					}
					return &stackFleet{Fleet: hf, Close: func() {}}, nil
				},
			}
			var out, errOut bytes.Buffer
			if err := o.Execute(context.Background(), streams{in: strings.NewReader(""), out: &out, err: &errOut}); err != nil {
				t.Fatalf("up: %v", err)
			}
			if got := strings.Join(fake.calls, " "); got != tc.wantCalls {
				t.Errorf("calls %q, want %q", got, tc.wantCalls)
			}
			if hf.restored != tc.restored || opened != tc.restored {
				t.Errorf("restored %d times, fleet opened %d times, want %d", hf.restored, opened, tc.restored)
			}
			if said := strings.Contains(errOut.String(), "stayup: restored the minimum of autoscale setting as-1 to 3"); said != (tc.restored == 1) {
				t.Errorf("stderr %q: want the restore said exactly when it happened", errOut.String())
			}
		})
	}
}

// rollingFleet is a fleet in the middle of its cloud's rolling update.
type rollingFleet struct{ *scriptedFleet }

func (rollingFleet) Rollout(context.Context) (fleet.Rollout, error) {
	return fleet.Rollout{InProgress: true, Status: "InProgress", Percent: 33, Target: "lt-1:5"}, nil
}

// An up during the cloud's rolling update would restart it (AWS cancels a
// running refresh and starts another on a launch template change): refused
// before the preview, unless --force.
func TestUpRefusesDuringARollingUpdate(t *testing.T) {
	t.Parallel()
	for _, force := range []bool{false, true} {
		fake := &fakeStack{changes: stackops.Changes{"update": 1}, outputs: map[string]any{"cloud": "aws", "fleet": map[string]any{"asgName": "g"}}}
		o := &stackOpOpts{
			op: "up", stack: "dev", yes: true, force: force, root: t.TempDir(), severity: policy.High, signals: make(chan os.Signal),
			check: func(string, map[string]string) (*plan.Result, error) { return &plan.Result{}, nil },
			open:  func(context.Context, stackops.Options, bool) (stackOps, error) { return fake, nil },
			fleetOf: func(context.Context, string, map[string]any) (*stackFleet, error) {
				return &stackFleet{Fleet: rollingFleet{&scriptedFleet{}}, Close: func() {}}, nil
			},
		}
		var out, errOut bytes.Buffer
		err := o.Execute(context.Background(), streams{in: strings.NewReader(""), out: &out, err: &errOut})
		upped := slices.Contains(fake.calls, "up")
		switch {
		case !force && (err == nil || !strings.Contains(err.Error(), "a rolling update is in progress") || upped):
			t.Errorf("without --force: err %v, calls %v; want a refusal before the preview", err, fake.calls)
		case force && (err != nil || !upped || !strings.Contains(errOut.String(), "deploying anyway (--force)")):
			t.Errorf("with --force: err %v, calls %v, stderr %q; want the up, said", err, fake.calls, errOut.String())
		}
	}
}
