package doctor

import (
	"context"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	compute "cloud.google.com/go/compute/apiv1"
	"cloud.google.com/go/compute/apiv1/computepb"
	"golang.org/x/oauth2/google"
	"google.golang.org/api/cloudresourcemanager/v1"
	oauth2api "google.golang.org/api/oauth2/v2"
	"google.golang.org/api/option"
	"google.golang.org/api/serviceusage/v1"

	"stayup/infra/spec"
	"stayup/internal/stackops"
)

// gcpAPI is what doctor asks of GCP, one call per method; the real one
// wraps the REST clients, tests script it.
type gcpAPI interface {
	// WhoAmI is the credentials' account (their token's email).
	WhoAmI(ctx context.Context) (string, error)
	// EnabledServices is one page of the project's enabled services (names
	// like compute.googleapis.com) and the next page's token.
	EnabledServices(ctx context.Context, project, pageToken string) ([]string, string, error)
	Region(ctx context.Context, project, region string) (*computepb.Region, error)
	MachineVCPUs(ctx context.Context, project, zone, machineType string) (int, error)
	// GroupSize is the stack's group's target size (0 when it has none).
	GroupSize(ctx context.Context, project, region, group string) (int, error)
	// TestPermissions returns those of perms the caller holds on the project.
	TestPermissions(ctx context.Context, project string, perms []string) ([]string, error)
}

// GCP checks a GCP project.
type GCP struct {
	API gcpAPI
	// Images reads the pinned OS image (compute.ImagesClient).
	Images stackops.GCPImagesAPI
}

// Check runs the GCP checks: Service Usage first, since the others call
// APIs that must be enabled (Resource Manager for testIamPermissions).
func (g *GCP) Check(ctx context.Context, need Need, own Own, r *Report) {
	s := need.Spec
	who, err := g.API.WhoAmI(ctx)
	if err != nil {
		r.add(Check{Name: "credentials", Status: Fail, Detail: "no usable Google credentials: " + oneLine(err),
			Fix: "gcloud auth application-default login (or GOOGLE_APPLICATION_CREDENTIALS), then run doctor again"})
		return
	}
	r.add(Check{Name: "credentials", Status: OK, Detail: fmt.Sprintf("%s, project %s", who, s.Project)})

	enabled, ok := g.services(ctx, s.Project, need.APIs, r)
	if !ok {
		return
	}
	if !slices.Contains(enabled, "compute.googleapis.com") {
		r.add(Check{Name: "region", Status: Warn, Detail: "not checked: the Compute Engine API is disabled", Fix: "enable it (above), then run doctor again"})
	} else {
		g.region(ctx, s, need.Peak, own, r)
		r.add(g.baseImage(ctx, s))
	}
	if !slices.Contains(enabled, "cloudresourcemanager.googleapis.com") {
		r.add(Check{Name: "permissions", Status: Warn, Detail: "not checked: testIamPermissions needs the Cloud Resource Manager API, which is disabled", Fix: "enable it (above), then run doctor again"})
		return
	}
	g.permissions(ctx, s.Project, need.Actions, r)
}

func (g *GCP) baseImage(ctx context.Context, s spec.Spec) Check {
	if s.BaseImage == "" {
		return baseImageCheck("", stackops.ImageState{}, nil)
	}
	st, err := stackops.GCPImageState(ctx, g.Images, s.BaseImage, time.Now())
	return baseImageCheck(s.BaseImage, st, err)
}

func (g *GCP) services(ctx context.Context, project string, want []string, r *Report) ([]string, bool) {
	var enabled []string
	token := ""
	for {
		page, next, err := g.API.EnabledServices(ctx, project, token)
		if err != nil {
			fix := "check gcp:project; the caller needs serviceusage.services.list (in the deploy document)"
			if strings.Contains(err.Error(), "SERVICE_DISABLED") || strings.Contains(err.Error(), "has not been used in project") {
				fix = "gcloud services enable serviceusage.googleapis.com --project " + project
			}
			r.add(Check{Name: "APIs", Status: Fail, Detail: "could not list the project's enabled APIs (Service Usage): " + oneLine(err), Fix: fix})
			return nil, false
		}
		enabled = append(enabled, page...)
		if next == "" {
			break
		}
		token = next
	}
	var missing []string
	for _, api := range want {
		if !slices.Contains(enabled, api) {
			missing = append(missing, api)
		}
	}
	if len(missing) == 0 {
		r.add(Check{Name: "APIs", Status: OK, Detail: "enabled: " + strings.Join(want, ", ")})
	} else {
		r.add(Check{Name: "APIs", Status: Fail, Detail: "disabled: " + strings.Join(missing, ", "),
			Fix: fmt.Sprintf("gcloud services enable %s --project %s", strings.Join(missing, " "), project)})
	}
	return enabled, true
}

