package diagram_test

import (
	"bytes"
	"encoding/xml"
	"errors"
	"flag"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"stayup/infra/spec"
	"stayup/internal/diagram"
	"stayup/internal/graph"
	"stayup/internal/plan"
)

var update = flag.Bool("update", false, "rewrite the golden files and the committed diagrams/")

// root is the project root, two levels up from this package.
const root = "../.."

// planGraph plans a cloud's example stack, with overrides, under mocks.
func planGraph(t *testing.T, cloud string, overrides map[string]string) *graph.Graph {
	t.Helper()
	full := map[string]string{}
	for k, v := range overrides {
		if !strings.Contains(k, ":") {
			k = spec.Key(k)
		}
		full[k] = v
	}
	stack, cfg, err := plan.Source{Root: root, Cloud: cloud, Overrides: full}.Config()
	if err != nil {
		t.Fatal(err)
	}
	res, err := plan.Run(stack, cfg)
	if err != nil {
		t.Fatalf("plan %s %v: %v", cloud, overrides, err)
	}
	return res.Graph
}

func build(t *testing.T, cloud string, overrides map[string]string) *diagram.Model {
	t.Helper()
	m, err := diagram.Build(cloud, planGraph(t, cloud, overrides))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// edgeLabel returns the labels of the edges between nodes of two kinds.
func edgeLabels(m *diagram.Model, from, to diagram.Kind) []string {
	kinds := map[string]diagram.Kind{}
	for _, n := range m.Nodes {
		kinds[n.ID] = n.Kind
	}
	var out []string
	for _, e := range m.Edges {
		if kinds[e.From] == from && kinds[e.To] == to {
			out = append(out, e.Label)
		}
	}
	return out
}

func nodesOf(m *diagram.Model, k diagram.Kind) []*diagram.Node {
	var out []*diagram.Node
	for _, n := range m.Nodes {
		if n.Kind == k {
			out = append(out, n)
		}
	}
	return out
}

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/diagram -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file; if the change is meant, run go test ./internal/diagram -update and review the diff\ngot:\n%s", path, got)
	}
}

// TestGolden pins each cloud's example picture in the text formats, so a
// review sees every change to what the diagram says.
func TestGolden(t *testing.T) {
	for _, cloud := range diagram.Clouds() {
		m := build(t, cloud, nil)
		for _, f := range []diagram.Format{diagram.Mermaid, diagram.DOT, diagram.D2} {
			out, err := diagram.Render(m, f)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, cloud+"."+f.Ext(), out)
		}
	}
}

// TestShape checks the logical picture each cloud's table draws: the
// users reach the load balancer, which reaches the fleet in every zone,
// which goes out through a NAT; its identity may write its logs.
func TestShape(t *testing.T) {
	for _, cloud := range diagram.Clouds() {
		t.Run(cloud, func(t *testing.T) {
			m := build(t, cloud, nil)
			if len(m.Unclassified) > 0 {
				t.Errorf("types no table knows: %v", m.Unclassified)
			}
			if got := len(nodesOf(m, diagram.Fleet)); got != 3 {
				t.Errorf("%d fleet nodes, want one per zone (3)", got)
			}
			for _, n := range nodesOf(m, diagram.Fleet) {
				var zone *diagram.Cluster
				for _, c := range m.Clusters {
					if c.ID == n.Cluster {
						zone = c
					}
				}
				if zone == nil || zone.Level != diagram.ZoneLevel {
					t.Errorf("fleet node %s is in %+v, want a zone", n.ID, zone)
				}
			}
			for _, want := range []struct {
				from, to diagram.Kind
				n        int
				label    string
			}{
				{diagram.Internet, diagram.LoadBalancer, 1, "80/tcp from 0.0.0.0/0"},
				{diagram.LoadBalancer, diagram.Fleet, 3, "8080/tcp from"},
				{diagram.Fleet, diagram.NAT, 3, ""},
				{diagram.Identity, diagram.LogSink, 1, "log"},
			} {
				if cloud == "azure" && want.to == diagram.LogSink {
					// Azure's container logs stay in each instance's
					// journal: nothing ships them, so nothing is drawn.
					continue
				}
				labels := edgeLabels(m, want.from, want.to)
				if len(labels) < want.n || !strings.Contains(strings.Join(labels, "|"), want.label) {
					t.Errorf("%s -> %s: %q, want %d edges, one saying %q", want.from, want.to, labels, want.n, want.label)
				}
			}
			// Azure's scale set has an identity only to pull from a private
			// registry; the example's image is public.
			if len(nodesOf(m, diagram.Registry)) != 1 || (len(nodesOf(m, diagram.Identity)) == 0) != (cloud == "azure") {
				t.Error("want a registry, and an identity node where the instances have one")
			}
		})
	}
}

