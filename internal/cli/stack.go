package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/spf13/cobra"

	"stayup/infra"
	"stayup/internal/fleet"
	gcpfleet "stayup/internal/fleet/gcp"
	"stayup/internal/plan"
	"stayup/internal/policy"
	"stayup/internal/project"
	"stayup/internal/stackops"
)

// stackOps is what up, preview and destroy need of a stack; tests fake it.
type stackOps interface {
	EnsureGenerated(ctx context.Context) ([]string, error)
	Config(ctx context.Context) (map[string]auto.ConfigValue, error)
	Preview(ctx context.Context) (stackops.Changes, error)
	PreviewDestroy(ctx context.Context) (stackops.Changes, error)
	Up(ctx context.Context) (map[string]any, error)
	Destroy(ctx context.Context) error
	Outputs(ctx context.Context) (map[string]any, error)
}

// openStack opens a stack for an operation; create says whether a stack
// new to the backend is created (up, preview) or an error (destroy).
type openStack func(ctx context.Context, o stackops.Options, create bool) (stackOps, error)

func openRealStack(ctx context.Context, o stackops.Options, create bool) (stackOps, error) {
	if create {
		return stackops.Upsert(ctx, o)
	}
	return stackops.Select(ctx, o)
}

type stackOpOpts struct {
	op     string // up, preview or destroy
	stack  string
	yes    bool
	failOn string
	force  bool
	// refreshBase moves the pinned base image to the newest (up).
	refreshBase bool
	// skipDoctor deploys without doctor's checks of the account.
	skipDoctor bool

	severity policy.Severity

	root  string
	open  openStack
	check func(stack string, cfg map[string]string) (*plan.Result, error)
	// doctor checks the account before up (see doctor.go); nil: not at all.
	doctor func(ctx context.Context, stack string, cfg map[string]string, outputs map[string]any, s streams) error
	// fleetOf opens a deployed stack's fleet from its outputs, for up to
	// restore what a chaos run that died left held; nil: up does not.
	fleetOf func(ctx context.Context, stack string, outputs map[string]any) (*stackFleet, error)
	// wait is how long up waits, after the engine returns, for the fleet
	// to serve (0: not at all); poll how often it reads the fleet.
	wait time.Duration
	poll time.Duration
	// templates opens the cleanup of a GCP stack's retained instance
	// templates, for destroy; nil: destroy does not clean them.
	templates openTemplateCleaner
	signals   <-chan os.Signal // nil: the process's interrupts
	// azureImage resolves the newest Azure image version to pin;
	// azureWatcher finds the region's Network Watcher (nil: not looked up).
	azureImage   newestAzureImage
	azureWatcher azureWatcherFinder
	// certificate reads a GCP stack's managed certificate after up, to
	// say the HTTPS phase and move it on (nil: not read).
	certificate certReader
}

func newStackOpCmd(s streams, op, short, long string) *cobra.Command {
	o := &stackOpOpts{op: op, open: openRealStack, check: plan.Run, doctor: upDoctor, fleetOf: fleetFromOutputs, templates: openRealTemplateCleaner, azureImage: resolveAzureImage, azureWatcher: resolveAzureWatcher, certificate: readCertificate}
	cmd := &cobra.Command{
		Use:   op + " --stack S",
		Short: short,
		Long:  long,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			root, err := project.Root(workDir())
			if err != nil {
				return err
			}
			o.root = root
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Execute(cmd.Context(), s)
		},
	}
	cmd.Flags().StringVar(&o.stack, "stack", "", "the stack (its config is stacks/Pulumi.<stack>.yaml)")
	if op != "preview" {
		cmd.Flags().BoolVar(&o.yes, "yes", false, "do not ask before changing anything")
	}
	if op == "up" {
		cmd.Flags().StringVar(&o.failOn, "fail-on", string(policy.High), "refuse to deploy on a compliance finding at or above this severity: critical, high, medium or low")
		cmd.Flags().BoolVar(&o.force, "force", false, "deploy despite compliance findings (they are still printed) or a rolling update in progress")
		cmd.Flags().BoolVar(&o.refreshBase, "refresh-base-image", false, "move the pinned OS image (stayup:baseImage) to the newest one: the fleet rolls onto it")
		cmd.Flags().DurationVar(&o.wait, "wait", defaultUpWait, "after deploying, wait this long for the fleet to serve: every instance on the current template and the desired size in service behind the load balancer (0: do not wait)")
		cmd.Flags().BoolVar(&o.skipDoctor, "skip-doctor", false, "deploy without first checking the account (stayup doctor)")
	}
	return cmd
}

