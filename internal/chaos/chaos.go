// Package chaos kills instances of a running fleet and measures how the
// platform heals, the way Netflix's Chaos Monkey does, with the probe
// running alongside to show what clients saw.
//
// An experiment is prepared first (Prepare: read the fleet, run the guards,
// pick the victims), which is all a dry run does; Run then starts the probe,
// kills, watches until the fleet is back at its desired capacity and all
// healthy (or the timeout), and returns the Report.
package chaos

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"stayup/internal/fleet"
	"stayup/internal/probe"
)

// Verdicts.
const (
	Recovered    = "recovered"
	NotRecovered = "not recovered"
	Interrupted  = "interrupted"
	Aborted      = "aborted"
	DryRun       = "dry run"
	// Running is the verdict of a checkpoint: the run was still going.
	Running = "running"
)

// Options say what to kill and how. Fleet, URL, Mode and Timeout are needed.
type Options struct {
	Stack string
	Fleet fleet.Fleet
	// URL is the stack's public endpoint, probed throughout.
	URL string
	// Count victims are picked at random among the instances in service,
	// unless Instances names them.
	Count     int
	Instances []string
	Mode      fleet.KillMode
	// MinHealthy is how many instances must stay in service while the
	// victims are down (the availability guard); 0 means DefaultMinHealthy.
	MinHealthy int
	// Timeout bounds the watch, from the first kill; 0 derives it from the
	// stack's own settings (Prediction.Timeout).
	Timeout time.Duration
	// Poll is how often the fleet is read while watching (default 5 s,
	// the load balancer's check interval: reading faster shows nothing new).
	Poll time.Duration
	// Baseline is how long the probe runs before the first kill; failures
	// then abort the experiment (default 3 s).
	Baseline time.Duration
	// Probe configures the probe (rate, timeout, expect).
	Probe []probe.Option
	// Rand picks the victims; nil uses a random seed.
	Rand *rand.Rand
	// OnEvent is called with each timeline event as it happens; OnStatus
	// with the fleet after each read while watching (a live view).
	OnEvent  func(Event)
	OnStatus func(Status)
	// OnCheckpoint is called with the report so far (verdict Running)
	// after the kills and after each read of the fleet, so a run that is
	// killed still leaves a report; it must use the report before it
	// returns, since the report shares its slices with the run's.
	OnCheckpoint func(Report)
}

// Validate checks the options before anything is read.
func (o *Options) Validate() error {
	switch {
	case o.Fleet == nil:
		return errors.New("no fleet")
	case o.Mode != fleet.Abrupt && o.Mode != fleet.Graceful:
		return fmt.Errorf("mode %q: want %q or %q", o.Mode, fleet.Abrupt, fleet.Graceful)
	case o.Count < 1 && len(o.Instances) == 0:
		return fmt.Errorf("count %d: kill at least one instance", o.Count)
	case len(o.Instances) > 0 && o.Count > 0 && o.Count != len(o.Instances):
		return fmt.Errorf("count %d but %d instances named: give one or the other", o.Count, len(o.Instances))
	case o.Timeout < 0:
		return fmt.Errorf("timeout %v: must be positive", o.Timeout)
	case o.MinHealthy < 0:
		return fmt.Errorf("min healthy %d: must be at least 1", o.MinHealthy)
	}
	return nil
}

// DefaultMinHealthy is how many instances an experiment keeps in service
// unless told otherwise: two, so that losing one more by accident during
// the experiment still leaves the service up.
const DefaultMinHealthy = 2

// minZones is how many zones must still be serving after the kill: the
// fleet's promise is to survive a zone's loss, so an experiment that
// leaves one zone serving tests an outage, not a heal.
const minZones = 2

// Event is one entry of the timeline.
type Event struct {
	Time     time.Time
	Kind     string // one of the Ev* constants
	Instance string
	Detail   string
}

