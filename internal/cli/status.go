package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	compute "cloud.google.com/go/compute/apiv1"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/spf13/cobra"

	"stayup/infra"
	"stayup/infra/spec"
	"stayup/internal/fleet"
	awsfleet "stayup/internal/fleet/aws"
	azurefleet "stayup/internal/fleet/azure"
	gcpfleet "stayup/internal/fleet/gcp"
	"stayup/internal/project"
	"stayup/internal/stackops"
)

// stackFleet is a deployed stack's fleet and the outputs around it.
type stackFleet struct {
	Fleet  fleet.Fleet
	URL    string
	Cloud  string
	Region string
	// BaseImage and Zones are what the stack boots and where, as its
	// outputs say (empty for a stack deployed before they were output).
	BaseImage string
	Zones     []string
	// Certificate is a GCP stack's Google-managed certificate, when it
	// has one (HasCertificate).
	Certificate    certRef
	HasCertificate bool
	Close          func()
}

// openFleetFunc opens a deployed stack's fleet from its outputs.
type openFleetFunc func(ctx context.Context, root, stack string) (*stackFleet, error)

// openStackFleet reads the stack's outputs through internal/stackops and
// builds the cloud's fleet on its SDK with the default credentials.
func openStackFleet(ctx context.Context, root, stack string) (*stackFleet, error) {
	readCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	st, err := stackops.Select(readCtx, stackops.Options{Root: root, Stack: stack, Program: infra.Program})
	if errors.Is(err, stackops.ErrNoCLI) {
		return nil, fmt.Errorf("read stack %s: %w", stack, errNoPulumi)
	}
	if err != nil {
		return nil, fmt.Errorf("read stack %s: %w", stack, err)
	}
	out, err := st.Outputs(readCtx)
	if err != nil {
		return nil, err
	}
	return fleetFromOutputs(ctx, stack, out)
}

func fleetFromOutputs(ctx context.Context, stack string, out map[string]any) (*stackFleet, error) {
	sf := &stackFleet{Close: func() {}}
	sf.URL, _ = out["url"].(string)
	sf.Cloud, _ = out["cloud"].(string)
	sf.Region, _ = out["region"].(string)
	sf.BaseImage, _ = out["baseImage"].(string)
	if zs, ok := out["zones"].([]any); ok {
		for _, z := range zs {
			sf.Zones = append(sf.Zones, fmt.Sprint(z))
		}
	}
	sf.Certificate, sf.HasCertificate = certRefOf(out)
	fo, _ := out["fleet"].(map[string]any)
	if fo == nil {
		return nil, fmt.Errorf("stack %s has no fleet output: has it been deployed?", stack)
	}
	switch sf.Cloud {
	case "aws":
		o, err := awsfleet.ParseOutputs(fo)
		if err != nil {
			return nil, fmt.Errorf("stack %s: %w", stack, err)
		}
		f, err := awsfleet.Open(ctx, sf.Region, o)
		if err != nil {
			return nil, err
		}
		sf.Fleet = f
	case "gcp":
		o, err := gcpfleet.ParseOutputs(fo)
		if err != nil {
			return nil, fmt.Errorf("stack %s: %w", stack, err)
		}
		// The stack names its templates' labels, for rollout's cleanup.
		o.Stack, o.PulumiProject = stack, stackops.Project
		f, err := gcpfleet.Open(ctx, o)
		if err != nil {
			return nil, err
		}
		sf.Fleet, sf.Close = f, func() { f.Close() }
	case "azure":
		o, err := azurefleet.ParseOutputs(fo)
		if err != nil {
			return nil, fmt.Errorf("stack %s: %w", stack, err)
		}
		f, err := azurefleet.Open(ctx, o)
		if err != nil {
			return nil, err
		}
		sf.Fleet = f
	default:
		return nil, fmt.Errorf("stack %s: cloud output %q: want aws, gcp or azure", stack, sf.Cloud)
	}
	return sf, nil
}

