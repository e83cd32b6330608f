package report

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"stayup/internal/plan"
	"stayup/internal/policy"
	"stayup/internal/project"
)

var update = flag.Bool("update", false, "rewrite the golden charts and the example report in docs/report/")

const root = "../.."

// exampleDir is where the rendered example lives, beside the docs.
var exampleDir = filepath.Join(root, "docs", "report")

var (
	exampleOnce sync.Once
	exampleIn   Input
	exampleErr  error
)

// exampleInput is the example stack offline (its plan, the committed
// diagram) with the recorded runs.
func exampleInput(t *testing.T) Input {
	t.Helper()
	exampleOnce.Do(func() {
		cfg, err := project.StackConfig(root, "aws")
		if err != nil {
			exampleErr = err
			return
		}
		res, err := plan.Run("aws", cfg)
		if err != nil {
			exampleErr = err
			return
		}
		svg, err := os.ReadFile(filepath.Join(root, "diagrams", "aws.svg"))
		if err != nil {
			exampleErr = err
			return
		}
		rs, err := Load(runsDir)
		if err != nil {
			exampleErr = err
			return
		}
		rules := 0
		for _, r := range policy.Rules() {
			if r.Cloud == "aws" {
				rules++
			}
		}
		exampleIn = Input{
			Stack:   StackFrom("aws", res.Outputs, false),
			Diagram: svg, DiagramSource: "from the plan",
			Findings: res.Findings, FindingsSource: "the plan", Rules: rules,
			Runs: rs, RunsDir: ".stayup/reports/aws", Generated: LastRun(rs),
		}
	})
	if exampleErr != nil {
		t.Fatal(exampleErr)
	}
	return exampleIn
}

// golden compares got with path, or rewrites it under -update.
func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/report -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is stale; if the change is meant, run go test ./internal/report -update and look at the page", path)
	}
}

// The example page in docs/ is what the recorded runs render to.
func TestExampleIsCurrent(t *testing.T) {
	in := exampleInput(t)
	page, err := HTML(in)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, filepath.Join(exampleDir, "example.html"), page)
	md, files, err := Markdown(in, "example-charts")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, filepath.Join(exampleDir, "example.md"), md)
	for name, b := range files {
		golden(t, filepath.Join(exampleDir, "example-charts", name), b)
	}
}

// The charts of each recorded run are golden files.
func TestChartsGolden(t *testing.T) {
	views, err := buildViews(exampleInput(t).Runs)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range views {
		for _, f := range v.Figures {
			golden(t, filepath.Join("testdata", "golden", f.Name+".svg"), f.SVG)
		}
	}
}

var external = regexp.MustCompile(`(?i)https?://|<script|\ssrc\s*=|<link|@import|url\(\s*['"]?(?:https?:|//|[a-z0-9_./-]+\.(?:css|woff2?|ttf|otf|svg|png))`)

// The page references nothing outside itself: no URL, no script, no file.
func TestHTMLIsSelfContained(t *testing.T) {
	in := exampleInput(t)
	page, err := HTML(in)
	if err != nil {
		t.Fatal(err)
	}
	// The stack's own url is text, not a reference; the example stack is
	// not deployed, so there is none: check a deployed one's too.
	if m := external.FindAllString(string(page), 5); len(m) > 0 {
		t.Errorf("the page references something outside itself: %q", m)
	}
	in.Stack.URL = "http://stayup-lb-1.eu-west-1.elb.amazonaws.com/"
	page, err = HTML(in)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range external.FindAllStringIndex(string(page), -1) {
		ctx := string(page[max(0, m[0]-40):min(len(page), m[1]+40)])
		if !strings.Contains(ctx, "<code>http://stayup-lb-1") && !strings.Contains(ctx, "<code>http://stayup-alb") {
			t.Errorf("reference outside the page: %q", ctx)
		}
	}
	for _, bad := range []string{"<script", "<iframe", "<img", "<link", "@font-face { src: url(http"} {
		if bytes.Contains(page, []byte(bad)) {
			t.Errorf("page has %s", bad)
		}
	}
}