// TestLabelsFollowConfig proves the labels are read from the resources,
// not written into the tables: changing the config changes the picture.
func TestLabelsFollowConfig(t *testing.T) {
	cases := []struct {
		cloud     string
		overrides map[string]string
		from, to  diagram.Kind
		want      string
		not       string
	}{
		{"aws", map[string]string{"port": "9000"}, diagram.LoadBalancer, diagram.Fleet, "9000/tcp from the LB only", "8080"},
		{"gcp", map[string]string{"port": "9000"}, diagram.LoadBalancer, diagram.Fleet, "9000/tcp from Google front ends only", "8080"},
		{"aws", map[string]string{"allowedCidrs": "203.0.113.0/24"}, diagram.Internet, diagram.LoadBalancer, "80/tcp from 203.0.113.0/24", "0.0.0.0/0"},
		{"gcp", map[string]string{"allowedCidrs": "203.0.113.0/24"}, diagram.Internet, diagram.LoadBalancer, "80/tcp from 203.0.113.0/24\nCloud Armor denies the rest", "0.0.0.0/0"},
		{"aws", map[string]string{"tlsCertificate": "arn:aws:acm:eu-west-1:123456789012:certificate/abc"}, diagram.Internet, diagram.LoadBalancer, "80/tcp, 443/tcp from 0.0.0.0/0", ""},
		{"gcp", map[string]string{"sshFromIap": "true"}, diagram.Internet, diagram.Fleet, "22/tcp from IAP only", ""},
		{"aws", map[string]string{"image": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/stayup:1"}, diagram.Identity, diagram.Registry, "ecr:BatchGetImage", ""},
		{"azure", map[string]string{"port": "9000"}, diagram.LoadBalancer, diagram.Fleet, "9000/tcp from the LB only", "8080"},
		{"azure", map[string]string{"allowedCidrs": "203.0.113.0/24"}, diagram.Internet, diagram.LoadBalancer, "80/tcp from 203.0.113.0/24", "0.0.0.0/0"},
		{"azure", map[string]string{"image": "stayupacr.azurecr.io/web:2", "registryId": "/subscriptions/00000000-0000-4000-8000-000000000000/resourceGroups/images/providers/Microsoft.ContainerRegistry/registries/stayupacr"}, diagram.Identity, diagram.Registry, "AcrPull on this registry only", ""},
		{"gcp", map[string]string{"image": "europe-west1-docker.pkg.dev/stayup-example/stayup/app:1"}, diagram.Identity, diagram.Registry, "roles/artifactregistry.reader", ""},
	}
	for _, tc := range cases {
		t.Run(tc.cloud+" "+strings.Join(keys(tc.overrides), ","), func(t *testing.T) {
			m := build(t, tc.cloud, tc.overrides)
			if len(m.Unclassified) > 0 {
				t.Errorf("types no table knows: %v", m.Unclassified)
			}
			labels := strings.Join(edgeLabels(m, tc.from, tc.to), "|")
			if !strings.Contains(labels, tc.want) {
				t.Errorf("%s -> %s: %q, want %q", tc.from, tc.to, labels, tc.want)
			}
			if tc.not != "" && strings.Contains(labels, tc.not) {
				t.Errorf("%s -> %s: %q still says %q", tc.from, tc.to, labels, tc.not)
			}
		})
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	return out
}

// TestSingleNAT: with one NAT gateway every zone's fleet goes out
// through it, and the picture draws one.
func TestSingleNAT(t *testing.T) {
	m := build(t, "aws", map[string]string{"natGateways": "single"})
	nats := nodesOf(m, diagram.NAT)
	if len(nats) != 1 {
		t.Fatalf("%d NAT nodes, want 1", len(nats))
	}
	if got := len(edgeLabels(m, diagram.Fleet, diagram.NAT)); got != 3 {
		t.Errorf("%d fleet -> NAT edges, want 3 (every zone through the one NAT)", got)
	}
}

// TestDOTPassesGraphviz renders the DOT with Graphviz itself. .ci/run
// installs it; elsewhere the test skips without it.
func TestDOTPassesGraphviz(t *testing.T) {
	dot, err := exec.LookPath("dot")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("graphviz's dot is not installed (.ci/run installs it)")
		}
		t.Skip("graphviz's dot is not installed")
	}
	for _, cloud := range diagram.Clouds() {
		src, err := diagram.Render(build(t, cloud, nil), diagram.DOT)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(dot, "-Tsvg")
		cmd.Stdin = bytes.NewReader(src)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil || stderr.Len() > 0 {
			t.Errorf("%s: dot -Tsvg: %v\n%s", cloud, err, stderr.String())
		}
		if !bytes.Contains(out, []byte(lbWord[cloud])) {
			t.Errorf("%s: graphviz's SVG lacks the load balancer", cloud)
		}
	}
}

// lbWord is how each cloud's load balancer is named on its box.
var lbWord = map[string]string{"aws": "Application Load Balancer", "gcp": "Application Load Balancer", "azure": "Application Gateway"}

// TestSVGIsWellFormed parses the in-process SVG as XML and looks for the
// words a reader needs in it.
func TestSVGIsWellFormed(t *testing.T) {
	for _, cloud := range diagram.Clouds() {
		out, err := diagram.Render(build(t, cloud, nil), diagram.SVG)
		if err != nil {
			t.Fatal(err)
		}
		dec := xml.NewDecoder(bytes.NewReader(out))
		var root string
		var text strings.Builder
		for {
			tok, err := dec.Token()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: not well-formed XML: %v", cloud, err)
			}
			switch tok := tok.(type) {
			case xml.StartElement:
				if root == "" {
					root = tok.Name.Local
				}
			case xml.CharData:
				text.Write(tok)
			}
		}
		if root != "svg" {
			t.Errorf("%s: root element %q, want svg", cloud, root)
		}
		for _, want := range []string{"Users", lbWord[cloud], "App instances", "8080/tcp from"} {
			if !strings.Contains(text.String(), want) {
				t.Errorf("%s: the SVG does not say %q", cloud, want)
			}
		}
	}
}

