package chaos

import (
	"fmt"
	"time"

	"stayup/internal/fleet"
)

// same reports whether i is the incarnation of id launched at launched.
// GCP recreates an instance under the same name, so the name alone does not
// tell a victim from its replacement: a launch time more than a second
// apart does. A launch time the cloud did not give matches any.
func same(i fleet.Instance, id string, launched time.Time) bool {
	if i.ID != id {
		return false
	}
	if i.Launched.IsZero() || launched.IsZero() {
		return true
	}
	d := i.Launched.Sub(launched)
	return d <= time.Second && d >= -time.Second
}

func find(list []fleet.Instance, id string, launched time.Time) (fleet.Instance, bool) {
	for _, i := range list {
		if same(i, id, launched) {
			return i, true
		}
	}
	return fleet.Instance{}, false
}

// victim is what the watch learned about one killed instance.
type victim struct {
	inst        fleet.Instance
	killed      time.Time
	detected    *time.Time
	detectedAs  string
	replacement *fleet.Instance
	launched    *time.Time
	healthy     *time.Time
	// rejoined is when the victim itself, the same incarnation, was back
	// in service after being seen out: a VM hard-reset on GCP reboots
	// under its name and creation time, and the load balancer takes it
	// back without the group replacing it.
	rejoined *time.Time
	// rejoinSeen: it stayed in service for the watch's hold since.
	rejoinSeen bool
}

// healed reports whether the victim's place is filled again, and how.
func (v *victim) healed() (string, bool) {
	switch {
	case v.healthy != nil:
		return HealedReplaced, true
	case v.rejoined != nil && v.rejoinSeen:
		return HealedRebooted, true
	}
	return "", false
}

// How a victim healed.
const (
	HealedReplaced = "replaced"
	HealedRebooted = "rebooted"
)

// watch follows the fleet from the kill to its recovery, one read at a time.
type watch struct {
	known     []fleet.Instance // before the first kill
	victims   []*victim
	firstKill time.Time
	recovered *time.Time
	// hold is how long a victim back in service as itself must stay so
	// before it counts as healed: the group's own liveness check
	// (autohealing, HealInterval x HealThreshold) runs apart from the load
	// balancer's and may have condemned the VM while it booted, and the
	// group's recreate shows a little after the load balancer takes the VM
	// back. A reset VM that stays in service for that long was not
	// condemned.
	hold time.Duration
}

func newWatch(p Plan) *watch {
	return &watch{known: p.Instances, hold: p.Settings.HealInterval * time.Duration(p.Settings.HealThreshold)}
}

func (w *watch) killed(i fleet.Instance, at time.Time) {
	if len(w.victims) == 0 {
		w.firstKill = at
	}
	w.victims = append(w.victims, &victim{inst: i, killed: at})
}

// observe takes one read of the fleet and returns the events it shows.
func (w *watch) observe(now time.Time, c fleet.Capacity, list []fleet.Instance) []Event {
	var evs []Event
	// The load balancer stops sending the victim traffic: it is gone from
	// the group, or its health is anything but healthy.
	for _, v := range w.victims {
		if v.detected != nil {
			continue
		}
		i, ok := find(list, v.inst.ID, v.inst.Launched)
		switch {
		case !ok:
			v.detectedAs = "gone"
		case i.Health != fleet.Healthy:
			v.detectedAs = string(i.Health)
		default:
			continue
		}
		t := now
		v.detected = &t
		evs = append(evs, Event{Time: now, Kind: EvUnhealthy, Instance: v.inst.ID, Detail: v.detectedAs})
	}
	// A replacement that vanished (failed to boot, recreated again) frees
	// its victim for the next one.
	for _, v := range w.victims {
		if v.replacement != nil && v.healthy == nil {
			if _, ok := find(list, v.replacement.ID, v.replacement.Launched); !ok {
				v.replacement, v.launched = nil, nil
			}
		}
	}
	// New incarnations are replacements, given to the victims in kill
	// order; one with a victim's name (GCP recreates in place) goes to it.
	var assigned []fleet.Instance
	for _, v := range w.victims {
		if v.replacement != nil {
			assigned = append(assigned, *v.replacement)
		}
	}
	for _, i := range list {
		if _, ok := find(w.known, i.ID, i.Launched); ok {
			continue
		}
		if _, ok := find(assigned, i.ID, i.Launched); ok {
			continue
		}
		var to *victim
		for _, v := range w.victims {
			if v.replacement == nil && v.rejoined == nil && v.inst.ID == i.ID {
				to = v
			}
		}
		for _, v := range w.victims {
			if to == nil && v.replacement == nil && v.rejoined == nil {
				to = v
			}
		}
		if to == nil {
			continue // more new instances than victims: the autoscaler's
		}
		ii := i
		to.replacement = &ii
		assigned = append(assigned, ii)
		// The cloud's launch time is more exact than this read, when it
		// falls between the kill and now.
		t := now
		if !i.Launched.IsZero() && !i.Launched.Before(to.killed) && i.Launched.Before(now) {
			t = i.Launched
		}
		to.launched = &t
		evs = append(evs, Event{Time: t, Kind: EvLaunched, Instance: i.ID, Detail: fmt.Sprintf("for %s, in %s", to.inst.ID, i.Zone)})
	}
	// A victim back in service as itself, after it was seen out, healed
	// by rebooting, unless a replacement got there first; a replacement
	// still booting for it is then the autoscaler's. It counts once it has
	// stayed in service for the hold; seen out again before, it has not
	// healed yet.
	for _, v := range w.victims {
		if v.healthy != nil || v.detected == nil || (v.rejoined != nil && v.rejoinSeen) {
			continue
		}
		i, ok := find(list, v.inst.ID, v.inst.Launched)
		switch {
		case !ok || !i.InService():
			v.rejoined = nil
		case v.rejoined == nil:
			t := now
			v.rejoined = &t
			v.replacement, v.launched = nil, nil
		}
		if v.rejoined != nil && now.Sub(*v.rejoined) >= w.hold {
			v.rejoinSeen = true
			evs = append(evs, Event{Time: *v.rejoined, Kind: EvRejoined, Instance: v.inst.ID, Detail: "the same VM, not replaced"})
		}
	}
	for _, v := range w.victims {
		if v.replacement == nil || v.healthy != nil || v.rejoined != nil {
			continue
		}
		if i, ok := find(list, v.replacement.ID, v.replacement.Launched); ok && i.InService() {
			t := now
			v.healthy = &t
			evs = append(evs, Event{Time: now, Kind: EvHealthy, Instance: i.ID, Detail: "for " + v.inst.ID})
		}
	}
	// Recovered: every victim replaced by a healthy instance or back in
	// service after a reboot, none still in service without ever having
	// been seen out (the kill did not take), and the group at its
	// desired capacity.
	in := 0
	for _, i := range list {
		if i.InService() {
			in++
		}
	}
	done := in >= c.Desired
	for _, v := range w.victims {
		if _, ok := v.healed(); !ok {
			done = false
		}
		if i, found := find(list, v.inst.ID, v.inst.Launched); found && i.InService() && v.detected == nil {
			done = false
		}
	}
	if done && w.recovered == nil {
		t := now
		w.recovered = &t
	}
	return evs
}