const interruptHelp = `
Ctrl-C once cancels gracefully: Pulumi finishes the cloud operations in flight
and saves the state. Ctrl-C twice stops at once. Either way stayup then
releases the stack's lock and refreshes it if operations were left pending.

State backend: PULUMI_BACKEND_URL when set, else the one "pulumi login"
chose, else a file backend in .pulumi-state/ in the project (its secrets need
PULUMI_CONFIG_PASSPHRASE).`

func newUpCmd(s streams) *cobra.Command {
	return newStackOpCmd(s, "up", "Deploy a stack: show the changes, ask, then apply them",
		`up previews the stack's changes, asks before applying them (unless --yes),
then deploys with the Pulumi engine and prints the stack outputs. A stack new
to the state backend is created from its file in stacks/; values it needs once
(the Azure SSH key) are generated and stored as secret config.

The engine returns before the fleet serves (a new GCP group starts empty and
its autoscaler fills it; no cloud's provider waits for a rolling update), so
up then waits, at most --wait, until every instance runs the group's current
template and the desired size is in service behind the load balancer,
printing each change. On timeout, or Ctrl-C while waiting, it says the fleet
is still coming up and exits non-zero; nothing is undone, and stayup status
shows where it stands.`+interruptHelp)
}

func newPreviewCmd(s streams) *cobra.Command {
	return newStackOpCmd(s, "preview", "Show what up would change, changing nothing",
		`preview runs the program with the Pulumi engine against the stack's state and
the cloud, and shows what up would create, update and delete.`+interruptHelp)
}

func newDestroyCmd(s streams) *cobra.Command {
	return newStackOpCmd(s, "destroy", "Delete every resource of a stack, after showing them and asking",
		`destroy shows what it would delete, asks (unless --yes), then deletes every
resource of the stack. The stack and its config stay. On GCP it then deletes
the stack's instance templates the program keeps when it replaces them (found
by their labels), also when the stack has no resources left (after a plain
pulumi destroy).`+interruptHelp)
}

// Validate checks the flags before anything runs.
func (o *stackOpOpts) Validate() error {
	if o.stack == "" {
		known, _ := project.Stacks(o.root)
		return usagef("%s which stack? give --stack S (stack files: %s)", o.op, strings.Join(known, ", "))
	}
	if o.failOn == "" {
		o.failOn = string(policy.High)
	}
	sev, err := policy.ParseSeverity(o.failOn)
	if err != nil {
		return usagef("--fail-on: %v", err)
	}
	o.severity = sev
	return nil
}

