package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"stayup/internal/project"
)

func TestCheckExitStatusFollowsFailOn(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args     []string
		wantCode int
		wantOut  string
	}{
		// Every example stack passes every rule; the two exceptions an
		// internet-facing service needs show as waived.
		{[]string{"check", "--cloud", "azure", "--fail-on", "low"}, 0, "every rule passes (2 waived)"},
		{[]string{"check", "--cloud", "azure"}, 0, "waived   azure-exposure-public-entry"},
		{[]string{"check", "--cloud", "gcp", "--fail-on", "low"}, 0, "every rule passes (2 waived)"},
		{[]string{"check", "--cloud", "aws", "--fail-on", "low"}, 0, "every rule passes (2 waived)"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			t.Parallel()
			code, out, errOut := run(tc.args...)
			if code != tc.wantCode || !strings.Contains(out, tc.wantOut) {
				t.Errorf("exit %d, want %d; output lacks %q:\n%s\n%s", code, tc.wantCode, tc.wantOut, out, errOut)
			}
		})
	}
}

func TestCheckJSON(t *testing.T) {
	t.Parallel()
	code, out, errOut := run("check", "--cloud", "azure", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var doc checkResult
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if doc.Cloud != "azure" || doc.Stack != "azure" || doc.Source != "plan" || len(doc.Findings) == 0 {
		t.Errorf("check --json = %+v", doc)
	}
	var waived int
	for _, f := range doc.Findings {
		if f.Waived != "" {
			waived++
		}
		if f.Rule == "" || f.Severity == "" || f.Message == "" {
			t.Errorf("finding %+v lacks a field", f)
		}
	}
	if waived != 2 {
		t.Errorf("%d waived findings, want the public gateway and HTTP without a certificate", waived)
	}
}

func TestCheckUsageErrors(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"check", "--stack", "aws", "--cloud", "aws"},
		{"check", "--cloud", "oracle"},
		{"check", "--live"},
		{"check", "--cloud", "aws", "--fail-on", "severe"},
	} {
		if code, _, errOut := run(args...); code != 2 {
			t.Errorf("%v: exit %d, want 2 (usage): %s", args, code, errOut)
		}
	}
}

func TestCheckLiveReadsTheExport(t *testing.T) {
	t.Parallel()
	root, err := project.Root(".")
	if err != nil {
		t.Fatal(err)
	}
	// A deployed stack whose launch template allows IMDSv1: the live check
	// judges the state, whatever the program says.
	export := `{"version":3,"deployment":{"resources":[
		{"urn":"urn:pulumi:aws::stayup::pulumi:pulumi:Stack::stayup-aws","type":"pulumi:pulumi:Stack","outputs":{"cloud":"aws"}},
		{"urn":"urn:pulumi:aws::stayup::aws:ec2/launchTemplate:LaunchTemplate::stayup-fleet","type":"aws:ec2/launchTemplate:LaunchTemplate","id":"lt-1",
		 "inputs":{"metadataOptions":{"httpTokens":"optional"},"blockDeviceMappings":[{"ebs":{"encrypted":"true"}}]}}]}}`
	for _, tc := range []struct {
		name     string
		failOn   string
		export   exportStack
		wantCode int
		want     string
	}{
		{"findings", "high", func(context.Context, string, string) ([]byte, error) { return []byte(export), nil }, 1, "aws-host-imdsv2"},
		// IMDSv1 is a high finding: printed, but under --fail-on critical it passes.
		{"findings below --fail-on", "critical", func(context.Context, string, string) ([]byte, error) { return []byte(export), nil }, 0, "aws-host-imdsv2"},
		{"no stack", "high", func(context.Context, string, string) ([]byte, error) { return nil, errors.New("no stack named aws") }, 1, "no stack named aws"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := &checkOpts{stack: "aws", live: true, failOn: tc.failOn, root: root, export: tc.export}
			if err := o.Validate(); err != nil {
				t.Fatal(err)
			}
			var out, errb bytes.Buffer
			err := o.Execute(context.Background(), streams{out: &out, err: &errb})
			var exit exitError
			if tc.wantCode == 0 && err != nil || tc.wantCode != 0 && (!errors.As(err, &exit) || exit.code != tc.wantCode) {
				t.Fatalf("Execute = %v, want exit %d", err, tc.wantCode)
			}
			if !strings.Contains(out.String()+errb.String(), tc.want) {
				t.Errorf("output lacks %q:\n%s\n%s", tc.want, out.String(), errb.String())
			}
		})
	}
}

// --cloud all checks each cloud's example stack, as plan --cloud all plans them.
func TestCheckAllClouds(t *testing.T) {
	t.Parallel()
	code, out, errOut := runCLI("check", "--cloud", "all", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var results []checkResult
	if err := json.Unmarshal([]byte(out), &results); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var clouds []string
	for _, r := range results {
		clouds = append(clouds, r.Cloud)
	}
	if strings.Join(clouds, ",") != "aws,gcp,azure" {
		t.Errorf("checked %v, want aws, gcp and azure", clouds)
	}
}
