// Package azure deploys the service on Azure: a Uniform virtual machine
// scale set over the region's availability zones behind a zone-redundant
// Application Gateway v2; the scale set has a system-assigned identity only
// when the image lives in a registry it must pull from.
package azure

import (
	"fmt"

	"github.com/pulumi/pulumi-azure-native-sdk/authorization/v2"
	"github.com/pulumi/pulumi-azure-native-sdk/resources/v2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"stayup/infra/spec"
)

// Service is the whole deployment on Azure.
type Service struct {
	pulumi.ResourceState

	URL   pulumi.StringOutput `pulumi:"url"`
	Zones []string
	Fleet pulumi.Map
	// BaseImage is the OS image the instances boot, in the form
	// stayup:baseImage takes, so stayup up can pin it.
	BaseImage string
}

// scope names what every component builds in: the subscription, the
// resource group and the region.
type scope struct {
	subscription  string
	resourceGroup pulumi.StringOutput
	location      string
}

// subResource is the id of a part of a resource that other parts of it,
// or other resources, refer to (a gateway's listener, a pool).
func (sc scope) subResource(provider, kind, name, part, partName string) pulumi.StringOutput {
	return pulumi.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/%s/%s/%s/%s/%s",
		sc.subscription, sc.resourceGroup, provider, kind, name, part, partName)
}

// NewService deploys the spec on Azure.
func NewService(ctx *pulumi.Context, name string, s spec.Spec, opts ...pulumi.ResourceOption) (*Service, error) {
	if s.Azure.SSHPublicKey == "" {
		return nil, fmt.Errorf("stayup:sshPublicKey is not set: `stayup up` generates one on the first deploy; or set yours: pulumi config set stayup:sshPublicKey \"$(cat ~/.ssh/id_ed25519.pub)\"")
	}
	svc := &Service{}
	if err := ctx.RegisterComponentResource("stayup:azure:Service", name, svc, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(svc)

	client, err := authorization.GetClientConfig(ctx, parent)
	if err != nil {
		return nil, fmt.Errorf("read the Azure subscription: %w", err)
	}
	rg, err := resources.NewResourceGroup(ctx, name, &resources.ResourceGroupArgs{
		Location: pulumi.String(s.Region),
		Tags:     tags(ctx),
	}, parent)
	if err != nil {
		return nil, err
	}
	sc := scope{subscription: client.SubscriptionId, resourceGroup: rg.Name, location: s.Region}
	// Zones 1..n: Azure numbers the zones of every zonal region alike;
	// pinned ones as they are.
	svc.Zones = s.ZoneNames
	for i := 1; len(s.ZoneNames) == 0 && i <= s.Zones; i++ {
		svc.Zones = append(svc.Zones, fmt.Sprint(i))
	}

	net, err := newNetwork(ctx, name+"-net", s, sc, parent)
	if err != nil {
		return nil, err
	}
	gw, err := newGateway(ctx, name+"-gw", s, sc, svc.Zones, net, parent)
	if err != nil {
		return nil, err
	}
	fleet, err := newFleet(ctx, name+"-fleet", s, sc, svc.Zones, net, gw, parent)
	if err != nil {
		return nil, err
	}
	if _, err := newIdentity(ctx, name+"-instance", s, fleet, parent); err != nil {
		return nil, err
	}
	if _, err := newLogging(ctx, name+"-logs", s, sc, net, gw, parent); err != nil {
		return nil, err
	}

	svc.URL = gw.URL
	svc.BaseImage = baseImageVersion(s)
	svc.Fleet = pulumi.Map{
		"subscriptionId":     pulumi.String(client.SubscriptionId),
		"resourceGroup":      rg.Name,
		"scaleSetName":       fleet.ScaleSet.Name,
		"applicationGateway": gw.Gateway.Name,
		"backendPool":        pulumi.String(backendPool),
	}
	return svc, ctx.RegisterResourceOutputs(svc, pulumi.Map{"url": svc.URL})
}

func tags(ctx *pulumi.Context) pulumi.StringMap {
	return pulumi.StringMap{
		"stayup-stack":   pulumi.String(ctx.Stack()),
		"stayup-project": pulumi.String(ctx.Project()),
	}
}