// Execute runs the operation.
func (o *stackOpOpts) Execute(ctx context.Context, s streams) error {
	signals, stopSignals := interrupts(o.signals)
	defer stopSignals()
	ctx, abort, stop := handleInterrupts(ctx, signals, s.err,
		"interrupted: cancelling gracefully, letting Pulumi finish the operations in flight (Ctrl-C again to stop at once, which may leave operations pending)",
		"stopping at once; the stack will be unlocked and refreshed afterwards")
	defer stop()

	st, err := o.open(ctx, stackops.Options{
		Root:     o.root,
		Stack:    o.stack,
		Program:  infra.Program,
		Progress: s.out,
		Abort:    abort,
	}, o.op != "destroy")
	if err != nil {
		return err
	}
	switch o.op {
	case "preview":
		// A preview shows what the next up would change, so it pins what a
		// deployed stack runs first, as up does: after an upgrade of
		// stayup, an unchanged stack previews no change.
		if p, ok := st.(pinner); ok {
			if err := pinBefore(ctx, p, o.stack, o.root, false, o.azureImage, s); err != nil {
				return err
			}
		}
		if err := o.checkConfig(ctx, st, s); err != nil {
			return err
		}
		_, err := st.Preview(ctx)
		return err
	case "destroy":
		changes, err := st.PreviewDestroy(ctx)
		if err != nil {
			return err
		}
		// Read where the retained templates live before the outputs go.
		gcpProject, err := o.gcpProject(ctx, st)
		if err != nil {
			return err
		}
		if changes.Total() == 0 {
			fmt.Fprintf(s.out, "stack %s has no resources: nothing to destroy\n", o.stack)
			return o.cleanTemplates(ctx, gcpProject, s)
		}
		if err := confirm(s, fmt.Sprintf("Delete these %d resources of stack %s?", changes.Total(), o.stack), o.op, o.stack, o.yes); err != nil {
			return err
		}
		if err := st.Destroy(ctx); err != nil {
			return err
		}
		fmt.Fprintf(s.out, "stack %s destroyed; its config stays in %s\n", o.stack, project.StackFile(o.root, o.stack))
		return o.cleanTemplates(ctx, gcpProject, s)
	}

	set, err := st.EnsureGenerated(ctx)
	if err != nil {
		return err
	}
	for _, k := range set {
		fmt.Fprintf(s.err, "stayup: generated %s and stored it as secret config in %s\n", k, project.StackFile(o.root, o.stack))
	}
	pins, pinned := st.(pinner)
	if pinned {
		if err := pinBefore(ctx, pins, o.stack, o.root, o.refreshBase, o.azureImage, s); err != nil {
			return err
		}
		if o.azureWatcher != nil {
			if err := pinWatcher(ctx, pins, o.stack, o.root, o.azureWatcher, s); err != nil {
				return err
			}
		}
	}
	if err := o.checkConfig(ctx, st, s); err != nil {
		return err
	}
	if err := o.beforeUp(ctx, st, s); err != nil {
		return err
	}
	changes, err := st.Preview(ctx)
	if err != nil {
		return err
	}
	if changes.Changed() == 0 {
		fmt.Fprintf(s.out, "stack %s is up to date: nothing to change\n", o.stack)
		return nil
	}
	if err := confirm(s, fmt.Sprintf("Apply these changes to stack %s?", o.stack), o.op, o.stack, o.yes); err != nil {
		return err
	}
	outputs, err := st.Up(ctx)
	if pinned {
		// Also after Ctrl-C: what the up created is what the next one keeps.
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		pinAfter(pctx, pins, o.stack, o.root, outputs, err, s)
		cancel()
	}
	if err != nil {
		return err
	}
	if pinned && o.certificate != nil {
		domain := ""
		if values, err := pins.Config(ctx); err == nil {
			domain = values["stayup:domain"].Value
		}
		afterUpHTTPS(ctx, pins, o.stack, o.root, domain, outputs, o.certificate, s)
	}
	u, _ := outputs["url"].(string)
	if err := o.waitForFleet(ctx, outputs, s); err != nil {
		return err
	}
	if u != "" {
		fmt.Fprintf(s.out, "\nstack %s is up: %s\n", o.stack, u)
	}
	return nil
}

// waitForFleet, after the engine returned, waits for the fleet to serve
// (see the up command's help). A fleet it cannot open is left to status.
func (o *stackOpOpts) waitForFleet(ctx context.Context, outputs map[string]any, s streams) error {
	if o.wait <= 0 || o.fleetOf == nil || outputs["fleet"] == nil {
		return nil
	}
	watch := fmt.Sprintf("watch it with: stayup status --stack %s", o.stack)
	sf, err := o.fleetOf(ctx, o.stack, outputs)
	if err != nil {
		fmt.Fprintf(s.err, "stayup: deployed, but the fleet could not be read to wait for it (%v); %s\n", err, watch)
		return nil
	}
	defer sf.Close()
	poll := o.poll
	if poll <= 0 {
		poll = 10 * time.Second
	}
	fmt.Fprintf(s.err, "stayup: deployed; waiting up to %v for the fleet to serve (Ctrl-C stops waiting, nothing is undone)\n", o.wait)
	ok, line := waitServing(ctx, sf.Fleet, o.wait, poll, s.err)
	if ok {
		return nil
	}
	u, _ := outputs["url"].(string)
	if ctx.Err() != nil {
		fmt.Fprintf(s.err, "stayup: stopped waiting: stack %s is deployed (%s) and its fleet is still coming up (%s); %s\n", o.stack, u, line, watch)
		return exitError{exitInterrupted}
	}
	return fmt.Errorf("stack %s is deployed (%s) but its fleet is still coming up after %v: %s; %s", o.stack, u, o.wait, line, watch)
}

