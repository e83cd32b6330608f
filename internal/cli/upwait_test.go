package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"

	"stayup/internal/fleet"
	"stayup/internal/plan"
	"stayup/internal/policy"
	"stayup/internal/stackops"
)

// newGroup plays a GCP group right after its first up: created with no
// target size (the autoscaler owns it), so it starts at 0; the autoscaler
// raises it to its minimum (3, as shipped); each instance is created,
// boots, then passes the backend service's check. One read is one step;
// readyAt is the read from which all three serve (never: -1).
type newGroup struct {
	mu      sync.Mutex
	reads   int
	readyAt int
}

func (g *newGroup) Cloud() string { return "gcp" }
func (g *newGroup) Name() string  { return "mig" }
func (g *newGroup) Capacity(context.Context) (fleet.Capacity, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.reads == 0 {
		return fleet.Capacity{Desired: 0, Min: 3, Max: 9}, nil
	}
	return fleet.Capacity{Desired: 3, Min: 3, Max: 9}, nil
}
func (g *newGroup) Rollout(context.Context) (fleet.Rollout, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.reads++
	if g.reads == 1 { // size 0: stable, nothing to reach
		return fleet.Rollout{Status: "stable", Target: "tpl-1", Reached: true, Percent: -1}, nil
	}
	done := g.readyAt > 0 && g.reads >= g.readyAt
	return fleet.Rollout{Status: map[bool]string{true: "stable", false: "updating"}[done], InProgress: !done, Target: "tpl-1", Reached: true, Percent: 100}, nil
}
func (g *newGroup) Instances(context.Context) ([]fleet.Instance, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.reads <= 1 {
		return nil, nil
	}
	var out []fleet.Instance
	for i := range 3 {
		in := fleet.Instance{ID: fmt.Sprintf("vm-%d", i), Zone: fmt.Sprintf("z-%d", i), State: fleet.Pending, Health: fleet.Unknown, Revision: "tpl-1"}
		if g.readyAt > 0 && g.reads >= g.readyAt-1+i/2 {
			in.State, in.Health = fleet.Running, fleet.Healthy
		}
		out = append(out, in)
	}
	return out, nil
}
func (g *newGroup) Kill(context.Context, string, fleet.KillMode) error { return errors.New("no") }
func (g *newGroup) Settings(context.Context) (fleet.Settings, error)   { return fleet.Settings{}, nil }

func upWith(t *testing.T, g fleet.Fleet, wait time.Duration, ctx context.Context) (string, string, error) {
	t.Helper()
	fake := &fakeStack{changes: stackops.Changes{"create": 40}}
	o := &stackOpOpts{
		op: "up", stack: "gcp", yes: true, root: t.TempDir(), severity: policy.High, signals: make(chan os.Signal),
		wait: wait, poll: time.Millisecond,
		check: func(string, map[string]string) (*plan.Result, error) { return &plan.Result{}, nil },
		open: func(context.Context, stackops.Options, bool) (stackOps, error) {
			return upReturns{fake, map[string]any{"url": "http://lb.example/", "fleet": map[string]any{"instanceGroupManager": "mig"}}}, nil
		},
		fleetOf: func(_ context.Context, _ string, out map[string]any) (*stackFleet, error) {
			if out["fleet"] == nil {
				return nil, errors.New("no fleet output")
			}
			return &stackFleet{Fleet: g, Close: func() {}}, nil
		},
	}
	var out, errOut bytes.Buffer
	err := o.Execute(ctx, streams{in: strings.NewReader(""), out: &out, err: &errOut})
	return out.String(), errOut.String(), err
}

// upReturns is a stack whose up returns the given outputs (the first up
// has no outputs before it, so the stale-hold restore finds no fleet).
type upReturns struct {
	*fakeStack
	out map[string]any
}

func (u upReturns) Up(ctx context.Context) (map[string]any, error) {
	u.fakeStack.Up(ctx)
	return u.out, nil
}

// The first up on GCP: the engine returns while the group is empty; up
// says the stack is up only once the autoscaler's three instances serve.
func TestFirstUpWaitsUntilTheFleetServes(t *testing.T) {
	t.Parallel()
	g := &newGroup{readyAt: 6}
	out, errOut, err := upWith(t, g, time.Minute, context.Background())
	if err != nil {
		t.Fatalf("up: %v\n%s", err, errOut)
	}
	if !strings.Contains(out, "stack gcp is up: http://lb.example/") {
		t.Errorf("stdout %q", out)
	}
	if g.reads < 6 {
		t.Errorf("the fleet was read %d times: up said it was up before the group served", g.reads)
	}
	for _, want := range []string{"0 of 3 in service", "3 of 3 in service on tpl-1, 3 listed"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("progress %q lacks %q", errOut, want)
		}
	}
}

