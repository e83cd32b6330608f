package report

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"
)

// figure is one chart of a run.
type figure struct {
	Name    string // file stem: <run>-<name>.svg beside a Markdown report
	Caption string
	SVG     []byte
}

// eventView is one numbered marker and its line in the list under the charts.
type eventView struct {
	N       int
	Kind    string
	Elapsed string // "+12.4 s" from the run's start
	Clock   string // wall clock
	Text    string
}

// runView is what the page shows of one run.
type runView struct {
	ID, Kind, Title string
	Verdict         string
	Good            bool   // the verdict is the one hoped for
	Shows           string // "what this shows", from the data
	Seed            string // the seed's downtime-script verdict, where it applies
	Start           time.Time
	Facts           [][2]string
	Figures         []figure
	Events          []eventView
	Windows         int // failure windows shaded
	Notes           []string
}

const clockFormat = "15:04:05"

// elapsed is seconds since from.
func elapsed(t, from time.Time) float64 { return t.Sub(from).Seconds() }

// human writes a duration the way the page's sentences do: "9.6 s",
// "3 m 12 s", "1 h 2 m".
func human(d time.Duration) string {
	switch {
	case d < 0:
		return "-" + human(-d)
	case d < time.Second:
		return fmt.Sprintf("%d ms", d.Milliseconds())
	case d < time.Minute:
		return strings.Replace(fmt.Sprintf("%.1f s", d.Seconds()), ".0 s", " s", 1)
	case d < time.Hour:
		d = d.Round(time.Second)
		return fmt.Sprintf("%d m %d s", int(d.Minutes()), int(d.Seconds())%60)
	}
	d = d.Round(time.Minute)
	return fmt.Sprintf("%d h %d m", int(d.Hours()), int(d.Minutes())%60)
}

func msDur(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }

func count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%s %s", thousands(n), many)
}

func thousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// failedSpan is how long clients saw failures: from the first failure
// window's start to the last one's end.
func failedSpan(p *ProbeRun) time.Duration {
	if p == nil || len(p.Windows) == 0 {
		return 0
	}
	return p.Windows[len(p.Windows)-1].End.Sub(p.Windows[0].Start)
}

// clientsText says what clients saw, in one clause.
func clientsText(p *ProbeRun) string {
	if p == nil {
		return "no probe figures were kept"
	}
	if p.Failures == 0 {
		return fmt.Sprintf("clients saw no failed request of %s", thousands(p.Requests))
	}
	return fmt.Sprintf("clients saw %s of %s over %s", count(p.Failures, "failed request", "failed requests"), thousands(p.Requests), human(failedSpan(p)))
}

func xmaxOf(start, end time.Time, p *ProbeRun) float64 {
	x := elapsed(end, start)
	if p != nil && len(p.Buckets) > 0 {
		x = math.Max(x, float64(len(p.Buckets)))
	}
	return x
}

// fullBuckets leaves out the last bucket when the run ended within it:
// a part of a second would chart as a drop in the rate. One with failures
// stays: a probe that stopped at its first failure ends in it.
func fullBuckets(p *ProbeRun) []Bucket {
	bs := p.Buckets
	if n := len(bs); n > 0 && bs[n-1].Failed == 0 && bs[n-1].Start.Add(time.Second).After(p.End) {
		bs = bs[:n-1]
	}
	return bs
}

// wallCaption is the wall clock the elapsed axis counts from.
func wallCaption(start time.Time) string {
	return "x: seconds since " + start.UTC().Format("2006-01-02 15:04:05 UTC")
}

