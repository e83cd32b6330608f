// Package rollout rolls a deployed stack to a new container image and
// proves it was done without downtime: a probe runs on the stack's url from
// before the change until after a settle period, while rollout sets
// `stayup:image`, runs `up`, and waits for the cloud's own rolling
// mechanism (AWS instance refresh, GCP managed instance group update, Azure
// rolling upgrade) to replace every instance.
//
// Pulumi reporting success is not enough: the AWS provider does not wait
// for the instance refresh, and a refresh that rolled back still shows the
// group "updated". So rollout watches the fleet itself, and owns the
// rollback where the platform does not (see docs/rollout.md).
package rollout

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"

	"stayup/internal/fleet"
	"stayup/internal/probe"
)

// ImageKey is the config key rollout changes.
const ImageKey = "stayup:image"

// VersionHeader is the header the demo image answers with; the probe
// records it to show which version served the traffic over time.
const VersionHeader = "X-Stayup-Version"

// DefaultVersionPattern reads the version from the body of a response
// without VersionHeader: Google's hello-app, the default image, prints
// "Version: 1.0.0" (kubernetes-engine-samples quickstarts/hello-app).
const DefaultVersionPattern = `Version: (\S+)`

// The no-progress rule. With MinHealthyPercentage 100 a new image that
// never passes the health check keeps the AWS refresh InProgress for up to
// an hour (Auto Scaling user guide, "How an instance refresh works",
// Limitations: one-hour timeout) while the old instances serve and clients
// see nothing wrong; surge on GCP and Azure behaves alike. So the roll
// forward fails when
//   - no replacement (an instance on the target revision that was not there
//     before) is in service within Grace + Warmup + NoProgressMargin of the
//     update starting: Grace is the boot time the group allows before it
//     judges health, Warmup what the refresh waits after that, and the
//     margin covers the launch itself (EC2 pending to running, typically
//     under a minute), the load balancer's healthy threshold (2 x 5 s) and
//     rollout's poll; with the shipped 180 s and 60 s that is 6 minutes;
//   - or MaxFailedReplacements replacements left the group without ever
//     serving: the group terminated them as unhealthy. One can be a host or
//     zone fault; two, on different instances, is the image.
const (
	NoProgressMargin      = 2 * time.Minute
	MaxFailedReplacements = 2
)

// DefaultCancelTimeout bounds the wait for a cancelled update to stop
// (AWS: Cancelling lasts until the launches and terminations under way are
// done: a drain of 30 s and a stop of up to 60 s, a boot of up to the
// grace). Assumed, to check on a live run: a cancel ends within minutes.
const DefaultCancelTimeout = 10 * time.Minute

// Verdicts.
const (
	Succeeded      = "success"
	RolledBack     = "rolled back"
	RollbackFailed = "rollback failed"
	Failed         = "failed"
	Interrupted    = "interrupted"
	Refused        = "refused"
	// Running is the verdict of a checkpoint: the run was still going.
	Running = "running"
)

// Who undoes a failed rollout.
const (
	// OwnerPlatform: the cloud rolled the failed instances back by itself
	// (Azure rollback on policy breach), which leaves the scale set model
	// on the new image; rollout refreshes the stack, then rolls the model
	// back as OwnerStayup does.
	OwnerPlatform = "platform"
	// OwnerStayup: rollout sets the previous image, runs up and waits.
	OwnerStayup = "stayup"
)

// Stack is what rollout needs of the Pulumi stack; *stackops.Stack has it.
type Stack interface {
	Config(ctx context.Context) (map[string]auto.ConfigValue, error)
	SetConfig(ctx context.Context, key, value string, secret bool) error
	Outputs(ctx context.Context) (map[string]any, error)
	Up(ctx context.Context) (map[string]any, error)
	Refresh(ctx context.Context) error
}

