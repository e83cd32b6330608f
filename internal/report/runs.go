package report

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"time"

	"stayup/internal/runs"
)

// The report reads the kept runs through the JSON shape docs/chaos.md,
// docs/rollout.md and docs/probe.md document, not through the commands'
// Go types: a run kept by an older stayup still renders, and what the
// page shows is what the file says.

// Run is one kept run.
type Run struct {
	Path    string
	Kind    string
	Chaos   *ChaosRun
	Rollout *RolloutRun
	Probe   *ProbeRun // a probe --stack run
}

// Start is when the run began.
func (r Run) Start() time.Time {
	switch {
	case r.Chaos != nil:
		return r.Chaos.Start
	case r.Rollout != nil:
		return r.Rollout.Start
	case r.Probe != nil:
		return r.Probe.Start
	}
	return time.Time{}
}

// Name is the run's file name without its extension: its id on the page.
func (r Run) Name() string {
	b := filepath.Base(r.Path)
	return b[:len(b)-len(filepath.Ext(b))]
}

// ProbeRun is a probe's summary.
type ProbeRun struct {
	URL        string    `json:"url"`
	Start      time.Time `json:"start"`
	End        time.Time `json:"end"`
	DurationMS float64   `json:"duration_ms"`
	IntervalMS float64   `json:"interval_ms"`
	TimeoutMS  float64   `json:"timeout_ms"`
	Stopped    string    `json:"stopped"`
	Requests   int       `json:"requests"`
	Successes  int       `json:"successes"`
	Failures   int       `json:"failures"`
	Windows    []Window  `json:"windows"`
	LongestGap struct {
		DurationMS float64 `json:"duration_ms"`
	} `json:"longest_gap"`
	Latency struct {
		P50 float64 `json:"p50"`
		P99 float64 `json:"p99"`
	} `json:"latency_ms"`
	Header *struct {
		Name string `json:"name"`
	} `json:"header"`
	AllowedFailures int      `json:"allowed_failures"`
	Verdict         string   `json:"verdict"`
	UntilFailure    bool     `json:"until_failure"`
	Buckets         []Bucket `json:"buckets"`
}

// Window is a run of failed requests.
type Window struct {
	Start      time.Time `json:"start"`
	End        time.Time `json:"end"`
	DurationMS float64   `json:"duration_ms"`
	Failures   int       `json:"failures"`
}

// Bucket is one second of the probe.
type Bucket struct {
	T        int            `json:"t_s"`
	Start    time.Time      `json:"start"`
	OK       int            `json:"ok"`
	Failed   int            `json:"failed"`
	P50      float64        `json:"p50_ms"`
	P99      float64        `json:"p99_ms"`
	Versions map[string]int `json:"versions"`
}

// Read is the fleet as one poll saw it.
type Read struct {
	Time               time.Time      `json:"time"`
	Desired            int            `json:"desired"`
	InService          map[string]int `json:"in_service"`
	Revisions          map[string]int `json:"revisions"`
	InServiceRevisions map[string]int `json:"in_service_revisions"`
	Error              string         `json:"error"`
}

// Capacity is the group's size.
type Capacity struct {
	Desired int `json:"desired"`
	Min     int `json:"min"`
	Max     int `json:"max"`
}

// ChaosRun is a chaos experiment's report.
type ChaosRun struct {
	Stack      string    `json:"stack"`
	Cloud      string    `json:"cloud"`
	Group      string    `json:"group"`
	URL        string    `json:"url"`
	Mode       string    `json:"mode"`
	Capacity   Capacity  `json:"capacity"`
	Instances  []any     `json:"instances_before"`
	MinHealthy int       `json:"min_healthy"`
	TimeoutMS  float64   `json:"timeout_ms"`
	Start      time.Time `json:"start"`
	End        time.Time `json:"end"`
	Victims    []struct {
		ID          string     `json:"id"`
		Zone        string     `json:"zone"`
		Killed      time.Time  `json:"killed"`
		Detected    *time.Time `json:"seen_unhealthy"`
		Replacement string     `json:"replacement"`
		Launched    *time.Time `json:"replacement_launched"`
		Healthy     *time.Time `json:"replacement_healthy"`
		Rejoined    *time.Time `json:"rejoined"`
		HealedBy    string     `json:"healed_by"`
	} `json:"victims"`
	Timeline []struct {
		Time     time.Time `json:"time"`
		Event    string    `json:"event"`
		Instance string    `json:"instance"`
		Detail   string    `json:"detail"`
	} `json:"timeline"`
	DetectMS      *float64 `json:"time_to_detect_ms"`
	RecoverMS     *float64 `json:"time_to_recover_ms"`
	ClientsFailMS *float64 `json:"clients_failed_for_ms"`
	Predicted     struct {
		DetectMS  float64  `json:"detect_ms"`
		RecoverMS float64  `json:"recover_ms"`
		Basis     []string `json:"basis"`
	} `json:"predicted"`
	Probe   *ProbeRun `json:"probe"`
	Verdict string    `json:"verdict"`
	Reason  string    `json:"reason"`
	Reads   []Read    `json:"fleet_reads"`
}

// RolloutRun is a rollout's report.
type RolloutRun struct {
	Stack    string    `json:"stack"`
	Cloud    string    `json:"cloud"`
	Group    string    `json:"group"`
	URL      string    `json:"url"`
	From     string    `json:"from_image"`
	To       string    `json:"to_image"`
	Capacity Capacity  `json:"capacity"`
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	Phases   []struct {
		Name     string         `json:"name"`
		Start    time.Time      `json:"start"`
		End      time.Time      `json:"end"`
		Outcome  string         `json:"outcome"`
		Versions map[string]int `json:"versions"`
	} `json:"phases"`
	Timeline []struct {
		Time   time.Time `json:"time"`
		Phase  string    `json:"phase"`
		Event  string    `json:"event"`
		Detail string    `json:"detail"`
	} `json:"timeline"`
	Rollback *struct {
		Owner  string    `json:"owner"`
		Reason string    `json:"reason"`
		Start  time.Time `json:"start"`
		End    time.Time `json:"end"`
		Steps  []string  `json:"steps"`
		Done   bool      `json:"done"`
		Error  string    `json:"error"`
	} `json:"rollback"`
	AllowedFailures int       `json:"allowed_failures"`
	Probe           *ProbeRun `json:"probe"`
	VersionEvidence string    `json:"version_evidence"`
	Verdict         string    `json:"verdict"`
	Reason          string    `json:"reason"`
	Reads           []Read    `json:"fleet_reads"`
}

// Load reads the runs kept in dir, oldest first.
func Load(dir string) ([]Run, error) {
	saved, err := runs.List(dir)
	if err != nil {
		return nil, err
	}
	var out []Run
	for _, s := range saved {
		r := Run{Path: s.Path, Kind: s.Kind}
		var err error
		switch s.Kind {
		case runs.Chaos:
			r.Chaos = &ChaosRun{}
			err = json.Unmarshal(s.Data, r.Chaos)
		case runs.Rollout:
			r.Rollout = &RolloutRun{}
			err = json.Unmarshal(s.Data, r.Rollout)
		case runs.Probe:
			r.Probe = &ProbeRun{}
			err = json.Unmarshal(s.Data, r.Probe)
		}
		if err != nil {
			return nil, fmt.Errorf("read run %s: %w", s.Path, err)
		}
		out = append(out, r)
	}
	return out, nil
}
