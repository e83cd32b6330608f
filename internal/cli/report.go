package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"stayup/infra"
	"stayup/internal/diagram"
	"stayup/internal/graph"
	"stayup/internal/plan"
	"stayup/internal/policy"
	"stayup/internal/project"
	"stayup/internal/report"
	"stayup/internal/runs"
	"stayup/internal/stackops"
)

// stackOutputsFunc reads a deployed stack's outputs; tests fake it.
type stackOutputsFunc func(ctx context.Context, root, stack string) (map[string]any, error)

func realStackOutputs(ctx context.Context, root, stack string) (map[string]any, error) {
	st, err := stackops.Select(ctx, stackops.Options{Root: root, Stack: stack, Program: infra.Program})
	if errors.Is(err, stackops.ErrNoCLI) {
		return nil, errNoPulumi
	}
	if err != nil {
		return nil, err
	}
	return st.Outputs(ctx)
}

type reportOpts struct {
	stack   string
	output  string
	runsDir string
	format  string

	root    string
	outputs stackOutputsFunc
	export  exportStack
	open    openFleetFunc
	now     func() time.Time
}

func newReportCmd(s streams) *cobra.Command {
	o := &reportOpts{outputs: realStackOutputs, export: exportRealStack, open: openStackFleet, now: time.Now}
	cmd := &cobra.Command{
		Use:   "report --stack S [-o FILE] [--runs DIR] [--format html|md]",
		Short: "One page of evidence: the stack, its diagram and compliance, and its runs with charts",
		Long: `report renders what a stack's runs left in .stayup/reports/<stack>/ (chaos,
rollout and probe --stack keep them there) into one page a reviewer can be
handed: the stack (cloud, region, zones, image, url), its architecture
diagram, the compliance findings with the waivers' reasons, and for each run
what it shows in one sentence, its figures, and charts of what clients saw
(requests per second ok and failed, latency, failure windows shaded, the
events numbered), the fleet's instances per zone, and for a rollout its
phases, the share of each version served and the revisions converging.

When the stack is deployed, the stack table, the diagram (with its instances)
and the compliance check come from its state; otherwise, or when the state
cannot be read, from the plan (offline). The HTML page is self-contained:
inline CSS and SVG, no scripts, nothing fetched, and it prints to A4.
--format md writes Markdown with the charts as SVG files in FILE's name plus
-charts/. Without -o, HTML goes to standard output. See docs/report.md.`,
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
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			return o.Execute(ctx, s)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.stack, "stack", "", "the stack whose runs to report")
	f.StringVarP(&o.output, "output", "o", "", "write to FILE (default: standard output; needed for --format md)")
	f.StringVar(&o.runsDir, "runs", "", "read the runs from DIR (default .stayup/reports/<stack>)")
	f.StringVar(&o.format, "format", "", "html or md (default: from -o's extension, else html)")
	return cmd
}

// Validate checks the flags before anything runs.
func (o *reportOpts) Validate() error {
	if o.stack == "" {
		known, _ := project.Stacks(o.root)
		return usagef("report on which stack? give --stack S (stack files: %s)", strings.Join(known, ", "))
	}
	if o.format == "" {
		o.format = "html"
		if strings.EqualFold(filepath.Ext(o.output), ".md") {
			o.format = "md"
		}
	}
	switch o.format {
	case "html":
	case "md":
		if o.output == "" {
			return usagef("--format md writes the charts beside the file: give -o FILE")
		}
	default:
		return usagef("--format %q: want html or md", o.format)
	}
	if o.runsDir == "" {
		o.runsDir = runs.StackDir(o.root, o.stack)
	}
	return nil
}

