package report

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"stayup/internal/runs"
)

// Every recorded run is on the page, each event is numbered on its charts
// and listed, the failure windows are shaded where the run had them, and
// the sentence's numbers are the run's own figures.
func TestPageStructure(t *testing.T) {
	in := exampleInput(t)
	page, err := HTML(in)
	if err != nil {
		t.Fatal(err)
	}
	html := string(page)
	views, err := buildViews(in.Runs)
	if err != nil {
		t.Fatal(err)
	}
	if len(views) != 4 {
		t.Fatalf("%d runs on the page, want the 4 recorded", len(views))
	}
	for i, r := range in.Runs {
		v := views[i]
		art := article(t, html, r.Name())
		t.Run(r.Name(), func(t *testing.T) {
			var p *ProbeRun
			switch {
			case r.Chaos != nil:
				p = r.Chaos.Probe
				want := 0
				for _, e := range r.Chaos.Timeline {
					if e.Event == "probe started" {
						continue
					}
					want++
					if !strings.Contains(art, fmt.Sprintf(`data-event="%s"`, e.Event)) {
						t.Errorf("event %q not listed", e.Event)
					}
				}
				if len(v.Events) != want {
					t.Errorf("%d events numbered, want %d", len(v.Events), want)
				}
				if c := r.Chaos; c.RecoverMS != nil && !strings.Contains(v.Shows, "whole again after "+human(msDur(*c.RecoverMS))) {
					t.Errorf("sentence %q lacks the recovery time %s", v.Shows, human(msDur(*c.RecoverMS)))
				}
			case r.Rollout != nil:
				p = r.Rollout.Probe
				for _, ph := range r.Rollout.Phases {
					if !strings.Contains(art, ">"+ph.Name+"<") && !strings.Contains(art, ph.Name+" ") {
						t.Errorf("phase %s not shown", ph.Name)
					}
				}
				if !strings.Contains(v.Shows, fmt.Sprintf("(budget %d)", r.Rollout.AllowedFailures)) {
					t.Errorf("sentence %q lacks the budget", v.Shows)
				}
			case r.Probe != nil:
				p = r.Probe
				if seedMode(p) && !strings.Contains(art, "seed&#39;s downtime script") {
					t.Errorf("seed-mode probe without the seed script's verdict")
				}
			}
			if got := fmt.Sprintf(`data-failure-windows="%d"`, len(p.Windows)); !strings.Contains(art, got) {
				t.Errorf("article lacks %s", got)
			}
			if v.Windows != len(p.Windows) {
				t.Errorf("%d windows shaded, run had %d", v.Windows, len(p.Windows))
			}
			if p.Failures > 0 {
				if want := fmt.Sprintf("%s of %s over %s", count(p.Failures, "failed request", "failed requests"), thousands(p.Requests), human(failedSpan(p))); !strings.Contains(v.Shows, want) {
					t.Errorf("sentence %q lacks %q", v.Shows, want)
				}
			} else if !strings.Contains(v.Shows, "no failed request of "+thousands(p.Requests)) {
				t.Errorf("sentence %q lacks the clean probe", v.Shows)
			}
			for _, f := range v.Figures {
				if !strings.Contains(art, `id="`+f.Name+`"`) {
					t.Errorf("figure %s not on the page", f.Name)
				}
			}
		})
	}
	// The abrupt kill reads as the sentence docs/report.md quotes.
	if want := "an abrupt kill of 1 of 3 instances: clients saw 128 failed requests of 7,850 over 9.6 s, the group was whole again after 3 m 12 s"; !strings.Contains(views[0].Shows, want) {
		t.Errorf("abrupt kill reads %q, want %q", views[0].Shows, want)
	}
	if !strings.Contains(views[1].Shows, "was rolled back") || views[1].Good {
		t.Errorf("rollback reads %q", views[1].Shows)
	}
	if views[3].Verdict != "interrupted" || !strings.Contains(views[3].Shows, "interrupted after") {
		t.Errorf("interrupted run reads %q (%s)", views[3].Shows, views[3].Verdict)
	}
}

// article is the run's part of the page.
func article(t *testing.T, html, id string) string {
	t.Helper()
	re := regexp.MustCompile(`(?s)<article class="run" id="` + regexp.QuoteMeta(id) + `".*?</article>`)
	a := re.FindString(html)
	if a == "" {
		t.Fatalf("run %s is not on the page", id)
	}
	return a
}

// A run whose process was killed leaves its last checkpoint, verdict
// running: the page shows it, says it has no verdict, and charts what the
// checkpoint holds.
func TestKilledRunRenders(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(runsDir, "20260512T140210Z-chaos.json"))
	if err != nil {
		t.Fatal(err)
	}
	var j map[string]any
	if err := json.Unmarshal(src, &j); err != nil {
		t.Fatal(err)
	}
	j["verdict"], j["reason"], j["time_to_recover_ms"] = "running", "the run was still going at its last checkpoint", nil
	j["end"] = time.Date(2026, 5, 12, 14, 3, 40, 0, time.UTC)
	dir := t.TempDir()
	if _, err := runs.Create(dir, runs.Chaos, time.Date(2026, 5, 12, 14, 2, 10, 0, time.UTC), j); err != nil {
		t.Fatal(err)
	}
	rs, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	page, err := HTML(Input{Stack: Stack{Name: "aws"}, Runs: rs})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"no verdict", "last checkpoint was 1 m 30 s after its start", `data-event="killed"`, "-requests"} {
		if !strings.Contains(string(page), want) {
			t.Errorf("killed run's page lacks %q", want)
		}
	}
}
