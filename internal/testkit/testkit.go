// Package testkit holds what the components' tests share: reading the
// recorded graph, golden files, and checking the boot scripts the
// instances run with the tools that judge them (shellcheck, cloud-init).
package testkit

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"stayup/internal/graph"
)

// Only returns the one resource of a type, failing the test otherwise.
func Only(t testing.TB, g *graph.Graph, typ string) *graph.Resource {
	t.Helper()
	rs := g.ByType(typ)
	if len(rs) != 1 {
		t.Fatalf("%d resources of type %s, want 1", len(rs), typ)
	}
	return rs[0]
}

// Int reads a number input, failing the test when it is not set.
func Int(t testing.TB, r *graph.Resource, path string) int {
	t.Helper()
	n, ok := r.Int(path)
	if !ok {
		t.Fatalf("%s %s: %s is not set (%v)", r.Type, r.Name, path, r.Get(path))
	}
	return n
}

// Bool reads a boolean input, failing the test when it is not set.
func Bool(t testing.TB, r *graph.Resource, path string) bool {
	t.Helper()
	b, ok := r.Bool(path)
	if !ok {
		t.Fatalf("%s %s: %s is not set (%v)", r.Type, r.Name, path, r.Get(path))
	}
	return b
}

// Golden compares got with the file at path, or rewrites it when update
// is set; pkg names the package for the hint to rerun with -update.
func Golden(t testing.TB, update bool, pkg, path, got string) {
	t.Helper()
	if update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test %s -update to create it)", err, pkg)
	}
	if got != string(want) {
		t.Errorf("%s is stale: run go test %s -update and review the diff", path, pkg)
	}
}

// Need skips the test when a tool is missing, or fails it on CI, where
// .ci/run installs every tool the tests use.
func Need(t testing.TB, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is not installed; .ci/run installs it", tool)
			}
			t.Skipf("%s is not installed (apt-get install %s)", tool, tool)
		}
	}
}

// Shellcheck lints a bash script at style level.
func Shellcheck(t testing.TB, name, script string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("shellcheck", "--severity=style", "--shell=bash", path).CombinedOutput(); err != nil {
		t.Errorf("shellcheck %s: %v\n%s", name, err, out)
	}
}

// CloudConfig checks a cloud-config document against cloud-init's schema
// and lints every script it writes (a write_files entry with a shebang).
func CloudConfig(t testing.TB, name, doc string) {
	t.Helper()
	Need(t, "cloud-init", "shellcheck")
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cloud-init", "schema", "--config-file", path).CombinedOutput(); err != nil {
		t.Errorf("cloud-init schema %s: %v\n%s", name, err, out)
	}
	var parsed struct {
		WriteFiles []struct {
			Path    string `yaml:"path"`
			Content string `yaml:"content"`
		} `yaml:"write_files"`
	}
	if err := yaml.Unmarshal([]byte(doc), &parsed); err != nil {
		t.Fatal(err)
	}
	var scripts int
	for _, f := range parsed.WriteFiles {
		if strings.HasPrefix(f.Content, "#!") {
			scripts++
			Shellcheck(t, name+"-"+filepath.Base(f.Path), f.Content)
		}
	}
	if scripts == 0 {
		t.Errorf("%s writes no script to lint", name)
	}
}
