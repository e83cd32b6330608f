package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"stayup/internal/chaos"
	"stayup/internal/fleet"
	"stayup/internal/probe"
	"stayup/internal/project"
	"stayup/internal/runs"
)

// exitInterrupted is the shell's code for a process ended by Ctrl-C.
const exitInterrupted = 130

type chaosOpts struct {
	stack      string
	count      int
	mode       string
	instances  []string
	dryRun     bool
	yes        bool
	minHealthy int
	timeout    time.Duration
	json       bool
	noSave     bool

	root     string
	reports  string // where the run is kept; "" saves nothing
	open     openFleetFunc
	poll     time.Duration // how often the fleet is read; 0: chaos's default
	baseline time.Duration // probe before the kill; 0: chaos's default
	signals  <-chan os.Signal
	probe    []probe.Option // tests probe faster
}

func newChaosCmd(s streams) *cobra.Command {
	o := &chaosOpts{open: openStackFleet}
	cmd := &cobra.Command{
		Use:   "chaos --stack S [--count 1] [--min-healthy 2] [--mode abrupt|graceful] [--instance ID] [--dry-run] [--yes] [--timeout D] [--no-save] [--json]",
		Short: "Kill instances of a deployed stack and measure how it heals, with a probe running",
		Long: `chaos checks that the fleet is at its desired capacity and all healthy, picks
instances at random (or --instance), asks, starts a probe on the stack's url,
kills them, and watches until the fleet is whole again or --timeout. It then
reports the timeline (killed, seen unhealthy by the load balancer,
replacement launched, replacement healthy), time to detect and to recover,
what clients saw, and what the stack's own settings predict.

--mode abrupt   the instance crashes without warning, and the platform must
                notice by itself: AWS terminates it skipping the OS shutdown,
                GCP hard-resets the VM (it reboots under its name, or
                autohealing recreates it), Azure kills the container in the
                VM with systemd kept from restarting it
--mode graceful the group removes the instance itself, draining it first
                (AWS terminate in the group, GCP recreate in the group, Azure
                add a VM, wait until it is healthy, delete the victim)

Random victims are taken from the zones with the most instances in service.
It refuses a kill that would leave fewer than --min-healthy instances in
service or fewer than two zones serving, a fleet that is not whole, and a
platform that would not heal (Azure: repairs suspended). The group's minimum
size is no limit: it is what the platform restores. --timeout defaults to
what the stack's own settings predict, with a margin. Ctrl-C stops killing
and watching, prints the report so far, and exits 130. Exit 1 when the fleet
did not recover within the timeout. The report is kept, as the run goes, in
.stayup/reports/<stack>/<time>-chaos.json (not with --no-save or --dry-run),
for stayup report. See docs/chaos.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			root, err := project.Root(workDir())
			if err != nil {
				return err
			}
			o.root = root
			o.reports = reportsDir(root, o.stack, o.noSave)
			if !cmd.Flags().Changed("count") && len(o.instances) > 0 {
				o.count = 0
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Execute(cmd.Context(), s)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.stack, "stack", "", "the deployed stack")
	f.IntVar(&o.count, "count", 1, "how many instances to kill, picked at random among the healthy")
	f.StringVar(&o.mode, "mode", string(fleet.Abrupt), "abrupt (the instance just dies) or graceful (the group drains and replaces it)")
	f.StringSliceVar(&o.instances, "instance", nil, "kill this instance (repeat for more) instead of random ones")
	f.BoolVar(&o.dryRun, "dry-run", false, "run the checks and show what would be killed, killing nothing")
	f.BoolVar(&o.yes, "yes", false, "do not ask before killing")
	f.IntVar(&o.minHealthy, "min-healthy", chaos.DefaultMinHealthy, "refuse a kill that would leave fewer instances than this in service")
	f.DurationVar(&o.timeout, "timeout", 0, "how long to wait for the fleet to heal (default: what the stack's settings predict, with a margin)")
	f.BoolVar(&o.json, "json", false, "print the report as JSON (docs/chaos.md)")
	f.BoolVar(&o.noSave, "no-save", false, "do not keep the report under .stayup/reports/<stack>/ (stayup report charts the kept runs)")
	return cmd
}

// Validate checks the flags before anything runs.
func (o *chaosOpts) Validate() error {
	switch {
	case o.stack == "":
		known, _ := project.Stacks(o.root)
		return usagef("chaos on which stack? give --stack S (stack files: %s)", strings.Join(known, ", "))
	case len(o.instances) == 0 && o.count < 1:
		return usagef("--count %d: kill at least one instance", o.count)
	case len(o.instances) > 0 && o.count > 0 && o.count != len(o.instances):
		return usagef("--count %d with %d --instance: give one or the other", o.count, len(o.instances))
	case o.timeout < 0:
		return usagef("--timeout %v: must be positive", o.timeout)
	case o.minHealthy < 1:
		return usagef("--min-healthy %d: keep at least one instance in service", o.minHealthy)
	}
	if _, err := fleet.ParseKillMode(o.mode); err != nil {
		return usagef("--%v", err)
	}
	return nil
}

// Execute runs the experiment.
func (o *chaosOpts) Execute(ctx context.Context, s streams) error {
	signals, stopSignals := interrupts(o.signals)
	defer stopSignals()
	// The first Ctrl-C ends ctx: chaos stops killing and watching and the
	// report so far is printed. A second one kills the process as usual.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-signals:
			fmt.Fprintln(s.err, "\nstayup: interrupted: no more kills; printing the report so far (instances already killed are still being replaced by the platform)")
			cancel()
			if o.signals == nil {
				signal.Reset(os.Interrupt)
			}
		case <-ctx.Done():
		}
	}()

	sf, err := o.open(ctx, o.root, o.stack)
	if err != nil {
		return err
	}
	defer sf.Close()
	if err := checkURL(sf.URL); err != nil {
		return fmt.Errorf("stack %s url output %v", o.stack, err)
	}
	mode, _ := fleet.ParseKillMode(o.mode)
	restoreHolds(ctx, sf.Fleet, s.err)
	live := newFleetView(s.err)
	var saver *runSaver
	exp, err := chaos.Prepare(ctx, chaos.Options{
		Stack: o.stack, Fleet: sf.Fleet, URL: sf.URL, MinHealthy: o.minHealthy,
		Count: o.count, Instances: o.instances, Mode: mode, Timeout: o.timeout,
		Poll: o.poll, Baseline: o.baselineOrDefault(), Probe: o.probe,
		OnEvent: live.event, OnStatus: live.status,
		OnCheckpoint: func(r chaos.Report) { saver.checkpoint(r) },
	})
	var refused *chaos.RefusedError
	if errors.As(err, &refused) {
		fmt.Fprintf(s.err, "stayup: %v\n", err)
		return exitError{1}
	}
	if err != nil {
		return err
	}
	if o.dryRun {
		return o.print(s, exp.DryRunReport())
	}
	exp.Plan.PrintPlan(s.err)
	for _, v := range exp.Plan.Victims {
		fmt.Fprintf(s.err, "  victim: %s in %s (%s/%s, revision %s)\n", v.ID, v.Zone, v.State, v.Health, v.Revision)
	}
	how := "terminate it behind the group's back"
	if mode == fleet.Graceful {
		how = "have the group drain and replace it"
	}
	if err := confirm(s, fmt.Sprintf("Kill %d instance(s) of stack %s (%s)?", len(exp.Plan.Victims), o.stack, how), "chaos", o.stack, o.yes); err != nil {
		return err
	}
	start := time.Now()
	saver = startSave(o.reports, o.root, runs.Chaos, start, chaos.Report{Plan: exp.Plan, Start: start, End: start, Verdict: chaos.Running}, s.err)
	live.start(sf.URL, exp.Plan)
	rep, err := exp.Run(ctx)
	live.close()
	if err != nil && rep.Verdict == "" {
		rep.End, rep.Verdict, rep.Reason = time.Now(), chaos.Aborted, err.Error()
		saver.finish(rep)
		return err
	}
	saver.finish(rep)
	if perr := o.print(s, rep); perr != nil {
		return perr
	}
	switch rep.Verdict {
	case chaos.Recovered:
		return nil
	case chaos.Interrupted:
		return exitError{exitInterrupted}
	}
	if err != nil {
		fmt.Fprintf(s.err, "stayup: %v\n", err)
	}
	return exitError{1}
}

func (o *chaosOpts) baselineOrDefault() time.Duration {
	if o.baseline != 0 {
		return o.baseline
	}
	return 3 * time.Second
}

func (o *chaosOpts) print(s streams, r chaos.Report) error {
	if o.json {
		enc := json.NewEncoder(s.out)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	r.Print(s.out)
	return nil
}

// fleetView is the live view while chaos runs: each timeline event as a
// line, and the fleet's table — redrawn in place on a terminal, printed
// again only when it changed elsewhere (a log, a test).
type fleetView struct {
	w     io.Writer
	tty   bool
	lines int    // lines of the table drawn last (terminal)
	last  string // the table printed last (not a terminal)
	// timeout is the watch's bound from the kill, shown as time left.
	timeout time.Duration
}

func newFleetView(w io.Writer) *fleetView {
	v := &fleetView{w: w}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			v.tty = true
		}
	}
	return v
}

func (v *fleetView) event(e chaos.Event) {
	v.clear()
	line := fmt.Sprintf("%s %s", e.Time.Format("15:04:05.000"), e.Kind)
	if e.Instance != "" {
		line += " " + e.Instance
	}
	if e.Detail != "" {
		line += " (" + e.Detail + ")"
	}
	fmt.Fprintln(v.w, line)
}

func (v *fleetView) status(st chaos.Status) {
	var b bytes.Buffer
	if st.Err != nil {
		fmt.Fprintf(&b, "reading the fleet: %v\n", st.Err)
	} else {
		in := 0
		for _, i := range st.Instances {
			if i.InService() {
				in++
			}
		}
		fmt.Fprintf(&b, "desired %d, healthy %d\n", st.Capacity.Desired, in)
		// Uptimes change every read: leave them out of the comparison.
		writeFleetTable(&b, blankLaunch(st.Instances), st.Time)
	}
	table := b.String()
	// The age changes every read: it goes with the table, outside the
	// comparison that decides whether to print it again.
	var age string
	if line := healthAge(st.Instances, st.Time); line != "" && st.Err == nil {
		age = line + "\n"
	}
	if v.tty {
		v.clear()
		head := fmt.Sprintf("+%v since the kill, %v left of %v (Ctrl-C: stop and report)\n",
			st.Elapsed.Round(time.Second), max(v.timeout-st.Elapsed, 0).Round(time.Second), v.timeout)
		fmt.Fprint(v.w, head+table+age)
		v.lines = strings.Count(head+table+age, "\n")
		return
	}
	if table != v.last {
		fmt.Fprintf(v.w, "+%v since the kill:\n%s%s", st.Elapsed.Round(100*time.Millisecond), table, age)
		v.last = table
	}
}

func blankLaunch(list []fleet.Instance) []fleet.Instance {
	out := make([]fleet.Instance, len(list))
	for i, in := range list {
		in.Launched = time.Time{}
		out[i] = in
	}
	return out
}

// clear removes the table drawn last on a terminal.
func (v *fleetView) clear() {
	if v.tty && v.lines > 0 {
		fmt.Fprintf(v.w, "\x1b[%dA\x1b[J", v.lines)
		v.lines = 0
	}
}

func (v *fleetView) start(url string, pl chaos.Plan) {
	v.timeout = pl.Timeout
	fmt.Fprintf(v.w, "probing %s; watching the fleet for up to %v from the kill (%s; predicted whole within %v)\n",
		url, pl.Timeout, pl.TimeoutFrom, pl.Predicted.Recover)
}

func (v *fleetView) close() { v.clear() }
