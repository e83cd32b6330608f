package rollout

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"stayup/internal/fleet"
	"stayup/internal/probe"
)

// Report is what a rollout did and saw.
type Report struct {
	Plan
	Start, End time.Time
	Phases     []Phase
	Timeline   []Event
	// Forward is the cloud's rolling update as last seen on the way
	// forward; Final after the settle period.
	Forward, Final  fleet.Rollout
	Rollback        *RollbackReport // nil when nothing was rolled back
	Probe           *probe.Summary
	AllowedFailures int
	// VersionEvidence says where the versions clients saw came from:
	// "header", "body", "header and body", or "none" (the verdict then
	// rests on the fleet's instances only).
	VersionEvidence string
	Verdict, Reason string
	// Reads are the fleet as each poll saw it while waiting.
	Reads []fleet.Read
}

// Phase is one step of the rollout and which versions answered during it.
type Phase struct {
	Name       string
	Start, End time.Time
	Outcome    string
	// Versions counts responses per X-Stayup-Version value ("" when the
	// image sends none).
	Versions map[string]int
}

// RollbackReport is the rollback's part: who owned it and what was done.
type RollbackReport struct {
	Owner      string // OwnerPlatform or OwnerStayup
	Reason     string
	Start, End time.Time
	Steps      []string
	Final      fleet.Rollout
	Done       bool
	Error      string
}

// Succeeded reports whether the verdict is success.
func (r Report) Succeeded() bool { return r.Verdict == Succeeded }

// JSON shape: the project's report convention (DESIGN.md, Reports):
// RFC 3339 timestamps, durations as milliseconds in *_ms fields, null for
// what did not happen. docs/rollout.md documents every field.
type (
	jsonReport struct {
		Stack           string           `json:"stack"`
		Cloud           string           `json:"cloud"`
		Group           string           `json:"group"`
		URL             string           `json:"url"`
		From            string           `json:"from_image"`
		To              string           `json:"to_image"`
		Capacity        fleet.Capacity   `json:"capacity"`
		Instances       []fleet.Instance `json:"instances_before"`
		NoProgressMS    float64          `json:"no_progress_bound_ms"`
		Before          fleet.Rollout    `json:"cloud_rollout_before"`
		Forward         fleet.Rollout    `json:"cloud_rollout_forward"`
		Final           fleet.Rollout    `json:"cloud_rollout_final"`
		Start           time.Time        `json:"start"`
		End             time.Time        `json:"end"`
		DurationMS      float64          `json:"duration_ms"`
		Phases          []jsonPhase      `json:"phases"`
		Timeline        []jsonEvent      `json:"timeline"`
		Rollback        *jsonRollback    `json:"rollback"`
		AllowedFailures int              `json:"allowed_failures"`
		Probe           *probe.Summary   `json:"probe"`
		VersionEvidence string           `json:"version_evidence"`
		Verdict         string           `json:"verdict"`
		Reason          string           `json:"reason,omitempty"`
		Reads           []fleet.Read     `json:"fleet_reads"`
	}
	jsonPhase struct {
		Name       string         `json:"name"`
		Start      time.Time      `json:"start"`
		End        time.Time      `json:"end"`
		DurationMS float64        `json:"duration_ms"`
		Outcome    string         `json:"outcome"`
		Versions   map[string]int `json:"versions"`
	}
	jsonEvent struct {
		Time   time.Time `json:"time"`
		Phase  string    `json:"phase"`
		Event  string    `json:"event"`
		Detail string    `json:"detail,omitempty"`
	}
	jsonRollback struct {
		Owner      string        `json:"owner"`
		Reason     string        `json:"reason"`
		Start      time.Time     `json:"start"`
		End        time.Time     `json:"end"`
		DurationMS float64       `json:"duration_ms"`
		Steps      []string      `json:"steps"`
		Final      fleet.Rollout `json:"cloud_rollout_final"`
		Done       bool          `json:"done"`
		Error      string        `json:"error,omitempty"`
	}
)

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// MarshalJSON renders the report as `rollout --json` prints it.
func (r Report) MarshalJSON() ([]byte, error) {
	j := jsonReport{
		Stack: r.Stack, Cloud: r.Cloud, Group: r.Group, URL: r.URL, From: r.From, To: r.To,
		Capacity: r.Capacity, Instances: r.Instances, NoProgressMS: ms(r.NoProgress), Before: r.Before, Forward: r.Forward, Final: r.Final,
		Start: r.Start, End: r.End, DurationMS: ms(r.End.Sub(r.Start)),
		Phases: []jsonPhase{}, Timeline: []jsonEvent{},
		AllowedFailures: r.AllowedFailures, Probe: r.Probe, VersionEvidence: r.VersionEvidence, Verdict: r.Verdict, Reason: r.Reason,
	}
	if j.Instances == nil {
		j.Instances = []fleet.Instance{}
	}
	j.Reads = r.Reads
	if j.Reads == nil {
		j.Reads = []fleet.Read{}
	}
	for _, p := range r.Phases {
		v := p.Versions
		if v == nil {
			v = map[string]int{}
		}
		j.Phases = append(j.Phases, jsonPhase{p.Name, p.Start, p.End, ms(p.End.Sub(p.Start)), p.Outcome, v})
	}
	for _, e := range r.Timeline {
		j.Timeline = append(j.Timeline, jsonEvent{e.Time, e.Phase, e.Kind, e.Detail})
	}
	if rb := r.Rollback; rb != nil {
		steps := rb.Steps
		if steps == nil {
			steps = []string{}
		}
		j.Rollback = &jsonRollback{rb.Owner, rb.Reason, rb.Start, rb.End, ms(rb.End.Sub(rb.Start)), steps, rb.Final, rb.Done, rb.Error}
	}
	return json.Marshal(j)
}

