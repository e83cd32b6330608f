package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"stayup/internal/diagram"
	"stayup/internal/graph"
	"stayup/internal/plan"
	"stayup/internal/policy"
	"stayup/internal/project"
)

type diagramOpts struct {
	stack   string
	cloud   string
	configs []string
	format  string
	output  string
	live    bool

	root string
	src  plan.Source
	// export and open reach the deployed stack for --live; tests fake them.
	export exportStack
	open   openFleetFunc
}

func newDiagramCmd(s streams) *cobra.Command {
	o := &diagramOpts{export: exportRealStack, open: openStackFleet}
	cmd := &cobra.Command{
		Use:   "diagram [--stack S | --cloud C] [--config key=value ...] [--format svg|mermaid|dot] [-o FILE]",
		Short: "Draw the architecture: the path of a request and who may talk to whom",
		Long: `diagram draws a stack's logical architecture from its plan (the program under
mocks, offline): the users, the load balancer, the fleet in each zone, the NAT,
the identity and what it may write to, the image's registry, inside boxes for
the cloud, region, network and zones. Arrows carry the rules that allow them,
read from the resources ("8080/tcp from the LB only").

--format is svg (drawn in-process with D2), mermaid (GitHub renders it in
Markdown) or dot (Graphviz); without it, -o's extension (.svg, .mmd, .dot)
decides, and standard output gets Mermaid. --config tries a change without
editing the stack file, as plan does.

--live draws a deployed stack from its state instead of the plan, and writes
on each zone's box the instances running there, how the load balancer sees
them and what they were launched from (it needs the stack's state backend and
the cloud's credentials).

"stayup plan" keeps diagrams/<cloud>.* current for the example stacks.`,
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
	cmd.Flags().StringVar(&o.stack, "stack", "", "stack to draw (a file in stacks/)")
	cmd.Flags().StringVar(&o.cloud, "cloud", "", "draw a cloud's example stack: aws, gcp or azure")
	cmd.Flags().BoolVar(&o.live, "live", false, "draw the deployed stack, with its instances per zone (needs --stack)")
	cmd.Flags().StringArrayVar(&o.configs, "config", nil, "override a config key: key=value (repeatable)")
	cmd.Flags().StringVar(&o.format, "format", "", "svg, mermaid or dot (default: from -o's extension, else mermaid)")
	cmd.Flags().StringVarP(&o.output, "output", "o", "", "write to FILE instead of standard output")
	return cmd
}

// Validate checks the flags before anything runs.
func (o *diagramOpts) Validate() error {
	if o.stack == "" && o.cloud == "" {
		return usagef("name what to draw: --stack S or --cloud C")
	}
	if o.live && (o.stack == "" || len(o.configs) > 0) {
		return usagef("--live draws a deployed stack: give --stack S, without --config")
	}
	if o.cloud == "all" {
		return usagef("--cloud all: diagram draws one stack; name one cloud")
	}
	if o.cloud != "" && !diagram.HasTable(o.cloud) {
		return usagef("--cloud %q: diagram draws %s", o.cloud, strings.Join(diagram.Clouds(), ", "))
	}
	if o.format == "" {
		o.format = string(diagram.Mermaid)
		if o.output != "" {
			o.format = formatFromExt(filepath.Ext(o.output))
		}
	}
	if !slices.Contains(diagram.Formats, diagram.Format(o.format)) {
		return usagef("--format %q: want svg, mermaid or dot", o.format)
	}
	// plan's flags and rules name the configuration the same way.
	p := &planOpts{stack: o.stack, cloud: o.cloud, configs: o.configs, root: o.root}
	if err := p.Validate(); err != nil {
		return err
	}
	sources, err := p.sources()
	if err != nil {
		return err
	}
	o.src = sources[0]
	return nil
}

// formatFromExt maps a file extension to a format; an unknown one is
// returned as is, for Validate to reject.
func formatFromExt(ext string) string {
	switch strings.ToLower(ext) {
	case ".svg":
		return string(diagram.SVG)
	case ".mmd", ".mermaid", ".md":
		return string(diagram.Mermaid)
	case ".dot", ".gv":
		return string(diagram.DOT)
	}
	return strings.TrimPrefix(ext, ".")
}

// Execute draws the stack (its plan, or with --live its state and
// instances) and writes the picture.
func (o *diagramOpts) Execute(ctx context.Context, s streams) error {
	m, err := o.model(ctx)
	if err != nil {
		return err
	}
	out, err := diagram.Render(m, diagram.Format(o.format))
	if err != nil {
		return err
	}
	if o.output == "" {
		_, err = s.out.Write(out)
		return err
	}
	if err := os.WriteFile(o.output, out, 0o644); err != nil {
		return fmt.Errorf("write the diagram: %w", err)
	}
	return nil
}

// model builds the picture's model from the plan, or from the deployed
// stack with its instances.
func (o *diagramOpts) model(ctx context.Context) (*diagram.Model, error) {
	var (
		g     *graph.Graph
		cloud string
		stack = o.stack
	)
	if o.live {
		// Reading the state and the instances is a few API calls: two
		// minutes is generous, and Ctrl-C stops it sooner.
		ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		data, err := o.export(ctx, o.root, stack)
		if err != nil {
			return nil, fmt.Errorf("read stack %s: %w", stack, err)
		}
		if g, err = graph.FromExport(data); err != nil {
			return nil, err
		}
		if len(g.Resources) == 0 {
			return nil, fmt.Errorf("stack %s has no resources: deploy it with stayup up --stack %s first", stack, stack)
		}
		cloud = policy.CloudOf(g)
	} else {
		res, err := planOne(o.src)
		if err != nil {
			return nil, err
		}
		g, cloud, stack = res.Graph, res.Cloud, res.Stack
	}
	m, err := diagram.Build(cloud, g)
	if errors.Is(err, diagram.ErrNoTable) {
		return nil, fmt.Errorf("stack %s is on %q, which diagram does not draw", stack, cloud)
	}
	if err != nil || !o.live {
		return m, err
	}
	sf, err := o.open(ctx, o.root, stack)
	if err != nil {
		return nil, err
	}
	defer sf.Close()
	list, err := sf.Fleet.Instances(ctx)
	if err != nil {
		return nil, fmt.Errorf("list the instances of stack %s: %w", stack, err)
	}
	m.AddInstances(list)
	return m, nil
}
