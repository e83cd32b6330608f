// Package gcp deploys the service on Compute Engine: a regional managed
// instance group over two or more zones behind a global external
// Application Load Balancer, run by a service account that may only write
// its logs.
package gcp

import (
	"fmt"
	"strings"

	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/compute"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"stayup/infra/spec"
)

// Service is the whole deployment on GCP.
type Service struct {
	pulumi.ResourceState

	URL   pulumi.StringOutput `pulumi:"url"`
	Zones []string
	Fleet pulumi.Map
	// BaseImage is the OS image the instances boot, in the form
	// stayup:baseImage takes, so stayup up can pin it.
	BaseImage string
}

// NewService deploys the spec on GCP.
func NewService(ctx *pulumi.Context, name string, s spec.Spec, opts ...pulumi.ResourceOption) (*Service, error) {
	svc := &Service{}
	if err := ctx.RegisterComponentResource("stayup:gcp:Service", name, svc, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(svc)

	zones, err := pickZones(ctx, s)
	if err != nil {
		return nil, err
	}
	svc.Zones = zones

	net, err := newNetwork(ctx, name+"-net", s, parent)
	if err != nil {
		return nil, err
	}
	id, err := newIdentity(ctx, name+"-instance", s, parent)
	if err != nil {
		return nil, err
	}
	fleet, err := newFleet(ctx, name+"-fleet", s, zones, net, id, parent)
	if err != nil {
		return nil, err
	}
	lbal, err := newLoadBalancer(ctx, name+"-lb", s, fleet, parent)
	if err != nil {
		return nil, err
	}

	svc.URL = lbal.URL
	svc.BaseImage = fleet.BaseImage
	svc.Fleet = pulumi.Map{
		"project":              pulumi.String(s.Project),
		"region":               pulumi.String(s.Region),
		"instanceGroupManager": fleet.Group.Name,
		"backendService":       lbal.Backend.Name,
		"healthCheck":          fleet.Autohealing.Name,
	}
	if lbal.Certificate != nil {
		// status and up read its provisioning state to say which phase
		// the HTTPS cutover is in, and where DNS must point meanwhile.
		svc.Fleet["sslCertificate"] = lbal.Certificate.Name
		svc.Fleet["httpsRedirect"] = pulumi.Bool(s.RedirectHTTP())
		svc.Fleet["address"] = lbal.Address.Address
	}
	return svc, ctx.RegisterResourceOutputs(svc, pulumi.Map{"url": svc.URL})
}

// pickZones takes the region's first zones that are up: as many as the
// config asks for, or up to three when it does not say.
func pickZones(ctx *pulumi.Context, s spec.Spec) ([]string, error) {
	// Pinned zones are used as they are: a zone reported impaired or DOWN
	// for a moment must not move (or, on GCP, replace) a deployed fleet.
	if len(s.ZoneNames) > 0 {
		return s.ZoneNames, nil
	}
	up, err := compute.GetZones(ctx, &compute.GetZonesArgs{
		Project: pulumi.StringRef(s.Project),
		Region:  pulumi.StringRef(s.Region),
		Status:  pulumi.StringRef("UP"),
	})
	if err != nil {
		return nil, fmt.Errorf("list the zones of %s: %w", s.Region, err)
	}
	return s.PickZones(up.Names, "zones up")
}

// labels say who made a resource; GCP label values allow only lower-case
// letters, digits, dashes and underscores.
func labels(ctx *pulumi.Context) pulumi.StringMap {
	return pulumi.StringMap{
		"stayup-stack":   pulumi.String(labelValue(ctx.Stack())),
		"stayup-project": pulumi.String(labelValue(ctx.Project())),
	}
}

func labelValue(v string) string {
	v = strings.ToLower(v)
	return strings.Map(func(r rune) rune {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || r == '-' || r == '_' {
			return r
		}
		return '-'
	}, v)
}

// networkTag marks the fleet's instances: firewall rules target it.
func networkTag(ctx *pulumi.Context) string {
	return resourceName("stayup-"+ctx.Stack(), 63)
}

// resourceName fits a name to what GCP requires of service account ids,
// network tags and instance names: [a-z]([-a-z0-9]*[a-z0-9]), at most max
// characters. Stack names may hold "_" and ".", which it turns into "-".
func resourceName(name string, max int) string {
	out := []byte(strings.ToLower(name))
	for i, c := range out {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			out[i] = '-'
		}
	}
	s := string(out)
	if len(s) > max {
		s = s[:max]
	}
	s = strings.TrimRight(s, "-")
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		s = "s" + s
	}
	return s
}