// TestReadmeEmbedsTheAWSDiagram keeps README.md's Mermaid block equal to
// the AWS example's diagrams/aws.mmd; -update rewrites the block.
func TestReadmeEmbedsTheAWSDiagram(t *testing.T) {
	readme := filepath.Join(root, "README.md")
	doc, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	mmd, err := diagram.Render(build(t, "aws", nil), diagram.Mermaid)
	if err != nil {
		t.Fatal(err)
	}
	const open, end = "<!-- diagram:aws", "<!-- /diagram:aws -->"
	i, j := bytes.Index(doc, []byte(open)), bytes.Index(doc, []byte(end))
	if i < 0 || j < i {
		t.Fatalf("README.md has no %s ... %s block", open, end)
	}
	i += bytes.IndexByte(doc[i:], '\n') + 1
	want := "```mermaid\n" + string(mmd) + "```\n"
	if string(doc[i:j]) == want {
		return
	}
	if *update {
		fixed := append(append(append([]byte{}, doc[:i]...), want...), doc[j:]...)
		if err := os.WriteFile(readme, fixed, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Error("README.md's Mermaid block differs from diagrams/aws.mmd; run go test ./internal/diagram -update")
}

// TestCommittedDiagramsAreCurrent regenerates diagrams/ from each cloud's
// example stack and fails when the committed files differ: `stayup plan
// --cloud C` (or -update here) redraws them.
func TestCommittedDiagramsAreCurrent(t *testing.T) {
	for _, c := range spec.Clouds {
		cloud := string(c)
		t.Run(cloud, func(t *testing.T) {
			if !diagram.HasTable(cloud) {
				t.Skipf("no diagram table for %s yet", cloud)
			}
			g := planGraph(t, cloud, nil)
			dir := filepath.Join(root, diagram.Dir)
			if *update {
				if _, err := diagram.WriteFiles(dir, cloud, g); err != nil {
					t.Fatal(err)
				}
				return
			}
			files, err := diagram.Files(cloud, g)
			if err != nil {
				t.Fatal(err)
			}
			for name, want := range files {
				got, err := os.ReadFile(filepath.Join(dir, name))
				if err != nil || !bytes.Equal(got, want) {
					t.Errorf("%s/%s is stale or missing; run go run . plan --cloud %s (or go test ./internal/diagram -update)", diagram.Dir, name, cloud)
				}
			}
		})
	}
}

// The GCP diagram says which way out the instances have: Private Google
// Access alone for an image in a Google registry, Cloud NAT otherwise.
func TestGCPEgressPath(t *testing.T) {
	for image, want := range map[string]string{
		"":                         "Private Google Access",
		"ghcr.io/someone/web:v2":   "Cloud NAT",
		"eu.gcr.io/someone/web:v2": "Private Google Access",
	} {
		overrides := map[string]string{}
		if image != "" {
			overrides["image"] = image
		}
		m := build(t, "gcp", overrides)
		hops := nodesOf(m, diagram.NAT)
		if len(hops) != 1 || hops[0].Label != want {
			t.Errorf("%q: egress hops %v, want one %s", image, hops, want)
			continue
		}
		if got := edgeLabels(m, diagram.Fleet, diagram.NAT); len(got) != 3 {
			t.Errorf("%q: %d fleet -> %s edges, want 3", image, len(got), want)
		}
		if got := edgeLabels(m, diagram.NAT, diagram.Registry); len(got) != 1 || got[0] != "image pull" {
			t.Errorf("%q: %s -> registry edges %v, want the image pull", image, want, got)
		}
	}
}
