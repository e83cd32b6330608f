package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"stayup/internal/fleet"
	"stayup/internal/probe"
	"stayup/internal/project"
	"stayup/internal/rollout"
	"stayup/internal/rollout/rollouttest"
	"stayup/internal/stackops"
)

const rolloutStep = 40 * time.Millisecond

func rolloutFor(c *rollouttest.Cloud, open openRolloutStack, image string) *rolloutOpts {
	return &rolloutOpts{
		stack: "sim", image: image, yes: true, timeout: 10 * time.Second,
		openStack: open,
		openFleet: func(context.Context, string, string) (*stackFleet, error) {
			return &stackFleet{Fleet: c, URL: c.URL, Cloud: c.Cloud(), Close: func() {}}, nil
		},
		poll: 25 * time.Millisecond, baseline: 150 * time.Millisecond, settle: 300 * time.Millisecond,
		signals: make(chan os.Signal, 1),
		probe:   []probe.Option{probe.Interval(10 * time.Millisecond), probe.Timeout(time.Second)},
	}
}

func runRolloutCmd(o *rolloutOpts, input string) (stdout, stderr string, err error) {
	var out, errb bytes.Buffer
	if err := o.Validate(); err != nil {
		return "", "", err
	}
	err = o.Execute(context.Background(), streams{in: strings.NewReader(input), out: &out, err: &errb})
	return out.String(), errb.String(), err
}

func TestRolloutValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		change func(*rolloutOpts)
		want   string
	}{
		{"no stack", func(o *rolloutOpts) { o.stack = "" }, "which stack"},
		{"no image", func(o *rolloutOpts) { o.image = " " }, "--image"},
		{"allow failures", func(o *rolloutOpts) { o.allowFailures = -1 }, "--allow-failures"},
		{"timeout", func(o *rolloutOpts) { o.timeout = -time.Second }, "--timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := &rolloutOpts{stack: "aws", image: "ghcr.io/x/app:2", root: t.TempDir()}
			tc.change(o)
			err := o.Validate()
			var u usageError
			if !errors.As(err, &u) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate() = %v, want a usage error naming %q", err, tc.want)
			}
		})
	}
}

// Without --yes and no one to answer, rollout changes nothing.
func TestRolloutAsksWithoutYes(t *testing.T) {
	t.Parallel()
	c := rollouttest.New(t, "aws", "v1", 3, rolloutStep)
	st := rollouttest.NewStack(c, "v1")
	o := rolloutFor(c, func(context.Context, stackops.Options) (rollout.Stack, error) { return st, nil }, "v2")
	o.yes = false
	_, _, err := runRolloutCmd(o, "")
	var u usageError
	if !errors.As(err, &u) || !strings.Contains(err.Error(), "--yes") {
		t.Fatalf("err %v, want a usage error naming --yes", err)
	}
	if len(st.CallLog()) != 0 {
		t.Errorf("stack calls %v", st.CallLog())
	}
}

// A refused preflight exits 1 and says why.
func TestRolloutRefusesDuringRollingUpdate(t *testing.T) {
	t.Parallel()
	c := rollouttest.New(t, "aws", "v1", 3, rolloutStep)
	c.Bad["v0"] = rollouttest.NeverHealthy
	c.RollTo("v0")
	st := rollouttest.NewStack(c, "v1")
	o := rolloutFor(c, func(context.Context, stackops.Options) (rollout.Stack, error) { return st, nil }, "v2")
	_, stderr, err := runRolloutCmd(o, "")
	if !errors.Is(err, exitError{1}) || !strings.Contains(stderr, "already in progress") {
		t.Fatalf("err %v, stderr:\n%s", err, stderr)
	}
}

// The end-to-end tests run the whole command on the real Pulumi engine
// (tools/bin/pulumi, a file backend in a temporary project) with a program
// whose only resources are its outputs; the "cloud" is rollouttest's fleet
// of loopback servers behind a proxy, which the stack's up hands the image
// output to, as a provider would hand it to the group.