// trafficFigures are the probe's charts: requests per second, ok and
// failed, and latency, with failure windows shaded and the events marked.
func trafficFigures(id string, start time.Time, xmax float64, p *ProbeRun, extra []band, ms []marker, what string) ([]figure, int, error) {
	if p == nil {
		return nil, 0, nil
	}
	// Bucket times are the probe's; the run may have started earlier.
	off := elapsed(p.Start, start)
	var xs, ok, failed, p50, p99, lx []float64
	for _, b := range fullBuckets(p) {
		x := off + float64(b.T)
		xs, ok, failed = append(xs, x), append(ok, float64(b.OK)), append(failed, float64(b.Failed))
		if b.OK > 0 {
			lx, p50, p99 = append(lx, x), append(p50, b.P50), append(p99, b.P99)
		}
	}
	bs := slices.Clone(extra)
	for _, w := range p.Windows {
		bs = append(bs, band{x0: elapsed(w.Start, start), x1: elapsed(w.End, start), fill: failFill})
	}
	rate := chart{xlabel: "seconds since the start (s)", ylabel: "requests per second (1/s)", xmax: xmax, bands: bs, markers: ms,
		lines: []series{
			{name: "ok", color: blue, xs: xs, ys: ok, step: true},
			{name: "failed", color: red, xs: xs, ys: failed, step: true, width: 1.6},
		}}
	lat := chart{xlabel: "seconds since the start (s)", ylabel: "latency (ms)", xmax: xmax, bands: bs, markers: ms, height: smallHeight,
		lines: []series{
			{name: "p50", color: blue, xs: lx, ys: p50},
			{name: "p99", color: purple, xs: lx, ys: p99, dashed: true},
		}}
	rs, err := rate.svg()
	if err != nil {
		return nil, 0, err
	}
	ls, err := lat.svg()
	if err != nil {
		return nil, 0, err
	}
	return []figure{
		{id + "-requests", fmt.Sprintf("Requests per second as the probe saw them (%s), %s; shaded: failure windows%s. %s.", intervalText(p), "ok and failed", what, wallCaption(start)), rs},
		{id + "-latency", fmt.Sprintf("Latency of the successful requests per second, p50 and p99 (ms). %s.", wallCaption(start)), ls},
	}, len(p.Windows), nil
}

func intervalText(p *ProbeRun) string {
	if p.IntervalMS <= 0 {
		return "two clients"
	}
	return fmt.Sprintf("two clients, %g requests/s each", math.Round(1000/p.IntervalMS*10)/10)
}

// zoneFigure charts the fleet's reads: instances in service per zone and
// in all, against the desired capacity.
func zoneFigure(id string, start time.Time, xmax float64, reads []Read, ms []marker) (*figure, error) {
	if len(reads) == 0 {
		return nil, nil
	}
	zoneSet := map[string]bool{}
	for _, r := range reads {
		for z := range r.InService {
			zoneSet[z] = true
		}
	}
	zs := slices.Sorted(maps.Keys(zoneSet))
	var lines []series
	var xs, total, desired []float64
	for _, r := range reads {
		if r.Error != "" {
			continue
		}
		xs = append(xs, elapsed(r.Time, start))
		n := 0
		for _, v := range r.InService {
			n += v
		}
		total, desired = append(total, float64(n)), append(desired, float64(r.Desired))
	}
	lines = append(lines, series{name: "desired", color: grey, xs: xs, ys: desired, dashed: true, step: true},
		series{name: "in service", color: green, xs: xs, ys: total, step: true, width: 2})
	for i, z := range zs {
		// Zones with equal counts are nudged apart, or one line would
		// hide the others.
		nudge := 0.06 * (float64(i) - float64(len(zs)-1)/2)
		var ys []float64
		for _, r := range reads {
			if r.Error == "" {
				ys = append(ys, float64(r.InService[z])+nudge)
			}
		}
		lines = append(lines, series{name: z, color: palette[i%len(palette)], xs: xs, ys: ys, step: true})
	}
	c := chart{xlabel: "seconds since the start (s)", ylabel: "instances in service", xmax: xmax, lines: lines, markers: ms, height: smallHeight}
	b, err := c.svg()
	if err != nil {
		return nil, err
	}
	return &figure{id + "-fleet", fmt.Sprintf("Instances in service, in all and per zone (zone lines nudged apart so equal counts stay visible), at each read of the fleet (%d reads). %s.", len(reads), wallCaption(start)), b}, nil
}