// Options say what to roll where. Stack, Fleet, URL, Image and Timeout
// are needed.
type Options struct {
	StackName string
	Stack     Stack
	Fleet     fleet.Fleet
	// URL is the stack's public endpoint, probed throughout.
	URL string
	// Image is the container image to roll to.
	Image string
	// AllowFailures is how many failed probe requests still pass.
	AllowFailures int
	// NoRollback leaves a failed rollout as it is.
	NoRollback bool
	// Timeout bounds each wait for the cloud's rolling update (forward and
	// back), from the end of up.
	Timeout time.Duration
	// Poll is how often the fleet is read (default 5 s).
	Poll time.Duration
	// Baseline is how long the probe runs before anything changes; any
	// failure then refuses the rollout (default 5 s).
	Baseline time.Duration
	// Settle is how long the probe keeps running once the fleet has
	// converged (default 30 s: longer than the load balancers' drain).
	Settle time.Duration
	// Probe configures the probe (rate, timeout).
	Probe []probe.Option
	// VersionPattern reads the version from the body when a response has
	// no VersionHeader (the command's default is DefaultVersionPattern);
	// empty reads the header only.
	VersionPattern string
	// ProgressMargin replaces NoProgressMargin (tests shorten it);
	// CancelTimeout replaces DefaultCancelTimeout, at most Timeout.
	ProgressMargin time.Duration
	CancelTimeout  time.Duration
	// Abort, when closed (a second Ctrl-C), stops the rollback too.
	Abort <-chan struct{}
	// OnEvent is called with each timeline event; OnStatus with each read
	// of the fleet (a live view).
	OnEvent  func(Event)
	OnStatus func(Status)
	// OnCheckpoint is called with the report so far (verdict Running) at
	// the start of each phase and after each read of the fleet, so a run
	// that is killed still leaves a report; it must use the report before
	// it returns, since the report shares its slices with the run's.
	OnCheckpoint func(Report)
}

// Validate checks the options before anything is read.
func (o *Options) Validate() error {
	switch {
	case o.Stack == nil:
		return errors.New("no stack")
	case o.Fleet == nil:
		return errors.New("no fleet")
	case strings.TrimSpace(o.Image) == "":
		return errors.New("no image to roll to")
	case o.AllowFailures < 0:
		return fmt.Errorf("allow failures %d: must be >= 0", o.AllowFailures)
	case o.Timeout <= 0:
		return fmt.Errorf("timeout %v: must be positive", o.Timeout)
	}
	return nil
}

// Event is one entry of the timeline.
type Event struct {
	Time   time.Time
	Phase  string
	Kind   string
	Detail string
}

// Phases.
const (
	PhasePreflight = "preflight"
	PhaseBaseline  = "baseline"
	PhaseUp        = "up"
	PhaseRoll      = "roll"
	PhaseSettle    = "settle"
	PhaseRollback  = "rollback"
)

// Status is the fleet as read at one poll while waiting.
type Status struct {
	Time      time.Time
	Phase     string
	Rollout   fleet.Rollout
	Capacity  fleet.Capacity
	Instances []fleet.Instance
	OnTarget  int // instances in service on the target revision
	// InPlace are the instances in service on the target revision that
	// were created before the update began, where that means they still
	// run the old image (see recreates).
	InPlace []string
	Probe   probe.Snapshot
	Err     error
}

// Plan is what a rollout will do: the stack and fleet as they were.
type Plan struct {
	Stack, Cloud, Group, URL string
	From, To                 string // images
	Capacity                 fleet.Capacity
	Instances                []fleet.Instance
	Before                   fleet.Rollout
	// Settings are the fleet's health settings, from which NoProgress,
	// the no-progress bound, is computed.
	Settings   fleet.Settings
	NoProgress time.Duration
}

// RefusedError is a preflight check saying no: nothing was changed.
type RefusedError struct{ Reason string }

func (e *RefusedError) Error() string { return "refusing to roll out: " + e.Reason }

// Rollout is a prepared run.
type Rollout struct {
	o    Options
	Plan Plan
}

