package probe

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// Metrics aggregates results into a Summary. A Probe feeds its own; build
// one with NewMetrics to aggregate results recorded elsewhere. It is safe
// for concurrent use.
type Metrics struct {
	mu    sync.Mutex
	url   string
	cfg   config
	start time.Time
	last  time.Time // latest scheduled time seen

	requests, failures, late, skipped, retries int
	byClient                                   map[Client]*ClientSummary
	statuses                                   map[int]int
	errors                                     map[string]int

	fails     []failure
	oks       []time.Time // scheduled times of successes
	latencies []time.Duration
	headers   []headerSeen

	// Live state, from the latest scheduled result completed so far.
	stateAt   time.Time
	down      bool
	downSince time.Time
	lastErr   string
}

type failure struct {
	at     time.Time
	client Client
	reason string
}

type headerSeen struct {
	at       time.Time
	value    string
	fromBody bool
}

// NewMetrics returns an aggregator for results of probing url from start,
// using the options that shape a summary (Rate or Interval, Timeout,
// Header, AllowFailures, Clients).
func NewMetrics(url string, start time.Time, opts ...Option) (*Metrics, error) {
	cfg := config{interval: time.Second / DefaultRate, timeout: DefaultTimeout, clients: []Client{KeepAlive, NewConn}}
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	return newMetrics(url, cfg, start), nil
}

func newMetrics(url string, cfg config, start time.Time) *Metrics {
	m := &Metrics{
		url:      url,
		cfg:      cfg,
		start:    start,
		byClient: map[Client]*ClientSummary{},
		statuses: map[int]int{},
		errors:   map[string]int{},
	}
	for _, c := range cfg.clients {
		m.byClient[c] = &ClientSummary{}
	}
	return m
}

// Add records one result.
func (m *Metrics) Add(r Result) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.requests++
	cs := m.byClient[r.Client]
	if cs == nil {
		cs = &ClientSummary{}
		m.byClient[r.Client] = cs
	}
	cs.Requests++
	if r.Scheduled.After(m.last) {
		m.last = r.Scheduled
	}
	if r.Late {
		m.late++
		cs.Late++
	}
	if r.Reused {
		cs.Reused++
	}
	m.retries += r.Retries
	cs.Retries += r.Retries
	if r.Status != 0 {
		m.statuses[r.Status]++
		if m.cfg.header != "" || m.cfg.pattern != nil {
			m.headers = append(m.headers, headerSeen{r.Scheduled, r.HeaderValue, r.FromBody})
		}
	}
	if r.OK() {
		m.oks = append(m.oks, r.Scheduled)
		m.latencies = append(m.latencies, r.Latency)
	} else {
		m.failures++
		cs.Failures++
		m.errors[r.Err]++
		m.fails = append(m.fails, failure{r.Scheduled, r.Client, r.Err})
	}
	if !r.Scheduled.Before(m.stateAt) {
		m.stateAt = r.Scheduled
		switch {
		case r.OK():
			m.down = false
		case !m.down:
			m.down, m.downSince, m.lastErr = true, r.Scheduled, r.Err
		default:
			m.lastErr = r.Err
		}
	}
}

func (m *Metrics) addSkipped(n int) {
	m.mu.Lock()
	m.skipped += n
	m.mu.Unlock()
}

// Snapshot is the state of a running probe, for a live view.
type Snapshot struct {
	Requests, Failures, Retries, Late, Skipped int
	// Down is set when the latest scheduled request that completed failed;
	// DownSince is the scheduled time of the first failure of that run.
	Down      bool
	DownSince time.Time
	LastError string
}

// Snapshot returns the figures so far.
func (m *Metrics) Snapshot() Snapshot {
	m.mu.Lock()
	defer m.mu.Unlock()
	return Snapshot{
		Requests: m.requests, Failures: m.failures, Retries: m.retries,
		Late: m.late, Skipped: m.skipped,
		Down: m.down, DownSince: m.downSince, LastError: m.lastErr,
	}
}

// Summary is what a probe found.
type Summary struct {
	URL        string
	Start, End time.Time
	Interval   time.Duration // between two scheduled requests of one client
	Timeout    time.Duration
	Clients    []Client
	// Stopped says why the probe stopped: "duration", "first failure",
	// "stopped" (Stop was called) or "canceled" (its context ended).
	Stopped string

	Requests, Successes, Failures int
	// Late counts requests the probe sent more than one interval after
	// their scheduled time; Skipped counts those it did not send at all
	// because it fell more than a timeout behind.
	Late, Skipped int
	// Retries counts requests Go's transport silently sent a second time
	// on a new connection after a reused one broke.
	Retries  int
	ByClient map[Client]ClientSummary

	Windows    []Window
	LongestGap Gap
	Latency    Latency // of successful requests
	Statuses   map[int]int
	Errors     map[string]int
	Header     *HeaderMix // nil unless Header was set
	Timeline   []Event

	AllowedFailures int
	Verdict         string // "pass" or "fail"

	// UntilFailure is set when the probe stopped at its first failure, as
	// the seed's downtime script does.
	UntilFailure bool
	// Buckets are the run second by second, for charts.
	Buckets []Bucket
}