// revisionFigure charts the instances in service per revision: the
// fleet converging on the target.
func revisionFigure(id string, start time.Time, xmax float64, reads []Read, ms []marker) (*figure, error) {
	if len(reads) == 0 {
		return nil, nil
	}
	first := map[string]int{}
	for i, r := range reads {
		for rev := range r.Revisions {
			if _, ok := first[rev]; !ok {
				first[rev] = i
			}
		}
	}
	revs := slices.SortedFunc(maps.Keys(first), func(a, b string) int { return cmp.Or(cmp.Compare(first[a], first[b]), cmp.Compare(a, b)) })
	var xs []float64
	for _, r := range reads {
		if r.Error == "" {
			xs = append(xs, elapsed(r.Time, start))
		}
	}
	var lines []series
	for i, rev := range revs {
		var ys []float64
		for _, r := range reads {
			if r.Error == "" {
				ys = append(ys, float64(r.InServiceRevisions[rev]))
			}
		}
		lines = append(lines, series{name: rev, color: palette[(i+1)%len(palette)], xs: xs, ys: ys, step: true, width: 1.6})
	}
	c := chart{xlabel: "seconds since the start (s)", ylabel: "instances in service", xmax: xmax, lines: lines, markers: ms, height: smallHeight}
	b, err := c.svg()
	if err != nil {
		return nil, err
	}
	return &figure{id + "-revisions", fmt.Sprintf("Instances in service per revision (launch template version, instance template, scale set model) at each read of the fleet. %s.", wallCaption(start)), b}, nil
}

// versionFigure charts the share of each served version per second.
func versionFigure(id string, start time.Time, xmax float64, p *ProbeRun, bs []band, ms []marker) (*figure, error) {
	if p == nil || len(p.Buckets) == 0 {
		return nil, nil
	}
	first := map[string]int{}
	for i, b := range p.Buckets {
		for v := range b.Versions {
			if _, ok := first[v]; !ok {
				first[v] = i
			}
		}
	}
	if len(first) == 0 {
		return nil, nil
	}
	vs := slices.SortedFunc(maps.Keys(first), func(a, b string) int { return cmp.Or(cmp.Compare(first[a], first[b]), cmp.Compare(a, b)) })
	off := elapsed(p.Start, start)
	var st []series
	for i, v := range vs {
		s := series{name: versionName(v), color: palette[(i+1)%len(palette)]}
		for _, b := range fullBuckets(p) {
			n := 0
			for _, c := range b.Versions {
				n += c
			}
			share := 0.0
			if n > 0 {
				share = 100 * float64(b.Versions[v]) / float64(n)
			}
			// Each bucket as a flat step: two points.
			x := off + float64(b.T)
			s.xs, s.ys = append(s.xs, x, x+1), append(s.ys, share, share)
		}
		st = append(st, s)
	}
	c := chart{xlabel: "seconds since the start (s)", ylabel: "share of responses (%)", xmax: xmax, stacked: st, percent: true, markers: ms, height: smallHeight}
	b, err := c.svg()
	if err != nil {
		return nil, err
	}
	return &figure{id + "-versions", fmt.Sprintf("Share of the responses per served version, each second. %s.", wallCaption(start)), b}, nil
}

func versionName(v string) string {
	if v == "" {
		return "(no version)"
	}
	return "version " + v
}

// buildViews turns the runs into what the page shows.
func buildViews(rs []Run) ([]runView, error) {
	var out []runView
	for _, r := range rs {
		var v runView
		var err error
		switch {
		case r.Chaos != nil:
			v, err = chaosView(r.Name(), r.Chaos)
		case r.Rollout != nil:
			v, err = rolloutView(r.Name(), r.Rollout)
		case r.Probe != nil:
			v, err = probeView(r.Name(), r.Probe)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("chart run %s: %w", r.Path, err)
		}
		out = append(out, v)
	}
	return out, nil
}

