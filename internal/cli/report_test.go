package cli

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// report offline: the plan stands in for the stack, every kept run is on
// the page, and Markdown writes its charts beside the file.
func TestReportOffline(t *testing.T) {
	t.Parallel()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	noStack := func(context.Context, string, string) (map[string]any, error) { return nil, errNoPulumi }
	for _, format := range []string{"html", "md"} {
		o := &reportOpts{stack: "aws", root: root, runsDir: filepath.Join(root, "internal", "report", "testdata", "runs", "aws"),
			output: filepath.Join(dir, "report."+format), outputs: noStack,
			export: func(context.Context, string, string) ([]byte, error) { return nil, errors.New("no state") },
			now:    func() time.Time { return time.Date(2026, 5, 12, 15, 0, 0, 0, time.UTC) }}
		if err := o.Validate(); err != nil {
			t.Fatal(err)
		}
		var errb strings.Builder
		if err := o.Execute(context.Background(), streams{in: strings.NewReader(""), out: &strings.Builder{}, err: &errb}); err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		b, err := os.ReadFile(o.output)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"20260512T140210Z-chaos", "20260512T141110Z-rollout", "20260512T141112Z-probe", "20260512T142810Z-chaos", "the plan (offline", "eu-west-1a"} {
			if !strings.Contains(string(b), want) {
				t.Errorf("%s lacks %q", format, want)
			}
		}
		if !strings.Contains(errb.String(), "could not be read") {
			t.Errorf("%s: stderr does not say the plan stood in: %s", format, errb.String())
		}
		if format == "md" {
			if _, err := os.Stat(filepath.Join(dir, "report-charts", "20260512T140210Z-chaos-requests.svg")); err != nil {
				t.Errorf("chart beside the Markdown: %v", err)
			}
		}
	}
}

func TestReportValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		o    reportOpts
		want string
	}{
		{reportOpts{}, "which stack"},
		{reportOpts{stack: "aws", format: "pdf"}, "want html or md"},
		{reportOpts{stack: "aws", format: "md"}, "give -o FILE"},
	} {
		if err := tc.o.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.o, err, tc.want)
		}
	}
	o := reportOpts{stack: "aws", output: "r.md", root: "/p"}
	if err := o.Validate(); err != nil || o.format != "md" || o.runsDir != filepath.Join("/p", ".stayup", "reports", "aws") {
		t.Errorf("%+v: %v", o, err)
	}
}
