package chaos

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"stayup/internal/fleet"
	"stayup/internal/probe"
)

// Report is what an experiment did and saw.
type Report struct {
	Plan
	Start, End time.Time
	Timeline   []Event
	Victims    []VictimReport
	// TimeToDetect is the slowest victim's kill to being seen out of the
	// load balancer; TimeToRecover is the first kill to the fleet being
	// whole again. Nil when it did not happen. Both are as seen by polling
	// the fleet, so each is late by up to one poll.
	TimeToDetect, TimeToRecover *time.Duration
	// ClientsFailedFor is the first kill to the end of the probe's last
	// failure window: how long clients saw errors. Nil when they saw none.
	ClientsFailedFor *time.Duration
	Probe            *probe.Summary
	Verdict, Reason  string
	// Reads are the fleet as each poll saw it while watching.
	Reads []fleet.Read
}

// VictimReport is one killed instance's story.
type VictimReport struct {
	ID, Zone    string
	Killed      time.Time
	Detected    *time.Time // seen out of the load balancer
	DetectedAs  string     // what it was seen as: unhealthy, draining, gone
	Replacement string
	Launched    *time.Time
	Healthy     *time.Time
	// Rejoined is when the victim itself was back in service (a reboot);
	// HealedBy says which healed it: HealedReplaced, HealedRebooted, or
	// empty when neither happened.
	Rejoined *time.Time
	HealedBy string
}

// healedAt is when the victim's place was filled again.
func (v VictimReport) healedAt() *time.Time {
	if v.Healthy != nil {
		return v.Healthy
	}
	return v.Rejoined
}

// Recovered reports whether the fleet healed in time.
func (r Report) Recovered() bool { return r.Verdict == Recovered }

// fill turns the watch's findings into the report's figures.
func (r *Report) fill(w *watch) {
	r.Victims = nil
	var detect *time.Duration
	for _, v := range w.victims {
		vr := VictimReport{ID: v.inst.ID, Zone: v.inst.Zone, Killed: v.killed, Detected: v.detected, DetectedAs: v.detectedAs, Launched: v.launched, Healthy: v.healthy, Rejoined: v.rejoined}
		vr.HealedBy, _ = v.healed()
		if v.replacement != nil {
			vr.Replacement = v.replacement.ID
		}
		r.Victims = append(r.Victims, vr)
		if v.detected != nil {
			d := v.detected.Sub(v.killed)
			if detect == nil || d > *detect {
				detect = &d
			}
		}
	}
	r.TimeToDetect = detect
	if w.recovered != nil {
		d := w.recovered.Sub(w.firstKill)
		r.TimeToRecover = &d
	}
	sort.SliceStable(r.Timeline, func(i, j int) bool { return r.Timeline[i].Time.Before(r.Timeline[j].Time) })
}

// checkpoint is the report so far, for saving while the run goes on.
func (r Report) checkpoint(w *watch, s probe.Summary) Report {
	c := r
	c.Timeline = slices.Clone(r.Timeline)
	c.fill(w)
	c.finishProbe(s)
	c.End = s.End
	c.Verdict, c.Reason = Running, "the run was still going at its last checkpoint"
	return c
}

// Deadline is when the watch gives up: the first kill plus the timeout;
// nil before any kill.
func (r Report) Deadline() *time.Time {
	k := r.firstKill()
	if k.IsZero() || r.Timeout == 0 {
		return nil
	}
	d := k.Add(r.Timeout)
	return &d
}

func (r Report) firstKill() time.Time {
	if len(r.Victims) > 0 {
		return r.Victims[0].Killed
	}
	return time.Time{}
}

// finishProbe adds the probe's summary and what it says about clients.
func (r *Report) finishProbe(s probe.Summary) {
	r.Probe = &s
	k := r.firstKill()
	if k.IsZero() || len(s.Windows) == 0 {
		return
	}
	d := s.Windows[len(s.Windows)-1].End.Sub(k)
	r.ClientsFailedFor = &d
}

