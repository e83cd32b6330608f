package probe

import (
	"maps"

	"time"
)

// BucketWidth is the width of a Summary's buckets: a second is what a
// chart of a heal or a rollout resolves, and a ten-minute run stays at
// 600 buckets.
const BucketWidth = time.Second

// Bucket is one second of the run, by scheduled time from its start: the
// time series a chart draws (requests per second, latency, versions).
type Bucket struct {
	// Start is the bucket's start; the run's start plus Index seconds.
	Start time.Time
	Index int
	// OK and Failed count the requests scheduled in the bucket.
	OK, Failed int
	// P50 and P99 are the latency quantiles of the bucket's successes;
	// zero when it had none.
	P50, P99 time.Duration
	// Versions counts the responses per recorded header (or body) value;
	// nil unless the probe recorded one (Header, BodyPattern).
	Versions map[string]int
}

// buckets cuts the run from start to end into BucketWidth buckets. Results
// scheduled outside the run (a late one at the edge) count in the nearest.
func (m *Metrics) buckets(end time.Time) []Bucket {
	span := end.Sub(m.start)
	n := int((span + BucketWidth - 1) / BucketWidth)
	if n <= 0 {
		return nil
	}
	idx := func(t time.Time) int {
		return min(max(int(t.Sub(m.start)/BucketWidth), 0), n-1)
	}
	out := make([]Bucket, n)
	lat := make([][]time.Duration, n)
	for i := range out {
		out[i] = Bucket{Start: m.start.Add(time.Duration(i) * BucketWidth), Index: i}
	}
	// oks and latencies are appended together, one pair per success.
	for i, t := range m.oks {
		b := idx(t)
		out[b].OK++
		lat[b] = append(lat[b], m.latencies[i])
	}
	for _, f := range m.fails {
		out[idx(f.at)].Failed++
	}
	if m.cfg.header != "" || m.cfg.pattern != nil {
		for i := range out {
			out[i].Versions = map[string]int{}
		}
		for _, h := range m.headers {
			out[idx(h.at)].Versions[h.value]++
		}
	}
	for i := range out {
		l := percentiles(lat[i])
		out[i].P50, out[i].P99 = l.P50, l.P99
	}
	return out
}

type jsonBucket struct {
	T        int            `json:"t_s"`
	Start    time.Time      `json:"start"`
	OK       int            `json:"ok"`
	Failed   int            `json:"failed"`
	P50      float64        `json:"p50_ms"`
	P99      float64        `json:"p99_ms"`
	Versions map[string]int `json:"versions,omitempty"`
}

func jsonBuckets(bs []Bucket) []jsonBucket {
	out := make([]jsonBucket, 0, len(bs))
	for _, b := range bs {
		out = append(out, jsonBucket{b.Index, b.Start, b.OK, b.Failed, ms(b.P50), ms(b.P99), maps.Clone(b.Versions)})
	}
	return out
}

// Summary returns the figures so far without stopping the probe: what a
// run saves at its checkpoints, so that a run killed later still leaves
// its time series up to then.
func (p *Probe) Summary() Summary {
	select {
	case <-p.done:
		return p.summary
	default:
	}
	return p.metrics.summary(time.Now(), "")
}
