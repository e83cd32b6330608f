package report

import (
	"fmt"
	"time"
)

// StackFrom reads the page's stack table from a stack's outputs (a
// deployed stack's, or a plan's under mocks). A plan's url is the mocks'
// stand-in, so it is left out: the page says the stack is not deployed.
func StackFrom(name string, out map[string]any, deployed bool) Stack {
	s := Stack{Name: name, Source: "the plan (offline: the stack is not deployed, or its state was not read)"}
	str := func(k string) string { v, _ := out[k].(string); return v }
	s.Cloud, s.Region, s.Image = str("cloud"), str("region"), str("image")
	if deployed {
		s.URL, s.Source = str("url"), "the deployed stack's outputs"
	}
	switch zs := out["zones"].(type) {
	case []any:
		for _, z := range zs {
			s.Zones = append(s.Zones, fmt.Sprint(z))
		}
	case []string:
		s.Zones = zs
	}
	return s
}

// LastRun is when the latest run ended, or zero: an example page made
// from recorded runs says it was made then, so it stays the same.
func LastRun(rs []Run) time.Time {
	var t time.Time
	for _, r := range rs {
		var end time.Time
		switch {
		case r.Chaos != nil:
			end = r.Chaos.End
		case r.Rollout != nil:
			end = r.Rollout.End
		case r.Probe != nil:
			end = r.Probe.End
		}
		if end.After(t) {
			t = end
		}
	}
	return t
}