func (g *GCP) region(ctx context.Context, s spec.Spec, peak int, own Own, r *Report) {
	reg, err := g.API.Region(ctx, s.Project, s.Region)
	if err != nil {
		r.add(Check{Name: "region", Status: Fail, Detail: fmt.Sprintf("region %s: %v", s.Region, oneLine(err)), Fix: "check gcp:region (gcloud compute regions list)"})
		return
	}
	var zones []string
	for _, z := range reg.GetZones() {
		zones = append(zones, path.Base(z))
	}
	slices.Sort(zones)
	r.add(zonesCheck(s, zones))
	if len(zones) == 0 {
		return
	}
	per, err := g.API.MachineVCPUs(ctx, s.Project, zones[0], s.InstanceType)
	if err != nil {
		r.add(Check{Name: "instance type", Status: Fail, Detail: fmt.Sprintf("%s in %s: %v", s.InstanceType, zones[0], oneLine(err)), Fix: "choose a stayup:instanceType the region offers (gcloud compute machine-types list)"})
		return
	}
	ownSize := 0
	if group, _ := own.Fleet["instanceGroupManager"].(string); group != "" {
		if ownSize, err = g.API.GroupSize(ctx, s.Project, s.Region, path.Base(group)); err != nil {
			ownSize = 0 // not deployed, or not readable: nothing discounted
		}
	}
	metric := cpuMetric(s.InstanceType)
	q := quota(reg, metric)
	if q == nil {
		r.add(Check{Name: "CPU quota", Status: Warn, Detail: fmt.Sprintf("the region reports no %s quota", metric), Fix: "check IAM & Admin > Quotas"})
	} else {
		r.add(quotaCheck("CPU quota", "vCPUs", q.GetLimit(), q.GetUsage(), float64(ownSize*per), float64(peak*per),
			fmt.Sprintf("ask for more %s in %s (IAM & Admin > Quotas), or lower stayup:maxSize: a rollout adds one VM per zone", metric, s.Region)))
	}
	// Cloud NAT allocates its external addresses itself (one to start);
	// the instances have none and the load balancer's is global.
	if q := quota(reg, "IN_USE_ADDRESSES"); q != nil {
		var mine float64
		if ownSize > 0 {
			mine = 1
		}
		r.add(quotaCheck("address quota", "addresses", q.GetLimit(), q.GetUsage(), mine, 1,
			fmt.Sprintf("release unused external addresses in %s or ask for more IN_USE_ADDRESSES", s.Region)))
	}
}

// cpuMetric is the regional quota a machine type's vCPUs count against:
// the families with their own quota, else CPUS. Assumed, to check on a live
// run: the families named here have their own regional metric.
func cpuMetric(machineType string) string {
	family, _, _ := strings.Cut(machineType, "-")
	switch family {
	case "e2", "n2", "n2d", "c2", "c2d", "c3", "t2d", "t2a", "n4", "c4", "m1", "m2", "m3", "a2":
		return strings.ToUpper(family) + "_CPUS"
	}
	return "CPUS"
}

func quota(reg *computepb.Region, metric string) *computepb.Quota {
	for _, q := range reg.GetQuotas() {
		if q.GetMetric() == metric {
			return q
		}
	}
	return nil
}

func (g *GCP) permissions(ctx context.Context, project string, perms []string, r *Report) {
	var held []string
	// testIamPermissions takes at most 100 permissions a call.
	for batch := range slices.Chunk(perms, 100) {
		got, err := g.API.TestPermissions(ctx, project, batch)
		if err != nil {
			r.add(failed("permissions", "test the caller's permissions on the project (testIamPermissions)", err, "check them with Policy Troubleshooter"))
			return
		}
		held = append(held, got...)
	}
	var missing []string
	for _, p := range perms {
		if !slices.Contains(held, p) {
			missing = append(missing, p)
		}
	}
	if len(missing) == 0 {
		r.add(Check{Name: "permissions", Status: OK, Detail: fmt.Sprintf("the caller holds all %d permissions of the deploy role (testIamPermissions)", len(perms))})
		return
	}
	r.add(Check{Name: "permissions", Status: Fail, Detail: "the caller lacks " + summarize(missing),
		Fix: "grant it the role from stayup permissions --cloud gcp --for deploy"})
}