// Passed reports whether the failures stayed within the allowance.
func (s Summary) Passed() bool { return s.Verdict == "pass" }

// ClientSummary holds one client's counts.
type ClientSummary struct {
	Requests, Failures, Retries, Reused, Late int
}

// Window is a run of failures: failures closer than two intervals apart
// belong to one window. Start is the scheduled time of the first failed
// request and End the scheduled time of the last one plus one interval
// (when the next request went out), so one failed request makes a window
// one interval long.
type Window struct {
	Start, End time.Time
	Failures   int
	Clients    []Client
	Errors     map[string]int
}

// Duration is how long the window lasted.
func (w Window) Duration() time.Duration { return w.End.Sub(w.Start) }

// Gap is the longest time between two successful requests (by scheduled
// time). The run's edges count as successes one interval outside it, so a
// run without failures has a gap of one interval.
type Gap struct {
	Start, End time.Time
}

// Duration is the gap's length.
func (g Gap) Duration() time.Duration { return g.End.Sub(g.Start) }

// Latency holds percentiles of successful requests' latency.
type Latency struct {
	P50, P90, P99, Max time.Duration
}

// HeaderMix shows which values of a response header served the traffic,
// and how the mix changed over time: the evidence that a rollout really
// switched what serves.
type HeaderMix struct {
	Name string // the header; empty when only BodyPattern is set
	// Pattern is the BodyPattern read when the header is absent, and
	// FromBody how many responses' values came from it.
	Pattern  string
	FromBody int
	Values   []HeaderValue // in order of first appearance
	Mix      []MixSegment
}

// Source says where the values were read, for people.
func (h *HeaderMix) Source() string {
	switch {
	case h.Pattern == "":
		return "header " + h.Name
	case h.Name == "":
		return "body /" + h.Pattern + "/"
	}
	return "header " + h.Name + ", else body /" + h.Pattern + "/"
}

// HeaderValue is one value of the header; empty means the header was absent.
type HeaderValue struct {
	Value       string
	Count       int
	First, Last time.Time
}

// MixSegment is a stretch of time in which the same set of values
// answered; Counts says how many responses carried each.
type MixSegment struct {
	Start, End time.Time
	Counts     map[string]int
}

// Event is one line of the timeline.
type Event struct {
	Time  time.Time
	Event string
}

// Summary aggregates everything added so far, as of end.
func (m *Metrics) Summary(end time.Time) Summary { return m.summary(end, "") }

func (m *Metrics) summary(end time.Time, stopped string) Summary {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := Summary{
		URL: m.url, Start: m.start, End: end,
		Interval: m.cfg.interval, Timeout: m.cfg.timeout,
		Clients: slices.Clone(m.cfg.clients), Stopped: stopped,
		Requests: m.requests, Failures: m.failures, Successes: m.requests - m.failures,
		Late: m.late, Skipped: m.skipped, Retries: m.retries,
		ByClient: map[Client]ClientSummary{},
		Statuses: cloneMap(m.statuses), Errors: cloneMap(m.errors),
		AllowedFailures: m.cfg.allowFailures,
		Verdict:         "pass",
	}
	if s.Failures > s.AllowedFailures {
		s.Verdict = "fail"
	}
	for c, cs := range m.byClient {
		s.ByClient[c] = *cs
	}
	s.Windows = windows(m.fails, m.cfg.interval)
	if m.requests > 0 {
		s.LongestGap = longestGap(m.oks, m.start, m.last, m.cfg.interval)
	}
	s.Latency = percentiles(m.latencies)
	if m.cfg.header != "" || m.cfg.pattern != nil {
		s.Header = headerMix(m.cfg.header, m.headers, end.Sub(m.start))
		if m.cfg.pattern != nil {
			s.Header.Pattern = m.cfg.pattern.String()
		}
	}
	s.Timeline = timeline(s)
	s.UntilFailure = m.cfg.untilFailure
	s.Buckets = m.buckets(end)
	return s
}

