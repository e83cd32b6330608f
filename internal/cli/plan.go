package cli

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"stayup/infra/spec"
	"stayup/internal/diagram"
	"stayup/internal/plan"
	"stayup/internal/project"
)

type planOpts struct {
	stack   string
	cloud   string
	configs []string
	json    bool
	noWrite bool

	root string
	// diagramsDir is where the example stacks' diagrams go; empty writes none.
	diagramsDir string
	overrides   map[string]string
}

func newPlanCmd(s streams) *cobra.Command {
	o := &planOpts{}
	cmd := &cobra.Command{
		Use:   "plan [--stack S | --cloud C | --cloud all] [--config key=value ...] [--json]",
		Short: "Show what a stack would deploy, offline: the program runs under mocks",
		Long: `plan runs the Pulumi program under mocks, with no credentials and no network,
and prints the resources it would create, the settings that make the service
highly available, and the stack outputs.

--stack plans a stack file in stacks/; --cloud plans a cloud's example stack
(stacks/Pulumi.<cloud>.yaml, or the defaults when there is none); with neither,
every stack file in stacks/ is planned. --config overrides a key for this plan
only ("minSize=2" means "stayup:minSize=2").

Planning a cloud's example stack (--cloud C, or the stack named like its cloud)
without --config also redraws its diagrams, diagrams/<cloud>.mmd, .dot and .svg
in the project root: the committed pictures stay those of the example stacks.
Other stacks and overridden plans write nothing ("stayup diagram" draws them);
--no-write writes nothing at all.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			root, err := project.Root(workDir())
			if err != nil {
				return err
			}
			o.root = root
			// A test binary never writes into the source tree: plan's tests
			// would rewrite diagrams/ and hide the staleness its freshness
			// test looks for.
			if !testing.Testing() {
				o.diagramsDir = filepath.Join(root, diagram.Dir)
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Execute(cmd.Context(), s)
		},
	}
	cmd.Flags().StringVar(&o.stack, "stack", "", "stack to plan (a file in stacks/)")
	cmd.Flags().StringVar(&o.cloud, "cloud", "", "plan a cloud's example stack: aws, gcp, azure or all")
	cmd.Flags().StringArrayVar(&o.configs, "config", nil, "override a config key for this plan: key=value (repeatable)")
	cmd.Flags().BoolVar(&o.json, "json", false, "print JSON: one plan object, or an array when planning several")
	cmd.Flags().BoolVar(&o.noWrite, "no-write", false, "do not redraw diagrams/ for the example stacks")
	return cmd
}

// Validate checks the flags before anything runs.
func (o *planOpts) Validate() error {
	if o.stack != "" && o.cloud != "" {
		return usagef("--stack and --cloud name the same thing; give one")
	}
	if o.cloud != "" && o.cloud != "all" && !slices.Contains(spec.Clouds, spec.Cloud(o.cloud)) {
		return usagef("--cloud %q: must be aws, gcp, azure or all", o.cloud)
	}
	o.overrides = map[string]string{}
	for _, kv := range o.configs {
		key, value, ok := strings.Cut(kv, "=")
		key = strings.TrimSpace(key)
		if !ok || key == "" {
			return usagef("--config %q: want key=value, like minSize=2 or aws:region=us-west-2", kv)
		}
		if !strings.Contains(key, ":") {
			key = spec.Key(key)
		}
		o.overrides[key] = value
	}
	return nil
}

// sources lists the configurations the flags ask to plan.
func (o *planOpts) sources() ([]plan.Source, error) {
	var out []plan.Source
	add := func(src plan.Source) {
		src.Root, src.Overrides = o.root, o.overrides
		out = append(out, src)
	}
	switch {
	case o.stack != "":
		add(plan.Source{Stack: o.stack})
	case o.cloud == "all":
		for _, c := range spec.Clouds {
			add(plan.Source{Cloud: string(c)})
		}
	case o.cloud != "":
		add(plan.Source{Cloud: o.cloud})
	default:
		stacks, err := project.Stacks(o.root)
		if err != nil {
			return nil, err
		}
		if len(stacks) == 0 {
			return nil, usagef("no stack files in %s/%s: name a cloud with --cloud", o.root, project.StackDir)
		}
		for _, st := range stacks {
			add(plan.Source{Stack: st})
		}
	}
	return out, nil
}

// Execute plans each configuration; one that fails does not stop the rest.
func (o *planOpts) Execute(_ any, s streams) error {
	sources, err := o.sources()
	if err != nil {
		return err
	}
	var (
		results []*plan.Result
		failed  bool
	)
	for _, src := range sources {
		res, err := planOne(src)
		if err != nil {
			failed = true
			name := src.Stack
			if name == "" {
				name = src.Cloud
			}
			fmt.Fprintf(s.err, "stayup plan %s: %v\n", name, err)
			continue
		}
		results = append(results, res)
		if err := o.writeDiagrams(src, res, s); err != nil {
			failed = true
			fmt.Fprintf(s.err, "stayup plan %s: %v\n", res.Stack, err)
		}
	}

	if o.json {
		if err := writeJSON(s.out, results, len(sources) == 1); err != nil {
			return err
		}
	} else {
		for i, res := range results {
			if i > 0 {
				fmt.Fprintln(s.out, strings.Repeat("-", 72))
			}
			res.Print(s.out)
		}
	}
	if failed {
		return exitError{1}
	}
	return nil
}

func planOne(src plan.Source) (*plan.Result, error) {
	stack, cfg, err := src.Config()
	if err != nil {
		return nil, err
	}
	return plan.Run(stack, cfg)
}

// writeDiagrams redraws diagrams/<cloud>.* after a plan of that cloud's
// example stack as committed: not for another stack, and not with
// --config overrides, whose picture would replace the example's.
func (o *planOpts) writeDiagrams(src plan.Source, res *plan.Result, s streams) error {
	example := src.Cloud != "" || src.Stack == res.Cloud
	if o.noWrite || o.diagramsDir == "" || !example || len(o.overrides) > 0 {
		return nil
	}
	paths, err := diagram.WriteFiles(o.diagramsDir, res.Cloud, res.Graph)
	if errors.Is(err, diagram.ErrNoTable) {
		fmt.Fprintf(s.err, "stayup plan %s: no diagram for %s yet\n", res.Stack, res.Cloud)
		return nil
	}
	if err != nil {
		return fmt.Errorf("draw the diagrams: %w", err)
	}
	for i, p := range paths {
		if rel, err := filepath.Rel(o.root, p); err == nil {
			paths[i] = rel
		}
	}
	fmt.Fprintf(s.err, "stayup plan %s: wrote %s\n", res.Stack, strings.Join(paths, ", "))
	return nil
}
