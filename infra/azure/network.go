package azure

import (
	"fmt"

	network "github.com/pulumi/pulumi-azure-native-sdk/network/v2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"stayup/infra/spec"
)

// Address plan: the gateway's subnet is a /24 as Application Gateway v2
// recommends; the fleet's holds far more instances than maxSize allows.
const (
	vnetCIDR    = "10.20.0.0/16"
	gatewayCIDR = "10.20.0.0/24"
	fleetCIDR   = "10.20.4.0/22"
)

// The egress load balancer's names, which its outbound rule and the scale
// set refer to.
const (
	egressLB       = "stayup-egress"
	egressFrontend = "egress"
	egressPool     = "fleet"
)

// Network is the virtual network, its two subnets with their security
// groups, and the zone-redundant egress for the instances.
type Network struct {
	pulumi.ResourceState

	VNet          *network.VirtualNetwork
	GatewaySubnet *network.Subnet
	FleetSubnet   *network.Subnet
	// EgressPool is the outbound load balancer's backend pool the
	// instances join: their only way out.
	EgressPool pulumi.StringOutput
	EgressLB   *network.LoadBalancer
}

func newNetwork(ctx *pulumi.Context, name string, s spec.Spec, sc scope, opts ...pulumi.ResourceOption) (*Network, error) {
	n := &Network{}
	if err := ctx.RegisterComponentResource("stayup:azure:Network", name, n, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(n)

	var err error
	n.VNet, err = network.NewVirtualNetwork(ctx, name, &network.VirtualNetworkArgs{
		ResourceGroupName: sc.resourceGroup,
		Location:          pulumi.String(sc.location),
		AddressSpace:      &network.AddressSpaceArgs{AddressPrefixes: pulumi.StringArray{pulumi.String(vnetCIDR)}},
		Tags:              tags(ctx),
	}, parent, pulumi.IgnoreChanges([]string{"subnets"}))
	if err != nil {
		return nil, err
	}

	gatewayNSG, err := network.NewNetworkSecurityGroup(ctx, name+"-gateway", &network.NetworkSecurityGroupArgs{
		ResourceGroupName: sc.resourceGroup,
		Location:          pulumi.String(sc.location),
		SecurityRules:     gatewayRules(s),
		Tags:              tags(ctx),
	}, parent)
	if err != nil {
		return nil, err
	}
	fleetNSG, err := network.NewNetworkSecurityGroup(ctx, name+"-fleet", &network.NetworkSecurityGroupArgs{
		ResourceGroupName: sc.resourceGroup,
		Location:          pulumi.String(sc.location),
		SecurityRules:     fleetRules(s),
		Tags:              tags(ctx),
	}, parent)
	if err != nil {
		return nil, err
	}

	n.GatewaySubnet, err = network.NewSubnet(ctx, name+"-gateway", &network.SubnetArgs{
		ResourceGroupName:    sc.resourceGroup,
		VirtualNetworkName:   n.VNet.Name,
		AddressPrefix:        pulumi.String(gatewayCIDR),
		NetworkSecurityGroup: &network.NetworkSecurityGroupTypeArgs{Id: gatewayNSG.ID()},
	}, parent)
	if err != nil {
		return nil, err
	}
	n.FleetSubnet, err = network.NewSubnet(ctx, name+"-fleet", &network.SubnetArgs{
		ResourceGroupName:    sc.resourceGroup,
		VirtualNetworkName:   n.VNet.Name,
		AddressPrefix:        pulumi.String(fleetCIDR),
		NetworkSecurityGroup: &network.NetworkSecurityGroupTypeArgs{Id: fleetNSG.ID()},
	}, parent, pulumi.DependsOn([]pulumi.Resource{n.GatewaySubnet}))
	if err != nil {
		return nil, err
	}

	// Egress through outbound rules on a Standard load balancer whose
	// address is zone-redundant: a NAT gateway lives in one zone, and
	// losing that zone would cut every instance's image pulls.
	egressIP, err := network.NewPublicIPAddress(ctx, name+"-egress", &network.PublicIPAddressArgs{
		ResourceGroupName:        sc.resourceGroup,
		Location:                 pulumi.String(sc.location),
		Sku:                      &network.PublicIPAddressSkuArgs{Name: pulumi.String("Standard"), Tier: pulumi.String("Regional")},
		PublicIPAllocationMethod: pulumi.String("Static"),
		PublicIPAddressVersion:   pulumi.String("IPv4"),
		Zones:                    pulumi.ToStringArray([]string{"1", "2", "3"}),
		Tags:                     tags(ctx),
	}, parent)
	if err != nil {
		return nil, err
	}
	frontendID := sc.subResource("Microsoft.Network", "loadBalancers", egressLB, "frontendIPConfigurations", egressFrontend)
	n.EgressPool = sc.subResource("Microsoft.Network", "loadBalancers", egressLB, "backendAddressPools", egressPool)
	n.EgressLB, err = network.NewLoadBalancer(ctx, name+"-egress", &network.LoadBalancerArgs{
		ResourceGroupName: sc.resourceGroup,
		Location:          pulumi.String(sc.location),
		LoadBalancerName:  pulumi.String(egressLB),
		Sku:               &network.LoadBalancerSkuArgs{Name: pulumi.String("Standard"), Tier: pulumi.String("Regional")},
		FrontendIPConfigurations: network.FrontendIPConfigurationArray{&network.FrontendIPConfigurationArgs{
			Name:            pulumi.String(egressFrontend),
			PublicIPAddress: &network.PublicIPAddressTypeArgs{Id: egressIP.ID()},
		}},
		BackendAddressPools: network.BackendAddressPoolArray{&network.BackendAddressPoolArgs{Name: pulumi.String(egressPool)}},
		// Outbound only: no load-balancing or NAT rule brings anything in.
		OutboundRules: network.OutboundRuleArray{&network.OutboundRuleArgs{
			Name:                     pulumi.String("fleet-out"),
			Protocol:                 pulumi.String("All"),
			FrontendIPConfigurations: network.SubResourceArray{&network.SubResourceArgs{Id: frontendID}},
			BackendAddressPool:       &network.SubResourceArgs{Id: n.EgressPool},
			// 1024 ports each: room for maxSize instances on one address.
			AllocatedOutboundPorts: pulumi.Int(1024),
			IdleTimeoutInMinutes:   pulumi.Int(4),
			EnableTcpReset:         pulumi.Bool(true),
		}},
		Tags: tags(ctx),
	}, parent)
	if err != nil {
		return nil, err
	}
	return n, ctx.RegisterResourceOutputs(n, pulumi.Map{"vnet": n.VNet.Name})
}

// rule is one inbound NSG rule; priorities are spaced so a later rule can
// go between.
func rule(name, description string, priority int, access, protocol, source string, ports ...string) *network.SecurityRuleTypeArgs {
	r := &network.SecurityRuleTypeArgs{
		Name:                     pulumi.String(name),
		Description:              pulumi.String(description),
		Priority:                 pulumi.Int(priority),
		Direction:                pulumi.String("Inbound"),
		Access:                   pulumi.String(access),
		Protocol:                 pulumi.String(protocol),
		SourceAddressPrefix:      pulumi.String(source),
		SourcePortRange:          pulumi.String("*"),
		DestinationAddressPrefix: pulumi.String("*"),
	}
	if len(ports) == 1 {
		r.DestinationPortRange = pulumi.String(ports[0])
	} else {
		r.DestinationPortRanges = pulumi.ToStringArray(ports)
	}
	return r
}

// denyAll comes last: above it nothing, below it Azure's defaults, which
// would admit the whole virtual network.
func denyAll() *network.SecurityRuleTypeArgs {
	return rule("deny-all-inbound", "deny every other inbound connection", 4096, "Deny", "*", "*", "*")
}

// gatewayRules admit clients to the listeners and what Application
// Gateway v2 itself requires.
func gatewayRules(s spec.Spec) network.SecurityRuleTypeArray {
	rules := network.SecurityRuleTypeArray{
		// Required by Application Gateway v2: its control plane.
		rule("gateway-manager", "Application Gateway v2 infrastructure ports (required)", 100, "Allow", "Tcp", "GatewayManager", "65200-65535"),
		rule("azure-load-balancer", "Azure's load balancer probes of the gateway (required)", 110, "Allow", "*", "AzureLoadBalancer", "*"),
	}
	ports := []string{"80"}
	if s.TLSCertificate != "" {
		ports = append(ports, "443")
	}
	for i, cidr := range s.AllowedCIDRs {
		rules = append(rules, rule(fmt.Sprintf("clients-%d", i), fmt.Sprintf("HTTP(S) from %s to the gateway's listeners", cidr), 200+i, "Allow", "Tcp", cidr, ports...))
	}
	return append(rules, denyAll())
}

// fleetRules admit the app port from the gateway's subnet only, and let
// the instances out only to the web: Ubuntu's archive (80), the registry
// and Azure's endpoints (443). The platform's own addresses (DNS, the VM
// agent, instance metadata) are outside the NSG's reach.
func fleetRules(s spec.Spec) network.SecurityRuleTypeArray {
	out := rule("web-out", "HTTP(S) out through the egress load balancer: packages, image pulls", 100, "Allow", "Tcp", "*", "80", "443")
	out.Direction = pulumi.String("Outbound")
	out.DestinationAddressPrefix = pulumi.String("Internet")
	denyOut := rule("deny-all-outbound", "deny every other outbound connection", 4096, "Deny", "*", "*", "*")
	denyOut.Direction = pulumi.String("Outbound")
	return network.SecurityRuleTypeArray{
		rule("app-from-gateway", fmt.Sprintf("%d/tcp from the Application Gateway's subnet only", s.Port), 100, "Allow", "Tcp", gatewayCIDR, fmt.Sprint(s.Port)),
		denyAll(),
		out,
		denyOut,
	}
}