// Prepare reads the stack and the fleet and runs the preflight checks:
// the stack is deployed, no rolling update is in progress (an up during an
// AWS instance refresh cancels it), and the fleet is at its desired
// capacity, all in service. It changes nothing.
func Prepare(ctx context.Context, o Options) (*Rollout, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if o.Poll <= 0 {
		o.Poll = 5 * time.Second
	}
	if o.Baseline <= 0 {
		o.Baseline = 5 * time.Second
	}
	if o.Settle < 0 {
		o.Settle = 0
	}
	if o.ProgressMargin <= 0 {
		o.ProgressMargin = NoProgressMargin
	}
	if o.CancelTimeout <= 0 {
		o.CancelTimeout = DefaultCancelTimeout
	}
	o.CancelTimeout = min(o.CancelTimeout, o.Timeout)
	out, err := o.Stack.Outputs(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the stack's outputs: %w", err)
	}
	if u, _ := out["url"].(string); u == "" || out["fleet"] == nil {
		return nil, &RefusedError{"the stack is not deployed (no url or fleet output): run stayup up first"}
	}
	if o.URL == "" {
		o.URL, _ = out["url"].(string)
	}
	cfg, err := o.Stack.Config(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the stack's config: %w", err)
	}
	from := cfg[ImageKey].Value
	if from == "" {
		from, _ = out["image"].(string)
	}
	if from == "" {
		return nil, &RefusedError{"cannot tell which image the stack runs (no " + ImageKey + " config, no image output), so there would be nothing to roll back to"}
	}
	if from == o.Image {
		return nil, &RefusedError{fmt.Sprintf("the stack already runs %s", o.Image)}
	}
	f := o.Fleet
	roll, err := f.Rollout(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the fleet's rollout: %w", err)
	}
	if roll.InProgress {
		return nil, &RefusedError{fmt.Sprintf("a rolling update is already in progress (%s, %d%%); an up now would cancel or muddle it: wait for it to finish", roll.Status, roll.Percent)}
	}
	capa, err := f.Capacity(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the fleet's capacity: %w", err)
	}
	list, err := f.Instances(ctx)
	if err != nil {
		return nil, fmt.Errorf("list the fleet's instances: %w", err)
	}
	if err := guardHealthy(capa, list); err != nil {
		return nil, err
	}
	set, err := f.Settings(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the fleet's health settings (for the no-progress bound): %w", err)
	}
	return &Rollout{o: o, Plan: Plan{
		Stack: o.StackName, Cloud: f.Cloud(), Group: f.Name(), URL: o.URL,
		From: from, To: o.Image, Capacity: capa, Instances: list, Before: roll,
		Settings: set, NoProgress: set.Grace + set.Warmup + o.ProgressMargin,
	}}, nil
}

// guardHealthy refuses a fleet that is not whole: zero downtime cannot be
// proved on a service that is already failing.
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
	if in < c.Desired || len(list) != c.Desired {
		msg := fmt.Sprintf("the fleet is not at its desired capacity and all healthy: %d of %d desired in service, %d listed", in, c.Desired, len(list))
		if len(bad) > 0 {
			msg += " (" + strings.Join(bad, ", ") + ")"
		}
		return &RefusedError{msg}
	}
	return nil
}

// failedStatus says whether the cloud's rollout status means the roll
// forward is over without success, and who then owns putting the stack
// back. It ends the forward wait at once, even while the cloud is still
// busy (a rollback or a cancel under way: rollout's own rollback cancels
// it and waits first). On AWS the provider moved the group to the new
// template version before the refresh started, so a refresh's own rollback
// relaunches the new version: rollout owns it. Azure's rolling upgrade
// rolls failed instances back on a policy breach. GCP has no failed state:
// a MIG that does not converge is caught by the no-progress rule or the
// timeout.
func failedStatus(cloud, status string) (bool, string) {
	switch cloud {
	case "aws":
		switch status {
		case "Failed", "Cancelling", "Cancelled",
			"RollbackInProgress", "RollbackSuccessful", "RollbackFailed":
			return true, OwnerStayup
		}
	case "azure":
		switch status {
		case "Faulted", "Cancelled":
			return true, OwnerPlatform
		}
	}
	return false, ""
}

// run is one rollout in progress: the report being written and the probe.
type run struct {
	o      Options
	r      *Report
	p      *probe.Probe
	mu     sync.Mutex
	phase  string
	counts map[string]map[string]int // phase -> version header -> responses
	// withVersion counts responses that carried a version, fromBody those
	// whose version came from the body.
	withVersion, fromBody int
}

func (x *run) emit(kind, detail string) {
	x.mu.Lock()
	ev := Event{Time: time.Now(), Phase: x.phase, Kind: kind, Detail: detail}
	x.mu.Unlock()
	x.r.Timeline = append(x.r.Timeline, ev)
	if x.o.OnEvent != nil {
		x.o.OnEvent(ev)
	}
}

func (x *run) begin(phase string) {
	now := time.Now()
	if n := len(x.r.Phases); n > 0 && x.r.Phases[n-1].End.IsZero() {
		x.r.Phases[n-1].End = now
	}
	x.mu.Lock()
	x.phase = phase
	x.mu.Unlock()
	x.r.Phases = append(x.r.Phases, Phase{Name: phase, Start: now})
	x.emit("phase started", "")
	x.checkpoint()
}

// checkpoint hands the report so far to OnCheckpoint.
func (x *run) checkpoint() {
	if x.o.OnCheckpoint == nil || x.p == nil {
		return
	}
	c := *x.r
	c.Phases = slices.Clone(x.r.Phases)
	for i := range c.Phases {
		c.Phases[i].Versions = x.versions(c.Phases[i].Name)
	}
	s := x.p.Summary()
	c.Probe, c.End = &s, s.End
	c.VersionEvidence = x.versionEvidence()
	c.Verdict, c.Reason = Running, "the run was still going at its last checkpoint"
	x.o.OnCheckpoint(c)
}

