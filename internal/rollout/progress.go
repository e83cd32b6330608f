package rollout

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"stayup/internal/fleet"
)

// progress applies the no-progress rule (see NoProgressMargin) to the
// fleet reads of one roll forward. A replacement is an instance on the
// target revision that was not in the fleet before the rollout; an
// incarnation is its ID and launch time, because GCP recreates instances
// under the same name.
type progress struct {
	since  time.Time
	bound  time.Duration
	before map[string]bool
	served bool
	// pending are the replacements seen that have not served yet.
	pending map[string]fleet.Instance
	failed  []string
}

type progressEvent struct{ kind, detail string }

func incarnation(i fleet.Instance) string {
	return i.ID + "@" + i.Launched.UTC().Format(time.RFC3339Nano)
}

func newProgress(before []fleet.Instance, since time.Time, bound time.Duration) *progress {
	p := &progress{since: since, bound: bound, before: map[string]bool{}, pending: map[string]fleet.Instance{}}
	for _, i := range before {
		p.before[incarnation(i)] = true
	}
	return p
}

// observe takes one read of the fleet and returns what changed: the first
// replacement in service, a replacement that left without serving.
func (p *progress) observe(now time.Time, target string, list []fleet.Instance) []progressEvent {
	var ev []progressEvent
	present := map[string]bool{}
	for _, i := range list {
		k := incarnation(i)
		if p.before[k] || i.Revision != target || target == "" {
			continue
		}
		present[k] = true
		switch {
		case i.InService():
			if !p.served {
				p.served = true
				ev = append(ev, progressEvent{"first replacement in service", fmt.Sprintf("%s in %s after %v", i.ID, i.Zone, now.Sub(p.since).Round(time.Second))})
			}
			delete(p.pending, k)
		case i.State == fleet.Stopping || i.State == fleet.Stopped:
			if _, ok := p.pending[k]; ok {
				ev = append(ev, p.fail(k, i))
			}
		default:
			p.pending[k] = i
		}
	}
	var gone []string
	for k := range p.pending {
		if !present[k] {
			gone = append(gone, k)
		}
	}
	slices.Sort(gone)
	for _, k := range gone {
		ev = append(ev, p.fail(k, p.pending[k]))
	}
	return ev
}

func (p *progress) fail(k string, i fleet.Instance) progressEvent {
	delete(p.pending, k)
	p.failed = append(p.failed, i.ID)
	return progressEvent{"replacement left without serving", fmt.Sprintf("%s in %s (last %s/%s)", i.ID, i.Zone, i.State, i.Health)}
}

// verdict is why the roll forward counts as failed, or "".
func (p *progress) verdict(now time.Time) string {
	if len(p.failed) >= MaxFailedReplacements {
		return fmt.Sprintf("no progress: %d replacements on the new revision left the group without ever serving (%s): the group replaces them as unhealthy, so the new image does not pass the health check", len(p.failed), strings.Join(p.failed, ", "))
	}
	if !p.served && now.Sub(p.since) > p.bound {
		return fmt.Sprintf("no progress: no replacement on the new revision was in service within %v of the update starting (the group's grace + warm-up + %v)", p.bound, NoProgressMargin)
	}
	return ""
}