func cloneMap[K comparable, V any](m map[K]V) map[K]V {
	out := make(map[K]V, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// windows merges failures closer than two intervals into windows.
func windows(fails []failure, interval time.Duration) []Window {
	fs := slices.Clone(fails)
	slices.SortStableFunc(fs, func(a, b failure) int { return a.at.Compare(b.at) })
	var out []Window
	var lastAt time.Time
	for _, f := range fs {
		if len(out) == 0 || f.at.Sub(lastAt) >= 2*interval {
			out = append(out, Window{Start: f.at, Errors: map[string]int{}})
		}
		w := &out[len(out)-1]
		w.End = f.at.Add(interval)
		w.Failures++
		w.Errors[f.reason]++
		if !slices.Contains(w.Clients, f.client) {
			w.Clients = append(w.Clients, f.client)
		}
		lastAt = f.at
	}
	for i := range out {
		slices.Sort(out[i].Clients)
	}
	return out
}

func longestGap(oks []time.Time, start, last time.Time, interval time.Duration) Gap {
	ts := slices.Clone(oks)
	slices.SortFunc(ts, time.Time.Compare)
	prev := start.Add(-interval)
	var g Gap
	for _, t := range append(ts, last.Add(interval)) {
		if t.Sub(prev) > g.Duration() {
			g = Gap{Start: prev, End: t}
		}
		prev = t
	}
	return g
}

func percentiles(lat []time.Duration) Latency {
	if len(lat) == 0 {
		return Latency{}
	}
	ls := slices.Clone(lat)
	slices.Sort(ls)
	at := func(p float64) time.Duration {
		i := int(math.Ceil(p*float64(len(ls)))) - 1
		return ls[max(i, 0)]
	}
	return Latency{P50: at(0.50), P90: at(0.90), P99: at(0.99), Max: ls[len(ls)-1]}
}

// headerMix groups responses into buckets of a second (longer for long
// runs, at most about 600 buckets) and merges neighbouring buckets that saw
// the same set of values; buckets without responses do not split segments.
func headerMix(name string, seen []headerSeen, span time.Duration) *HeaderMix {
	hs := slices.Clone(seen)
	slices.SortStableFunc(hs, func(a, b headerSeen) int { return a.at.Compare(b.at) })
	h := &HeaderMix{Name: name}
	idx := map[string]int{}
	for _, o := range hs {
		i, ok := idx[o.value]
		if !ok {
			i = len(h.Values)
			idx[o.value] = i
			h.Values = append(h.Values, HeaderValue{Value: o.value, First: o.at})
		}
		h.Values[i].Count++
		h.Values[i].Last = o.at
		if o.fromBody {
			h.FromBody++
		}
	}
	if len(hs) == 0 {
		return h
	}
	bucket := max(time.Second, span/600)
	origin := hs[0].at
	var cur *MixSegment
	var curBucket int64 = -1
	var bucketSeg MixSegment
	flush := func() {
		if curBucket < 0 {
			return
		}
		if cur != nil && sameKeys(cur.Counts, bucketSeg.Counts) {
			for v, n := range bucketSeg.Counts {
				cur.Counts[v] += n
			}
			cur.End = bucketSeg.End
			return
		}
		h.Mix = append(h.Mix, bucketSeg)
		cur = &h.Mix[len(h.Mix)-1]
	}
	for _, o := range hs {
		b := int64(o.at.Sub(origin) / bucket)
		if b != curBucket {
			flush()
			curBucket = b
			bucketSeg = MixSegment{Start: o.at, Counts: map[string]int{}}
		}
		bucketSeg.Counts[o.value]++
		bucketSeg.End = o.at
	}
	flush()
	return h
}

func sameKeys(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if _, ok := b[k]; !ok {
			return false
		}
	}
	return true
}

func timeline(s Summary) []Event {
	ev := []Event{{s.Start, "probe started"}}
	for _, w := range s.Windows {
		ev = append(ev,
			Event{w.Start, fmt.Sprintf("failures began (%s)", countsText(w.Errors))},
			Event{w.End, fmt.Sprintf("failures ended after %v: %d failed requests", round(w.Duration()), w.Failures)})
	}
	if s.Header != nil {
		name := s.Header.Name
		if name == "" {
			name = "body value"
		}
		for _, v := range s.Header.Values {
			ev = append(ev,
				Event{v.First, fmt.Sprintf("first response with %s %s", name, headerText(v.Value))},
				Event{v.Last, fmt.Sprintf("last response with %s %s", name, headerText(v.Value))})
		}
	}
	stopped := "probe stopped"
	if s.Stopped != "" {
		stopped += " (" + s.Stopped + ")"
	}
	ev = append(ev, Event{s.End, stopped})
	sort.SliceStable(ev, func(i, j int) bool { return ev[i].Time.Before(ev[j].Time) })
	return ev
}

func headerText(v string) string {
	if v == "" {
		return "(absent)"
	}
	return v
}

// countsText renders a count map as "a ×3, b ×1", largest first.
func countsText[K cmp.Ordered](m map[K]int) string {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b K) int {
		if c := cmp.Compare(m[b], m[a]); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%v ×%d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

// round keeps durations readable: milliseconds with at most one decimal
// above a millisecond, microseconds below.
func round(d time.Duration) time.Duration {
	if d >= time.Millisecond {
		return d.Round(100 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}
