package stackops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optrefresh"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"stayup/internal/graph"
	"stayup/internal/project"
)

// Project is the Pulumi project name (Pulumi.yaml).
const Project = "stayup"

// Options say which stack to operate and where its output goes.
type Options struct {
	Root    string         // project root: Pulumi.yaml, stacks/
	Stack   string         // stack name; its file is stacks/Pulumi.<Stack>.yaml
	Program pulumi.RunFunc // the inline program (infra.Program)

	PulumiBin string            // the CLI; "" means pulumi on PATH
	Progress  io.Writer         // Pulumi's progress output; nil discards it
	OnEvent   func(Event)       // engine events of preview/up/refresh/destroy, e.g. for a timeline
	Abort     <-chan struct{}   // closed: stop now (see cliCommand.Run); the ctx ending cancels gracefully
	Lookup    LookupEnv         // the environment; nil means os.LookupEnv
	Env       map[string]string // set for the CLI, over Lookup (tests: PULUMI_HOME, the passphrase)
}

// Event is an engine event with the time stayup received it.
type Event struct {
	Time time.Time
	events.EngineEvent
}

// Validate checks the options before anything runs, and fills in the
// defaults of those left empty.
func (o *Options) Validate() error {
	switch {
	case o.Root == "":
		return errors.New("stack operations need the project root")
	case o.Stack == "":
		return errors.New("stack operations need a stack name")
	case o.Program == nil:
		return errors.New("stack operations need the program")
	}
	base := o.Lookup
	if base == nil {
		base = os.LookupEnv
	}
	// What the CLI will see: the environment, then Env.
	env := o.Env
	o.Lookup = func(k string) (string, bool) {
		if v, ok := env[k]; ok {
			return v, true
		}
		return base(k)
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	return nil
}

// Stack is a stack of the project, selected in its state backend.
type Stack struct {
	opts    Options
	Backend Backend
	stack   auto.Stack
}

// Select opens a stack that exists in the backend.
func Select(ctx context.Context, o Options) (*Stack, error) {
	return open(ctx, o, false)
}

// Upsert opens a stack, creating it in the backend when it is new; its
// file in stacks/ must exist, as it holds the stack's config.
func Upsert(ctx context.Context, o Options) (*Stack, error) {
	return open(ctx, o, true)
}

func open(ctx context.Context, o Options, create bool) (*Stack, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	// The CLI first: without it nothing else can be told.
	cli, err := newCLI(ctx, o.PulumiBin, o.Abort)
	if err != nil {
		return nil, err
	}
	if _, err := project.StackConfig(o.Root, o.Stack); err != nil {
		return nil, err
	}
	b, err := ChooseBackend(o.Lookup, PulumiHome(o.Lookup), o.Root)
	if err != nil {
		return nil, err
	}
	if err := checkPassphrase(b, o.Lookup); err != nil {
		return nil, err
	}
	if b.Local() {
		if err := os.MkdirAll(filepath.Join(o.Root, LocalStateDir), 0o700); err != nil {
			return nil, fmt.Errorf("create the local state backend: %w", err)
		}
	}
	env := map[string]string{}
	for k, v := range o.Env {
		env[k] = v
	}
	// Every CLI call of the stack uses the backend chosen here.
	env["PULUMI_BACKEND_URL"] = b.URL
	// No auto.Project: the workspace reads the project's own Pulumi.yaml
	// (and its stackConfigDir) from WorkDir instead of writing one.
	wsOpts := []auto.LocalWorkspaceOption{auto.WorkDir(o.Root), auto.Pulumi(cli), auto.EnvVars(env)}
	if b.Local() {
		wsOpts = append(wsOpts, auto.SecretsProvider("passphrase"))
	}
	var st auto.Stack
	if create {
		st, err = auto.UpsertStackInlineSource(ctx, o.Stack, Project, o.Program, wsOpts...)
	} else {
		st, err = auto.SelectStackInlineSource(ctx, o.Stack, Project, o.Program, wsOpts...)
	}
	if err != nil {
		err = explain("open stack", o.Stack, err)
		if errors.Is(err, ErrStackNotFound) {
			err = fmt.Errorf("%w (state backend %s, from %s)", err, b.URL, b.Source)
		}
		return nil, err
	}
	return &Stack{opts: o, Backend: b, stack: st}, nil
}

// Name is the stack's name.
func (s *Stack) Name() string { return s.opts.Stack }

// events returns a channel for one operation's engine events and a wait
// function that returns once they are all handled. The SDK closes the
// channel when the CLI's event stream ends; if the CLI failed before
// streaming, it never does, so waiting gives up after a moment.
func (s *Stack) events() (chan<- events.EngineEvent, func()) {
	ch := make(chan events.EngineEvent, 64)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for e := range ch {
			if s.opts.OnEvent != nil {
				s.opts.OnEvent(Event{Time: time.Now(), EngineEvent: e})
			}
		}
	}()
	return ch, func() {
		select {
		case <-done:
		case <-time.After(2 * time.Second):
		}
	}
}

// Changes counts what an operation did or would do, by kind of step
// ("create", "update", "delete", "same", ...).
type Changes map[string]int

// Preview shows what up would change.
func (s *Stack) Preview(ctx context.Context) (Changes, error) {
	ch, wait := s.events()
	res, err := s.stack.Preview(ctx, optpreview.ProgressStreams(s.opts.Progress), optpreview.EventStreams(ch))
	wait()
	if err != nil {
		return nil, s.failed(ctx, "preview", err, false)
	}
	return changes(res.ChangeSummary), nil
}

