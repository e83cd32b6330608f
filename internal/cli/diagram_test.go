package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"stayup/internal/project"
)

func TestDiagramFormats(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		file string // empty: standard output
		want string
	}{
		{[]string{"diagram", "--cloud", "aws"}, "", "flowchart TB"},
		{[]string{"diagram", "--stack", "gcp", "--format", "dot"}, "", "digraph stayup {"},
		{[]string{"diagram", "--cloud", "aws", "-o", filepath.Join(dir, "aws.svg")}, "aws.svg", "<svg"},
		{[]string{"diagram", "--cloud", "gcp", "-o", filepath.Join(dir, "gcp.mmd")}, "gcp.mmd", "flowchart TB"},
		{[]string{"diagram", "--cloud", "gcp", "--format", "dot", "-o", filepath.Join(dir, "gcp.txt")}, "gcp.txt", "digraph stayup {"},
	} {
		code, out, errOut := run(tc.args...)
		if code != 0 {
			t.Errorf("%v: exit %d: %s", tc.args, code, errOut)
			continue
		}
		if tc.file != "" {
			if out != "" {
				t.Errorf("%v: wrote to standard output as well: %q", tc.args, out)
			}
			b, err := os.ReadFile(filepath.Join(dir, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			out = string(b)
		}
		if !strings.Contains(out, tc.want) {
			t.Errorf("%v: output lacks %q:\n%.300s", tc.args, tc.want, out)
		}
	}
}

// TestDiagramConfigOverride: a --config change shows in the picture.
func TestDiagramConfigOverride(t *testing.T) {
	t.Parallel()
	code, out, errOut := run("diagram", "--cloud", "aws", "--config", "port=9000", "--config", "allowedCidrs=203.0.113.0/24")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"9000/tcp from the LB only", "80/tcp from 203.0.113.0/24"} {
		if !strings.Contains(out, want) {
			t.Errorf("diagram lacks %q:\n%s", want, out)
		}
	}
}

func TestDiagramUsageErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"diagram"}, "--stack S or --cloud C"},
		{[]string{"diagram", "--cloud", "all"}, "one cloud"},
		{[]string{"diagram", "--cloud", "oracle"}, "diagram draws aws, azure, gcp"},
		{[]string{"diagram", "--cloud", "aws", "--format", "png"}, `--format "png"`},
		{[]string{"diagram", "--cloud", "aws", "-o", "x.png"}, `--format "png"`},
		{[]string{"diagram", "--cloud", "aws", "--stack", "aws"}, "give one"},
		{[]string{"diagram", "--cloud", "aws", "--config", "nokey"}, "want key=value"},
	} {
		code, _, errOut := run(tc.args...)
		if code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 mentioning %q", tc.args, code, errOut, tc.want)
		}
	}
}

// TestPlanWritesExampleDiagrams: planning a cloud's example stack redraws
// its diagrams; an overridden plan, --no-write, or another stack does not.
func TestPlanWritesExampleDiagrams(t *testing.T) {
	t.Parallel()
	root, err := project.Root(workDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		opts  planOpts
		wrote bool
	}{
		{"cloud", planOpts{cloud: "aws"}, true},
		{"stack named like its cloud", planOpts{stack: "gcp", json: true}, true},
		{"config override", planOpts{cloud: "aws", configs: []string{"port=9000"}}, false},
		{"no-write", planOpts{cloud: "aws", noWrite: true}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.opts
			o.root, o.diagramsDir = root, t.TempDir()
			if err := o.Validate(); err != nil {
				t.Fatal(err)
			}
			var out, errb bytes.Buffer
			if err := o.Execute(nil, streams{out: &out, err: &errb}); err != nil {
				t.Fatalf("%v: %s", err, errb.String())
			}
			entries, _ := os.ReadDir(o.diagramsDir)
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			cloud := o.cloud + o.stack
			want := []string{cloud + ".dot", cloud + ".mmd", cloud + ".svg"}
			switch {
			case tc.wrote && strings.Join(names, " ") != strings.Join(want, " "):
				t.Errorf("wrote %v, want %v", names, want)
			case tc.wrote && !strings.Contains(errb.String(), "wrote "):
				t.Errorf("stderr %q does not say what was written", errb.String())
			case !tc.wrote && len(names) > 0:
				t.Errorf("wrote %v, want nothing", names)
			}
		})
	}
}