func rolloutPulumi(t *testing.T) string {
	t.Helper()
	root, err := project.Root(".")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(root, "tools", "bin", "pulumi")
	if _, err := os.Stat(bin); err != nil {
		msg := "no Pulumi CLI at " + bin + ": build it with tools/build-pulumi.sh"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return bin
}

// simProgram exports what a deployed stayup stack exports, from config.
func simProgram(ctx *pulumi.Context) error {
	get := func(k string) string { v, _ := ctx.GetConfig("stayup:" + k); return v }
	ctx.Export("url", pulumi.String(get("url")))
	ctx.Export("cloud", pulumi.String(get("cloud")))
	ctx.Export("image", pulumi.String(get("image")))
	ctx.Export("fleet", pulumi.Map{"group": pulumi.String("sim-group")})
	return nil
}

// engineStack is the real stack; its up hands the image to the cloud.
type engineStack struct {
	*stackops.Stack
	cloud *rollouttest.Cloud
	calls *[]string
}

func (e engineStack) Up(ctx context.Context) (map[string]any, error) {
	out, err := e.Stack.Up(ctx)
	if err == nil {
		img, _ := out["image"].(string)
		*e.calls = append(*e.calls, "up "+img)
		e.cloud.RollTo(img)
	}
	return out, err
}

func (e engineStack) Refresh(ctx context.Context) error {
	*e.calls = append(*e.calls, "refresh")
	return e.Stack.Refresh(ctx)
}

func engineRollout(t *testing.T, cloud string, bad rollouttest.Behaviour, timeout time.Duration) (rep map[string]any, cfgFile string, calls []string, err error) {
	t.Helper()
	bin := rolloutPulumi(t)
	c := rollouttest.New(t, cloud, "v1", 3, rolloutStep)
	c.Bad["v2"] = bad
	root := t.TempDir()
	write := func(path, content string) {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(root, "Pulumi.yaml"), "name: stayup\nruntime: go\nstackConfigDir: stacks\n")
	cfgFile = project.StackFile(root, "sim")
	write(cfgFile, "config:\n  stayup:cloud: "+cloud+"\n  stayup:image: v1\n  stayup:url: "+c.URL+"\n")
	so := stackops.Options{
		Program: simProgram, PulumiBin: bin, Progress: testLog{t},
		Lookup: func(string) (string, bool) { return "", false },
		Env: map[string]string{
			"PULUMI_HOME":              filepath.Join(root, ".pulumi-home"),
			"PULUMI_CONFIG_PASSPHRASE": "rollout test passphrase",
			"PULUMI_BACKEND_URL":       "",
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	// Deploy v1 first: rollout works on a deployed stack.
	first := so
	first.Root, first.Stack = root, "sim"
	st, err := stackops.Upsert(ctx, first)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Up(ctx); err != nil {
		t.Fatal(err)
	}
	o := rolloutFor(c, func(ctx context.Context, o stackops.Options) (rollout.Stack, error) {
		o.Progress = testLog{t}
		st, err := stackops.Select(ctx, o)
		if err != nil {
			return nil, err
		}
		return engineStack{st, c, &calls}, nil
	}, "v2")
	o.root, o.stackOpts, o.json, o.timeout = root, so, true, timeout
	stdout, stderr, err := runRolloutCmd(o, "")
	t.Log("stderr:\n" + stderr)
	if jerr := json.Unmarshal([]byte(stdout), &rep); jerr != nil {
		t.Fatalf("rollout --json printed %q: %v (err %v)", stdout, jerr, err)
	}
	return rep, cfgFile, calls, err
}

type testLog struct{ t *testing.T }

func (w testLog) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func configImage(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "stayup:image:") {
			return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), "stayup:image:"))
		}
	}
	return ""
}

func probeFailures(rep map[string]any) float64 {
	p, _ := rep["probe"].(map[string]any)
	f, _ := p["failures"].(float64)
	return f
}

func TestRolloutEndToEnd(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		cloud     string
		bad       rollouttest.Behaviour
		timeout   time.Duration
		verdict   string
		owner     string // of the rollback; "" for none
		wantImage string // in stacks/Pulumi.sim.yaml afterwards
		failures  bool
	}{
		{"clean", "aws", rollouttest.Good, 20 * time.Second, rollout.Succeeded, "", "v2", false},
		{"dropped requests", "aws", rollouttest.Abrupt, 20 * time.Second, rollout.RolledBack, rollout.OwnerStayup, "v1", true},
		{"never healthy", "gcp", rollouttest.NeverHealthy, 3 * time.Second, rollout.RolledBack, rollout.OwnerStayup, "v1", false},
		{"platform rollback", "azure", rollouttest.NeverHealthy, 20 * time.Second, rollout.RolledBack, rollout.OwnerPlatform, "v1", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rep, cfgFile, calls, err := engineRollout(t, tc.cloud, tc.bad, tc.timeout)
			if got := rep["verdict"]; got != tc.verdict {
				t.Fatalf("verdict %v (%v), want %s", got, rep["reason"], tc.verdict)
			}
			if tc.verdict == rollout.Succeeded && err != nil || tc.verdict != rollout.Succeeded && !errors.Is(err, exitError{1}) {
				t.Errorf("err %v for verdict %s", err, tc.verdict)
			}
			if got := probeFailures(rep); (got > 0) != tc.failures {
				t.Errorf("probe failures %v", got)
			}
			rb, _ := rep["rollback"].(map[string]any)
			if tc.owner == "" && rb != nil || tc.owner != "" && (rb == nil || rb["owner"] != tc.owner || rb["done"] != true) {
				t.Errorf("rollback %v, want owner %q", rb, tc.owner)
			}
			if got := configImage(t, cfgFile); got != tc.wantImage {
				t.Errorf("stack file image %q, want %q", got, tc.wantImage)
			}
			t.Logf("stack calls %v", calls)
			if tc.owner == rollout.OwnerPlatform && !strings.HasSuffix(strings.Join(calls, ","), "refresh,up v1") {
				t.Errorf("platform rollback calls %v: want a refresh, then the model rolled back by an up of v1", calls)
			}
		})
	}
}

var _ fleet.Fleet = (*rollouttest.Cloud)(nil)
