package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"stayup/internal/fleet"
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

// liveExport is a deployed AWS stack's state, as small as a picture needs:
// a VPC, a subnet in us-east-1a, and the group over it.
const liveExport = `{"version":3,"deployment":{"resources":[
 {"urn":"urn:pulumi:live::stayup::pulumi:pulumi:Stack::stayup-live","type":"pulumi:pulumi:Stack","outputs":{"cloud":"aws","region":"us-east-1","image":"nginx:1"}},
 {"urn":"urn:pulumi:live::stayup::aws:ec2/vpc:Vpc::net","type":"aws:ec2/vpc:Vpc","id":"vpc-1","inputs":{"cidrBlock":"10.0.0.0/16"},"outputs":{"cidrBlock":"10.0.0.0/16"}},
 {"urn":"urn:pulumi:live::stayup::aws:ec2/subnet:Subnet::a","type":"aws:ec2/subnet:Subnet","id":"subnet-a","inputs":{"vpcId":"vpc-1","availabilityZone":"us-east-1a","cidrBlock":"10.0.128.0/20"},"outputs":{"vpcId":"vpc-1","availabilityZone":"us-east-1a"}},
 {"urn":"urn:pulumi:live::stayup::aws:autoscaling/group:Group::fleet","type":"aws:autoscaling/group:Group","id":"asg-1","inputs":{"vpcZoneIdentifiers":["subnet-a"],"minSize":2,"maxSize":4},"outputs":{"name":"asg-1"}}
]}}`

func TestDiagramLiveShowsTheInstances(t *testing.T) {
	t.Parallel()
	f := &scriptedFleet{lists: [][]fleet.Instance{{
		member("i-0aaa", "us-east-1a", fleet.Healthy), member("i-0bbb", "us-east-1a", fleet.Unhealthy),
	}}}
	o := &diagramOpts{stack: "live", live: true, format: "mermaid",
		export: func(context.Context, string, string) ([]byte, error) { return []byte(liveExport), nil },
		open:   opener(f, "http://lb.example/"),
	}
	var out bytes.Buffer
	if err := o.Execute(context.Background(), streams{out: &out, err: &out}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"App instances", "live: 2 instance(s), 1 healthy", "i-0aaa healthy · lt-1:4", "i-0bbb unhealthy"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("live diagram lacks %q:\n%s", want, out.String())
		}
	}

	// A stack that is not deployed, or whose instances cannot be read, says so.
	o.export = func(context.Context, string, string) ([]byte, error) {
		return []byte(`{"version":3,"deployment":{"resources":[]}}`), nil
	}
	if err := o.Execute(context.Background(), streams{out: &out, err: &out}); err == nil || !strings.Contains(err.Error(), "deploy it with stayup up --stack live") {
		t.Errorf("empty stack: error %v", err)
	}
}

func TestDiagramLiveNeedsAStack(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"diagram", "--cloud", "aws", "--live"}, {"diagram", "--stack", "aws", "--live", "--config", "port=9000"}} {
		if code, _, errOut := run(args...); code != 2 || !strings.Contains(errOut, "--live draws a deployed stack") {
			t.Errorf("%v: exit %d, stderr %q", args, code, errOut)
		}
	}
}
