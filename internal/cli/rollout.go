package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"stayup/infra"
	"stayup/internal/graph"
	"stayup/internal/probe"
	"stayup/internal/project"
	"stayup/internal/rollout"
	"stayup/internal/runs"
	"stayup/internal/stackops"
)

// Per-cloud bounds on each wait for the cloud's rolling update: three
// instances replaced one at a time with surge, each booting, pulling the
// image and passing the checks (AWS also waits out the health check grace
// and the deregistration delay; Azure's rolling upgrade batches are slower).
var rolloutTimeouts = map[string]time.Duration{
	"aws":   30 * time.Minute,
	"gcp":   30 * time.Minute,
	"azure": 45 * time.Minute,
}

// openRolloutStack opens the stack rollout changes.
type openRolloutStack func(ctx context.Context, o stackops.Options) (rollout.Stack, error)

func openRealRolloutStack(ctx context.Context, o stackops.Options) (rollout.Stack, error) {
	st, err := stackops.Select(ctx, o)
	if errors.Is(err, stackops.ErrNoCLI) {
		return nil, fmt.Errorf("open stack %s: %w", o.Stack, errNoPulumi)
	}
	return st, err
}

type rolloutOpts struct {
	stack         string
	image         string
	yes           bool
	allowFailures int
	noRollback    bool
	timeout       time.Duration
	versionPat    string
	json          bool
	noSave        bool

	root      string
	reports   string           // where the run is kept; "" saves nothing
	stackOpts stackops.Options // the program and CLI settings; tests set their own
	openStack openRolloutStack
	openFleet openFleetFunc
	// findWatcher finds an Azure region's Network Watcher to pin; nil: the
	// pin is left as it is (tests).
	findWatcher azureWatcherFinder
	poll        time.Duration // 0: rollout's defaults
	baseline    time.Duration
	settle      time.Duration
	signals     <-chan os.Signal
	probe       []probe.Option
}

