package stackops

// Integration tests: the stack operations on the real Pulumi engine (the
// CLI built from source by tools/build-pulumi.sh), on a file backend in a
// temporary directory, with programs that need no provider plugin.

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"stayup/internal/graph"
	"stayup/internal/project"
)

// pulumiCLI returns the CLI the integration tests run: tools/bin/pulumi in
// the project. Without it they skip, except in CI (CI set), where skipping
// would hide that they did not run.
func pulumiCLI(t *testing.T) string {
	t.Helper()
	root, err := project.Root(".")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(root, "tools", "bin", "pulumi")
	if _, err := os.Stat(bin); err != nil {
		msg := "no Pulumi CLI at " + bin + ": build it with tools/build-pulumi.sh (a few minutes the first time)"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return bin
}

// testProject makes a project in a temporary directory: Pulumi.yaml with
// stackConfigDir: stacks, and a stack file holding stackYAML.
func testProject(t *testing.T, stack, stackYAML string) string {
	t.Helper()
	root := t.TempDir()
	write(t, filepath.Join(root, "Pulumi.yaml"), "name: stayup\nruntime: go\nstackConfigDir: stacks\n")
	write(t, project.StackFile(root, stack), stackYAML)
	return root
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// testOptions isolate the CLI from the machine's Pulumi login and backend:
// its own PULUMI_HOME, nothing else from the environment that would choose
// a backend, so the backend is the project's .pulumi-state.
func testOptions(t *testing.T, root, stack string, program pulumi.RunFunc) Options {
	return Options{
		Root:      root,
		Stack:     stack,
		Program:   program,
		PulumiBin: pulumiCLI(t),
		Progress:  testWriter{t},
		Lookup:    func(string) (string, bool) { return "", false },
		Env: map[string]string{
			"PULUMI_HOME":              filepath.Join(root, ".pulumi-home"),
			"PULUMI_CONFIG_PASSPHRASE": "integration test passphrase",
			"PULUMI_BACKEND_URL":       "",
		},
	}
}

// testWriter sends Pulumi's progress to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// serviceProgram registers a component with a child and exports outputs
// made from the stack's config, like infra.Program does.
func serviceProgram(ctx *pulumi.Context) error {
	get := func(key string) string { v, _ := ctx.GetConfig("stayup:" + key); return v }
	svc := &component{}
	if err := ctx.RegisterComponentResource("stayup:test:Service", "stayup", svc); err != nil {
		return err
	}
	fleet := &component{}
	if err := ctx.RegisterComponentResource("stayup:test:Fleet", "stayup-fleet", fleet, pulumi.Parent(svc)); err != nil {
		return err
	}
	if err := ctx.RegisterResourceOutputs(fleet, pulumi.Map{"size": pulumi.String(get("minSize"))}); err != nil {
		return err
	}
	if err := ctx.RegisterResourceOutputs(svc, pulumi.Map{}); err != nil {
		return err
	}
	ctx.Export("url", pulumi.Sprintf("http://%s.example.test/", get("greeting")))
	ctx.Export("token", pulumi.ToSecret(pulumi.String(get("token"))))
	return nil
}

type component struct{ pulumi.ResourceState }

func TestStackLifecycle(t *testing.T) {
	t.Parallel()
	root := testProject(t, "dev", "config:\n  stayup:greeting: hello\n  stayup:minSize: 3\n")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	var (
		mu     sync.Mutex
		events int
	)
	o := testOptions(t, root, "dev", serviceProgram)
	o.OnEvent = func(Event) { mu.Lock(); events++; mu.Unlock() }

	// Select fails clearly on a stack the backend does not have.
	if _, err := Select(ctx, o); !errors.Is(err, ErrStackNotFound) || !strings.Contains(err.Error(), "stayup up --stack dev") {
		t.Fatalf("Select of a new stack: %v, want ErrStackNotFound saying how to create it", err)
	}
	st, err := Upsert(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Backend.Local() {
		t.Errorf("backend %+v, want the local one", st.Backend)
	}
	if _, err := os.Stat(filepath.Join(root, LocalStateDir, ".pulumi")); err != nil {
		t.Errorf("the state is not in %s: %v", LocalStateDir, err)
	}

	// Config goes to and comes from stacks/, never the work dir.
	if err := st.SetConfig(ctx, "stayup:token", "s3cret", true); err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(project.StackFile(root, "dev"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(file), "stayup:token:\n    secure: ") || strings.Contains(string(file), "s3cret") {
		t.Errorf("the secret is not stored encrypted in stacks/Pulumi.dev.yaml:\n%s", file)
	}
	if _, err := os.Stat(filepath.Join(root, "Pulumi.dev.yaml")); err == nil {
		t.Error("a Pulumi.dev.yaml appeared in the work dir: config went around stackConfigDir")
	}
	cfg, err := st.Config(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cfg["stayup:greeting"].Value != "hello" || cfg["stayup:token"].Value != "s3cret" || !cfg["stayup:token"].Secret {
		t.Errorf("config read back %+v", cfg)
	}

	changes, err := st.Preview(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := changes["create"]; got != 3 { // stack, service, fleet
		t.Errorf("preview creates %d, want 3 (%v)", got, changes)
	}
	outputs, err := st.Up(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if outputs["url"] != "http://hello.example.test/" || outputs["token"] != "s3cret" {
		t.Errorf("up outputs %v", outputs)
	}
	mu.Lock()
	if events == 0 {
		t.Error("no engine events reached OnEvent")
	}
	mu.Unlock()

	// A second up changes nothing.
	if changes, err := st.Preview(ctx); err != nil || changes.Changed() != 0 {
		t.Errorf("preview after up: %v, %v; want no changes", changes, err)
	}

	// Another process opening the existing stack sees the same outputs.
	again, err := Select(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := again.Outputs(ctx); err != nil || out["url"] != "http://hello.example.test/" {
		t.Errorf("outputs %v, %v", out, err)
	}

	export, err := st.Export(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(export), "s3cret") {
		t.Error("the export holds the secret in plain text")
	}
	if os.Getenv("STAYUP_UPDATE_EXPORT") != "" {
		write(t, filepath.Join("..", "graph", "testdata", "export.json"), string(export))
	}
	g, err := st.Graph(ctx)
	if err != nil {
		t.Fatal(err)
	}
	svc, fleet := g.ByType("stayup:test:Service"), g.ByType("stayup:test:Fleet")
	if len(g.Resources) != 2 || len(svc) != 1 || len(fleet) != 1 {
		t.Fatalf("graph of the export: %d resources %+v", len(g.Resources), g.Resources)
	}
	if svc[0].Parent != "" || fleet[0].Parent != svc[0].URN || fleet[0].Name != "stayup-fleet" {
		t.Errorf("service %+v, fleet %+v: want the fleet under the service, the service at the top", svc[0], fleet[0])
	}
	if g.Outputs["url"] != "http://hello.example.test/" || g.Outputs["token"] != graph.SecretPlaceholder {
		t.Errorf("graph outputs %v: want the url, and the token hidden", g.Outputs)
	}

	if err := st.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if err := st.Destroy(ctx); err != nil {
		t.Fatal(err)
	}
	if out, err := st.Outputs(ctx); err != nil || len(out) != 0 {
		t.Errorf("outputs after destroy: %v, %v", out, err)
	}
}

// After an abnormal end the stack may hold a lock nobody will release and
// operations that never finished; recover removes both, with the real
// engine judging: the next up runs.
func TestRecoverUnlocksAndClearsPendingOperations(t *testing.T) {
	t.Parallel()
	root := testProject(t, "dev", "config: {}\n")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	o := testOptions(t, root, "dev", blockingProgram(0))
	st, err := Upsert(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Up(ctx); err != nil {
		t.Fatal(err)
	}

	// A create the engine started and never finished, as a killed CLI
	// leaves in the file backend's checkpoint (`stack import` would drop it).
	urn := "urn:pulumi:dev::stayup::stayup:test:Service::orphan"
	checkpoint := filepath.Join(root, LocalStateDir, ".pulumi", "stacks", "stayup", "dev.json")
	data, err := os.ReadFile(checkpoint)
	if err != nil {
		t.Fatal(err)
	}
	var state map[string]any
	if err := json.Unmarshal(data, &state); err != nil {
		t.Fatal(err)
	}
	latest := state["checkpoint"].(map[string]any)["latest"].(map[string]any)
	latest["pending_operations"] = []any{map[string]any{
		"type":     "creating",
		"resource": map[string]any{"urn": urn, "custom": false, "type": "stayup:test:Service"},
	}}
	if data, err = json.Marshal(state); err != nil {
		t.Fatal(err)
	}
	write(t, checkpoint, string(data))
	if pending, err := st.PendingOperations(ctx); err != nil || len(pending) != 1 || pending[0].URN != urn || pending[0].Type != "creating" {
		t.Fatalf("pending operations after the edit: %+v, %v", pending, err)
	}
	// A lock a killed CLI left behind (the file backend's lock files).
	lockDir := filepath.Join(root, LocalStateDir, ".pulumi", "locks", "organization", "stayup", "dev")
	write(t, filepath.Join(lockDir, "killed.json"), `{"pid":1,"username":"someone","hostname":"elsewhere","timestamp":"2026-01-01T00:00:00Z"}`)
	if _, err := st.Up(ctx); !errors.Is(err, ErrLocked) {
		t.Fatalf("up on a locked stack: %v, want ErrLocked", err)
	}

	if err := st.recover(ctx, true); err != nil {
		t.Fatal(err)
	}
	if pending, err := st.PendingOperations(ctx); err != nil || len(pending) != 0 {
		t.Errorf("pending operations after recover: %+v, %v", pending, err)
	}
	if _, err := st.Up(ctx); err != nil {
		t.Errorf("up after recover: %v", err)
	}
}

// An Azure stack gets its SSH key on the first up, as secret config in its
// file in stacks/, and keeps it; other clouds get none.
func TestEnsureGenerated(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, cloud := range []string{"azure", "aws"} {
		root := testProject(t, cloud, "config:\n  stayup:cloud: "+cloud+"\n")
		st, err := Upsert(ctx, testOptions(t, root, cloud, blockingProgram(0)))
		if err != nil {
			t.Fatal(err)
		}
		set, err := st.EnsureGenerated(ctx)
		if err != nil {
			t.Fatal(err)
		}
		file, _ := os.ReadFile(project.StackFile(root, cloud))
		if cloud != "azure" {
			if len(set) != 0 || strings.Contains(string(file), AzureSSHKey) {
				t.Errorf("%s: generated %v:\n%s", cloud, set, file)
			}
			continue
		}
		if len(set) != 1 || set[0] != AzureSSHKey || !strings.Contains(string(file), AzureSSHKey+":\n    secure: ") {
			t.Fatalf("azure: generated %v; stack file:\n%s", set, file)
		}
		cfg, err := st.Config(ctx)
		if err != nil || !strings.HasPrefix(cfg[AzureSSHKey].Value, "ssh-rsa ") {
			t.Fatalf("azure: key %q, %v", cfg[AzureSSHKey].Value, err)
		}
		if again, err := st.EnsureGenerated(ctx); err != nil || len(again) != 0 {
			t.Errorf("azure: a second call generated %v, %v; want the key kept", again, err)
		}
		if cfg2, _ := st.Config(ctx); cfg2[AzureSSHKey].Value != cfg[AzureSSHKey].Value {
			t.Error("azure: the key changed")
		}
	}
}

// Without a passphrase: the local backend is refused before the CLI runs,
// and another file backend's refusal by the CLI reads the same.
func TestMissingPassphrase(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	root := testProject(t, "dev", "config: {}\n")
	o := testOptions(t, root, "dev", blockingProgram(0))
	delete(o.Env, "PULUMI_CONFIG_PASSPHRASE")
	if _, err := Upsert(ctx, o); !errors.Is(err, ErrNoPassphrase) {
		t.Errorf("local backend: %v, want ErrNoPassphrase", err)
	}
	o.Env["PULUMI_BACKEND_URL"] = "file://" + filepath.ToSlash(t.TempDir())
	_, err := Upsert(ctx, o)
	if !errors.Is(err, ErrNoPassphrase) || !strings.Contains(err.Error(), "export PULUMI_CONFIG_PASSPHRASE=") {
		t.Errorf("another file backend: %v, want ErrNoPassphrase saying how to set it", err)
	}
}

// What the first up resolves (the newest image, the zones up that day) is
// written to the stack's file and used by the next up, when the newest
// image is another and a zone is reported down: the second up changes
// nothing. The program stands in for infra.Program's lookups.
func TestPinsKeptAcrossUps(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	release, down := "aaa", ""
	program := func(ctx *pulumi.Context) error {
		image, ok := ctx.GetConfig(BaseImageKey)
		if !ok {
			image = "ami-0" + release
		}
		var zones []string
		if z, ok := ctx.GetConfig(ZoneNamesKey); ok {
			zones = strings.Split(z, ",")
		} else {
			for _, z := range []string{"eu-west-1a", "eu-west-1b", "eu-west-1c"} {
				if z != down {
					zones = append(zones, z)
				}
			}
		}
		ctx.Export("baseImage", pulumi.String(image))
		ctx.Export("zones", pulumi.ToStringArray(zones))
		return nil
	}
	root := testProject(t, "aws", "config:\n  stayup:cloud: aws\n")
	st, err := Upsert(ctx, testOptions(t, root, "aws", program))
	if err != nil {
		t.Fatal(err)
	}
	if set, err := st.SeedPins(ctx, "aws"); err != nil || len(set) != 0 {
		t.Fatalf("a stack never deployed: seeded %v, %v; want nothing", set, err)
	}
	out, err := st.Up(ctx)
	if err != nil {
		t.Fatal(err)
	}
	set, err := st.StorePins(ctx, "aws", out)
	if err != nil || len(set) != 2 {
		t.Fatalf("stored %v, %v; want the image and the zones", set, err)
	}
	file, _ := os.ReadFile(project.StackFile(root, "aws"))
	for _, want := range []string{"stayup:baseImage: ami-0aaa", "stayup:zoneNames: eu-west-1a,eu-west-1b,eu-west-1c"} {
		if !strings.Contains(string(file), want) {
			t.Errorf("stack file lacks %q:\n%s", want, file)
		}
	}
	release, down = "bbb", "eu-west-1b"
	out2, err := st.Up(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if out2["baseImage"] != "ami-0aaa" || len(out2["zones"].([]any)) != 3 {
		t.Errorf("second up: %v; want the pinned image and three zones", out2)
	}
	if again, err := st.StorePins(ctx, "aws", out2); err != nil || len(again) != 0 {
		t.Errorf("second up stored %v, %v; want nothing new", again, err)
	}
}