func round(d time.Duration) time.Duration {
	switch {
	case d >= 10*time.Second:
		return d.Round(100 * time.Millisecond)
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	}
	return d.Round(time.Millisecond)
}

// Print writes the report for people.
func (r Report) Print(w io.Writer) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	p("rollout on stack %s (%s, group %s): %s → %s\n", r.Stack, r.Cloud, r.Group, r.From, r.To)
	p("  fleet before: %d desired (min %d, max %d), %d listed\n", r.Capacity.Desired, r.Capacity.Min, r.Capacity.Max, len(r.Instances))
	p("  no-progress bound: a replacement in service within %v (grace %v + warm-up %v + margin)\n", round(r.NoProgress), r.Settings.Grace, r.Settings.Warmup)
	p("phases (total %v):\n", round(r.End.Sub(r.Start)))
	for _, ph := range r.Phases {
		p("  %-9s %s  %9v  %-14s versions: %s\n", ph.Name, ph.Start.Format("15:04:05.000"), round(ph.End.Sub(ph.Start)), ph.Outcome, mixText(ph.Versions))
	}
	p("timeline:\n")
	for _, e := range r.Timeline {
		line := fmt.Sprintf("  %s %+9v  [%s] %s", e.Time.Format("15:04:05.000"), round(e.Time.Sub(r.Start)), e.Phase, e.Kind)
		if e.Detail != "" {
			line += " (" + e.Detail + ")"
		}
		p("%s\n", line)
	}
	if rb := r.Rollback; rb != nil {
		p("rollback (owner: %s): %s\n", rb.Owner, rb.Reason)
		for _, s := range rb.Steps {
			p("  - %s\n", s)
		}
		if rb.Error != "" {
			p("  failed: %s\n", rb.Error)
		}
	}
	if s := r.Probe; s != nil {
		if s.Failures == 0 {
			p("clients saw no failures: %d requests (allowed %d)\n", s.Requests, r.AllowedFailures)
		} else {
			p("clients saw %d failures of %d requests (allowed %d):\n", s.Failures, s.Requests, r.AllowedFailures)
			for _, win := range s.Windows {
				p("  %s → %s  %v  %d failed\n", win.Start.Format("15:04:05.000"), win.End.Format("15:04:05.000"), round(win.Duration()), win.Failures)
			}
		}
		p("longest gap between successes %v; latency p50 %v, p99 %v\n", round(s.LongestGap.Duration()), round(s.Latency.P50), round(s.Latency.P99))
		if r.VersionEvidence == "none" {
			p("clients' responses carried no version (no %s header, no body match): the verdict rests on the fleet's instances\n", VersionHeader)
		}
		if h := s.Header; h != nil && len(h.Mix) > 0 {
			p("version mix over time (%s):\n", h.Source())
			for _, m := range h.Mix {
				p("  %s → %s  %s\n", m.Start.Format("15:04:05.000"), m.End.Format("15:04:05.000"), mixText(m.Counts))
			}
		}
	}
	if r.Reason != "" {
		p("verdict: %s — %s\n", r.Verdict, r.Reason)
	} else {
		p("verdict: %s\n", r.Verdict)
	}
}

// PrintPlan writes what the rollout is about to do.
func (pl Plan) PrintPlan(w io.Writer) {
	fmt.Fprintf(w, "stack %s (%s, group %s): %d of %d desired in service, rolling %s → %s\n",
		pl.Stack, pl.Cloud, pl.Group, len(pl.Instances), pl.Capacity.Desired, pl.From, pl.To)
}