// gcpClients is the real gcpAPI.
type gcpClients struct {
	usage    *serviceusage.Service
	crm      *cloudresourcemanager.Service
	regions  *compute.RegionsClient
	machines *compute.MachineTypesClient
	groups   *compute.RegionInstanceGroupManagersClient
	images   *compute.ImagesClient
	ts       func(ctx context.Context) (string, error)
}

// NewGCP uses Application Default Credentials, as the provider does.
func NewGCP(ctx context.Context) (*GCP, func(), error) {
	creds, err := google.FindDefaultCredentials(ctx, "https://www.googleapis.com/auth/cloud-platform")
	if err != nil {
		return nil, nil, fmt.Errorf("Google credentials: %w", err)
	}
	opt := option.WithCredentials(creds)
	c := &gcpClients{ts: func(ctx context.Context) (string, error) {
		t, err := creds.TokenSource.Token()
		if err != nil {
			return "", err
		}
		return t.AccessToken, nil
	}}
	if c.usage, err = serviceusage.NewService(ctx, opt); err == nil {
		if c.crm, err = cloudresourcemanager.NewService(ctx, opt); err == nil {
			if c.regions, err = compute.NewRegionsRESTClient(ctx, opt); err == nil {
				if c.machines, err = compute.NewMachineTypesRESTClient(ctx, opt); err == nil {
					if c.groups, err = compute.NewRegionInstanceGroupManagersRESTClient(ctx, opt); err == nil {
						c.images, err = compute.NewImagesRESTClient(ctx, opt)
					}
				}
			}
		}
	}
	if err != nil {
		return nil, nil, fmt.Errorf("GCP clients: %w", err)
	}
	return &GCP{API: c, Images: c.images}, func() { c.regions.Close(); c.machines.Close(); c.groups.Close(); c.images.Close() }, nil
}

func (c *gcpClients) WhoAmI(ctx context.Context) (string, error) {
	tok, err := c.ts(ctx)
	if err != nil {
		return "", err
	}
	svc, err := oauth2api.NewService(ctx, option.WithoutAuthentication())
	if err != nil {
		return "", err
	}
	info, err := svc.Tokeninfo().AccessToken(tok).Context(ctx).Do()
	if err != nil {
		return "", err
	}
	if info.Email == "" {
		return "credentials without an email", nil
	}
	return info.Email, nil
}

func (c *gcpClients) EnabledServices(ctx context.Context, project, pageToken string) ([]string, string, error) {
	call := c.usage.Services.List("projects/" + project).Filter("state:ENABLED").PageSize(200).Context(ctx)
	if pageToken != "" {
		call = call.PageToken(pageToken)
	}
	out, err := call.Do()
	if err != nil {
		return nil, "", err
	}
	var names []string
	for _, s := range out.Services {
		names = append(names, s.Config.Name)
	}
	return names, out.NextPageToken, nil
}

func (c *gcpClients) Region(ctx context.Context, project, region string) (*computepb.Region, error) {
	return c.regions.Get(ctx, &computepb.GetRegionRequest{Project: project, Region: region})
}

func (c *gcpClients) MachineVCPUs(ctx context.Context, project, zone, machineType string) (int, error) {
	mt, err := c.machines.Get(ctx, &computepb.GetMachineTypeRequest{Project: project, Zone: zone, MachineType: machineType})
	if err != nil {
		return 0, err
	}
	return int(mt.GetGuestCpus()), nil
}

func (c *gcpClients) GroupSize(ctx context.Context, project, region, group string) (int, error) {
	g, err := c.groups.Get(ctx, &computepb.GetRegionInstanceGroupManagerRequest{Project: project, Region: region, InstanceGroupManager: group})
	if err != nil {
		return 0, err
	}
	return int(g.GetTargetSize()), nil
}

func (c *gcpClients) TestPermissions(ctx context.Context, project string, perms []string) ([]string, error) {
	out, err := c.crm.Projects.TestIamPermissions(project, &cloudresourcemanager.TestIamPermissionsRequest{Permissions: perms}).Context(ctx).Do()
	if err != nil {
		return nil, err
	}
	return out.Permissions, nil
}