// Execute gathers the evidence and writes the page.
func (o *reportOpts) Execute(ctx context.Context, s streams) error {
	in, err := o.input(ctx, s)
	if err != nil {
		return err
	}
	if o.format == "md" {
		base := strings.TrimSuffix(filepath.Base(o.output), filepath.Ext(o.output))
		dir := base + "-charts"
		md, files, err := report.Markdown(in, dir)
		if err != nil {
			return err
		}
		chartDir := filepath.Join(filepath.Dir(o.output), dir)
		if err := os.MkdirAll(chartDir, 0o755); err != nil {
			return err
		}
		for name, b := range files {
			if err := os.WriteFile(filepath.Join(chartDir, name), b, 0o644); err != nil {
				return fmt.Errorf("write the charts: %w", err)
			}
		}
		if err := os.WriteFile(o.output, md, 0o644); err != nil {
			return fmt.Errorf("write the report: %w", err)
		}
		fmt.Fprintf(s.err, "wrote %s and %d chart(s) in %s\n", o.output, len(files), chartDir)
		return nil
	}
	page, err := report.HTML(in)
	if err != nil {
		return err
	}
	if o.output == "" {
		_, err := s.out.Write(page)
		return err
	}
	if err := os.WriteFile(o.output, page, 0o644); err != nil {
		return fmt.Errorf("write the report: %w", err)
	}
	fmt.Fprintf(s.err, "wrote %s (%d run(s))\n", o.output, len(in.Runs))
	return nil
}

// input reads the runs, the stack (deployed, else its plan), its diagram
// and its compliance findings.
func (o *reportOpts) input(ctx context.Context, s streams) (report.Input, error) {
	rs, err := report.Load(o.runsDir)
	if err != nil {
		return report.Input{}, err
	}
	rel := o.runsDir
	if r, err := filepath.Rel(o.root, o.runsDir); err == nil && !strings.HasPrefix(r, "..") {
		rel = r
	}
	res, err := planOne(plan.Source{Root: o.root, Stack: o.stack})
	if err != nil {
		return report.Input{}, err
	}
	in := report.Input{
		Stack: report.StackFrom(o.stack, res.Outputs, false), Findings: res.Findings, FindingsSource: "the plan",
		DiagramSource: "from the plan", Rules: rulesFor(res.Cloud), Runs: rs, RunsDir: rel, Generated: o.now(),
	}
	// The deployed stack, where it can be read, is the better evidence;
	// reading it is a few API calls, so two minutes is generous.
	lctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	out, err := o.outputs(lctx, o.root, o.stack)
	if u, _ := out["url"].(string); err != nil || u == "" {
		if err != nil {
			fmt.Fprintf(s.err, "stayup report: the deployed stack could not be read (%v): the stack table, diagram and compliance are the plan's\n", err)
		}
		m, err := diagram.Build(res.Cloud, res.Graph)
		if err == nil {
			in.Diagram, err = m.SVG()
		}
		if err != nil && !errors.Is(err, diagram.ErrNoTable) {
			return in, fmt.Errorf("draw the diagram: %w", err)
		}
		return in, nil
	}
	in.Stack = report.StackFrom(o.stack, out, true)
	live := &diagramOpts{stack: o.stack, live: true, root: o.root, export: o.export, open: o.open}
	if m, err := live.model(lctx); err == nil {
		if in.Diagram, err = m.SVG(); err == nil {
			in.DiagramSource = "from the deployed stack, with its instances"
		}
	} else {
		fmt.Fprintf(s.err, "stayup report: live diagram: %v; drawing the plan's\n", err)
	}
	if in.Diagram == nil {
		if m, err := diagram.Build(res.Cloud, res.Graph); err == nil {
			in.Diagram, _ = m.SVG()
		}
	}
	if data, err := o.export(lctx, o.root, o.stack); err == nil {
		if g, err := graph.FromExport(data); err == nil && len(g.Resources) > 0 {
			in.Findings, in.FindingsSource = policy.Check(g), "the deployed stack's state"
		}
	}
	return in, nil
}

func rulesFor(cloud string) int {
	n := 0
	for _, r := range policy.Rules() {
		if r.Cloud == cloud {
			n++
		}
	}
	return n
}