type statusOpts struct {
	stack string
	json  bool
	root  string
	open  openFleetFunc
	// imageState reads where the pinned OS image is in its lifecycle;
	// nil: not read (tests that are not about it).
	imageState imageStateFunc
	// certificate reads a GCP stack's managed certificate (nil: not read).
	certificate certReader
}

// imageStateFunc reads the lifecycle of a stack's pinned OS image.
type imageStateFunc func(ctx context.Context, sf *stackFleet, root, stack string) (stackops.ImageState, error)

// lookupImageState asks the stack's cloud about its pinned OS image, with
// the default credentials: the same calls doctor makes.
func lookupImageState(ctx context.Context, sf *stackFleet, root, stack string) (stackops.ImageState, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	now := time.Now()
	switch sf.Cloud {
	case "aws":
		cfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(sf.Region))
		if err != nil {
			return stackops.ImageState{}, fmt.Errorf("AWS credentials: %w", err)
		}
		return stackops.AWSImageState(ctx, ec2.NewFromConfig(cfg), sf.BaseImage, now)
	case "gcp":
		c, err := compute.NewImagesRESTClient(ctx)
		if err != nil {
			return stackops.ImageState{}, fmt.Errorf("GCP images client: %w", err)
		}
		defer c.Close()
		return stackops.GCPImageState(ctx, c, spec.GCPImagePath(sf.BaseImage), now)
	case "azure":
		cfg, _ := project.StackConfig(root, stack)
		sub := stackops.AzureSubscription(ctx, cfg, os.Getenv)
		if sub == "" {
			return stackops.ImageState{}, errors.New("cannot tell which Azure subscription the stack is in (set azure-native:subscriptionId or ARM_SUBSCRIPTION_ID)")
		}
		arm, err := stackops.NewFeatureChecker()
		if err != nil {
			return stackops.ImageState{}, err
		}
		i := spec.AzureImage
		return arm.ImageVersionState(ctx, sub, sf.Region, i.Publisher, i.Offer, i.SKU, sf.BaseImage, now)
	}
	return stackops.ImageState{}, fmt.Errorf("no image lookup for cloud %q", sf.Cloud)
}

