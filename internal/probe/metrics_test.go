package probe

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

func TestWindows(t *testing.T) {
	t.Parallel()
	const iv = 10 * time.Millisecond
	type want struct{ start, end, failures int }
	tests := []struct {
		name  string
		fails []failure
		want  []want
	}{
		{"none", nil, nil},
		{"one failure is one interval long", []failure{{at: at(50)}}, []want{{50, 60, 1}}},
		{"consecutive merge", []failure{{at: at(0)}, {at: at(10)}, {at: at(20)}}, []want{{0, 30, 3}}},
		{"out of order input", []failure{{at: at(20)}, {at: at(0)}, {at: at(10)}}, []want{{0, 30, 3}}},
		{"closer than two intervals merge", []failure{{at: at(0)}, {at: at(19)}}, []want{{0, 29, 2}}},
		{"two intervals apart split", []failure{{at: at(0)}, {at: at(20)}}, []want{{0, 10, 1}, {20, 30, 1}}},
		{"both clients on one tick", []failure{{at: at(0), client: NewConn}, {at: at(0), client: KeepAlive}}, []want{{0, 10, 2}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := windows(tt.fails, iv)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d windows %+v, want %d", len(got), got, len(tt.want))
			}
			for i, w := range tt.want {
				if got[i].Start != at(w.start) || got[i].End != at(w.end) || got[i].Failures != w.failures {
					t.Errorf("window %d = %s → %s (%d), want %s → %s (%d)", i,
						clock(got[i].Start), clock(got[i].End), got[i].Failures, clock(at(w.start)), clock(at(w.end)), w.failures)
				}
			}
		})
	}
}

func TestLongestGap(t *testing.T) {
	t.Parallel()
	const iv = 10 * time.Millisecond
	tests := []struct {
		name       string
		oks        []int
		last       int
		start, end int
	}{
		{"no failures: one interval", []int{0, 10, 20}, 20, -10, 0},
		{"outage in the middle", []int{0, 10, 60, 70}, 70, 10, 60},
		{"failing at the start", []int{50, 60}, 60, -10, 50},
		{"failing at the end", []int{0, 10}, 50, 10, 60},
		{"no success at all", nil, 30, -10, 40},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var oks []time.Time
			for _, ms := range tt.oks {
				oks = append(oks, at(ms))
			}
			g := longestGap(oks, t0, at(tt.last), iv)
			if g.Start != at(tt.start) || g.End != at(tt.end) {
				t.Errorf("gap %s → %s, want %s → %s", clock(g.Start), clock(g.End), clock(at(tt.start)), clock(at(tt.end)))
			}
		})
	}
}

func TestPercentiles(t *testing.T) {
	t.Parallel()
	var lat []time.Duration
	for i := 100; i >= 1; i-- { // unsorted on purpose
		lat = append(lat, time.Duration(i)*time.Millisecond)
	}
	got := percentiles(lat)
	want := Latency{50 * time.Millisecond, 90 * time.Millisecond, 99 * time.Millisecond, 100 * time.Millisecond}
	if got != want {
		t.Errorf("percentiles = %+v, want %+v", got, want)
	}
	if got := percentiles(nil); got != (Latency{}) {
		t.Errorf("percentiles(nil) = %+v", got)
	}
}

// A rollout seen through the header: v1 only, then both, then v2 only.
func TestHeaderMixSegments(t *testing.T) {
	t.Parallel()
	var seen []headerSeen
	for ms := 0; ms < 6000; ms += 100 {
		switch {
		case ms < 2000:
			seen = append(seen, headerSeen{at: at(ms), value: "v1"})
		case ms < 4000:
			seen = append(seen, headerSeen{at: at(ms), value: "v1"}, headerSeen{at: at(ms), value: "v2"})
		default:
			seen = append(seen, headerSeen{at: at(ms), value: "v2"})
		}
	}
	h := headerMix("X-Version", seen, 6*time.Second)
	if len(h.Mix) != 3 {
		t.Fatalf("mix has %d segments %+v, want 3", len(h.Mix), h.Mix)
	}
	want := []map[string]int{{"v1": 20}, {"v1": 20, "v2": 20}, {"v2": 20}}
	for i, w := range want {
		if len(h.Mix[i].Counts) != len(w) {
			t.Errorf("segment %d counts %v, want %v", i, h.Mix[i].Counts, w)
		}
		for v, n := range w {
			if h.Mix[i].Counts[v] != n {
				t.Errorf("segment %d counts %v, want %v", i, h.Mix[i].Counts, w)
			}
		}
	}
	if h.Values[0].Value != "v1" || h.Values[0].Last != at(3900) || h.Values[1].First != at(2000) {
		t.Errorf("values %+v", h.Values)
	}
}

// The JSON report has the fields docs/probe.md documents, in their units.
func TestSummaryJSON(t *testing.T) {
	t.Parallel()
	m, err := NewMetrics("http://127.0.0.1/", t0, Interval(10*time.Millisecond), Header("X-Version"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		r := Result{Client: KeepAlive, Scheduled: at(10 * i), Latency: 2 * time.Millisecond, Status: 200, HeaderValue: "v1"}
		if i == 4 || i == 5 {
			r.Status, r.Err = 503, "status 503"
		}
		m.Add(r)
	}
	s := m.Summary(at(100))
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	checks := map[string]any{
		"requests": 10.0, "failures": 2.0, "interval_ms": 10.0, "duration_ms": 100.0,
		"verdict": "fail", "allowed_failures": 0.0, "start": "2026-01-02T03:04:05Z",
	}
	for k, v := range checks {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	w := got["windows"].([]any)[0].(map[string]any)
	if w["start"] != "2026-01-02T03:04:05.04Z" || w["duration_ms"] != 20.0 {
		t.Errorf("window %v, want start .04 and 20ms", w)
	}
	if gap := got["longest_gap"].(map[string]any); gap["duration_ms"] != 30.0 {
		t.Errorf("longest gap %v, want 30ms", gap)
	}
	if st := got["statuses"].(map[string]any); st["503"] != 2.0 || st["200"] != 8.0 {
		t.Errorf("statuses %v", st)
	}
	if lat := got["latency_ms"].(map[string]any); lat["p50"] != 2.0 {
		t.Errorf("latency %v", lat)
	}
	if _, ok := got["header"].(map[string]any)["mix"]; !ok {
		t.Errorf("header has no mix: %v", got["header"])
	}
	if tl := got["timeline"].([]any); len(tl) < 4 {
		t.Errorf("timeline %v: want start, failures began/ended, header, stop", tl)
	}

	var out strings.Builder
	s.Print(&out)
	for _, want := range []string{"failures 2", "03:04:05.040 → 03:04:05.060", "status 503 ×2", "verdict: FAIL"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("human summary lacks %q:\n%s", want, out.String())
		}
	}
}
