package probe

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The JSON shape is the project's report convention (DESIGN.md, Reports):
// RFC 3339 timestamps, durations as milliseconds in fields named *_ms.
// docs/probe.md documents every field.
type (
	jsonSummary struct {
		URL             string                `json:"url"`
		Start           time.Time             `json:"start"`
		End             time.Time             `json:"end"`
		DurationMS      float64               `json:"duration_ms"`
		IntervalMS      float64               `json:"interval_ms"`
		Rate            float64               `json:"rate"`
		TimeoutMS       float64               `json:"timeout_ms"`
		Clients         []Client              `json:"clients"`
		Stopped         string                `json:"stopped"`
		Requests        int                   `json:"requests"`
		Successes       int                   `json:"successes"`
		Failures        int                   `json:"failures"`
		Late            int                   `json:"late"`
		Skipped         int                   `json:"skipped"`
		Retries         int                   `json:"retries"`
		ByClient        map[Client]jsonClient `json:"by_client"`
		Windows         []jsonWindow          `json:"windows"`
		LongestGap      jsonGap               `json:"longest_gap"`
		Latency         jsonLatency           `json:"latency_ms"`
		Statuses        map[string]int        `json:"statuses"`
		Errors          map[string]int        `json:"errors"`
		Header          *jsonHeader           `json:"header,omitempty"`
		Timeline        []jsonEvent           `json:"timeline"`
		AllowedFailures int                   `json:"allowed_failures"`
		Verdict         string                `json:"verdict"`
		UntilFailure    bool                  `json:"until_failure"`
		Buckets         []jsonBucket          `json:"buckets"`
	}
	jsonClient struct {
		Requests int `json:"requests"`
		Failures int `json:"failures"`
		Retries  int `json:"retries"`
		Reused   int `json:"reused"`
		Late     int `json:"late"`
	}
	jsonWindow struct {
		Start      time.Time      `json:"start"`
		End        time.Time      `json:"end"`
		DurationMS float64        `json:"duration_ms"`
		Failures   int            `json:"failures"`
		Clients    []Client       `json:"clients"`
		Errors     map[string]int `json:"errors"`
	}
	jsonGap struct {
		Start      *time.Time `json:"start,omitempty"`
		End        *time.Time `json:"end,omitempty"`
		DurationMS float64    `json:"duration_ms"`
	}
	jsonLatency struct {
		P50 float64 `json:"p50"`
		P90 float64 `json:"p90"`
		P99 float64 `json:"p99"`
		Max float64 `json:"max"`
	}
	jsonHeader struct {
		Name     string          `json:"name"`
		Pattern  string          `json:"body_pattern,omitempty"`
		FromBody int             `json:"from_body"`
		Values   []jsonHeaderVal `json:"values"`
		Mix      []jsonMix       `json:"mix"`
	}
	jsonHeaderVal struct {
		Value string    `json:"value"`
		Count int       `json:"count"`
		First time.Time `json:"first"`
		Last  time.Time `json:"last"`
	}
	jsonMix struct {
		Start  time.Time      `json:"start"`
		End    time.Time      `json:"end"`
		Counts map[string]int `json:"counts"`
	}
	jsonEvent struct {
		Time  time.Time `json:"time"`
		Event string    `json:"event"`
	}
)

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// MarshalJSON renders the summary as the probe's JSON report.
func (s Summary) MarshalJSON() ([]byte, error) {
	j := jsonSummary{
		URL: s.URL, Start: s.Start, End: s.End, DurationMS: ms(s.End.Sub(s.Start)),
		IntervalMS: ms(s.Interval), TimeoutMS: ms(s.Timeout), Clients: s.Clients, Stopped: s.Stopped,
		Requests: s.Requests, Successes: s.Successes, Failures: s.Failures,
		Late: s.Late, Skipped: s.Skipped, Retries: s.Retries,
		ByClient: map[Client]jsonClient{},
		Windows:  []jsonWindow{},
		Latency:  jsonLatency{ms(s.Latency.P50), ms(s.Latency.P90), ms(s.Latency.P99), ms(s.Latency.Max)},
		Statuses: map[string]int{}, Errors: s.Errors,
		Timeline:        []jsonEvent{},
		AllowedFailures: s.AllowedFailures, Verdict: s.Verdict,
		UntilFailure: s.UntilFailure, Buckets: jsonBuckets(s.Buckets),
	}
	if s.Interval > 0 {
		j.Rate = float64(time.Second) / float64(s.Interval)
	}
	if j.Errors == nil {
		j.Errors = map[string]int{}
	}
	for c, cs := range s.ByClient {
		j.ByClient[c] = jsonClient(cs)
	}
	for _, w := range s.Windows {
		j.Windows = append(j.Windows, jsonWindow{w.Start, w.End, ms(w.Duration()), w.Failures, w.Clients, w.Errors})
	}
	j.LongestGap.DurationMS = ms(s.LongestGap.Duration())
	if !s.LongestGap.Start.IsZero() {
		j.LongestGap.Start, j.LongestGap.End = &s.LongestGap.Start, &s.LongestGap.End
	}
	for code, n := range s.Statuses {
		j.Statuses[strconv.Itoa(code)] = n
	}
	if h := s.Header; h != nil {
		jh := &jsonHeader{Name: h.Name, Pattern: h.Pattern, FromBody: h.FromBody, Values: []jsonHeaderVal{}, Mix: []jsonMix{}}
		for _, v := range h.Values {
			jh.Values = append(jh.Values, jsonHeaderVal(v))
		}
		for _, m := range h.Mix {
			jh.Mix = append(jh.Mix, jsonMix(m))
		}
		j.Header = jh
	}
	for _, e := range s.Timeline {
		j.Timeline = append(j.Timeline, jsonEvent(e))
	}
	return json.Marshal(j)
}

