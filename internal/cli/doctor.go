package cli

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"stayup/infra"
	"stayup/internal/doctor"
	"stayup/internal/project"
	"stayup/internal/stackops"
)

type doctorOpts struct {
	stack string
	json  bool

	root string
	// config reads the stack's config; outputs its deployed outputs (nil
	// when it is not deployed). Tests replace both and open.
	config  func(root, stack string) (map[string]string, error)
	outputs func(ctx context.Context, root, stack string) map[string]any
	open    doctor.Opener
}

func newDoctorCmd(s streams) *cobra.Command {
	o := &doctorOpts{config: project.StackConfig, outputs: deployedOutputs}
	cmd := &cobra.Command{
		Use:   "doctor --stack S [--json]",
		Short: "Check, read-only, that the account can take the stack before anything is created",
		Long: `doctor checks the account the default credentials reach, changing nothing:
who the credentials are, that the region and zones exist, the permissions
against "stayup permissions --for deploy", and per cloud what else makes a
first up fail part-way: AWS the vCPU and Elastic IP quotas; GCP the enabled
APIs, the CPU and address quotas; Azure the resource providers, the preview
features, the vCPU quota, the size's zones and the Network Watcher; on
every cloud, whether the pinned OS image (stayup:baseImage) is deprecated
(a warning, with the date) or gone (a failure: new VMs could not boot;
up --refresh-base-image moves the pin). Quotas
are compared with the fleet's peak (its maximum plus a rollout's surge),
less what the deployed stack already holds.

One line per check, with what to do when it fails. Exit 1 when a check
fails: up runs the same checks first and refuses (--skip-doctor).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			root, err := project.Root(workDir())
			if err != nil {
				return err
			}
			o.root = root
			if o.stack == "" {
				return usagef("doctor: which stack? give --stack S")
			}
			return o.Execute(cmd.Context(), s)
		},
	}
	cmd.Flags().StringVar(&o.stack, "stack", "", "the stack (its config is stacks/Pulumi.<stack>.yaml)")
	cmd.Flags().BoolVar(&o.json, "json", false, "print the report as JSON")
	return cmd
}

// Execute runs the checks and prints the report.
func (o *doctorOpts) Execute(ctx context.Context, s streams) error {
	cfg, err := o.config(o.root, o.stack)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	r, err := doctor.Run(ctx, o.stack, cfg, o.outputs(ctx, o.root, o.stack), o.open)
	if err != nil {
		return err
	}
	if o.json {
		if err := writeJSON(s.out, []*doctor.Report{r}, true); err != nil {
			return err
		}
	} else {
		r.Write(s.out)
	}
	if r.Blocking > 0 {
		return exitError{1}
	}
	return nil
}

// deployedOutputs reads a stack's outputs when it is deployed; a stack
// the backend does not know (or cannot be read) has none.
func deployedOutputs(ctx context.Context, root, stack string) map[string]any {
	st, err := stackops.Select(ctx, stackops.Options{Root: root, Stack: stack, Program: infra.Program})
	if err != nil {
		slog.Debug("no deployed stack to discount from quotas", "stack", stack, "err", err)
		return nil
	}
	out, err := st.Outputs(ctx)
	if err != nil {
		slog.Debug("could not read the stack's outputs", "stack", stack, "err", err)
		return nil
	}
	return out
}

// runDoctor is up's doctor: the same checks, on the config and outputs up
// already read, refusing on a blocking one.
func runDoctor(ctx context.Context, stack string, cfg map[string]string, outputs map[string]any, open doctor.Opener, s streams) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	r, err := doctor.Run(ctx, stack, cfg, outputs, open)
	if err != nil {
		return err
	}
	if r.Blocking == 0 {
		fmt.Fprintf(s.err, "stayup: doctor: %d checks passed or could not tell\n", len(r.Checks))
		return nil
	}
	r.Write(s.err)
	return fmt.Errorf("doctor: %d check(s) would make up fail part-way: fix them (stayup doctor --stack %s), or deploy anyway with --skip-doctor", r.Blocking, stack)
}

// upDoctor is the doctor up runs with the real clients.
func upDoctor(ctx context.Context, stack string, cfg map[string]string, outputs map[string]any, s streams) error {
	return runDoctor(ctx, stack, cfg, outputs, nil, s)
}
