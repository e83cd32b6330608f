package runs

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

var start = time.Date(2026, 3, 4, 10, 20, 30, 0, time.FixedZone("CET", 3600))

type doc struct {
	Verdict string `json:"verdict"`
	N       int    `json:"n"`
}

// A run's file is named by its start in UTC and its kind; a second run in
// the same second gets its own name, and neither overwrites the other.
func TestCreateNamesAndNeverOverwrites(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "reports", "aws")
	a, err := Create(dir, Chaos, start, doc{"running", 1})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Create(dir, Chaos, start, doc{"running", 2})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := filepath.Base(a.Path), "20260304T092030Z-chaos.json"; got != want {
		t.Errorf("first name %s, want %s", got, want)
	}
	if got, want := filepath.Base(b.Path), "20260304T092030Z-chaos-2.json"; got != want {
		t.Errorf("second name %s, want %s", got, want)
	}
	if got := read(t, a.Path); got.N != 1 {
		t.Errorf("first run's file overwritten: %+v", got)
	}
}

// Each checkpoint replaces the file whole and leaves no temporary file; a
// run killed after a checkpoint leaves that checkpoint readable.
func TestWriteReplacesWhole(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	f, err := Create(dir, Rollout, start, doc{"running", 0})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		if err := f.Write(doc{"running", i}); err != nil {
			t.Fatal(err)
		}
	}
	// Killed here: what is on disk is the last checkpoint.
	if got := read(t, f.Path); got != (doc{"running", 3}) {
		t.Errorf("after checkpoints %+v", got)
	}
	if err := f.Write(doc{"interrupted", 4}); err != nil {
		t.Fatal(err)
	}
	if got := read(t, f.Path); got.Verdict != "interrupted" {
		t.Errorf("final %+v", got)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("files left: %v", entries)
	}
}

func TestKindOfAndList(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]string{
		"20260304T092030Z-chaos.json":      Chaos,
		"20260304T092030Z-rollout-12.json": Rollout,
		"20260304T092030Z-probe.json":      Probe,
		".20260304T092030Z-probe.json.123": "",
		"notes.json":                       "",
		"20260304T092030Z-chaos-x.json":    "",
	} {
		if got := KindOf(name); got != want {
			t.Errorf("KindOf(%q) = %q, want %q", name, got, want)
		}
	}
	dir := t.TempDir()
	if got, err := List(filepath.Join(dir, "none")); err != nil || got != nil {
		t.Errorf("missing dir: %v, %v", got, err)
	}
	for _, k := range []string{Rollout, Chaos} {
		if _, err := Create(dir, k, start, doc{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Create(dir, Probe, start.Add(-time.Hour), doc{}); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "README"), []byte("x"), 0o644)
	got, err := List(dir)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, s := range got {
		kinds = append(kinds, s.Kind)
	}
	if want := []string{Probe, Chaos, Rollout}; !slices.Equal(kinds, want) {
		t.Errorf("kinds %v, want %v (oldest first, by name)", kinds, want)
	}
}

func read(t *testing.T, path string) doc {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var d doc
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s is not readable JSON: %v\n%s", path, err, b)
	}
	return d
}