func (x *run) end(outcome string) {
	n := len(x.r.Phases) - 1
	if n >= 0 && x.r.Phases[n].End.IsZero() {
		x.r.Phases[n].End = time.Now()
		x.r.Phases[n].Outcome = outcome
	}
}

func (x *run) onResult(res probe.Result) {
	if res.Status == 0 {
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	m := x.counts[x.phase]
	if m == nil {
		m = map[string]int{}
		x.counts[x.phase] = m
	}
	m[res.HeaderValue]++
	if res.HeaderValue != "" {
		x.withVersion++
	}
	if res.FromBody {
		x.fromBody++
	}
}

func (x *run) versions(phase string) map[string]int {
	x.mu.Lock()
	defer x.mu.Unlock()
	out := map[string]int{}
	for k, v := range x.counts[phase] {
		out[k] = v
	}
	return out
}

func (x *run) overBudget() bool {
	return x.p.Snapshot().Failures > x.o.AllowFailures
}

// Run starts the probe, checks the baseline, sets the image, runs up,
// waits for the cloud's rolling update and a settle period, and reports.
// A failure (the probe's budget, the platform giving up, no convergence
// within the timeout, Ctrl-C: ctx ending) is rolled back unless
// NoRollback. An error means nothing could be measured.
func (ro *Rollout) Run(ctx context.Context) (Report, error) {
	o := ro.o
	r := &Report{Plan: ro.Plan, Start: time.Now(), AllowedFailures: o.AllowFailures}
	x := &run{o: o, r: r, counts: map[string]map[string]int{}}
	opts := append(slices.Clone(o.Probe), probe.Header(VersionHeader), probe.BodyPattern(o.VersionPattern), probe.AllowFailures(o.AllowFailures), probe.OnResult(x.onResult))
	// The probe is stopped by the rollout, not by ctx: an interrupt still
	// probes through the rollback.
	p, err := probe.Start(context.WithoutCancel(ctx), o.URL, opts...)
	if err != nil {
		return *r, err
	}
	x.p = p
	finish := func(verdict, reason string) (Report, error) {
		x.end("")
		s := p.Stop()
		r.Probe = &s
		r.End = time.Now()
		for i := range r.Phases {
			r.Phases[i].Versions = x.versions(r.Phases[i].Name)
		}
		r.Verdict, r.Reason = verdict, reason
		r.VersionEvidence = x.versionEvidence()
		x.emit("verdict", verdict)
		return *r, nil
	}

	x.begin(PhaseBaseline)
	x.emit("probe started", o.URL)
	if !sleep(ctx, o.Baseline) {
		x.end("interrupted")
		return finish(Interrupted, "interrupted before anything changed")
	}
	if s := p.Snapshot(); s.Failures > 0 {
		x.end("failures")
		return finish(Refused, fmt.Sprintf("the endpoint failed %d of %d requests before anything changed (%s): zero downtime cannot be proved on a failing service; nothing was changed", s.Failures, s.Requests, s.LastError))
	}
	x.end("clean")
	x.cleanup(ctx, "left by an earlier run")

	// From here on, a failure is rolled back.
	fail := func(reason, owner string, interrupted bool) (Report, error) {
		verdict := Failed
		if interrupted {
			verdict = Interrupted
		}
		if o.NoRollback {
			x.emit("not rolled back", "--no-rollback: "+reason)
			return finish(verdict, reason+"; not rolled back (--no-rollback): the stack's config names "+o.Image)
		}
		ok, detail := x.rollback(ctx, reason, owner)
		switch {
		case interrupted:
			return finish(Interrupted, reason+"; "+detail)
		case ok:
			return finish(RolledBack, reason+"; "+detail)
		}
		return finish(RollbackFailed, reason+"; "+detail)
	}

	x.begin(PhaseUp)
	if err := o.Stack.SetConfig(context.WithoutCancel(ctx), ImageKey, o.Image, false); err != nil {
		x.end("error")
		x.emit("set config failed", err.Error())
		return finish(Failed, fmt.Sprintf("set %s: %v; nothing was changed", ImageKey, err))
	}
	x.emit("config set", ImageKey+"="+o.Image)
	out, err := o.Stack.Up(ctx)
	switch {
	case ctx.Err() != nil:
		x.end("interrupted")
		x.emit("interrupted", "during up")
		return fail("interrupted during up", OwnerStayup, true)
	case err != nil:
		x.end("error")
		x.emit("up failed", err.Error())
		return fail("up failed: "+err.Error(), OwnerStayup, false)
	}
	img, _ := out["image"].(string)
	x.emit("up succeeded", "image output "+img)
	x.end("ok")

	x.begin(PhaseRoll)
	w := x.wait(ctx, ctx, ro.Plan.Before, true)
	r.Forward = w.last
	switch w.outcome {
	case outInterrupted:
		x.end("interrupted")
		return fail("interrupted while the fleet rolled", OwnerStayup, true)
	case outProbe:
		x.end("probe budget")
		return fail(w.detail, OwnerStayup, false)
	case outPlatform:
		x.end("platform failed")
		return fail(w.detail, w.owner, false)
	case outTimeout:
		x.end("timeout")
		return fail(w.detail, OwnerStayup, false)
	case outNoProgress:
		x.end("no progress")
		return fail(w.detail, OwnerStayup, false)
	case outInPlace:
		x.end("in place")
		return fail(w.detail, OwnerStayup, false)
	}
	x.end("converged")

	x.begin(PhaseSettle)
	deadline := time.Now().Add(o.Settle)
	for time.Now().Before(deadline) {
		if !sleep(ctx, min(o.Poll, time.Until(deadline))) {
			x.end("interrupted")
			return fail("interrupted while settling", OwnerStayup, true)
		}
		if x.overBudget() {
			x.end("probe budget")
			return fail(x.budgetText(), OwnerStayup, false)
		}
	}
	final, ok := x.converged(ctx, nil, true)
	r.Final = final.Rollout
	if !ok {
		x.end("not converged")
		if len(final.InPlace) > 0 {
			return fail("after settling: "+inPlaceText(final), OwnerStayup, false)
		}
		return fail("after settling the fleet is no longer all on the new image and healthy", OwnerStayup, false)
	}
	if vs := x.versions(PhaseSettle); len(vs) > 1 {
		x.end("mixed versions")
		return fail(fmt.Sprintf("after the fleet converged clients still saw several versions: %s", mixText(vs)), OwnerStayup, false)
	}
	// What clients saw must agree with what runs: the fleet reporting the
	// new revision everywhere is the platform's word, not proof that the
	// new image serves (an update applied in place can leave the old
	// container running).
	if old, ok := sameVersion(x.versions(PhaseBaseline), x.versions(PhaseSettle)); ok {
		x.end("old version")
		return fail(fmt.Sprintf("after the fleet converged clients still saw only version %s, the one served before the rollout: the new image is not proved to serve (if both images report the same version, say so with --version-pattern '' and the fleet's revisions decide)", old), OwnerStayup, false)
	}
	if x.versionEvidence() == "none" {
		x.emit("no version seen", fmt.Sprintf("responses carried no %s header and no match for %q: the verdict rests on the fleet (%d in service on %s)", VersionHeader, o.VersionPattern, final.OnTarget, final.Rollout.Target))
	}
	if x.overBudget() {
		x.end("probe budget")
		return fail(x.budgetText(), OwnerStayup, false)
	}
	x.end("clean")
	x.cleanup(ctx, "after the roll")
	return finish(Succeeded, "")
}

// sameVersion reports the one version clients saw both before anything
// changed and after the fleet converged, when that is all they saw.
func sameVersion(before, after map[string]int) (string, bool) {
	if len(before) != 1 || len(after) != 1 {
		return "", false
	}
	for v := range after {
		if v != "" && before[v] > 0 {
			return v, true
		}
	}
	return "", false
}

// versionEvidence says where the versions clients saw came from: the
// header, the body, both, or none (every response lacked a version).
func (x *run) versionEvidence() string {
	x.mu.Lock()
	defer x.mu.Unlock()
	header, body := x.withVersion > x.fromBody, x.fromBody > 0
	switch {
	case header && body:
		return "header and body"
	case header:
		return "header"
	case body:
		return "body"
	}
	return "none"
}

func (x *run) budgetText() string {
	s := x.p.Snapshot()
	return fmt.Sprintf("clients saw %d failures (%s), above the allowed %d", s.Failures, s.LastError, x.o.AllowFailures)
}

// sleep waits d or until ctx ends; false when ctx ended.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

const (
	outInPlace     = "in place"
	outConverged   = "converged"
	outInterrupted = "interrupted"
	outProbe       = "probe"
	outPlatform    = "platform"
	outTimeout     = "timeout"
	outNoProgress  = "no progress"
)

type waitResult struct {
	outcome, detail, owner string
	last                   fleet.Rollout
}

// converged reads the fleet once: done when no update is in progress,
// every instance runs the target revision, and the desired capacity is in
// service on it; where the cloud's revision does not prove the image
// (recreates), every such instance was also created after the update
// began, or is in booted: incarnations known to have booted the target
// image (a rollback's: the instances from before the rollout).
func (x *run) converged(ctx context.Context, booted map[string]bool, report bool) (Status, bool) {
	f := x.o.Fleet
	st := Status{Time: time.Now(), Phase: x.phase}
	st.Rollout, st.Err = f.Rollout(ctx)
	if st.Err == nil {
		st.Capacity, st.Err = f.Capacity(ctx)
	}
	if st.Err == nil {
		st.Instances, st.Err = f.Instances(ctx)
	}
	st.Probe = x.p.Snapshot()
	done := st.Err == nil && !st.Rollout.InProgress && st.Rollout.Reached
	proveNew := recreates(f.Cloud()) && !st.Rollout.Started.IsZero()
	for _, i := range st.Instances {
		if i.Revision == st.Rollout.Target && i.InService() {
			st.OnTarget++
			if proveNew && i.Launched.Before(st.Rollout.Started) && !booted[incarnation(i)] {
				st.InPlace = append(st.InPlace, i.ID)
				done = false
			}
		}
		if i.InService() && i.Revision != st.Rollout.Target {
			done = false
		}
	}
	if st.OnTarget < st.Capacity.Desired {
		done = false
	}
	x.r.Reads = append(x.r.Reads, fleet.NewRead(st.Time, st.Capacity, st.Instances, st.Err))
	if report && x.o.OnStatus != nil {
		x.o.OnStatus(st)
	}
	x.checkpoint()
	return st, done
}

// wait polls the fleet until the update away from `from` converged, the
// platform gave up, the probe's budget is spent or the update makes no
// progress (both on the way forward: forward), the timeout, or ctx ends
// (stop: Ctrl-C on the way forward, Abort on the way back).
func (x *run) wait(ctx, stop context.Context, from fleet.Rollout, forward bool) waitResult {
	o := x.o
	deadline := time.Now().Add(o.Timeout)
	cloud := o.Fleet.Cloud()
	moved := false
	var lastErr string
	var last fleet.Rollout
	var lastStatus string
	var prog *progress
	// Rolling back, the instances from before the rollout booted the image
	// rolled back to, whatever the forward update did to their model.
	var booted map[string]bool
	if !forward {
		booted = map[string]bool{}
		for _, i := range x.r.Instances {
			booted[incarnation(i)] = true
		}
	}
	for {
		st, done := x.converged(ctx, booted, true)
		if st.Err != nil {
			if st.Err.Error() != lastErr && stop.Err() == nil {
				x.emit("reading the fleet failed", st.Err.Error())
				lastErr = st.Err.Error()
			}
		} else {
			lastErr = ""
			ro := st.Rollout
			last = ro
			if ro.Status != lastStatus {
				x.emit("cloud rollout status", fmt.Sprintf("%s (target %s, %d%%)", ro.Status, ro.Target, ro.Percent))
				lastStatus = ro.Status
			}
			if !moved && updateSeen(from, ro) {
				moved = true
				x.emit("update started", "target "+ro.Target)
				if forward {
					prog = newProgress(x.r.Instances, st.Time, x.r.NoProgress)
				}
			}
			// A failed status counts once it belongs to this update, not
			// to the one seen before it.
			sameAsBefore := ro.Status == from.Status && ro.Started.Equal(from.Started)
			if failed, owner := failedStatus(cloud, ro.Status); failed && moved && !sameAsBefore {
				return waitResult{outPlatform, "the cloud's rolling update is " + statusText(ro), owner, last}
			}
			if len(st.InPlace) > 0 && moved && !ro.InProgress && ro.Reached {
				why := inPlaceText(st)
				x.emit("updated in place", why)
				return waitResult{outInPlace, why, OwnerStayup, last}
			}
			if done && moved {
				x.emit("fleet converged", fmt.Sprintf("%d in service on %s", st.OnTarget, ro.Target))
				return waitResult{outConverged, "", "", last}
			}
			if prog != nil {
				for _, e := range prog.observe(st.Time, ro.Target, st.Instances) {
					x.emit(e.kind, e.detail)
				}
				if why := prog.verdict(st.Time); why != "" {
					x.emit("no progress", why)
					return waitResult{outNoProgress, why + " (last status " + statusText(ro) + ")", OwnerStayup, last}
				}
			}
		}
		if forward && x.overBudget() {
			return waitResult{outProbe, x.budgetText(), OwnerStayup, last}
		}
		if stop.Err() != nil {
			x.emit("interrupted", "while waiting for the fleet")
			return waitResult{outInterrupted, "interrupted", "", last}
		}
		if !time.Now().Before(deadline) {
			x.emit("timeout", fmt.Sprintf("not converged within %v", o.Timeout))
			return waitResult{outTimeout, fmt.Sprintf("the fleet did not converge within %v (last status %q, target %s, %d%%)", o.Timeout, last.Status, last.Target, last.Percent), OwnerStayup, last}
		}
		sleep(stop, min(o.Poll, time.Until(deadline)))
	}
}

// cleanupTimeout bounds a cleanup of superseded revisions: a few list and
// delete calls.
const cleanupTimeout = 2 * time.Minute

// cleanup deletes the revisions the group no longer uses where the fleet
// keeps them (fleet.RevisionCleaner; GCP's retained instance templates):
// before the roll, what an earlier run, a crash or a plain up left; once
// the fleet converged (forward or back), those it rolled off. A failure is
// reported, never fatal: the next rollout, or destroy, tries again.
func (x *run) cleanup(ctx context.Context, when string) {
	c, ok := x.o.Fleet.(fleet.RevisionCleaner)
	if !ok {
		return
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	res, err := c.CleanupRevisions(cctx)
	if err != nil {
		x.emit("revision cleanup failed", fmt.Sprintf("%s: %v (the next rollout or destroy tries again)", when, err))
		return
	}
	if len(res.Deleted)+len(res.InUse)+len(res.Skipped) > 0 {
		x.emit("superseded revisions cleaned", when+": "+res.String())
	}
}

// recreates says whether converging means every instance in service was
// created by the update. On Azure the container image travels in the scale
// set's customData, which runs at a VM's first boot only, so a VM the
// rolling upgrade updated in place reports the latest model while the old
// container goes on serving; max surge falls back to exactly that when its
// quota check for a batch fails (Rolling upgrades with MaxSurge on Virtual
// Machine Scale Sets, Considerations). Not on AWS, where an instance
// refresh with SkipMatching rightly keeps instances already on the target,
// nor on GCP, whose minimal action REPLACE recreates every instance.
func recreates(cloud string) bool { return cloud == "azure" }

// inPlaceText says which instances an update left in place and why that
// fails the rollout.
func inPlaceText(st Status) string {
	return fmt.Sprintf("the cloud reports %s on revision %s, yet none of them was created after the update began (%s): "+
		"updated in place, which does not run the boot script again, so they still run the old image. Max surge falls back "+
		"to an in-place upgrade when its quota check for a batch fails: check the subscription's core quota in the region",
		strings.Join(st.InPlace, ", "), st.Rollout.Target, st.Rollout.Started.UTC().Format(time.RFC3339))
}

// statusText is the cloud's status with its reason, for people.
func statusText(r fleet.Rollout) string {
	s := fmt.Sprintf("%s (target %s, %d%%)", r.Status, r.Target, r.Percent)
	if r.Reason != "" {
		s += ": " + r.Reason
	}
	return s
}

// updateSeen tells whether the group has begun the update since the state
// from: a new target, an update under way or unfinished, a new status, or a
// newer start time — the last catches an update that started and finished
// between two looks (a small Azure scale set can roll within a poll).
func updateSeen(from, now fleet.Rollout) bool {
	return now.Target != from.Target || now.InProgress || !now.Reached ||
		now.Status != from.Status || now.Started.After(from.Started)
}

// rollback puts the previous image back: it sets the previous image, runs
// up and waits for the fleet to converge. Where the platform already rolled
// its failed instances back, it refreshes the stack first. It runs on a context that only Abort
// (a second Ctrl-C) ends.
func (x *run) rollback(ctx context.Context, reason, owner string) (bool, string) {
	o := x.o
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	go func() {
		select {
		case <-o.Abort:
			cancel()
		case <-rctx.Done():
		}
	}()
	rb := &RollbackReport{Owner: owner, Reason: reason, Start: time.Now()}
	x.r.Rollback = rb
	defer func() { rb.End = time.Now() }()
	x.begin(PhaseRollback)
	x.emit("rolling back", fmt.Sprintf("owner %s: %s", owner, reason))
	step := func(s string) { rb.Steps = append(rb.Steps, s); x.emit(s, "") }
	failed := func(what string, err error) (bool, string) {
		x.end("failed")
		rb.Error = fmt.Sprintf("%s: %v", what, err)
		x.emit("rollback failed", rb.Error)
		return false, "rollback failed: " + rb.Error
	}
	// Where the platform rolled its failed instances back (Azure), the
	// scale set model still holds the new image: every later repair,
	// scale-out or surge would boot it, and the rolled-back VMs never count
	// as on the latest model again. So the model goes back too, by the same
	// up as below; the refresh first makes the state hold what the platform
	// left, so the up's diff is against the live model.
	if owner == OwnerPlatform {
		if err := o.Stack.Refresh(rctx); err != nil {
			return failed("refresh the stack", err)
		}
		step("stack refreshed: the platform rolled its failed instances back, the model still names " + x.r.To)
	}
	// Converging back means moving off where the forward update got to.
	from := x.r.Forward
	if from.Target == "" {
		from = x.r.Before
	}
	// Where the platform's update must be stopped before an up (AWS: a
	// running refresh would go on launching the new image, and one with a
	// desired configuration makes the group refuse the up), cancel it and
	// wait until it is over.
	var stopErr error
	if c, ok := o.Fleet.(fleet.Canceller); ok {
		var stopped fleet.Rollout
		stopped, stopErr = x.cancel(rctx, c, step)
		if stopErr == nil && stopped.Target != "" {
			from = stopped
		}
	}
	if err := o.Stack.SetConfig(rctx, ImageKey, x.r.From, false); err != nil {
		return failed("restore "+ImageKey, err)
	}
	step("config restored: " + ImageKey + "=" + x.r.From)
	if stopErr != nil {
		return failed("stop the cloud's rolling update", fmt.Errorf("%w; the config names %s again: run stayup up once stayup status shows no update in progress", stopErr, x.r.From))
	}
	if _, err := o.Stack.Up(rctx); err != nil {
		return failed("up with the previous image", err)
	}
	step("up with the previous image succeeded")
	w := x.wait(rctx, rctx, from, false)
	rb.Final = w.last
	switch w.outcome {
	case outConverged:
		rb.Done = true
		x.end("done")
		x.cleanup(rctx, "after the rollback")
		if owner == OwnerPlatform {
			return true, fmt.Sprintf("the platform rolled the failed instances back; the model was rolled back to %s too and the fleet converged", x.r.From)
		}
		return true, fmt.Sprintf("rolled back to %s: the fleet converged", x.r.From)
	case outInterrupted:
		return failed("wait for the fleet", errors.New("stopped (Ctrl-C twice)"))
	}
	return failed("wait for the fleet", errors.New(w.detail))
}

// cancel stops the fleet's rolling update when one is in progress and
// waits, at most CancelTimeout, until the cloud shows it over (AWS:
// Cancelled, or Successful, Failed, Rollback* when it ended on its own
// first), reporting each status on the way. It returns the last read.
func (x *run) cancel(ctx context.Context, c fleet.Canceller, step func(string)) (fleet.Rollout, error) {
	f := x.o.Fleet
	ro, err := f.Rollout(ctx)
	if err != nil {
		return ro, fmt.Errorf("read the fleet's rollout: %w", err)
	}
	if !ro.InProgress {
		step("no rolling update to cancel: " + statusText(ro))
		return ro, nil
	}
	if err := c.CancelRollout(ctx); err != nil {
		return ro, err
	}
	step("cancel requested: the update was " + statusText(ro))
	start := time.Now()
	deadline := start.Add(x.o.CancelTimeout)
	last := ro.Status
	for {
		if !sleep(ctx, min(x.o.Poll, time.Until(deadline))) {
			return ro, errors.New("stopped (Ctrl-C twice) while waiting for the cancel")
		}
		r, err := f.Rollout(ctx)
		if err != nil {
			x.emit("reading the fleet failed", err.Error())
		} else {
			ro = r
			if ro.Status != last {
				x.emit("cloud rollout status", statusText(ro))
				last = ro.Status
			}
			if !ro.InProgress {
				step(fmt.Sprintf("the update stopped after %v: %s", time.Since(start).Round(time.Millisecond), statusText(ro)))
				return ro, nil
			}
		}
		if !time.Now().Before(deadline) {
			return ro, fmt.Errorf("the update was still %s %v after the cancel", statusText(ro), x.o.CancelTimeout)
		}
	}
}

func mixText(m map[string]int) string {
	var parts []string
	for k, v := range m {
		if k == "" {
			k = "(none)"
		}
		parts = append(parts, fmt.Sprintf("%s×%d", k, v))
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}