// JSON shape: the project's report convention (DESIGN.md, Reports):
// RFC 3339 timestamps, durations as milliseconds in *_ms fields, null for
// what did not happen. docs/chaos.md documents every field.
type (
	jsonReport struct {
		Stack          string           `json:"stack"`
		Cloud          string           `json:"cloud"`
		Group          string           `json:"group"`
		URL            string           `json:"url"`
		Mode           fleet.KillMode   `json:"mode"`
		Capacity       fleet.Capacity   `json:"capacity"`
		Settings       jsonSettings     `json:"settings"`
		Instances      []fleet.Instance `json:"instances_before"`
		MinHealthy     int              `json:"min_healthy"`
		TimeoutMS      float64          `json:"timeout_ms"`
		TimeoutFrom    string           `json:"timeout_from"`
		Deadline       *time.Time       `json:"deadline"`
		Warnings       []string         `json:"warnings"`
		Start          time.Time        `json:"start"`
		End            time.Time        `json:"end"`
		DurationMS     float64          `json:"duration_ms"`
		Victims        []jsonVictim     `json:"victims"`
		Timeline       []jsonEvent      `json:"timeline"`
		DetectMS       *float64         `json:"time_to_detect_ms"`
		RecoverMS      *float64         `json:"time_to_recover_ms"`
		ClientsFailMS  *float64         `json:"clients_failed_for_ms"`
		Predicted      jsonPrediction   `json:"predicted"`
		Probe          *probe.Summary   `json:"probe"`
		Verdict        string           `json:"verdict"`
		Reason         string           `json:"reason,omitempty"`
		PlannedVictims []string         `json:"planned_victims"`
		Reads          []fleet.Read     `json:"fleet_reads"`
	}
	jsonSettings struct {
		CheckIntervalMS    float64 `json:"check_interval_ms"`
		CheckTimeoutMS     float64 `json:"check_timeout_ms"`
		HealthyThreshold   int     `json:"healthy_threshold"`
		UnhealthyThreshold int     `json:"unhealthy_threshold"`
		DrainMS            float64 `json:"drain_ms"`
		GraceMS            float64 `json:"grace_ms"`
		HealIntervalMS     float64 `json:"heal_interval_ms"`
		HealThreshold      int     `json:"heal_threshold"`
	}
	jsonVictim struct {
		ID          string     `json:"id"`
		Zone        string     `json:"zone"`
		Killed      time.Time  `json:"killed"`
		Detected    *time.Time `json:"seen_unhealthy"`
		DetectedAs  string     `json:"seen_as,omitempty"`
		Replacement string     `json:"replacement,omitempty"`
		Launched    *time.Time `json:"replacement_launched"`
		Healthy     *time.Time `json:"replacement_healthy"`
		Rejoined    *time.Time `json:"rejoined"`
		HealedBy    string     `json:"healed_by"`
		DetectMS    *float64   `json:"detect_ms"`
		RecoverMS   *float64   `json:"recover_ms"`
	}
	jsonEvent struct {
		Time     time.Time `json:"time"`
		Event    string    `json:"event"`
		Instance string    `json:"instance,omitempty"`
		Detail   string    `json:"detail,omitempty"`
	}
	jsonPrediction struct {
		DetectMS  float64  `json:"detect_ms"`
		RejoinMS  float64  `json:"rejoin_ms"`
		RecoverMS float64  `json:"recover_ms"`
		Basis     []string `json:"basis"`
	}
)

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func msp(d *time.Duration) *float64 {
	if d == nil {
		return nil
	}
	v := ms(*d)
	return &v
}

func since(t *time.Time, from time.Time) *float64 {
	if t == nil {
		return nil
	}
	v := ms(t.Sub(from))
	return &v
}

// MarshalJSON renders the report as `chaos --json` prints it.
func (r Report) MarshalJSON() ([]byte, error) {
	s := r.Settings
	j := jsonReport{
		Stack: r.Stack, Cloud: r.Cloud, Group: r.Group, URL: r.URL, Mode: r.Mode, Capacity: r.Capacity,
		Settings: jsonSettings{ms(s.CheckInterval), ms(s.CheckTimeout), s.HealthyThreshold, s.UnhealthyThreshold,
			ms(s.Drain), ms(s.Grace), ms(s.HealInterval), s.HealThreshold},
		Instances: r.Instances, Start: r.Start, End: r.End, DurationMS: ms(r.End.Sub(r.Start)),
		Victims: []jsonVictim{}, Timeline: []jsonEvent{},
		DetectMS: msp(r.TimeToDetect), RecoverMS: msp(r.TimeToRecover), ClientsFailMS: msp(r.ClientsFailedFor),
		Predicted: jsonPrediction{ms(r.Predicted.Detect), ms(r.Predicted.Rejoin), ms(r.Predicted.Recover), r.Predicted.Basis},
		Probe:     r.Probe, Verdict: r.Verdict, Reason: r.Reason, PlannedVictims: []string{},
		MinHealthy: r.MinHealthy, TimeoutMS: ms(r.Timeout), TimeoutFrom: r.TimeoutFrom, Deadline: r.Deadline(),
		Warnings: r.Warnings,
	}
	if j.Warnings == nil {
		j.Warnings = []string{}
	}
	j.Reads = r.Reads
	if j.Reads == nil {
		j.Reads = []fleet.Read{}
	}
	if j.Instances == nil {
		j.Instances = []fleet.Instance{}
	}
	if j.Predicted.Basis == nil {
		j.Predicted.Basis = []string{}
	}
	for _, v := range r.Plan.Victims {
		j.PlannedVictims = append(j.PlannedVictims, v.ID)
	}
	for _, v := range r.Victims {
		jv := jsonVictim{ID: v.ID, Zone: v.Zone, Killed: v.Killed, Detected: v.Detected, DetectedAs: v.DetectedAs,
			Replacement: v.Replacement, Launched: v.Launched, Healthy: v.Healthy, Rejoined: v.Rejoined, HealedBy: v.HealedBy,
			DetectMS: since(v.Detected, v.Killed), RecoverMS: since(v.healedAt(), v.Killed)}
		j.Victims = append(j.Victims, jv)
	}
	for _, e := range r.Timeline {
		j.Timeline = append(j.Timeline, jsonEvent{e.Time, e.Kind, e.Instance, e.Detail})
	}
	return json.Marshal(j)
}