func newRolloutCmd(s streams) *cobra.Command {
	o := &rolloutOpts{openStack: openRealRolloutStack, openFleet: openStackFleet, stackOpts: stackops.Options{Program: infra.Program}, findWatcher: resolveAzureWatcher}
	cmd := &cobra.Command{
		Use:   "rollout --stack S --image REF [--yes] [--allow-failures 0] [--no-rollback] [--timeout D] [--no-save] [--json]",
		Short: "Roll a deployed stack to a new image and prove, with a probe running, that clients saw no downtime",
		Long: `rollout checks that the stack is deployed, that no rolling update is in
progress, that the fleet is at its desired capacity and all healthy, and that
the endpoint answers cleanly for a few seconds. It then starts a probe on the
stack's url (recording X-Stayup-Version, or the version the body prints,
--version-pattern), sets stayup:image, runs up, and
waits for the cloud's own rolling update (AWS instance refresh, GCP managed
instance group update, Azure rolling upgrade) to replace every instance, then
keeps probing through a settle period. The report shows each phase, the
probe's figures and the version mix over time.

The verdict is success when clients saw at most --allow-failures failures and
every instance in service runs the new image. Otherwise the rollout is rolled
back: where the platform rolled back by itself (Azure), rollout refreshes the
stack and restores the previous stayup:image; elsewhere it sets the previous
image, runs up and waits — unless --no-rollback. The first Ctrl-C stops the
rollout and rolls back; a second one stops the rollback too. Exit 0 only on
success, 130 when interrupted. The report is kept, as the run goes, in
.stayup/reports/<stack>/<time>-rollout.json (not with --no-save), for
stayup report. See docs/rollout.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			root, err := project.Root(workDir())
			if err != nil {
				return err
			}
			o.root = root
			o.reports = reportsDir(root, o.stack, o.noSave)
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Execute(cmd.Context(), s)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.stack, "stack", "", "the deployed stack")
	f.StringVar(&o.image, "image", "", "the container image to roll to")
	f.BoolVar(&o.yes, "yes", false, "do not ask before changing the stack")
	f.IntVar(&o.allowFailures, "allow-failures", 0, "how many failed probe requests still count as zero downtime")
	f.BoolVar(&o.noRollback, "no-rollback", false, "leave a failed rollout as it is")
	f.DurationVar(&o.timeout, "timeout", 0, "how long to wait for the cloud's rolling update, each way (default: AWS and GCP 30m, Azure 45m)")
	f.StringVar(&o.versionPat, "version-pattern", rollout.DefaultVersionPattern, "when a response has no X-Stayup-Version header, read the version from the body with this regular expression's first group (the default matches hello-app); empty: header only")
	f.BoolVar(&o.json, "json", false, "print the report as JSON (docs/rollout.md)")
	f.BoolVar(&o.noSave, "no-save", false, "do not keep the report under .stayup/reports/<stack>/ (stayup report charts the kept runs)")
	return cmd
}

// Validate checks the flags before anything runs.
func (o *rolloutOpts) Validate() error {
	switch {
	case o.stack == "":
		known, _ := project.Stacks(o.root)
		return usagef("rollout on which stack? give --stack S (stack files: %s)", strings.Join(known, ", "))
	case strings.TrimSpace(o.image) == "":
		return usagef("rollout of which image? give --image REF")
	case o.allowFailures < 0:
		return usagef("--allow-failures %d: must be >= 0", o.allowFailures)
	case o.timeout < 0:
		return usagef("--timeout %v: must be positive", o.timeout)
	}
	if _, err := probe.CompileBodyPattern(o.versionPat); err != nil {
		return usagef("--version-pattern: %v", err)
	}
	return nil
}

// Execute runs the rollout.
func (o *rolloutOpts) Execute(ctx context.Context, s streams) error {
	signals, stopSignals := interrupts(o.signals)
	defer stopSignals()
	// The first Ctrl-C ends ctx: the rollout stops and rolls back (unless
	// --no-rollback). The second closes abort: the rollback stops too, and
	// a running Pulumi operation stops at once.
	what := "rolling back to the previous image (Ctrl-C again to stop that too)"
	if o.noRollback {
		what = "not rolling back (--no-rollback)"
	}
	ctx, abort, stop := handleInterrupts(ctx, signals, s.err,
		"interrupted: stopping the rollout; "+what,
		"stopping at once; the stack may be left between images (see stayup status)")
	defer stop()

	so := o.stackOpts
	so.Root, so.Stack, so.Progress, so.Abort = o.root, o.stack, s.err, abort
	st, err := o.openStack(ctx, so)
	if err != nil {
		return err
	}
	sf, err := o.openFleet(ctx, o.root, o.stack)
	if err != nil {
		return err
	}
	defer sf.Close()
	if err := checkURL(sf.URL); err != nil {
		return fmt.Errorf("stack %s url output %v", o.stack, err)
	}
	if err := templatesRetained(ctx, st, sf.Fleet.Cloud(), o.stack); err != nil {
		fmt.Fprintf(s.err, "stayup: %v\n", err)
		return exitError{1}
	}
	timeout := o.timeout
	if timeout == 0 {
		timeout = rolloutTimeouts[sf.Fleet.Cloud()]
		if timeout == 0 {
			timeout = 30 * time.Minute
		}
	}
	settle := o.settle
	if settle == 0 {
		settle = 30 * time.Second
	}
	live := &rolloutView{w: s.err}
	var saver *runSaver
	ro, err := rollout.Prepare(ctx, rollout.Options{
		StackName: o.stack, Stack: st, Fleet: sf.Fleet, URL: sf.URL, Image: o.image,
		AllowFailures: o.allowFailures, NoRollback: o.noRollback, Timeout: timeout,
		Poll: o.poll, Baseline: o.baseline, Settle: settle, Probe: o.probe, Abort: abort, VersionPattern: o.versionPat,
		OnEvent: live.event, OnStatus: live.status,
		OnCheckpoint: func(r rollout.Report) { saver.checkpoint(r) },
	})
	var refused *rollout.RefusedError
	if errors.As(err, &refused) {
		fmt.Fprintf(s.err, "stayup: %v\n", err)
		return exitError{1}
	}
	if err != nil {
		return err
	}
	ro.Plan.PrintPlan(s.err)
	if err := confirm(s, fmt.Sprintf("Roll stack %s to %s (sets %s and runs up)?", o.stack, o.image, rollout.ImageKey), "rollout", o.stack, o.yes); err != nil {
		return err
	}
	// The rollout's up, and its rollback's, must change the image and
	// nothing else: a stack deployed before stayup pinned its base image
	// and zones gets them pinned to what it runs first, so neither up can
	// move the fleet to a newer OS and the rollback restores what ran.
	if p, ok := st.(pinner); ok {
		if err := pinBefore(ctx, p, o.stack, o.root, false, resolveAzureImage, s); err != nil {
			return err
		}
		if o.findWatcher != nil {
			if err := pinWatcher(ctx, p, o.stack, o.root, o.findWatcher, s); err != nil {
				return err
			}
		}
	}
	fmt.Fprintf(s.err, "probing %s; waiting up to %v for the cloud's rolling update\n", sf.URL, timeout)
	start := time.Now()
	saver = startSave(o.reports, o.root, runs.Rollout, start, rollout.Report{Plan: ro.Plan, Start: start, End: start, Verdict: rollout.Running}, s.err)
	rep, err := ro.Run(ctx)
	if err != nil && rep.Verdict == "" {
		rep.End, rep.Verdict, rep.Reason = time.Now(), rollout.Failed, err.Error()
		saver.finish(rep)
		return err
	}
	saver.finish(rep)
	if o.json {
		enc := json.NewEncoder(s.out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		rep.Print(s.out)
	}
	switch rep.Verdict {
	case rollout.Succeeded:
		return nil
	case rollout.Interrupted:
		return exitError{exitInterrupted}
	}
	return exitError{1}
}

// rolloutView is the live view: each timeline event as a line, and the
// fleet's rolling state and the probe's count whenever they change.
type rolloutView struct {
	mu   sync.Mutex
	w    io.Writer
	last string
}

func (v *rolloutView) event(e rollout.Event) {
	v.mu.Lock()
	defer v.mu.Unlock()
	line := fmt.Sprintf("%s [%s] %s", e.Time.Format("15:04:05.000"), e.Phase, e.Kind)
	if e.Detail != "" {
		line += " (" + e.Detail + ")"
	}
	fmt.Fprintln(v.w, line)
}

func (v *rolloutView) status(st rollout.Status) {
	v.mu.Lock()
	defer v.mu.Unlock()
	var line string
	if st.Err != nil {
		line = "reading the fleet: " + st.Err.Error()
	} else {
		r := st.Rollout
		line = fmt.Sprintf("  %s %d%%: %d of %d desired in service on %s, %d listed; probe %d requests, %d failed",
			r.Status, r.Percent, st.OnTarget, st.Capacity.Desired, r.Target, len(st.Instances), st.Probe.Requests, st.Probe.Failures)
	}
	// Request counts change every read: compare without them.
	key := line[:max(0, strings.LastIndex(line, "; probe"))] + fmt.Sprint(st.Probe.Failures)
	if key != v.last {
		fmt.Fprintln(v.w, line)
		v.last = key
	}
}

// templatesRetained refuses a GCP rollout on a stack whose state does not
// yet say to keep replaced instance templates: Pulumi acts on a replaced
// resource as its state says, not as the new program does ("The data saved
// to state defines what we do with the old version", pulumi/pulumi#13428),
// so the rollout's up would delete the old template while the group still
// runs it, Compute would refuse, and the up, then its rollback, would fail.
// One plain up records the option (it changes nothing on the fleet).
func templatesRetained(ctx context.Context, st rollout.Stack, cloud, stack string) error {
	ex, ok := st.(interface {
		Export(ctx context.Context) (json.RawMessage, error)
	})
	if cloud != "gcp" || !ok {
		return nil
	}
	raw, err := ex.Export(ctx)
	if err != nil {
		return err
	}
	g, err := graph.FromExport(raw)
	if err != nil {
		return err
	}
	for _, r := range g.ByType("gcp:compute/instanceTemplate:InstanceTemplate") {
		if !r.RetainOnDelete {
			return fmt.Errorf("refusing to roll out: stack %s was deployed by a stayup that deleted replaced instance templates, which Compute refuses while the group still runs them; run `stayup up --stack %s` once (it changes nothing on the fleet: it records that old templates are kept), then roll out", stack, stack)
		}
	}
	return nil
}