// clock prints a time of day with milliseconds: a probe's events are
// seconds apart at most, and the date is in the header line.
func clock(t time.Time) string { return t.Format("15:04:05.000") }

// Print writes the summary for people.
func (s Summary) Print(w io.Writer) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	rate := 0.0
	if s.Interval > 0 {
		rate = float64(time.Second) / float64(s.Interval)
	}
	p("probe %s\n", s.URL)
	p("  %s → %s (%v), %g requests/s per client, timeout %v, clients: %s\n",
		s.Start.Format(time.RFC3339), clock(s.End), round(s.End.Sub(s.Start)), rate, s.Timeout, clientsText(s.Clients))
	if s.Stopped != "" {
		p("  stopped: %s\n", s.Stopped)
	}
	p("requests   %d, failures %d, retries seen %d", s.Requests, s.Failures, s.Retries)
	if s.Late > 0 || s.Skipped > 0 {
		p(", sent late by the probe %d, not sent %d", s.Late, s.Skipped)
	}
	p("\n")
	for _, c := range s.Clients {
		cs := s.ByClient[c]
		p("  %-10s %d requests, %d failures, %d retries, %d on reused connections\n", c, cs.Requests, cs.Failures, cs.Retries, cs.Reused)
	}
	if len(s.Windows) == 0 {
		p("failure windows: none\n")
	} else {
		p("failure windows (failures closer than %v merged):\n", round(2*s.Interval))
		for _, win := range s.Windows {
			p("  %s → %s  %8v  %d failed (%s) %s\n", clock(win.Start), clock(win.End), round(win.Duration()),
				win.Failures, clientsText(win.Clients), countsText(win.Errors))
		}
	}
	if s.Requests > 0 {
		p("longest gap between successes: %v (%s → %s)\n", round(s.LongestGap.Duration()), clock(s.LongestGap.Start), clock(s.LongestGap.End))
	}
	l := s.Latency
	p("latency of successes: p50 %v, p90 %v, p99 %v, max %v\n", round(l.P50), round(l.P90), round(l.P99), round(l.Max))
	if len(s.Statuses) > 0 {
		p("statuses: %s\n", countsText(s.Statuses))
	}
	if len(s.Errors) > 0 {
		p("errors: %s\n", countsText(s.Errors))
	}
	if h := s.Header; h != nil {
		p("%s:\n", h.Source())
		if h.Pattern != "" {
			p("  %d responses' values read from the body\n", h.FromBody)
		}
		if len(h.Mix) == 0 {
			p("  no responses\n")
		}
		for _, m := range h.Mix {
			named := map[string]int{}
			for v, n := range m.Counts {
				named[headerText(v)] = n
			}
			p("  %s → %s  %s\n", clock(m.Start), clock(m.End), countsText(named))
		}
	}
	if s.Late > 0 || s.Skipped > 0 {
		p("note: the probe itself fell behind its schedule; timings near those requests are less exact\n")
	}
	if s.Passed() {
		p("verdict: pass (%d failures, %d allowed)\n", s.Failures, s.AllowedFailures)
	} else {
		p("verdict: FAIL (%d failures, %d allowed)\n", s.Failures, s.AllowedFailures)
	}
}

func clientsText(cs []Client) string {
	names := make([]string, len(cs))
	for i, c := range cs {
		names[i] = string(c)
	}
	slices.Sort(names)
	return strings.Join(names, "+")
}
