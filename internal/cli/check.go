package cli

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"stayup/infra"
	"stayup/infra/spec"
	"stayup/internal/graph"
	"stayup/internal/plan"
	"stayup/internal/policy"
	"stayup/internal/project"
	"stayup/internal/stackops"
)

// checkResult is one stack's check, as `check --json` prints it.
type checkResult struct {
	Cloud    string           `json:"cloud"`
	Stack    string           `json:"stack"`
	Source   string           `json:"source"` // "plan" or "live"
	Findings []policy.Finding `json:"findings"`
}

// exportStack returns a deployed stack's export; tests fake it.
type exportStack func(ctx context.Context, root, stack string) ([]byte, error)

func exportRealStack(ctx context.Context, root, stack string) ([]byte, error) {
	st, err := stackops.Select(ctx, stackops.Options{Root: root, Stack: stack, Program: infra.Program})
	if err != nil {
		return nil, err
	}
	return st.Export(ctx)
}

type checkOpts struct {
	stack  string
	cloud  string
	live   bool
	json   bool
	failOn string

	root     string
	severity policy.Severity
	export   exportStack
}

func newCheckCmd(s streams) *cobra.Command {
	o := &checkOpts{export: exportRealStack}
	cmd := &cobra.Command{
		Use:   "check [--stack S | --cloud C | --cloud all] [--live] [--json] [--fail-on SEVERITY]",
		Short: "Check a stack against the compliance rules; non-zero exit on findings at or above --fail-on",
		Long: `check runs the compliance rules (docs/compliance.md) over a stack's resource
graph: the program's plan under mocks by default, offline; with --live, the
deployed stack's state (its export). Each finding names the rule, the
resource, what to change and the standards the rule maps to. Waived
findings (the public load balancer; HTTP while no certificate is set) are
printed with their reason and never fail the check.

--stack checks a stack file in stacks/; --cloud a cloud's example stack
(--cloud all: each cloud's); with neither, every stack file. The exit status is 1 when an unwaived
finding is at or above --fail-on (critical, high, medium or low).`,
		Args: cobra.NoArgs,
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
	cmd.Flags().StringVar(&o.stack, "stack", "", "stack to check (a file in stacks/)")
	cmd.Flags().StringVar(&o.cloud, "cloud", "", "check a cloud's example stack: aws, gcp, azure, or all of them")
	cmd.Flags().BoolVar(&o.live, "live", false, "check the deployed stack's state (needs --stack and its state backend) instead of the plan")
	cmd.Flags().BoolVar(&o.json, "json", false, "print JSON: one object, or an array when checking several stacks")
	cmd.Flags().StringVar(&o.failOn, "fail-on", string(policy.High), "exit non-zero on an unwaived finding of this severity or above: critical, high, medium, low")
	return cmd
}

// Validate checks the flags before anything runs.
func (o *checkOpts) Validate() error {
	if o.stack != "" && o.cloud != "" {
		return usagef("--stack and --cloud name the same thing; give one")
	}
	if o.cloud != "" && o.cloud != "all" && !slices.Contains(spec.Clouds, spec.Cloud(o.cloud)) {
		return usagef("--cloud %q: must be aws, gcp, azure or all", o.cloud)
	}
	if o.live && o.stack == "" {
		return usagef("--live checks a deployed stack: name it with --stack")
	}
	sev, err := policy.ParseSeverity(o.failOn)
	if err != nil {
		return usagef("--fail-on: %v", err)
	}
	o.severity = sev
	return nil
}

// Execute checks each stack; one that cannot be read does not stop the rest.
func (o *checkOpts) Execute(ctx context.Context, s streams) error {
	if ctx == nil {
		ctx = context.Background()
	}
	var sources []plan.Source
	switch {
	case o.stack != "":
		sources = []plan.Source{{Root: o.root, Stack: o.stack}}
	case o.cloud == "all":
		// Every cloud's example stack, as plan --cloud all plans them.
		for _, c := range spec.Clouds {
			sources = append(sources, plan.Source{Root: o.root, Cloud: string(c)})
		}
	case o.cloud != "":
		sources = []plan.Source{{Root: o.root, Cloud: o.cloud}}
	default:
		stacks, err := project.Stacks(o.root)
		if err != nil {
			return err
		}
		if len(stacks) == 0 {
			return usagef("no stack files in %s/%s: name a cloud with --cloud", o.root, project.StackDir)
		}
		for _, st := range stacks {
			sources = append(sources, plan.Source{Root: o.root, Stack: st})
		}
	}

	var (
		results  []checkResult
		failed   bool
		blocking int
	)
	for _, src := range sources {
		res, err := o.checkOne(ctx, src)
		if err != nil {
			failed = true
			name := src.Stack
			if name == "" {
				name = src.Cloud
			}
			fmt.Fprintf(s.err, "stayup check %s: %v\n", name, err)
			continue
		}
		results = append(results, res)
		blocking += len(policy.Blocking(res.Findings, o.severity))
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
			what := "plan, offline under mocks"
			if res.Source == "live" {
				what = "deployed state"
			}
			fmt.Fprintf(s.out, "Check of stack %s (%s, %s):\n", res.Stack, res.Cloud, what)
			policy.Print(s.out, res.Findings)
		}
	}
	if blocking > 0 {
		fmt.Fprintf(s.err, "stayup check: %d unwaived finding(s) at or above %s\n", blocking, o.severity)
		return exitError{1}
	}
	if failed {
		return exitError{1}
	}
	return nil
}

func (o *checkOpts) checkOne(ctx context.Context, src plan.Source) (checkResult, error) {
	stack, cfg, err := src.Config()
	if err != nil {
		return checkResult{}, err
	}
	if o.live {
		data, err := o.export(ctx, o.root, stack)
		if err != nil {
			return checkResult{}, err
		}
		g, err := graph.FromExport(data)
		if err != nil {
			return checkResult{}, err
		}
		if len(g.Resources) == 0 {
			return checkResult{}, fmt.Errorf("stack %s has no resources: deploy it with stayup up --stack %s first", stack, stack)
		}
		return checkResult{Cloud: policy.CloudOf(g), Stack: stack, Source: "live", Findings: policy.Check(g)}, nil
	}
	res, err := plan.Run(stack, cfg)
	if err != nil {
		return checkResult{}, err
	}
	return checkResult{Cloud: res.Cloud, Stack: stack, Source: "plan", Findings: res.Findings}, nil
}