func round(d time.Duration) time.Duration {
	switch {
	case d >= 10*time.Second:
		return d.Round(100 * time.Millisecond)
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	case d < time.Millisecond:
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Millisecond)
}

func sinceDur(t *time.Time, from time.Time) *time.Duration {
	if t == nil {
		return nil
	}
	d := t.Sub(from)
	return &d
}

func durText(d *time.Duration) string {
	if d == nil {
		return "—"
	}
	return round(*d).String()
}

// Print writes the report for people.
func (r Report) Print(w io.Writer) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	p("chaos on stack %s (%s, group %s): %s kill of %d\n", r.Stack, r.Cloud, r.Group, r.Mode, len(r.Plan.Victims))
	p("  fleet before: %d desired (min %d, max %d), %d listed\n", r.Capacity.Desired, r.Capacity.Min, r.Capacity.Max, len(r.Instances))
	if r.Verdict == DryRun {
		for _, v := range r.Plan.Victims {
			p("  would kill %s in %s (%s, launched %s)\n", v.ID, v.Zone, v.Revision, v.Launched.Format(time.RFC3339))
		}
		for _, w := range r.Warnings {
			p("  warning: %s\n", w)
		}
		r.printPrediction(p)
		p("would watch for up to %v from the kill (%s), keeping at least %d in service\n", round(r.Timeout), r.TimeoutFrom, r.MinHealthy)
		p("verdict: %s — %s\n", r.Verdict, r.Reason)
		return
	}
	k := r.firstKill()
	if len(r.Timeline) > 0 {
		p("timeline (from the first kill):\n")
		for _, e := range r.Timeline {
			rel := ""
			if !k.IsZero() {
				rel = fmt.Sprintf("%+9s", round(e.Time.Sub(k)))
			}
			line := fmt.Sprintf("  %s %9s  %s", e.Time.Format("15:04:05.000"), rel, e.Kind)
			if e.Instance != "" {
				line += " " + e.Instance
			}
			if e.Detail != "" {
				line += " (" + e.Detail + ")"
			}
			p("%s\n", line)
		}
	}
	if len(r.Victims) > 0 {
		p("victims:\n")
		for _, v := range r.Victims {
			switch v.HealedBy {
			case HealedRebooted:
				p("  %s (%s): rebooted and back in the load balancer %s after the kill, not replaced\n", v.ID, v.Zone, durText(sinceDur(v.Rejoined, v.Killed)))
			case HealedReplaced:
				p("  %s (%s): replaced by %s, healthy %s after the kill\n", v.ID, v.Zone, v.Replacement, durText(sinceDur(v.Healthy, v.Killed)))
			default:
				p("  %s (%s): not healed\n", v.ID, v.Zone)
			}
		}
	}
	p("measured:\n")
	p("  time to detect (kill → out of the load balancer): %s, predicted %v\n", durText(r.TimeToDetect), round(r.Predicted.Detect))
	p("  time to recover (kill → desired capacity, all healthy): %s, predicted at most %v\n", durText(r.TimeToRecover), round(r.Predicted.Recover))
	if s := r.Probe; s != nil {
		if len(s.Windows) == 0 {
			p("  clients saw no failures: %d requests\n", s.Requests)
		} else {
			p("  clients saw %d failures of %d requests, until %s after the kill:\n", s.Failures, s.Requests, durText(r.ClientsFailedFor))
			for _, win := range s.Windows {
				p("    %s → %s  %v  %d failed\n", win.Start.Format("15:04:05.000"), win.End.Format("15:04:05.000"), round(win.Duration()), win.Failures)
			}
		}
		p("  longest gap between successes %v; latency p50 %v, p99 %v\n", round(s.LongestGap.Duration()), round(s.Latency.P50), round(s.Latency.P99))
	}
	r.printPrediction(p)
	if d := r.Deadline(); d != nil {
		p("watched for up to %v (%s): until %s\n", round(r.Timeout), r.TimeoutFrom, d.Format("15:04:05"))
	}
	if r.Reason != "" {
		p("verdict: %s — %s\n", r.Verdict, r.Reason)
	} else {
		p("verdict: %s\n", r.Verdict)
	}
}

func (r Report) printPrediction(p func(string, ...any)) {
	p("what the stack's settings predict:\n")
	for _, b := range r.Predicted.Basis {
		p("  - %s\n", b)
	}
}

// PrintPlan writes what the experiment is about to do.
func (pl Plan) PrintPlan(w io.Writer) {
	var ids []string
	for _, v := range pl.Victims {
		ids = append(ids, fmt.Sprintf("%s (%s)", v.ID, v.Zone))
	}
	fmt.Fprintf(w, "stack %s: %d of %d instances in service; %s kill of %s\n", pl.Stack, len(pl.Instances), pl.Capacity.Desired, pl.Mode, strings.Join(ids, ", "))
	for _, warn := range pl.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warn)
	}
}