// PreviewDestroy shows what destroy would delete.
func (s *Stack) PreviewDestroy(ctx context.Context) (Changes, error) {
	ch, wait := s.events()
	res, err := s.stack.PreviewDestroy(ctx, optdestroy.ProgressStreams(s.opts.Progress), optdestroy.EventStreams(ch))
	wait()
	if err != nil {
		return nil, s.failed(ctx, "preview destroy", err, false)
	}
	return changes(res.ChangeSummary), nil
}

// Up deploys the stack and returns its outputs.
func (s *Stack) Up(ctx context.Context) (map[string]any, error) {
	ch, wait := s.events()
	res, err := s.stack.Up(ctx, optup.ProgressStreams(s.opts.Progress), optup.EventStreams(ch))
	wait()
	if err != nil {
		return nil, s.failed(ctx, "up", err, true)
	}
	return plainOutputs(res.Outputs), nil
}

// Destroy deletes every resource of the stack; the stack stays, empty.
func (s *Stack) Destroy(ctx context.Context) error {
	ch, wait := s.events()
	_, err := s.stack.Destroy(ctx, optdestroy.ProgressStreams(s.opts.Progress), optdestroy.EventStreams(ch))
	wait()
	if err != nil {
		return s.failed(ctx, "destroy", err, true)
	}
	return nil
}

// Refresh reads the resources' real state into the stack.
func (s *Stack) Refresh(ctx context.Context) error {
	ch, wait := s.events()
	_, err := s.stack.Refresh(ctx, optrefresh.ProgressStreams(s.opts.Progress), optrefresh.EventStreams(ch))
	wait()
	if err != nil {
		return s.failed(ctx, "refresh", err, true)
	}
	return nil
}

// Outputs returns the stack's outputs, secrets in plain text.
func (s *Stack) Outputs(ctx context.Context) (map[string]any, error) {
	out, err := s.stack.Outputs(ctx)
	if err != nil {
		return nil, explain("read the outputs of", s.Name(), err)
	}
	return plainOutputs(out), nil
}

// Config returns the stack's config (from its file in stacks/, through the
// CLI), secrets decrypted, keyed by fully qualified key.
func (s *Stack) Config(ctx context.Context) (map[string]auto.ConfigValue, error) {
	// The CLI, not LocalWorkspace.StackSettings: only the CLI honours
	// stackConfigDir.
	cfg, err := s.stack.GetAllConfig(ctx)
	if err != nil {
		return nil, explain("read the config of", s.Name(), err)
	}
	return cfg, nil
}

// SetConfig sets one key in the stack's file in stacks/ (through the CLI);
// a secret is stored encrypted.
func (s *Stack) SetConfig(ctx context.Context, key, value string, secret bool) error {
	if err := s.stack.SetConfig(ctx, key, auto.ConfigValue{Value: value, Secret: secret}); err != nil {
		return explain("set config "+key+" of", s.Name(), err)
	}
	return nil
}

// RemoveConfig removes one key from the stack's file in stacks/.
func (s *Stack) RemoveConfig(ctx context.Context, key string) error {
	if err := s.stack.RemoveConfig(ctx, key); err != nil {
		return explain("remove config "+key+" of", s.Name(), err)
	}
	return nil
}

// Export returns the stack's deployment, its state, as `pulumi stack
// export` prints it (graph.FromExport reads it). Secrets stay encrypted:
// the SDK's Stack.Export decrypts them, and the export feeds reports.
func (s *Stack) Export(ctx context.Context) (json.RawMessage, error) {
	out, err := s.run(ctx, "stack", "export", "--stack", s.Name())
	if err != nil {
		return nil, explain("export", s.Name(), err)
	}
	return json.RawMessage(out), nil
}

// run runs a CLI command the SDK has no call for (or a call that does more
// than wanted) in the stack's workspace, with its environment.
func (s *Stack) run(ctx context.Context, args ...string) (string, error) {
	ws := s.stack.Workspace()
	var env []string
	for k, v := range ws.GetEnvVars() {
		env = append(env, k+"="+v)
	}
	stdout, stderr, _, err := ws.PulumiCommand().Run(ctx, ws.WorkDir(), nil, nil, nil, env, args...)
	if err != nil {
		return "", fmt.Errorf("pulumi %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr))
	}
	return stdout, nil
}

func changes(summary map[apitype.OpType]int) Changes {
	c := Changes{}
	for k, v := range summary {
		c[string(k)] = v
	}
	return c
}

func plainOutputs(out auto.OutputMap) map[string]any {
	m := make(map[string]any, len(out))
	for k, v := range out {
		m[k] = v.Value
	}
	return m
}

// Total is the number of steps, unchanged resources included.
func (c Changes) Total() int {
	n := 0
	for _, v := range c {
		n += v
	}
	return n
}

// Changed is the number of steps that change something.
func (c Changes) Changed() int {
	return c.Total() - c["same"]
}

// Graph reads the deployed stack into the resource graph plan produces
// under mocks, for `check --live` and `diagram --live`.
func (s *Stack) Graph(ctx context.Context) (*graph.Graph, error) {
	export, err := s.Export(ctx)
	if err != nil {
		return nil, err
	}
	return graph.FromExport(export)
}