// A fleet that does not come up within --wait: up says so, how to watch,
// and fails; Ctrl-C stops the wait the same way, exit 130.
func TestUpSaysTheFleetIsStillComingUp(t *testing.T) {
	t.Parallel()
	out, errOut, err := upWith(t, &newGroup{readyAt: -1}, 50*time.Millisecond, context.Background())
	if err == nil || !strings.Contains(err.Error(), "still coming up after 50ms") || !strings.Contains(err.Error(), "stayup status --stack gcp") {
		t.Errorf("err %v", err)
	}
	if strings.Contains(out, "is up") {
		t.Errorf("stdout %q says up", out)
	}

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(30*time.Millisecond, cancel)
	_, errOut, err = upWith(t, &newGroup{readyAt: -1}, time.Minute, ctx)
	var exit exitError
	if !errors.As(err, &exit) || exit.code != exitInterrupted || !strings.Contains(errOut, "still coming up") || !strings.Contains(errOut, "stayup status --stack gcp") {
		t.Errorf("interrupted: err %v, stderr %q", err, errOut)
	}
	// --wait 0 returns with the engine.
	g := &newGroup{readyAt: -1}
	if out, _, err := upWith(t, g, 0, context.Background()); err != nil || g.reads != 0 || !strings.Contains(out, "is up") {
		t.Errorf("--wait 0: err %v, %d reads, stdout %q", err, g.reads, out)
	}
}

// gcpStack is a deployed GCP stack for destroy.
type gcpStack struct {
	*fakeStack
	project string
}

func (g gcpStack) Config(context.Context) (map[string]auto.ConfigValue, error) {
	g.calls = append(g.calls, "config")
	return map[string]auto.ConfigValue{"stayup:cloud": {Value: "gcp"}, "gcp:project": {Value: "from-config"}}, nil
}

type recordingCleaner struct {
	keeps []string
	res   fleet.Cleanup
	err   error
}

func (c *recordingCleaner) Cleanup(_ context.Context, keep string) (fleet.Cleanup, error) {
	c.keeps = append(c.keeps, keep)
	return c.res, c.err
}

// destroy deletes a GCP stack's retained templates after the stack's
// resources, in the project the stack deployed to, and also when a plain
// pulumi destroy already emptied the stack; what it cannot delete fails
// with how to finish.
func TestDestroyDeletesRetainedTemplates(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		changes     stackops.Changes
		outputs     map[string]any
		res         fleet.Cleanup
		err         error
		wantProject string
		wantErr     string
		wantOut     string
	}{
		{"after the stack's resources", stackops.Changes{"delete": 40}, map[string]any{"fleet": map[string]any{"project": "from-outputs"}},
			fleet.Cleanup{Deleted: []string{"stayup-fleet-1", "stayup-fleet-2"}}, nil, "from-outputs", "", "deleted 2 [stayup-fleet-1 stayup-fleet-2]"},
		{"after a plain pulumi destroy", stackops.Changes{}, nil,
			fleet.Cleanup{Deleted: []string{"stayup-fleet-2"}}, nil, "from-config", "", "nothing to destroy"},
		{"one still in use", stackops.Changes{}, nil,
			fleet.Cleanup{InUse: []string{"stayup-fleet-2"}}, nil, "from-config", "still in use", ""},
		{"refused", stackops.Changes{}, nil,
			fleet.Cleanup{}, errors.New("missing permission compute.instanceTemplates.list"), "from-config", "gcloud compute instance-templates list --project from-config --filter='properties.labels.stayup-stack=gcp'", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fake := &fakeStack{changes: tc.changes, outputs: tc.outputs}
			c := &recordingCleaner{res: tc.res, err: tc.err}
			var project string
			o := &stackOpOpts{
				op: "destroy", stack: "gcp", yes: true, root: t.TempDir(), severity: policy.High, signals: make(chan os.Signal),
				open: func(context.Context, stackops.Options, bool) (stackOps, error) { return gcpStack{fakeStack: fake}, nil },
				templates: func(_ context.Context, p, stack string) (templateCleaner, func() error, error) {
					project = p
					if stack != "gcp" {
						t.Errorf("cleaner for stack %q", stack)
					}
					return c, func() error { return nil }, nil
				},
			}
			var out, errOut bytes.Buffer
			err := o.Execute(context.Background(), streams{in: strings.NewReader(""), out: &out, err: &errOut})
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("err %v, want %q", err, tc.wantErr)
			}
			if project != tc.wantProject || len(c.keeps) != 1 || c.keeps[0] != "" {
				t.Errorf("cleaned project %q keeping %q, want %q keeping nothing", project, c.keeps, tc.wantProject)
			}
			if !strings.Contains(out.String(), tc.wantOut) {
				t.Errorf("stdout %q, want %q", out.String(), tc.wantOut)
			}
			if tc.changes.Total() > 0 && !strings.Contains(strings.Join(fake.calls, " "), "destroy") {
				t.Errorf("calls %v", fake.calls)
			}
		})
	}
}