func newStatusCmd(s streams) *cobra.Command {
	o := &statusOpts{open: openStackFleet, imageState: lookupImageState, certificate: readCertificate}
	cmd := &cobra.Command{
		Use:   "status --stack S [--json]",
		Short: "Show a deployed stack's instances per zone: load balancer health, image, desired vs healthy",
		Long: `status reads the stack's outputs, then asks the cloud for the fleet: each
instance with its zone, state, whether the load balancer sees it healthy, the
image and template revision it runs, and when it launched; the group's desired,
minimum and maximum size; and its rolling update, if any. It needs the cloud's
default credentials (AWS: environment, profile or SSO; GCP: application
default credentials; Azure: environment, managed identity or az login).`,
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
	cmd.Flags().StringVar(&o.stack, "stack", "", "the deployed stack")
	cmd.Flags().BoolVar(&o.json, "json", false, "print the status as JSON (docs/chaos.md)")
	return cmd
}

// Validate checks the flags before anything runs.
func (o *statusOpts) Validate() error {
	if o.stack == "" {
		known, _ := project.Stacks(o.root)
		return usagef("status of which stack? give --stack S (stack files: %s)", strings.Join(known, ", "))
	}
	return nil
}

// fleetStatus is what status prints.
type fleetStatus struct {
	Stack     string               `json:"stack"`
	Cloud     string               `json:"cloud"`
	Group     string               `json:"group"`
	URL       string               `json:"url"`
	Capacity  fleet.Capacity       `json:"capacity"`
	InService int                  `json:"healthy"`
	Zones     map[string]zoneCount `json:"zones"`
	Instances []fleet.Instance     `json:"instances"`
	Rollout   fleet.Rollout        `json:"rollout"`
	// BaseImage is the OS image the stack pins (its baseImage output).
	BaseImage string `json:"base_image"`
	// BaseImageState is where that image is in its lifecycle: active,
	// scheduled (for deprecation), deprecated, gone, floating (Azure's
	// latest) or unknown (could not be read); absent with no pin.
	BaseImageState string `json:"base_image_state,omitempty"`
	// BaseImageDeprecation is its deprecation date (RFC 3339), when known.
	BaseImageDeprecation string `json:"base_image_deprecation,omitempty"`
	// HTTPS is the cutover's phase on GCP with a Google-managed
	// certificate; absent elsewhere.
	HTTPS *httpsStatus `json:"https,omitempty"`
}

type zoneCount struct {
	Instances int `json:"instances"`
	Healthy   int `json:"healthy"`
}

// Execute reads the fleet and prints it.
func (o *statusOpts) Execute(ctx context.Context, s streams) error {
	sf, err := o.open(ctx, o.root, o.stack)
	if err != nil {
		return err
	}
	defer sf.Close()
	restoreHolds(ctx, sf.Fleet, s.err)
	f := sf.Fleet
	st := fleetStatus{Stack: o.stack, Cloud: f.Cloud(), Group: f.Name(), URL: sf.URL, Zones: map[string]zoneCount{}, BaseImage: sf.BaseImage}
	// Every zone the stack is deployed over, an empty one too.
	for _, z := range sf.Zones {
		st.Zones[zoneKey(f.Cloud(), sf.Region, z)] = zoneCount{}
	}
	if st.Capacity, err = f.Capacity(ctx); err != nil {
		return err
	}
	if st.Instances, err = f.Instances(ctx); err != nil {
		return err
	}
	if st.Rollout, err = f.Rollout(ctx); err != nil {
		return err
	}
	if st.Instances == nil {
		st.Instances = []fleet.Instance{}
	}
	o.baseImageState(ctx, sf, &st, s.err)
	if sf.HasCertificate && o.certificate != nil {
		// A certificate that cannot be read is said, not fatal: the fleet
		// view is what status is for.
		if c, err := o.certificate(ctx, sf.Certificate.Project, sf.Certificate.Name); err != nil {
			fmt.Fprintf(s.err, "stayup: could not read the managed certificate %s to say the HTTPS phase: %v\n", sf.Certificate.Name, err)
		} else {
			h := cutover(c, sf.Certificate, "")
			st.HTTPS = &h
		}
	}
	for _, i := range st.Instances {
		z := st.Zones[i.Zone]
		z.Instances++
		if i.InService() {
			z.Healthy++
			st.InService++
		}
		st.Zones[i.Zone] = z
	}
	if o.json {
		enc := json.NewEncoder(s.out)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	p := func(format string, args ...any) { fmt.Fprintf(s.out, format, args...) }
	p("stack %s (%s, group %s) %s\n", st.Stack, st.Cloud, st.Group, st.URL)
	p("desired %d (min %d, max %d), healthy %d", st.Capacity.Desired, st.Capacity.Min, st.Capacity.Max, st.InService)
	if st.InService < st.Capacity.Desired {
		p("  — DEGRADED: %d missing", st.Capacity.Desired-st.InService)
	}
	p("\n")
	zones := make([]string, 0, len(st.Zones))
	for z := range st.Zones {
		zones = append(zones, z)
	}
	sort.Strings(zones)
	var zs []string
	for _, z := range zones {
		zs = append(zs, fmt.Sprintf("%s %d/%d", z, st.Zones[z].Healthy, st.Zones[z].Instances))
	}
	p("zones (healthy/instances): %s\n", strings.Join(zs, ", "))
	p("rollout: %s\n", rolloutText(st.Rollout))
	if st.BaseImage != "" {
		state := ""
		if st.BaseImageState != "" {
			state = ", " + st.BaseImageState
		}
		p("OS image: %s (stayup:baseImage%s)\n", st.BaseImage, state)
	}
	if st.HTTPS != nil {
		p("%s\n", st.HTTPS)
	}
	now := time.Now()
	writeFleetTable(s.out, st.Instances, now)
	if line := healthAge(st.Instances, now); line != "" {
		p("%s\n", line)
	}
	return nil
}

// baseImageState fills in where the pinned OS image is in its lifecycle,
// and says on stderr when it is ageing out: once it is gone every VM the
// fleet creates fails to boot. A lookup that fails is said, not fatal:
// the fleet's view does not depend on it.
func (o *statusOpts) baseImageState(ctx context.Context, sf *stackFleet, st *fleetStatus, w io.Writer) {
	if o.imageState == nil || sf.BaseImage == "" {
		return
	}
	is, err := o.imageState(ctx, sf, o.root, o.stack)
	if err != nil {
		st.BaseImageState = "unknown"
		fmt.Fprintf(w, "stayup: could not tell whether the OS image %s is deprecated: %v\n", sf.BaseImage, err)
		return
	}
	st.BaseImageState = string(is.Life)
	if !is.When.IsZero() {
		st.BaseImageDeprecation = is.When.UTC().Format(time.RFC3339)
	}
	switch is.Life {
	case stackops.ImageScheduled, stackops.ImageDeprecated, stackops.ImageGone:
		fmt.Fprintf(w, "stayup: warning: OS image %s; move to the newest: %s\n", is.Summary(), stackops.RefreshFix)
	}
}

// healthAge says how old the load balancer's view in the table is, where
// the fleet reads it less often than the instances (Azure's gateway
// backend health); empty where it is read with them.
func healthAge(list []fleet.Instance, now time.Time) string {
	var oldest time.Time
	for _, i := range list {
		if !i.HealthAsOf.IsZero() && (oldest.IsZero() || i.HealthAsOf.Before(oldest)) {
			oldest = i.HealthAsOf
		}
	}
	if oldest.IsZero() {
		return ""
	}
	return fmt.Sprintf("LB health as of %s (%v old: the load balancer's view is read less often than the instances)", oldest.Format("15:04:05"), max(now.Sub(oldest), 0).Round(time.Second))
}

// zoneKey names a deployed zone as the fleet names its instances' zones:
// Azure's zones are numbers in the outputs and <region>-<n> in the view.
func zoneKey(cloud, region, z string) string {
	if cloud == "azure" {
		return region + "-" + z
	}
	return z
}

// restoreHolds puts back a setting that a chaos run held and did not
// restore (it died), when the fleet keeps such a record (Azure: the
// autoscale minimum), and says so on stderr. A failure is reported, not
// fatal: what the command does next does not depend on it, and the next
// command tries again.
func restoreHolds(ctx context.Context, f fleet.Fleet, w io.Writer) {
	h, ok := f.(fleet.HoldRestorer)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	lines, err := h.RestoreStaleHolds(ctx)
	for _, l := range lines {
		fmt.Fprintf(w, "stayup: %s\n", l)
	}
	if err != nil {
		fmt.Fprintf(w, "stayup: could not restore what an earlier chaos run held on %s: %v\n", f.Name(), err)
	}
}

func rolloutText(r fleet.Rollout) string {
	switch {
	case r.InProgress && r.Percent >= 0:
		return fmt.Sprintf("in progress (%s, %d%%) to %s", r.Status, r.Percent, r.Target)
	case r.InProgress:
		return fmt.Sprintf("in progress (%s) to %s", r.Status, r.Target)
	case r.Status != "":
		return fmt.Sprintf("none running (last: %s); all on %s: %v", r.Status, r.Target, r.Reached)
	}
	return fmt.Sprintf("none; all on %s: %v", r.Target, r.Reached)
}

// writeFleetTable prints the instances one a line, by zone.
func writeFleetTable(w io.Writer, list []fleet.Instance, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ZONE\tINSTANCE\tSTATE\tLB\tIMAGE\tREVISION\tUP")
	for _, i := range list {
		image := i.Image
		if image == "" {
			image = "-"
		}
		up := "-"
		if !i.Launched.IsZero() {
			up = now.Sub(i.Launched).Round(time.Second).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", i.Zone, i.ID, i.State, i.Health, image, i.Revision, up)
	}
	tw.Flush()
}