// gcpProject is the GCP project a stack deploys to ("" on other clouds):
// the fleet output's, else gcp:project in the stack's config.
func (o *stackOpOpts) gcpProject(ctx context.Context, st stackOps) (string, error) {
	if o.templates == nil {
		return "", nil
	}
	cfg, err := st.Config(ctx)
	if err != nil {
		return "", err
	}
	if cfg["stayup:cloud"].Value != "gcp" {
		return "", nil
	}
	if out, err := st.Outputs(ctx); err == nil {
		if fo, ok := out["fleet"].(map[string]any); ok {
			if p, _ := fo["project"].(string); p != "" {
				return p, nil
			}
		}
	}
	if p := cfg["gcp:project"].Value; p != "" {
		return p, nil
	}
	return "", fmt.Errorf("stack %s: no gcp:project in its config and no fleet output: cannot tell where its instance templates are", o.stack)
}

// cleanTemplates deletes a GCP stack's retained instance templates after
// destroy. Running destroy again retries it.
func (o *stackOpOpts) cleanTemplates(ctx context.Context, gcpProject string, s streams) error {
	if gcpProject == "" {
		return nil
	}
	c, closeFn, err := o.templates(ctx, gcpProject, o.stack)
	if err == nil {
		defer closeFn()
		var res fleet.Cleanup
		res, err = c.Cleanup(ctx, "")
		if err == nil {
			fmt.Fprintf(s.out, "instance templates of stack %s in project %s: %s\n", o.stack, gcpProject, res)
			if len(res.InUse) > 0 {
				return fmt.Errorf("instance templates %v of stack %s are still in use (a group outside the stack?): run stayup destroy --stack %s again once nothing uses them", res.InUse, o.stack, o.stack)
			}
			return nil
		}
	}
	return fmt.Errorf("stack %s: delete its retained instance templates in project %s: %w\nrun stayup destroy --stack %s again, or by hand: gcloud compute instance-templates list --project %s --filter='properties.labels.%s=%s'",
		o.stack, gcpProject, err, o.stack, gcpProject, gcpfleet.StackLabel, gcpfleet.LabelValue(o.stack))
}

// checkConfig runs the program offline, under mocks, with the stack's
// config as the engine will get it (through the CLI, so from stacks/ and
// decrypted): invalid config fails here, one line per key, before any
// cloud call. Under the Automation API the program runs inline, without
// the PULUMI_CONFIG that infra.Program checks for unknown keys, so this is
// where they are caught.
func (o *stackOpOpts) checkConfig(ctx context.Context, st stackOps, s streams) error {
	values, err := st.Config(ctx)
	if err != nil {
		return err
	}
	cfg := make(map[string]string, len(values))
	for k, v := range values {
		cfg[k] = v.Value
	}
	res, err := o.check(o.stack, cfg)
	if err != nil {
		return fmt.Errorf("check stack %s before deploying: %w", o.stack, err)
	}
	for _, f := range res.Findings {
		if f.Waived != "" {
			fmt.Fprintf(s.err, "stayup: waived %s: %s (%s)\n", f.Rule, f.Message, f.Waived)
			continue
		}
		fmt.Fprintf(s.err, "stayup: %s %s: %s\n", f.Severity, f.Rule, f.Message)
	}
	if o.op == "up" && !o.skipDoctor && o.doctor != nil {
		outputs, err := st.Outputs(ctx)
		if err != nil {
			outputs = nil // not deployed yet: nothing to discount
		}
		if err := o.doctor(ctx, o.stack, cfg, outputs, s); err != nil {
			return err
		}
	}
	// up refuses what check would fail: the findings at or above
	// --fail-on, unless --force says the operator has read them.
	if blocking := policy.Blocking(res.Findings, o.severity); o.op == "up" && len(blocking) > 0 {
		if o.force {
			fmt.Fprintf(s.err, "stayup: deploying despite %d finding(s) at or above %s (--force)\n", len(blocking), o.severity)
			return nil
		}
		return fmt.Errorf("%w\nfix them, or deploy anyway with --force (see stayup check --stack %s)", &policy.GateError{FailOn: o.severity, Findings: blocking}, o.stack)
	}
	return nil
}