// Timeline event kinds.
const (
	EvProbeStarted = "probe started"
	EvKilled       = "killed"
	EvAlreadyGone  = "already gone"
	EvKillFailed   = "kill failed"
	EvUnhealthy    = "seen unhealthy by the load balancer"
	EvLaunched     = "replacement launched"
	EvHealthy      = "replacement healthy"
	EvRejoined     = "rebooted and back in the load balancer"
	EvSubstituted  = "killed another instance"
	EvRecovered    = "recovered: desired capacity, all healthy"
	EvTimeout      = "timeout"
	EvInterrupted  = "interrupted"
	EvReadFailed   = "reading the fleet failed"
)

// Status is the fleet as read at one poll.
type Status struct {
	Time      time.Time
	Elapsed   time.Duration // since the first kill
	Capacity  fleet.Capacity
	Instances []fleet.Instance
	Err       error
}

// Plan is what an experiment will do: the fleet as it was, and who dies.
type Plan struct {
	Stack     string
	Cloud     string
	Group     string
	URL       string
	Mode      fleet.KillMode
	Capacity  fleet.Capacity
	Instances []fleet.Instance
	Victims   []fleet.Instance
	Settings  fleet.Settings
	Predicted Prediction
	// MinHealthy is the availability guard the plan was checked against.
	MinHealthy int
	// Timeout bounds the watch from the first kill; TimeoutFrom says
	// whether it was given or derived from the settings.
	Timeout     time.Duration
	TimeoutFrom string
	// Warnings are what the user should know before saying yes (named
	// victims that leave the zones unbalanced).
	Warnings []string
}

// Experiment is a prepared run.
type Experiment struct {
	o    Options
	Plan Plan
}

// RefusedError is a guard saying no: nothing was killed.
type RefusedError struct{ Reason string }

func (e *RefusedError) Error() string { return "refusing to kill: " + e.Reason }

