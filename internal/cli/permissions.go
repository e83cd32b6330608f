package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/spf13/cobra"

	"stayup/infra/spec"
	"stayup/internal/permissions"
	"stayup/internal/project"
)

type permissionsOpts struct {
	cloud   string
	purpose string
	json    bool

	root string
	p    permissions.Purpose
}

func newPermissionsCmd(s streams) *cobra.Command {
	o := &permissionsOpts{}
	cmd := &cobra.Command{
		Use:   "permissions --cloud C [--for deploy|operate] [--json]",
		Short: "Print the least-privilege permissions for deploying or operating, generated from the program",
		Long: `permissions runs the program under mocks, offline, for every configuration
the spec allows (TLS, IPv6 clients, private registries, Session Manager, IAP...),
maps each resource type and lookup it registers to the actions its create,
read, update and delete need, adds the calls stayup itself makes, and prints
the cloud's document for them on stdout:

  aws    an IAM policy document (JSON)
  gcp    a custom role (gcloud's YAML), with the APIs to enable
  azure  a custom role definition (JSON), with the condition its assignment needs

--for deploy (the default) is the identity that runs up, preview, destroy and
doctor; --for operate the one that runs status, chaos and rollout. How to
apply it, and the notes, go to stderr, so stdout can be saved as the file.`,
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
	cmd.Flags().StringVar(&o.cloud, "cloud", "", "aws, gcp or azure")
	cmd.Flags().StringVar(&o.purpose, "for", string(permissions.Deploy), "deploy (up, preview, destroy, doctor) or operate (status, chaos, rollout)")
	cmd.Flags().BoolVar(&o.json, "json", false, "print the document, the commands that apply it and the notes as one JSON object")
	return cmd
}

// Validate checks the flags before anything runs.
func (o *permissionsOpts) Validate() error {
	if !slices.Contains(spec.Clouds, spec.Cloud(o.cloud)) {
		return usagef("permissions: --cloud must be aws, gcp or azure")
	}
	p, err := permissions.ParsePurpose(o.purpose)
	if err != nil {
		return usagef("--for: %v", err)
	}
	o.p = p
	return nil
}

// Execute generates and prints the document.
func (o *permissionsOpts) Execute(_ context.Context, s streams) error {
	cloud := spec.Cloud(o.cloud)
	prog, err := permissions.Collect(o.root, cloud, permissions.Variants(cloud))
	if err != nil {
		return err
	}
	doc, err := permissions.Generate(prog, o.p)
	if err != nil {
		return err
	}
	if o.json {
		enc := json.NewEncoder(s.out)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(doc)
	}
	fmt.Fprint(s.out, doc.Body())
	fmt.Fprintln(s.err)
	doc.WriteHelp(s.err)
	return nil
}
