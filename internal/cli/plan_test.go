package cli

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func run(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = Main(args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func TestPlanJSONHasTheDocumentedShape(t *testing.T) {
	t.Parallel()
	code, out, errOut := run("plan", "--cloud", "aws", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var doc struct {
		Cloud     string `json:"cloud"`
		Stack     string `json:"stack"`
		Resources []struct {
			URN          string         `json:"urn"`
			ID           *string        `json:"id"`
			Type         string         `json:"type"`
			Name         string         `json:"name"`
			Parent       *string        `json:"parent"`
			Dependencies []string       `json:"dependencies"`
			Inputs       map[string]any `json:"inputs"`
		} `json:"resources"`
		Outputs  map[string]any `json:"outputs"`
		Findings []any          `json:"findings"`
	}
	dec := json.NewDecoder(strings.NewReader(out))
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("plan --json is not JSON: %v\n%s", err, out)
	}
	if doc.Cloud != "aws" || doc.Stack != "aws" {
		t.Errorf("cloud, stack = %q, %q", doc.Cloud, doc.Stack)
	}
	if len(doc.Resources) < 30 {
		t.Errorf("%d resources, want the whole service", len(doc.Resources))
	}
	urns := map[string]bool{}
	for _, r := range doc.Resources {
		urns[r.URN] = true
	}
	for _, r := range doc.Resources {
		if r.URN == "" || r.Type == "" || r.Name == "" || r.ID == nil || r.Parent == nil || r.Dependencies == nil || r.Inputs == nil {
			t.Fatalf("resource %+v lacks a documented field", r)
		}
		if *r.Parent != "" && !urns[*r.Parent] {
			t.Errorf("%s has parent %s, not in the plan", r.URN, *r.Parent)
		}
	}
	if doc.Findings == nil {
		t.Error("findings is missing; it must be an array")
	}
	for _, key := range []string{"url", "cloud", "region", "zones", "image", "fleet"} {
		if _, ok := doc.Outputs[key]; !ok {
			t.Errorf("outputs.%s missing", key)
		}
	}
}

func TestPlanReportsEveryBadValueAndExitsNonZero(t *testing.T) {
	t.Parallel()
	code, out, errOut := run("plan", "--cloud", "aws", "--config", "minSize=1", "--config", "port=http", "--config", "allowedCidrs=everyone")
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if out != "" {
		t.Errorf("stdout = %q, want nothing on invalid config", out)
	}
	for _, key := range []string{"stayup:minSize", "stayup:port", "stayup:allowedCidrs"} {
		if strings.Count(errOut, key) != 1 {
			t.Errorf("stderr names %s %d times, want once:\n%s", key, strings.Count(errOut, key), errOut)
		}
	}
	if strings.Contains(errOut, "goroutine") || strings.Contains(errOut, "panic") {
		t.Errorf("stderr holds a stack trace:\n%s", errOut)
	}
}

func TestPlanUsageErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"plan", "--stack", "aws", "--cloud", "aws"}, 2, "give one"},
		{[]string{"plan", "--cloud", "oracle"}, 2, `--cloud "oracle"`},
		{[]string{"plan", "--cloud", "aws", "--config", "minSize"}, 2, "key=value"},
		{[]string{"plan", "--stack", "prod"}, 1, "stack files: aws"},
		{[]string{"plan", "--bogus"}, 2, "unknown flag"},
	} {
		code, _, errOut := run(tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d mentioning %q", tc.args, code, errOut, tc.code, tc.want)
		}
	}
}

func TestPlanAllPrintsAnArray(t *testing.T) {
	t.Parallel()
	code, out, errOut := run("plan", "--cloud", "all", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var docs []map[string]any
	if err := json.Unmarshal([]byte(out), &docs); err != nil {
		t.Fatalf("plan --cloud all --json is not a JSON array: %v\n%s", err, out)
	}
	var clouds []any
	for _, d := range docs {
		clouds = append(clouds, d["cloud"])
	}
	if len(docs) != 3 || clouds[0] != "aws" || clouds[1] != "gcp" || clouds[2] != "azure" {
		t.Errorf("clouds = %v, want aws, gcp, azure", clouds)
	}
}

func TestPlanAllKeepsGoingPastAFailure(t *testing.T) {
	t.Parallel()
	// us-west-1 has two zones: asking AWS for three fails its plan only.
	code, out, errOut := run("plan", "--cloud", "all", "--json", "--config", "aws:region=us-west-1")
	var docs []map[string]any
	if err := json.Unmarshal([]byte(out), &docs); err != nil {
		t.Fatalf("not a JSON array: %v\n%s", err, out)
	}
	if code != 1 || len(docs) != 2 || !strings.Contains(errOut, "stayup plan aws") {
		t.Errorf("exit %d, %d plans, stderr %q; want exit 1, gcp and azure planned, aws's error", code, len(docs), errOut)
	}
}

func TestPlanHumanSummary(t *testing.T) {
	t.Parallel()
	code, out, errOut := run("plan", "--stack", "aws")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"offline under mocks", "Fleet", "Rollout", "LB health", "Outputs", "url", "Resources:"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
}