// Prepare reads the fleet, runs the guards and picks the victims. It kills
// nothing; a dry run stops here.
func Prepare(ctx context.Context, o Options) (*Experiment, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if o.Poll <= 0 {
		o.Poll = 5 * time.Second
	}
	if o.Baseline < 0 {
		o.Baseline = 0
	}
	if o.Rand == nil {
		o.Rand = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	if len(o.Instances) > 0 {
		o.Count = len(o.Instances)
	}
	if o.MinHealthy == 0 {
		o.MinHealthy = DefaultMinHealthy
	}
	f := o.Fleet
	capa, err := f.Capacity(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the fleet's capacity: %w", err)
	}
	list, err := f.Instances(ctx)
	if err != nil {
		return nil, fmt.Errorf("list the fleet's instances: %w", err)
	}
	roll, err := f.Rollout(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the fleet's rollout: %w", err)
	}
	settings, err := f.Settings(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the fleet's health settings: %w", err)
	}
	for _, g := range []error{
		guardNoRollout(roll),
		guardHealthy(capa, list),
	} {
		if g != nil {
			return nil, g
		}
	}
	if kc, ok := f.(fleet.KillChecker); ok {
		err := kc.CheckKill(ctx, o.Mode)
		if errors.Is(err, fleet.ErrRefused) {
			return nil, &RefusedError{err.Error()}
		}
		if err != nil {
			return nil, fmt.Errorf("check that the platform can heal a %s kill: %w", o.Mode, err)
		}
	}
	victims, err := pick(list, o.Instances, o.Count, o.Rand)
	if err != nil {
		return nil, err
	}
	if err := guardAvailability(list, victims, o.MinHealthy); err != nil {
		return nil, err
	}
	pl := Plan{
		Stack: o.Stack, Cloud: f.Cloud(), Group: f.Name(), URL: o.URL, Mode: o.Mode,
		Capacity: capa, Instances: list, Victims: victims, Settings: settings,
		Predicted: predict(f.Cloud(), o.Mode, settings), MinHealthy: o.MinHealthy,
		Timeout: o.Timeout, TimeoutFrom: "--timeout",
	}
	if pl.Timeout == 0 {
		pl.Timeout, pl.TimeoutFrom = pl.Predicted.Timeout, "the stack's settings"
	}
	if len(o.Instances) > 0 {
		if w := unbalanced(list, victims); w != "" {
			pl.Warnings = append(pl.Warnings, w)
		}
	}
	o.Timeout = pl.Timeout
	return &Experiment{o: o, Plan: pl}, nil
}

// guardHealthy is Chaos Monkey's outage check: experiment only on a fleet
// at its desired capacity with every instance in service, so what the
// report shows is the platform healing one failure, not an outage made worse.
func guardHealthy(c fleet.Capacity, list []fleet.Instance) error {
	var bad []string
	in := 0
	for _, i := range list {
		if i.InService() {
			in++
		} else {
			bad = append(bad, fmt.Sprintf("%s %s/%s", i.ID, i.State, i.Health))
		}
	}
	if in != c.Desired || len(list) != c.Desired {
		msg := fmt.Sprintf("the fleet is not at its desired capacity and all healthy: %d of %d desired in service, %d listed", in, c.Desired, len(list))
		if len(bad) > 0 {
			msg += " (" + strings.Join(bad, ", ") + ")"
		}
		return &RefusedError{msg + "; wait until it is, or fix it first"}
	}
	return nil
}

// guardAvailability protects what clients need while the victims are
// down: at least minHealthy instances and minZones zones still serving.
// It does not protect the group's minimum size: that is the number the
// platform restores, and killing one of three at a minimum of three is the
// experiment. (A fleet of one instance per zone empties the victim's zone
// for a while; that is expected.)
func guardAvailability(list, victims []fleet.Instance, minHealthy int) error {
	left := inService(list, victims)
	zones := zoneCounts(left)
	if len(left) < minHealthy {
		return &RefusedError{fmt.Sprintf("killing %d of %d healthy instances would leave %d in service, fewer than --min-healthy %d",
			len(victims), len(left)+len(victims), len(left), minHealthy)}
	}
	if len(zones) < minZones {
		return &RefusedError{fmt.Sprintf("killing %s would leave %d zone(s) serving (%s); at least %d must serve while the platform heals",
			ids(victims), len(zones), zoneText(zones), minZones)}
	}
	return nil
}

// inService is the instances in service, less the victims.
func inService(list, victims []fleet.Instance) []fleet.Instance {
	var out []fleet.Instance
	for _, i := range list {
		if i.InService() && !slices.ContainsFunc(victims, func(v fleet.Instance) bool { return v.ID == i.ID }) {
			out = append(out, i)
		}
	}
	return out
}

func zoneCounts(list []fleet.Instance) map[string]int {
	m := map[string]int{}
	for _, i := range list {
		m[i.Zone]++
	}
	return m
}

func zoneText(m map[string]int) string {
	var parts []string
	for _, z := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s: %d", z, m[z]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

func ids(list []fleet.Instance) string {
	var s []string
	for _, i := range list {
		s = append(s, i.ID)
	}
	return strings.Join(s, ", ")
}

// unbalanced says how named victims leave the zones, when the zones that
// served before differ by more than one instance after the kill: the
// platform's zone balancing may then move instances around while it heals,
// which muddles what the experiment measures.
func unbalanced(list, victims []fleet.Instance) string {
	after := zoneCounts(inService(list, victims))
	lo, hi := -1, 0
	for z := range zoneCounts(inService(list, nil)) {
		n := after[z]
		if lo < 0 || n < lo {
			lo = n
		}
		hi = max(hi, n)
	}
	if hi-lo <= 1 {
		return ""
	}
	full := zoneCounts(inService(list, nil))
	for z := range full {
		full[z] = after[z]
	}
	return fmt.Sprintf("killing %s leaves the zones unbalanced (%s): the platform may rebalance while it heals; random victims (no --instance) keep them even", ids(victims), zoneText(full))
}

// guardNoRollout refuses during a rolling update: the update replaces
// instances itself, and the two would muddle each other's measurements.
func guardNoRollout(r fleet.Rollout) error {
	if r.InProgress {
		return &RefusedError{fmt.Sprintf("a rollout is in progress (%s); wait for it to finish", r.Status)}
	}
	return nil
}

// pick chooses the victims: the named ones, each of which must be in
// service, or count at random among those in service, each from the zone
// that has the most in service at that point, so the zones stay even.
func pick(list []fleet.Instance, named []string, count int, r *rand.Rand) ([]fleet.Instance, error) {
	var in []fleet.Instance
	for _, i := range list {
		if i.InService() {
			in = append(in, i)
		}
	}
	if len(named) > 0 {
		var v []fleet.Instance
		for _, id := range named {
			k := slices.IndexFunc(list, func(i fleet.Instance) bool { return i.ID == id })
			switch {
			case k < 0:
				return nil, &RefusedError{fmt.Sprintf("instance %s is not in the fleet", id)}
			case !list[k].InService():
				return nil, &RefusedError{fmt.Sprintf("instance %s is not in service (%s/%s)", id, list[k].State, list[k].Health)}
			case slices.ContainsFunc(v, func(i fleet.Instance) bool { return i.ID == id }):
				return nil, &RefusedError{fmt.Sprintf("instance %s named twice", id)}
			}
			v = append(v, list[k])
		}
		return v, nil
	}
	if count > len(in) {
		return nil, &RefusedError{fmt.Sprintf("asked to kill %d, but only %d are in service", count, len(in))}
	}
	r.Shuffle(len(in), func(a, b int) { in[a], in[b] = in[b], in[a] })
	var v []fleet.Instance
	for range count {
		left := zoneCounts(in)
		k := 0
		for j, i := range in {
			if left[i.Zone] > left[in[k].Zone] {
				k = j
			}
		}
		v = append(v, in[k])
		in = slices.Delete(in, k, k+1)
	}
	slices.SortFunc(v, func(a, b fleet.Instance) int { return strings.Compare(a.ID, b.ID) })
	return v, nil
}

// Run starts the probe, kills the victims, watches until the fleet has
// healed or the timeout, and reports. When ctx ends (Ctrl-C) it stops
// killing and watching at once and reports what it saw, as Interrupted.
// An error means nothing could be measured (the probe could not start, or
// the first kill failed).
func (e *Experiment) Run(ctx context.Context) (Report, error) {
	o := e.o
	r := Report{Plan: e.Plan, Start: time.Now()}
	emit := func(ev Event) {
		r.Timeline = append(r.Timeline, ev)
		if o.OnEvent != nil {
			o.OnEvent(ev)
		}
	}
	// The probe is stopped by the experiment, not by ctx, so an interrupt
	// still gets the probe's figures up to that moment.
	p, err := probe.Start(context.WithoutCancel(ctx), o.URL, o.Probe...)
	if err != nil {
		return r, err
	}
	finish := func(verdict, reason string) (Report, error) {
		r.finishProbe(p.Stop())
		r.End = time.Now()
		r.Verdict, r.Reason = verdict, reason
		return r, nil
	}
	emit(Event{Time: time.Now(), Kind: EvProbeStarted, Detail: o.URL})

	if o.Baseline > 0 {
		t := time.NewTimer(o.Baseline)
		select {
		case <-ctx.Done():
			t.Stop()
			emit(Event{Time: time.Now(), Kind: EvInterrupted, Detail: "before any kill"})
			return finish(Interrupted, "interrupted before any instance was killed")
		case <-t.C:
		}
		if s := p.Snapshot(); s.Failures > 0 {
			return finish(Aborted, fmt.Sprintf("the endpoint failed %d of %d requests before any kill (%s): nothing was killed", s.Failures, s.Requests, s.LastError))
		}
	}

	w := newWatch(e.Plan)
	for _, v := range e.Plan.Victims {
		if ctx.Err() != nil {
			break
		}
		v, err := e.kill(ctx, v, emit)
		now := time.Now()
		switch {
		case err == nil:
			w.killed(v, now)
			emit(Event{Time: now, Kind: EvKilled, Instance: v.ID, Detail: fmt.Sprintf("%s, %s", o.Mode, v.Zone)})
		case errors.Is(err, fleet.ErrNotFound):
			emit(Event{Time: now, Kind: EvAlreadyGone, Instance: v.ID, Detail: err.Error()})
		case len(w.victims) == 0 && ctx.Err() == nil:
			emit(Event{Time: now, Kind: EvKillFailed, Instance: v.ID, Detail: err.Error()})
			rep, _ := finish(Aborted, "the kill failed: "+err.Error())
			return rep, err
		default:
			emit(Event{Time: now, Kind: EvKillFailed, Instance: v.ID, Detail: err.Error()})
		}
	}
	if len(w.victims) == 0 {
		if ctx.Err() != nil {
			emit(Event{Time: time.Now(), Kind: EvInterrupted, Detail: "before any kill"})
			return finish(Interrupted, "interrupted before any instance was killed")
		}
		return finish(Aborted, "no instance was killed")
	}
	if n := len(e.Plan.Victims) - len(w.victims); n > 0 && ctx.Err() != nil {
		emit(Event{Time: time.Now(), Kind: EvInterrupted, Detail: fmt.Sprintf("%d of %d victims not killed", n, len(e.Plan.Victims))})
		return finish(Interrupted, "interrupted while killing")
	}

	checkpoint := func() {
		if o.OnCheckpoint != nil {
			o.OnCheckpoint(r.checkpoint(w, p.Summary()))
		}
	}
	checkpoint()
	deadline := w.firstKill.Add(o.Timeout)
	tick := time.NewTicker(o.Poll)
	defer tick.Stop()
	var lastErr string
	for {
		capa, err := o.Fleet.Capacity(ctx)
		var list []fleet.Instance
		if err == nil {
			list, err = o.Fleet.Instances(ctx)
		}
		now := time.Now()
		if ctx.Err() != nil {
			emit(Event{Time: now, Kind: EvInterrupted, Detail: "while watching"})
			r.fill(w)
			return finish(Interrupted, "interrupted before the fleet was seen to recover")
		}
		if err != nil {
			if err.Error() != lastErr {
				emit(Event{Time: now, Kind: EvReadFailed, Detail: err.Error()})
				lastErr = err.Error()
			}
		} else {
			lastErr = ""
			for _, ev := range w.observe(now, capa, list) {
				emit(ev)
			}
		}
		r.Reads = append(r.Reads, fleet.NewRead(now, capa, list, err))
		if o.OnStatus != nil {
			o.OnStatus(Status{Time: now, Elapsed: now.Sub(w.firstKill), Capacity: capa, Instances: list, Err: err})
		}
		if w.recovered != nil {
			emit(Event{Time: *w.recovered, Kind: EvRecovered})
			r.fill(w)
			return finish(Recovered, "")
		}
		checkpoint()
		if !now.Before(deadline) {
			emit(Event{Time: now, Kind: EvTimeout, Detail: fmt.Sprintf("not recovered within %v", o.Timeout)})
			r.fill(w)
			return finish(NotRecovered, fmt.Sprintf("the fleet was not back at desired capacity and all healthy within %v", o.Timeout))
		}
		select {
		case <-ctx.Done():
			emit(Event{Time: time.Now(), Kind: EvInterrupted, Detail: "while watching"})
			r.fill(w)
			return finish(Interrupted, "interrupted before the fleet was seen to recover")
		case <-tick.C:
		}
	}
}

// kill takes the victim away. A victim chaos picked itself may be
// swapped by the fleet for another in the same experiment's spirit (see
// fleet.Substituter), and the watch then follows the one really taken; a
// named victim is always the one killed.
func (e *Experiment) kill(ctx context.Context, v fleet.Instance, emit func(Event)) (fleet.Instance, error) {
	o := e.o
	sub, ok := o.Fleet.(fleet.Substituter)
	if !ok || len(o.Instances) > 0 {
		return v, o.Fleet.Kill(ctx, v.ID, o.Mode)
	}
	killed, err := sub.KillInstead(ctx, v.ID, o.Mode)
	if err != nil || killed == v.ID {
		return v, err
	}
	k := slices.IndexFunc(e.Plan.Instances, func(i fleet.Instance) bool { return i.ID == killed })
	if k < 0 {
		return v, nil
	}
	instead := e.Plan.Instances[k]
	emit(Event{Time: time.Now(), Kind: EvSubstituted, Instance: instead.ID,
		Detail: fmt.Sprintf("instead of %s: the extra instance landed in %s, so the old one there went, to keep the zones even", v.ID, instead.Zone)})
	return instead, nil
}

// DryRunReport is the report of a dry run: the plan and nothing else.
func (e *Experiment) DryRunReport() Report {
	now := time.Now()
	return Report{Plan: e.Plan, Start: now, End: now, Verdict: DryRun, Reason: "dry run: nothing was killed"}
}