func events(start time.Time, items []eventView, at []time.Time) ([]eventView, []marker) {
	var ms []marker
	for i := range items {
		items[i].N = i + 1
		items[i].Elapsed = fmt.Sprintf("+%s", human(at[i].Sub(start)))
		items[i].Clock = at[i].UTC().Format(clockFormat + ".0")
		ms = append(ms, marker{x: elapsed(at[i], start), label: fmt.Sprint(i + 1)})
	}
	return items, ms
}

func verdictNote(verdict, reason string) []string {
	switch verdict {
	case "running":
		return []string{"This run has no verdict: its process ended without writing one (killed, or the machine stopped). The page shows its last checkpoint."}
	case "interrupted":
		return []string{"This run was interrupted (Ctrl-C): " + reason + "."}
	}
	return nil
}

func chaosView(id string, c *ChaosRun) (runView, error) {
	v := runView{ID: id, Kind: "chaos", Verdict: c.Verdict, Good: c.Verdict == "recovered", Start: c.Start}
	n := max(len(c.Instances), c.Capacity.Desired)
	v.Title = fmt.Sprintf("Chaos: %s kill of %d of %d instances", c.Mode, len(c.Victims), n)
	var items []eventView
	var at []time.Time
	for _, e := range c.Timeline {
		if e.Event == "probe started" {
			continue
		}
		text := e.Event
		if e.Instance != "" {
			text += " " + e.Instance
		}
		if e.Detail != "" {
			text += " (" + e.Detail + ")"
		}
		items, at = append(items, eventView{Kind: e.Event, Text: text}), append(at, e.Time)
	}
	v.Events, _ = events(c.Start, items, at)
	_, ms := events(c.Start, slices.Clone(items), at)
	xmax := xmaxOf(c.Start, c.End, c.Probe)
	figs, windows, err := trafficFigures(id, c.Start, xmax, c.Probe, nil, ms, "; numbered: the events listed below")
	if err != nil {
		return v, err
	}
	v.Figures, v.Windows = figs, windows
	zf, err := zoneFigure(id, c.Start, xmax, c.Reads, ms)
	if err != nil {
		return v, err
	}
	if zf != nil {
		v.Figures = append(v.Figures, *zf)
	}
	// What this shows.
	var b strings.Builder
	fmt.Fprintf(&b, "an %s kill of %d of %d instances: %s", c.Mode, len(c.Victims), n, clientsText(c.Probe))
	if c.Mode != "abrupt" {
		b.Reset()
		fmt.Fprintf(&b, "a %s kill of %d of %d instances: %s", c.Mode, len(c.Victims), n, clientsText(c.Probe))
	}
	switch {
	case c.RecoverMS != nil:
		fmt.Fprintf(&b, ", the group was whole again after %s", human(msDur(*c.RecoverMS)))
		if c.Predicted.RecoverMS > 0 {
			fmt.Fprintf(&b, " (the settings predict at most %s)", human(msDur(c.Predicted.RecoverMS)))
		}
	case c.Verdict == "interrupted":
		fmt.Fprintf(&b, "; interrupted after %s, before the group was whole again", human(c.End.Sub(c.Start)))
	case c.Verdict == "running":
		fmt.Fprintf(&b, "; the run's last checkpoint was %s after its start, before the group was whole again", human(c.End.Sub(c.Start)))
	default:
		fmt.Fprintf(&b, "; the group was not whole again within the watch (%s)", c.Reason)
	}
	v.Shows = b.String() + "."
	dur := func(p *float64) string {
		if p == nil {
			return "not seen"
		}
		return human(msDur(*p))
	}
	v.Facts = [][2]string{
		{"victims", victimsText(c)},
		{"time to detect (kill → out of the load balancer)", fmt.Sprintf("%s, predicted %s", dur(c.DetectMS), predicted(c.Predicted.DetectMS))},
		{"time to recover (kill → desired capacity, all healthy)", fmt.Sprintf("%s, predicted at most %s", dur(c.RecoverMS), human(msDur(c.Predicted.RecoverMS)))},
	}
	if p := c.Probe; p != nil {
		v.Facts = append(v.Facts, [2]string{"what clients saw", fmt.Sprintf("%s failed of %s requests in %d failure window(s); longest gap between successes %s; latency p50 %s, p99 %s",
			thousands(p.Failures), thousands(p.Requests), len(p.Windows), human(msDur(p.LongestGap.DurationMS)), human(msDur(p.Latency.P50)), human(msDur(p.Latency.P99)))})
	}
	v.Facts = append(v.Facts, [2]string{"guard", fmt.Sprintf("at least %d in service and two zones serving", c.MinHealthy)})
	v.Notes = append(verdictNote(c.Verdict, c.Reason), c.Predicted.Basis...)
	return v, nil
}

