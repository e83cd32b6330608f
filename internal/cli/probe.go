package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"stayup/infra"
	"stayup/internal/probe"
	"stayup/internal/project"
	"stayup/internal/runs"
	"stayup/internal/stackops"
)

type probeOpts struct {
	url             string
	stack           string
	rate            float64
	rateSet         bool
	interval        time.Duration
	timeout         time.Duration
	duration        time.Duration
	untilFailure    bool
	expect          string
	header          string
	versionPattern  string
	followRedirects bool
	allowFailures   int
	json            bool
	noSave          bool
	// reports is where a --stack probe is kept ("" saves nothing); set by
	// the command from the project root unless --no-save.
	reports string
	root    string
}

// stackURL reads a stack's url output. It is a variable so tests can
// replace it; pulumiStackURL reads it through internal/stackops.
var stackURL = pulumiStackURL

func newProbeCmd(s streams) *cobra.Command {
	o := &probeOpts{}
	cmd := &cobra.Command{
		Use:   "probe [URL | --stack S] [--rate 20 | --interval D] [--timeout 1s] [--duration D] [--until-failure] [--json]",
		Short: "Measure whether an endpoint stays up: failure windows, gaps, latency",
		Long: `probe sends GET requests to URL (or to a stack's url output) on a fixed
schedule and reports every failure window, the longest gap between successes,
latency and status counts. Stop it with Ctrl-C, or give --duration.

Each tick sends one request on each of two clients: one keeping connections
alive, one opening a new connection per request, so the target sees twice
--rate. The schedule never waits for slow requests, so an outage cannot hide
behind one that hangs. A failure is a transport error, a timeout, or a status
outside 2xx (a 3xx unless --follow-redirects), or a body without --expect.

The seed's downtime script corresponds to
  stayup probe --interval 500ms --timeout 1s --until-failure URL
except that a status of 400 or more (or a 3xx) fails here, where curl without
-f took any response for success. With --stack the summary is kept, as the
probe goes, in .stayup/reports/<stack>/<time>-probe.json (not with
--no-save), for stayup report. See docs/probe.md.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				o.url = args[0]
			}
			o.rateSet = cmd.Flags().Changed("rate")
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Execute(cmd.Context(), s)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.stack, "stack", "", "probe the stack's url output (needs the Pulumi CLI)")
	f.Float64Var(&o.rate, "rate", probe.DefaultRate, "requests per second on each client")
	f.DurationVar(&o.interval, "interval", 0, "time between requests on each client (instead of --rate)")
	f.DurationVar(&o.timeout, "timeout", probe.DefaultTimeout, "time a request may take, to the end of its body")
	f.DurationVar(&o.duration, "duration", 0, "stop after this long (default: run until Ctrl-C)")
	f.BoolVar(&o.untilFailure, "until-failure", false, "stop at the first failure, like the seed's script")
	f.StringVar(&o.expect, "expect", "", "a 2xx body must contain this text")
	f.StringVar(&o.header, "header", "", "record this response header (e.g. the app's version) and report its mix over time")
	f.StringVar(&o.versionPattern, "version-pattern", "", "when the response lacks --header, read the value from the body with this regular expression's first group (hello-app: 'Version: (\\S+)')")
	f.BoolVar(&o.followRedirects, "follow-redirects", false, "follow redirects and judge the final response (otherwise a 3xx fails)")
	f.IntVar(&o.allowFailures, "allow-failures", 0, "exit non-zero only when failures exceed this")
	f.BoolVar(&o.json, "json", false, "print the summary as JSON (docs/probe.md)")
	f.BoolVar(&o.noSave, "no-save", false, "with --stack, do not keep the summary under .stayup/reports/<stack>/")
	return cmd
}

// Validate checks the flags before anything runs.
func (o *probeOpts) Validate() error {
	switch {
	case o.url != "" && o.stack != "":
		return usagef("give a URL or --stack, not both")
	case o.url == "" && o.stack == "":
		return usagef("probe what? give a URL or --stack S")
	case o.rateSet && o.interval != 0:
		return usagef("--rate and --interval say the same thing; give one")
	case o.interval == 0 && !(o.rate > 0):
		return usagef("--rate %v: must be more than 0", o.rate)
	case o.interval < 0:
		return usagef("--interval %v: must be positive", o.interval)
	case o.timeout <= 0:
		return usagef("--timeout %v: must be positive", o.timeout)
	case o.duration < 0:
		return usagef("--duration %v: must not be negative", o.duration)
	case o.allowFailures < 0:
		return usagef("--allow-failures %d: must not be negative", o.allowFailures)
	}
	if o.url != "" {
		if err := checkURL(o.url); err != nil {
			return usagef("%v", err)
		}
	}
	return nil
}

func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q: want an http:// or https:// URL with a host", raw)
	}
	return nil
}

func (o *probeOpts) options() []probe.Option {
	opts := []probe.Option{
		probe.Timeout(o.timeout),
		probe.Duration(o.duration),
		probe.AllowFailures(o.allowFailures),
	}
	if o.interval > 0 {
		opts = append(opts, probe.Interval(o.interval))
	} else {
		opts = append(opts, probe.Rate(o.rate))
	}
	if o.untilFailure {
		opts = append(opts, probe.UntilFailure())
	}
	if o.expect != "" {
		opts = append(opts, probe.Expect(o.expect))
	}
	if o.header != "" {
		opts = append(opts, probe.Header(o.header))
	}
	if o.versionPattern != "" {
		opts = append(opts, probe.BodyPattern(o.versionPattern))
	}
	if o.followRedirects {
		opts = append(opts, probe.FollowRedirects())
	}
	return opts
}

// Execute probes until the duration passes, the first failure with
// --until-failure, or Ctrl-C, and prints the summary in every case.
func (o *probeOpts) Execute(ctx context.Context, s streams) error {
	target := o.url
	if o.stack != "" {
		root, err := project.Root(workDir())
		if err != nil {
			return err
		}
		if o.root == "" {
			o.root = root
			o.reports = reportsDir(root, o.stack, o.noSave)
		}
		target, err = stackURL(ctx, root, o.stack)
		if err != nil {
			return err
		}
		if err := checkURL(target); err != nil {
			return fmt.Errorf("stack %s url output %v", o.stack, err)
		}
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt)
	defer stop()
	go func() {
		// After the first Ctrl-C, a second one kills the process as usual.
		<-ctx.Done()
		stop()
	}()

	live := newLiveLine(s.err)
	p, err := probe.Start(ctx, target, append(o.options(), probe.OnResult(live.add))...)
	if err != nil {
		return err
	}
	var saver *runSaver
	if o.stack != "" {
		saver = startSave(o.reports, o.root, runs.Probe, time.Now(), running(p), s.err)
	}
	stopSaving := saveEvery(saver, p, probeCheckpoint)
	live.run(p, target)
	sum := p.Stop()
	stopSaving()
	live.close()
	saver.finish(sum)

	if o.json {
		enc := json.NewEncoder(s.out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(sum); err != nil {
			return err
		}
	} else {
		sum.Print(s.out)
	}
	if !sum.Passed() {
		return exitError{1}
	}
	return nil
}

// probeCheckpoint is how often a kept probe is saved while it runs: a
// probe killed with SIGKILL loses at most this much of its record.
const probeCheckpoint = 5 * time.Second

// running is the probe's summary so far, its verdict "running": a
// checkpoint's pass is not the run's.
func running(p *probe.Probe) probe.Summary {
	s := p.Summary()
	s.Verdict = "running"
	return s
}

// saveEvery saves the probe's summary so far every d until the returned
// stop is called.
func saveEvery(saver *runSaver, p *probe.Probe, d time.Duration) (stop func()) {
	if saver == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-p.Done():
				return
			case <-t.C:
				saver.checkpoint(running(p))
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// liveLine shows the probe while it runs: on a terminal one line redrawn in
// place (the seed's dots for the latest results, counts, the current
// state); elsewhere (a log, a test) one line when it starts, so logs are not
// flooded.
type liveLine struct {
	w    io.Writer
	tty  bool
	mu   sync.Mutex
	dots []byte // latest results, '.' success, 'x' failure
}

const liveDots = 40

func newLiveLine(w io.Writer) *liveLine {
	l := &liveLine{w: w}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			l.tty = true
		}
	}
	return l
}

func (l *liveLine) add(r probe.Result) {
	if !l.tty {
		return
	}
	c := byte('.')
	if !r.OK() {
		c = 'x'
	}
	l.mu.Lock()
	l.dots = append(l.dots, c)
	if len(l.dots) > liveDots {
		l.dots = l.dots[len(l.dots)-liveDots:]
	}
	l.mu.Unlock()
}

// run draws the line until the probe is done.
func (l *liveLine) run(p *probe.Probe, target string) {
	fmt.Fprintf(l.w, "probing %s (Ctrl-C to stop)\n", target)
	if !l.tty {
		<-p.Done()
		return
	}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-p.Done():
			return
		case <-tick.C:
			l.draw(p.Snapshot())
		}
	}
}

func (l *liveLine) draw(s probe.Snapshot) {
	l.mu.Lock()
	dots := string(l.dots)
	l.mu.Unlock()
	state := "UP"
	if s.Down {
		state = fmt.Sprintf("DOWN for %v (%s)", time.Since(s.DownSince).Round(100*time.Millisecond), s.LastError)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "\r\x1b[K%-*s %d requests, %d failed, %d retried", liveDots, dots, s.Requests, s.Failures, s.Retries)
	if s.Late > 0 {
		fmt.Fprintf(&b, ", %d sent late", s.Late)
	}
	fmt.Fprintf(&b, "  %s", state)
	l.w.Write(b.Bytes())
}

func (l *liveLine) close() {
	if l.tty {
		fmt.Fprint(l.w, "\r\x1b[K")
	}
}

// errNoPulumi is returned when --stack is used without the Pulumi CLI.
var errNoPulumi = errors.New("the pulumi command is not on PATH: install the Pulumi CLI or pass the URL")

// pulumiStackURL reads the stack's url output through the stack operations.
func pulumiStackURL(ctx context.Context, root, stack string) (string, error) {
	// Reading an output is quick; a minute covers a slow backend login.
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	st, err := stackops.Select(ctx, stackops.Options{Root: root, Stack: stack, Program: infra.Program})
	if errors.Is(err, stackops.ErrNoCLI) {
		return "", fmt.Errorf("read stack %s url: %w", stack, errNoPulumi)
	}
	if err != nil {
		return "", fmt.Errorf("read stack %s url: %w", stack, err)
	}
	out, err := st.Outputs(ctx)
	if err != nil {
		return "", err
	}
	u, _ := out["url"].(string)
	if u == "" {
		return "", fmt.Errorf("stack %s has no url output: has it been deployed?", stack)
	}
	return u, nil
}
