package probe

import (
	"encoding/json"
	"testing"
	"time"
)

// Buckets hold each second's requests, latency and versions, by scheduled
// time from the run's start: what a chart of the run draws.
func TestBuckets(t *testing.T) {
	t.Parallel()
	m, err := NewMetrics("http://127.0.0.1/", t0, Interval(250*time.Millisecond), Header("X-Version"))
	if err != nil {
		t.Fatal(err)
	}
	// Three seconds at 4 requests/s: second 0 all v1 and fast, second 1
	// two failures, second 2 v2 and slower.
	for i := range 12 {
		r := Result{Client: KeepAlive, Scheduled: at(250 * i), Latency: time.Duration(i+1) * time.Millisecond, Status: 200, HeaderValue: "v1"}
		switch {
		case i == 5 || i == 6:
			r.Status, r.Err, r.HeaderValue = 502, "status 502", ""
		case i >= 8:
			r.HeaderValue = "v2"
		}
		m.Add(r)
	}
	s := m.Summary(at(2900))
	if len(s.Buckets) != 3 {
		t.Fatalf("%d buckets, want 3: %+v", len(s.Buckets), s.Buckets)
	}
	want := []struct {
		ok, failed int
		p50, p99   time.Duration
		versions   map[string]int
	}{
		{4, 0, 2 * time.Millisecond, 4 * time.Millisecond, map[string]int{"v1": 4}},
		{2, 2, 5 * time.Millisecond, 8 * time.Millisecond, map[string]int{"v1": 2, "": 2}},
		{4, 0, 10 * time.Millisecond, 12 * time.Millisecond, map[string]int{"v2": 4}},
	}
	for i, w := range want {
		b := s.Buckets[i]
		if b.Index != i || !b.Start.Equal(t0.Add(time.Duration(i)*time.Second)) {
			t.Errorf("bucket %d starts %v (index %d)", i, b.Start, b.Index)
		}
		if b.OK != w.ok || b.Failed != w.failed || b.P50 != w.p50 || b.P99 != w.p99 {
			t.Errorf("bucket %d = ok %d failed %d p50 %v p99 %v, want %d %d %v %v", i, b.OK, b.Failed, b.P50, b.P99, w.ok, w.failed, w.p50, w.p99)
		}
		if len(b.Versions) != len(w.versions) {
			t.Errorf("bucket %d versions %v, want %v", i, b.Versions, w.versions)
		}
		for v, n := range w.versions {
			if b.Versions[v] != n {
				t.Errorf("bucket %d versions %v, want %v", i, b.Versions, w.versions)
			}
		}
	}
	raw, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		UntilFailure bool `json:"until_failure"`
		Buckets      []struct {
			T        int            `json:"t_s"`
			OK       int            `json:"ok"`
			Failed   int            `json:"failed"`
			P99      float64        `json:"p99_ms"`
			Versions map[string]int `json:"versions"`
		} `json:"buckets"`
	}
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Buckets) != 3 || got.Buckets[1].T != 1 || got.Buckets[1].Failed != 2 || got.Buckets[2].P99 != 12 || got.Buckets[2].Versions["v2"] != 4 {
		t.Errorf("JSON buckets %+v", got.Buckets)
	}
}

// A probe without a recorded header has buckets without versions; a run
// shorter than a bucket still has one.
func TestBucketsNoHeader(t *testing.T) {
	t.Parallel()
	m, err := NewMetrics("http://127.0.0.1/", t0, Interval(100*time.Millisecond), UntilFailure())
	if err != nil {
		t.Fatal(err)
	}
	m.Add(Result{Client: NewConn, Scheduled: at(0), Latency: time.Millisecond, Status: 200})
	s := m.Summary(at(300))
	if len(s.Buckets) != 1 || s.Buckets[0].OK != 1 || s.Buckets[0].Versions != nil {
		t.Errorf("buckets %+v", s.Buckets)
	}
	if !s.UntilFailure {
		t.Error("UntilFailure not carried into the summary")
	}
	if got := m.Summary(t0).Buckets; len(got) != 0 {
		t.Errorf("an empty run has buckets %+v", got)
	}
}