func predicted(ms float64) string {
	if ms == 0 {
		return "at once"
	}
	return human(msDur(ms))
}

func victimsText(c *ChaosRun) string {
	var parts []string
	for _, vc := range c.Victims {
		s := fmt.Sprintf("%s in %s", vc.ID, vc.Zone)
		switch {
		case vc.HealedBy == "replaced":
			s += ", replaced by " + vc.Replacement
		case vc.HealedBy == "rebooted":
			s += ", rebooted and back"
		default:
			s += ", not healed while watched"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

func rolloutView(id string, r *RolloutRun) (runView, error) {
	v := runView{ID: id, Kind: "rollout", Verdict: r.Verdict, Good: r.Verdict == "success", Start: r.Start}
	v.Title = fmt.Sprintf("Rollout: %s → %s", shortImage(r.From), shortImage(r.To))
	var items []eventView
	var at []time.Time
	for _, e := range r.Timeline {
		if e.Event == "phase started" || e.Event == "probe started" || e.Event == "verdict" {
			continue
		}
		text := "[" + e.Phase + "] " + e.Event
		if e.Detail != "" {
			text += " (" + e.Detail + ")"
		}
		items, at = append(items, eventView{Kind: e.Event, Text: text}), append(at, e.Time)
	}
	v.Events, _ = events(r.Start, items, at)
	_, ms := events(r.Start, slices.Clone(items), at)
	var phases []band
	for _, p := range r.Phases {
		end := p.End
		if end.IsZero() {
			end = r.End
		}
		fill := phaseFill[p.Name]
		if fill == nil {
			fill = phaseFill["baseline"]
		}
		phases = append(phases, band{x0: elapsed(p.Start, r.Start), x1: elapsed(end, r.Start), fill: fill, label: p.Name})
	}
	xmax := xmaxOf(r.Start, r.End, r.Probe)
	figs, windows, err := trafficFigures(id, r.Start, xmax, r.Probe, phases, ms, ", the phases (labelled) and the events (numbered, listed below)")
	if err != nil {
		return v, err
	}
	v.Figures, v.Windows = figs, windows
	vf, err := versionFigure(id, r.Start, xmax, r.Probe, phases, ms)
	if err != nil {
		return v, err
	}
	if vf != nil {
		v.Figures = append(v.Figures, *vf)
	}
	rf, err := revisionFigure(id, r.Start, xmax, r.Reads, ms)
	if err != nil {
		return v, err
	}
	if rf != nil {
		v.Figures = append(v.Figures, *rf)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "rolling %s to %s ", shortImage(r.From), shortImage(r.To))
	switch r.Verdict {
	case "success":
		b.WriteString("succeeded")
	case "rolled back":
		b.WriteString("was rolled back")
	case "running":
		b.WriteString("has no verdict (last checkpoint)")
	default:
		b.WriteString("ended " + r.Verdict)
	}
	fmt.Fprintf(&b, ": %s (budget %d)", clientsText(r.Probe), r.AllowedFailures)
	if p := r.Probe; p != nil && len(p.Windows) > 0 {
		fmt.Fprintf(&b, ", the first %s after the start", human(p.Windows[0].Start.Sub(r.Start)))
	}
	if rb := r.Rollback; rb != nil && rb.Done {
		fmt.Fprintf(&b, "; the rollback (by %s) took %s", rb.Owner, human(rb.End.Sub(rb.Start)))
	}
	fmt.Fprintf(&b, "; the whole run %s", human(r.End.Sub(r.Start)))
	v.Shows = b.String() + "."
	var ph []string
	for _, p := range r.Phases {
		ph = append(ph, fmt.Sprintf("%s %s (%s)", p.Name, human(p.End.Sub(p.Start)), p.Outcome))
	}
	v.Facts = [][2]string{
		{"images", r.From + " → " + r.To},
		{"phases", strings.Join(ph, ", ")},
		{"failure budget", fmt.Sprintf("%d allowed", r.AllowedFailures)},
	}
	if p := r.Probe; p != nil {
		v.Facts = append(v.Facts, [2]string{"what clients saw", fmt.Sprintf("%s failed of %s requests in %d failure window(s); latency p50 %s, p99 %s; versions read from the %s",
			thousands(p.Failures), thousands(p.Requests), len(p.Windows), human(msDur(p.Latency.P50)), human(msDur(p.Latency.P99)), r.VersionEvidence)})
	}
	if rb := r.Rollback; rb != nil {
		v.Facts = append(v.Facts, [2]string{"rollback", fmt.Sprintf("by %s: %s; %s", rb.Owner, rb.Reason, strings.Join(rb.Steps, "; "))})
	}
	v.Facts = append(v.Facts, [2]string{"verdict", strings.TrimSpace(r.Verdict + " — " + r.Reason)})
	v.Notes = verdictNote(r.Verdict, r.Reason)
	return v, nil
}

// shortImage drops the registry path: hello-app:1.0.
func shortImage(ref string) string {
	if i := strings.LastIndex(ref, "/"); i >= 0 {
		return ref[i+1:]
	}
	return ref
}

// seedMode reports whether a probe ran as the seed's downtime script: a
// request every 0.5 s, a 1 s timeout, stopping at the first failure.
func seedMode(p *ProbeRun) bool {
	return p.UntilFailure && p.IntervalMS == 500 && p.TimeoutMS == 1000
}

func probeView(id string, p *ProbeRun) (runView, error) {
	v := runView{ID: id, Kind: "probe", Verdict: p.Verdict, Good: p.Verdict == "pass", Start: p.Start}
	v.Title = "Probe of " + p.URL
	figs, windows, err := trafficFigures(id, p.Start, xmaxOf(p.Start, p.End, p), p, nil, nil, "")
	if err != nil {
		return v, err
	}
	v.Figures, v.Windows = figs, windows
	v.Shows = fmt.Sprintf("a probe of %s: %s (allowed %d).", human(p.End.Sub(p.Start)), clientsText(p), p.AllowedFailures)
	if seedMode(p) {
		v.Title = "Probe in the seed's downtime-script mode"
		if p.Failures == 0 {
			v.Seed = fmt.Sprintf("the seed's downtime script (a request every 0.5 s, stop at the first failure) would have passed: no failure in %s", human(p.End.Sub(p.Start)))
		} else {
			first := p.Windows[0].Start
			v.Seed = fmt.Sprintf("the seed's downtime script (a request every 0.5 s, stop at the first failure) would have failed: the first failure came %s after its start, at %s UTC", human(first.Sub(p.Start)), first.UTC().Format(clockFormat))
		}
	}
	v.Facts = [][2]string{
		{"requests", fmt.Sprintf("%s, %s failed, in %d failure window(s)", thousands(p.Requests), thousands(p.Failures), len(p.Windows))},
		{"stopped", p.Stopped},
		{"latency", fmt.Sprintf("p50 %s, p99 %s", human(msDur(p.Latency.P50)), human(msDur(p.Latency.P99)))},
	}
	v.Notes = verdictNote(p.Verdict, "")
	return v, nil
}
