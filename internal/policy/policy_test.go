package policy_test

import (
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"stayup/internal/graph"
	"stayup/internal/plan"
	"stayup/internal/policy"
	"stayup/internal/project"
)

var update = flag.Bool("update", false, "rewrite docs/compliance.md from the rule table")

// variants are the plans the rules are tested on: each cloud's example
// stack (stacks/Pulumi.<cloud>.yaml), and the example with the options
// that turn on what some rules judge (HTTPS, a private registry).
var variants = map[string]struct {
	cloud     string
	overrides map[string]string
}{
	"aws":     {"aws", nil},
	"aws-tls": {"aws", map[string]string{"stayup:tlsCertificate": "arn:aws:acm:eu-west-1:123456789012:certificate/0a1b2c3d-1111-2222-3333-444455556666"}},
	"aws-ecr": {"aws", map[string]string{"stayup:image": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/app:v2", "stayup:sessionManager": "true"}},
	"gcp":     {"gcp", nil},
	"gcp-tls": {"gcp", map[string]string{"stayup:domain": "www.example.com", "stayup:httpsRedirect": "true", "stayup:sshFromIap": "true"}},
	// The same before its managed certificate is ACTIVE: HTTP serves.
	"gcp-tls-provisioning": {"gcp", map[string]string{"stayup:domain": "www.example.com"}},
	"gcp-ar":               {"gcp", map[string]string{"stayup:image": "europe-docker.pkg.dev/stayup-example/apps/web:v2"}},
	"azure":                {"azure", nil},
	"azure-tls":            {"azure", map[string]string{"stayup:tlsCertificate": "https://stayupvault.vault.azure.net/secrets/web", "stayup:tlsIdentity": "/subscriptions/00000000-0000-4000-8000-000000000000/resourceGroups/certs/providers/Microsoft.ManagedIdentity/userAssignedIdentities/gateway"}},
	"azure-acr":            {"azure", map[string]string{"stayup:image": "stayupacr.azurecr.io/web:v2", "stayup:registryId": "/subscriptions/00000000-0000-4000-8000-000000000000/resourceGroups/images/providers/Microsoft.ContainerRegistry/registries/stayupacr"}},
}

var (
	plansMu sync.Mutex
	plans   = map[string]*graph.Graph{}
)

// planOf returns a copy of a variant's real plan, planned once per run.
func planOf(t *testing.T, variant string) *graph.Graph {
	t.Helper()
	plansMu.Lock()
	defer plansMu.Unlock()
	if g, ok := plans[variant]; ok {
		return copyGraph(g)
	}
	v, ok := variants[variant]
	if !ok {
		t.Fatalf("no variant %q", variant)
	}
	root, err := project.Root(".")
	if err != nil {
		t.Fatal(err)
	}
	stack, cfg, err := plan.Source{Root: root, Cloud: v.cloud, Overrides: v.overrides}.Config()
	if err != nil {
		t.Fatal(err)
	}
	res, err := plan.Run(stack, cfg)
	if err != nil {
		t.Fatalf("plan %s: %v", variant, err)
	}
	plans[variant] = res.Graph
	return copyGraph(res.Graph)
}

// knownGaps are the rules the components fail today, each a real defect
// reported for infra/ to fix (see docs/compliance.md). fixes[rule] changes
// a plan the way the component should, so the rule's passing case is
// tested too. When a component is fixed, its entry must go: the example
// stack test fails until it does.
var knownGaps = map[string]func(t *testing.T, g *graph.Graph){}

// passing is a variant's plan with the known gaps fixed: every rule of
// its cloud passes it.
func passing(t *testing.T, variant string) *graph.Graph {
	t.Helper()
	g := planOf(t, variant)
	cloud := variants[variant].cloud
	for _, rule := range policy.Rules() {
		if fix := knownGaps[rule.ID]; fix != nil && rule.Cloud == cloud {
			fix(t, g)
		}
	}
	return g
}

func unwaived(findings []policy.Finding, rule string) []policy.Finding {
	var out []policy.Finding
	for _, f := range findings {
		if f.Waived == "" && (rule == "" || f.Rule == rule) {
			out = append(out, f)
		}
	}
	return out
}

func TestExampleStacksPassExceptKnownGaps(t *testing.T) {
	t.Parallel()
	for _, cloud := range []string{"aws", "gcp", "azure"} {
		t.Run(cloud, func(t *testing.T) {
			findings := policy.Check(planOf(t, cloud))
			var got, want []string
			for _, f := range unwaived(findings, "") {
				got = append(got, f.Rule)
			}
			for _, rule := range policy.Rules() {
				if knownGaps[rule.ID] != nil && rule.Cloud == cloud {
					want = append(want, rule.ID)
				}
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("unwaived findings %v, want exactly the known gaps %v:\n%v", got, want, unwaived(findings, ""))
			}
			// The internet-facing exceptions show, waived with a reason.
			for _, rule := range []string{cloud + "-exposure-public-entry", cloud + "-transport-https"} {
				i := slices.IndexFunc(findings, func(f policy.Finding) bool { return f.Rule == rule })
				if i < 0 || findings[i].Waived == "" {
					t.Errorf("%s: want a waived finding with its reason, got %+v", rule, findings)
				}
			}
		})
	}
}

func TestEveryVariantPassesOnceTheGapsAreFixed(t *testing.T) {
	t.Parallel()
	for variant := range variants {
		t.Run(variant, func(t *testing.T) {
			t.Parallel()
			if bad := unwaived(policy.Check(passing(t, variant)), ""); len(bad) > 0 {
				t.Errorf("unwaived findings: %+v", bad)
			}
		})
	}
}

func TestWaiversEndWhenTheirReasonDoes(t *testing.T) {
	t.Parallel()
	// With a certificate, no finding of the HTTPS rules is waived: HTTP
	// redirects, so there is none at all.
	for _, variant := range []string{"aws-tls", "gcp-tls", "azure-tls"} {
		for _, f := range policy.Check(passing(t, variant)) {
			if strings.HasSuffix(f.Rule, "-transport-https") {
				t.Errorf("%s: %+v, want no finding once HTTPS is on", variant, f)
			}
		}
	}
}

// While the stack's managed certificate provisions, HTTP serving the fleet
// is a waived finding that says why and what ends it.
func TestHTTPServesWhileTheManagedCertificateProvisions(t *testing.T) {
	t.Parallel()
	var got []policy.Finding
	for _, f := range policy.Check(passing(t, "gcp-tls-provisioning")) {
		if f.Rule == "gcp-transport-https" {
			got = append(got, f)
		}
	}
	if len(got) != 1 || !strings.Contains(got[0].Waived, "stayup:httpsRedirect") || !strings.Contains(got[0].Waived, "ACTIVE") {
		t.Errorf("findings %+v, want one waived until stayup:httpsRedirect, once the certificate is ACTIVE", got)
	}
}

func TestFindingJSONShape(t *testing.T) {
	t.Parallel()
	findings := policy.Check(planOf(t, "aws"))
	data, err := json.Marshal(findings)
	if err != nil {
		t.Fatal(err)
	}
	var docs []map[string]any
	if err := json.Unmarshal(data, &docs); err != nil {
		t.Fatal(err)
	}
	var waived bool
	for _, d := range docs {
		for _, key := range []string{"rule", "severity", "urn", "message", "standards"} {
			if _, ok := d[key]; !ok {
				t.Errorf("finding %v lacks %q", d, key)
			}
		}
		if w, ok := d["waived"].(string); ok && w != "" {
			waived = true
		}
	}
	if !waived {
		t.Errorf("no finding carries a \"waived\" reason: %s", data)
	}
}

func TestRulesAreWellFormed(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	perCloud := map[string]int{}
	for _, r := range policy.Rules() {
		if seen[r.ID] {
			t.Errorf("rule id %s is used twice", r.ID)
		}
		seen[r.ID] = true
		perCloud[r.Cloud]++
		if !strings.HasPrefix(r.ID, r.Cloud+"-"+string(r.Category)[:2]) && !strings.HasPrefix(r.ID, r.Cloud+"-ha-") {
			t.Errorf("rule %s: id does not start with its cloud and category (%s, %s)", r.ID, r.Cloud, r.Category)
		}
		if !slices.Contains(policy.Categories, r.Category) || !slices.Contains(policy.Severities, r.Severity) || r.Title == "" {
			t.Errorf("rule %s: category %q, severity %q, title %q", r.ID, r.Category, r.Severity, r.Title)
		}
	}
	if len(seen) < 30 {
		t.Errorf("%d rules, want 30 or more", len(seen))
	}
	for _, c := range []string{"aws", "gcp", "azure"} {
		if perCloud[c] < 10 {
			t.Errorf("%s has %d rules", c, perCloud[c])
		}
	}
}

func TestRulesReadStringTypedInputs(t *testing.T) {
	t.Parallel()
	// A stack export records inputs as the engine stored them: booleans and
	// numbers may arrive as strings. The rules read both.
	g := passing(t, "aws")
	lt := find(t, g, "aws:ec2/launchTemplate:LaunchTemplate", "stayup-fleet")
	set(t, lt, "metadataOptions.httpPutResponseHopLimit", "1")
	asg := find(t, g, "aws:autoscaling/group:Group", "stayup-fleet")
	set(t, asg, "minSize", "3")
	set(t, asg, "instanceRefresh.preferences.autoRollback", "false")
	if bad := unwaived(policy.Check(g), ""); len(bad) > 0 {
		t.Errorf("string-typed inputs: %+v", bad)
	}
	set(t, asg, "instanceRefresh.preferences.autoRollback", "true")
	if got := unwaived(policy.Check(g), "aws-ha-rolling-update"); len(got) != 1 {
		t.Errorf("autoRollback \"true\" as a string: findings %+v, want the rolling-update rule to fail", got)
	}
	if got := policy.CloudOf(&graph.Graph{}); got != "" {
		t.Errorf("CloudOf(empty) = %q", got)
	}
	if got := policy.Check(&graph.Graph{}); len(got) != 0 {
		t.Errorf("an empty graph (no cloud) gets findings %v", got)
	}
}

func TestSeverityAndGate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in      string
		want    policy.Severity
		wantErr bool
	}{
		{"high", policy.High, false}, {" CRITICAL ", policy.Critical, false}, {"low", policy.Low, false}, {"severe", "", true}, {"", "", true},
	} {
		got, err := policy.ParseSeverity(tc.in)
		if got != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("ParseSeverity(%q) = %q, %v", tc.in, got, err)
		}
	}
	findings := []policy.Finding{
		{Rule: "a", Severity: policy.Critical, Waived: "the service is public"},
		{Rule: "b", Severity: policy.Medium},
		{Rule: "c", Severity: policy.High},
	}
	for _, tc := range []struct {
		failOn policy.Severity
		want   []string
	}{
		{policy.Critical, nil}, {policy.High, []string{"c"}}, {policy.Medium, []string{"b", "c"}}, {policy.Low, []string{"b", "c"}},
	} {
		var got []string
		for _, f := range policy.Blocking(findings, tc.failOn) {
			got = append(got, f.Rule)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("Blocking(--fail-on %s) = %v, want %v", tc.failOn, got, tc.want)
		}
	}

	// The example with its logged egress deny taken away: a medium finding.
	g := planOf(t, "gcp")
	dropRes("gcp:compute/firewall:Firewall", "stayup-net-deny-egress")(t, g)
	if err := policy.Gate(g, policy.High); err != nil {
		t.Errorf("Gate(gcp without egress deny, high) = %v, want nil", err)
	}
	err := policy.Gate(g, policy.Medium)
	var gate *policy.GateError
	if !errors.As(err, &gate) || len(gate.Findings) != 1 || !strings.Contains(err.Error(), "gcp-exposure-egress") {
		t.Errorf("Gate(example gcp, medium) = %v, want the egress gap", err)
	}
}

func TestComplianceDocIsCurrent(t *testing.T) {
	t.Parallel()
	root, err := project.Root(".")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(root, "docs", "compliance.md")
	want := policy.Markdown()
	if *update {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (write it with go test ./internal/policy -run TestComplianceDocIsCurrent -update)", err)
	}
	if string(got) != want {
		t.Errorf("%s is stale: regenerate it with go test ./internal/policy -run TestComplianceDocIsCurrent -update", path)
	}
	for _, r := range policy.Rules() {
		if !strings.Contains(string(got), "`"+r.ID+"`") {
			t.Errorf("docs miss rule %s", r.ID)
		}
	}
}
