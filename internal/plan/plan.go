// Package plan runs the Pulumi program offline, under mocks, and describes
// what it would deploy: the resource graph, the outputs and a summary of
// the settings that make the service highly available and least-privilege.
package plan

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"stayup/infra"
	"stayup/infra/gcp"
	"stayup/infra/spec"
	"stayup/internal/graph"
	"stayup/internal/policy"
	"stayup/internal/project"
)

// Project is the Pulumi project name every stack belongs to.
const Project = "stayup"

// Finding is one compliance finding, as `plan --json` and `check` print
// it; the rules that produce it live in internal/policy.
type Finding = policy.Finding

// Result is one stack's plan, in the shape `plan --json` prints.
type Result struct {
	Cloud     string            `json:"cloud"`
	Stack     string            `json:"stack"`
	Resources []*graph.Resource `json:"resources"`
	Outputs   map[string]any    `json:"outputs"`
	Findings  []Finding         `json:"findings"`
	// Notes say where the plan stood in for something only a deployment
	// has, and what a deployment needs that the stack cannot create.
	Notes  []string          `json:"-"`
	Spec   spec.Spec         `json:"-"`
	Graph  *graph.Graph      `json:"-"`
	Config map[string]string `json:"-"`
}

// Source says which configuration to plan: a stack file, or a cloud's
// example stack, plus overrides.
type Source struct {
	Root      string            // project root
	Stack     string            // a stack file in stacks/
	Cloud     string            // or a cloud: its example stack
	Overrides map[string]string // fully qualified key -> value
}

// Config assembles the configuration a Source describes. A cloud without
// an example stack file plans with its defaults.
func (src Source) Config() (stack string, cfg map[string]string, err error) {
	stack = src.Stack
	if stack == "" {
		stack = src.Cloud
	}
	cfg, err = project.StackConfig(src.Root, stack)
	switch {
	case errors.Is(err, project.ErrNoStack) && src.Stack == "":
		cfg = map[string]string{"stayup:cloud": src.Cloud}
	case err != nil:
		return "", nil, err
	}
	if src.Stack == "" && cfg["stayup:cloud"] != src.Cloud {
		return "", nil, fmt.Errorf("stack file %s is for cloud %q, not %q", project.StackFile(src.Root, stack), cfg["stayup:cloud"], src.Cloud)
	}
	maps.Copy(cfg, src.Overrides)
	return stack, cfg, nil
}

// Run validates the config, then runs the program under mocks. Invalid
// config returns *spec.Error before anything is registered.
func Run(stack string, cfg map[string]string) (*Result, error) {
	var notes []string
	// After the first `up` the key is secret config, which a plan reads
	// as a placeholder: it stands in for it the same way.
	if key := cfg[spec.Key("sshPublicKey")]; cfg["stayup:cloud"] == string(spec.Azure) && (key == "" || key == project.SecretPlaceholder) {
		// `stayup up` generates the key on the first deploy; a plan shows
		// the same model with a stand-in.
		cfg = maps.Clone(cfg)
		cfg[spec.Key("sshPublicKey")] = PlaceholderSSHKey
		notes = append(notes, "the plan uses a stand-in key for stayup:sshPublicKey (unset, or a secret a plan does not decrypt); `stayup up` generates it on the first deploy")
	}
	keys := slices.Sorted(maps.Keys(cfg))
	problems := spec.UnknownKeys(keys)
	s, err := spec.Parse(spec.MapLookup(cfg))
	var serr *spec.Error
	if errors.As(err, &serr) {
		problems = append(problems, serr.Problems...)
	} else if err != nil {
		return nil, err
	}
	if len(problems) > 0 {
		return nil, &spec.Error{Problems: problems}
	}
	if s.Cloud == spec.GCP {
		notes = append(notes, gcp.PullNotes(s, gcp.ServiceAccountEmail(stack, s.Project))...)
	}
	g, err := graph.Record(Project, stack, cfg, infra.Build)
	if err != nil {
		return nil, fmt.Errorf("plan stack %s: %w", stack, cleanRunError(err))
	}
	return &Result{
		Cloud: string(s.Cloud), Stack: stack,
		Resources: g.Resources, Outputs: g.Outputs, Findings: policy.Check(g),
		Spec: s, Graph: g, Config: cfg, Notes: notes,
	}, nil
}

// PlaceholderSSHKey stands in for an Azure stack's SSH key in a plan.
const PlaceholderSSHKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHN0YXl1cC1wbGFuLXN0YW5kLWluLWtleS1ub3QtcmVhbA stayup-plan-stand-in"

// cleanRunError strips the multierror framing pulumi.RunErr adds, which
// reads as noise in a one-line message.
func cleanRunError(err error) error {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "1 error occurred:\n\t* ")
	msg = strings.TrimSpace(msg)
	return errors.New(msg)
}