// beforeUp looks at the deployed fleet before an up. It puts back what a
// chaos run that died left held (see restoreHolds in status.go): the
// program does not declare it, so the deploy would not. And it refuses an
// up during the cloud's rolling update, unless --force: on AWS the
// provider cancels a running instance refresh and starts another when the
// launch template changes, and on Azure and GCP the model or template
// would change under the roll; rollout owns those, and status shows when
// they are over. A stack not deployed yet has no fleet; a fleet that
// cannot be opened here is left to the deploy to report.
func (o *stackOpOpts) beforeUp(ctx context.Context, st stackOps, s streams) error {
	if o.fleetOf == nil {
		return nil
	}
	out, err := st.Outputs(ctx)
	if err != nil || out["fleet"] == nil {
		slog.Debug("no deployed fleet to look at before up", "stack", o.stack, "err", err)
		return nil
	}
	sf, err := o.fleetOf(ctx, o.stack, out)
	if err != nil {
		slog.Debug("could not open the fleet before up", "stack", o.stack, "err", err)
		return nil
	}
	defer sf.Close()
	restoreHolds(ctx, sf.Fleet, s.err)
	r, err := sf.Fleet.Rollout(ctx)
	if err != nil {
		fmt.Fprintf(s.err, "stayup: warning: could not tell whether a rolling update is in progress: %v\n", err)
		return nil
	}
	if !r.InProgress {
		return nil
	}
	msg := fmt.Sprintf("a rolling update is in progress on stack %s (%s)", o.stack, rolloutText(r))
	if o.force {
		fmt.Fprintf(s.err, "stayup: %s; deploying anyway (--force)\n", msg)
		return nil
	}
	return fmt.Errorf("%s: an up now would restart it or change what it rolls to; wait until `stayup status --stack %s` shows none, or deploy anyway with --force", msg, o.stack)
}

// errNotConfirmed is returned when the user answers no.
var errNotConfirmed = errors.New("not confirmed: nothing changed")

// confirm asks a yes/no question on the streams unless yes is set. Without
// an answer (no terminal, input closed) it refuses, naming --yes, so a
// script never changes infrastructure by accident.
func confirm(s streams, question, op, stack string, yes bool) error {
	if yes {
		return nil
	}
	fmt.Fprintf(s.err, "%s [y/N] ", question)
	line, err := bufio.NewReader(s.in).ReadString('\n')
	answer := strings.ToLower(strings.TrimSpace(line))
	if err != nil && answer == "" {
		fmt.Fprintln(s.err)
		return usagef("%s --stack %s changes real infrastructure and there is no one to ask: pass --yes to go ahead without asking", op, stack)
	}
	if !slices.Contains([]string{"y", "yes"}, answer) {
		return errNotConfirmed
	}
	return nil
}

// handleInterrupts turns the first interrupt into a graceful cancel (ctx
// ends: the CLI is asked to cancel and finishes what is in flight) and the
// second into an abort (the CLI stops at once). stop releases the handler.
func handleInterrupts(parent context.Context, signals <-chan os.Signal, w io.Writer, first, second string) (ctx context.Context, abort <-chan struct{}, stop func()) {
	ctx, cancel := context.WithCancel(parent)
	aborted := make(chan struct{})
	done := make(chan struct{})
	var once sync.Once
	go func() {
		select {
		case <-signals:
			fmt.Fprintln(w, "\nstayup: "+first)
			cancel()
		case <-done:
			return
		}
		select {
		case <-signals:
			fmt.Fprintln(w, "\nstayup: "+second)
			close(aborted)
		case <-done:
		}
	}()
	return ctx, aborted, func() {
		once.Do(func() { close(done) })
		cancel()
	}
}

// interrupts is the channel Ctrl-C arrives on: the one given (tests), or
// the process's interrupts, whose delivery stop ends.
func interrupts(given <-chan os.Signal) (<-chan os.Signal, func()) {
	if given != nil {
		return given, func() {}
	}
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt)
	return ch, func() { signal.Stop(ch) }
}
