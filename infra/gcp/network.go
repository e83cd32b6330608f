package gcp

import (
	"fmt"

	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/compute"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"stayup/infra/spec"
)

// Google's load balancer front ends and health checkers reach backends
// from these ranges only; nothing else needs to reach the app port.
var googleFrontEnds = []string{"130.211.0.0/22", "35.191.0.0/16"}

// iapRange is where Identity-Aware Proxy TCP forwarding connects from.
const iapRange = "35.235.240.0/20"

// subnetCIDR holds up to 4094 instances: far more than maxSize allows.
const subnetCIDR = "10.10.0.0/20"

// Network is the VPC, the fleet's subnet, egress through Cloud NAT, and the
// firewall rules that say who may reach the instances.
type Network struct {
	pulumi.ResourceState

	VPC    *compute.Network
	Subnet *compute.Subnetwork
}

func newNetwork(ctx *pulumi.Context, name string, s spec.Spec, opts ...pulumi.ResourceOption) (*Network, error) {
	n := &Network{}
	if err := ctx.RegisterComponentResource("stayup:gcp:Network", name, n, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(n)

	var err error
	n.VPC, err = compute.NewNetwork(ctx, name, &compute.NetworkArgs{
		Project:     pulumi.String(s.Project),
		Description: pulumi.String("stayup service network"),
		// Custom mode: one subnet we chose, not one per region with
		// default firewall rules (CIS GCP 3.1).
		AutoCreateSubnetworks: pulumi.Bool(false),
		RoutingMode:           pulumi.String("REGIONAL"),
	}, parent)
	if err != nil {
		return nil, err
	}

	n.Subnet, err = compute.NewSubnetwork(ctx, name, &compute.SubnetworkArgs{
		Project:     pulumi.String(s.Project),
		Region:      pulumi.String(s.Region),
		Network:     n.VPC.ID(),
		IpCidrRange: pulumi.String(subnetCIDR),
		Description: pulumi.String("stayup instances, in every zone of the region"),
		// Google APIs (Artifact Registry, Logging) without a public IP.
		PrivateIpGoogleAccess: pulumi.Bool(true),
		// Flow logs: who talked to whom (CIS GCP 3.8), at volumes worth
		// paying for. Most records are health-check probes, each its own
		// short connection, which aggregation cannot merge: sampling half
		// of the flows halves them and still shows every source that talks
		// to the instances more than a few times. One-minute aggregation, as
		// on AWS, folds each long-lived front-end connection into one record
		// a minute instead of twelve, and a chaos run's flows still show up
		// within the minute. The metadata (instance names, zones) is what
		// makes a record readable, so it stays.
		LogConfig: &compute.SubnetworkLogConfigArgs{
			AggregationInterval: pulumi.String("INTERVAL_1_MIN"),
			FlowSampling:        pulumi.Float64(0.5),
			Metadata:            pulumi.String("INCLUDE_ALL_METADATA"),
		},
	}, parent)
	if err != nil {
		return nil, err
	}

	router, err := compute.NewRouter(ctx, name, &compute.RouterArgs{
		Project:     pulumi.String(s.Project),
		Region:      pulumi.String(s.Region),
		Network:     n.VPC.ID(),
		Description: pulumi.String("carries Cloud NAT for the instances' egress"),
	}, parent)
	if err != nil {
		return nil, err
	}
	if _, err := compute.NewRouterNat(ctx, name, &compute.RouterNatArgs{
		Project: pulumi.String(s.Project),
		Region:  pulumi.String(s.Region),
		Router:  router.Name,
		// Cloud NAT is a regional, software-defined service: no zone's
		// loss cuts the others' egress.
		NatIpAllocateOption:           pulumi.String("AUTO_ONLY"),
		SourceSubnetworkIpRangesToNat: pulumi.String("LIST_OF_SUBNETWORKS"),
		Subnetworks: compute.RouterNatSubnetworkArray{&compute.RouterNatSubnetworkArgs{
			Name:                 n.Subnet.ID(),
			SourceIpRangesToNats: pulumi.StringArray{pulumi.String("ALL_IP_RANGES")},
		}},
		LogConfig: &compute.RouterNatLogConfigArgs{Enable: pulumi.Bool(true), Filter: pulumi.String("ERRORS_ONLY")},
	}, parent); err != nil {
		return nil, err
	}

	if err := n.firewall(ctx, name, s, parent); err != nil {
		return nil, err
	}
	return n, ctx.RegisterResourceOutputs(n, pulumi.Map{"network": n.VPC.Name})
}

// firewall admits Google's front ends and health checkers to the app port,
// SSH from IAP when asked, and logs and denies everything else.
func (n *Network) firewall(ctx *pulumi.Context, name string, s spec.Spec, parent pulumi.ResourceOption) error {
	// The base fields (connection, disposition, the rule matched) say what
	// was allowed or denied; the metadata would only repeat the instance's
	// and the network's names on every entry.
	logs := &compute.FirewallLogConfigArgs{Metadata: pulumi.String("EXCLUDE_ALL_METADATA")}
	tag := pulumi.StringArray{pulumi.String(networkTag(ctx))}
	if _, err := compute.NewFirewall(ctx, name+"-lb-to-app", &compute.FirewallArgs{
		Project:      pulumi.String(s.Project),
		Network:      n.VPC.ID(),
		Description:  pulumi.String(fmt.Sprintf("%d/tcp from Google's load balancer front ends and health checkers only", s.Port)),
		Direction:    pulumi.String("INGRESS"),
		Priority:     pulumi.Int(1000),
		SourceRanges: pulumi.ToStringArray(googleFrontEnds),
		TargetTags:   tag,
		Allows: compute.FirewallAllowArray{&compute.FirewallAllowArgs{
			Protocol: pulumi.String("tcp"),
			Ports:    pulumi.StringArray{pulumi.String(fmt.Sprint(s.Port))},
		}},
		// Not logged: every health-check probe would be an entry (most of
		// the volume, none of the insight), and the backend service's
		// request logs already record the traffic the front ends forward.
		// The deny rules below log what is refused.
	}, parent); err != nil {
		return err
	}
	if s.GCP.SSHFromIAP {
		if _, err := compute.NewFirewall(ctx, name+"-iap-ssh", &compute.FirewallArgs{
			Project:      pulumi.String(s.Project),
			Network:      n.VPC.ID(),
			Description:  pulumi.String("SSH through Identity-Aware Proxy only (stayup:sshFromIap), never from the internet"),
			Direction:    pulumi.String("INGRESS"),
			Priority:     pulumi.Int(1000),
			SourceRanges: pulumi.StringArray{pulumi.String(iapRange)},
			TargetTags:   tag,
			Allows: compute.FirewallAllowArray{&compute.FirewallAllowArgs{
				Protocol: pulumi.String("tcp"), Ports: pulumi.StringArray{pulumi.String("22")},
			}},
			LogConfig: logs,
		}, parent); err != nil {
			return err
		}
	}
	// Out, the instances need HTTPS only: the image registry, Cloud
	// Logging and Monitoring. The metadata server (DNS, time, tokens) is
	// outside the firewall's reach.
	if _, err := compute.NewFirewall(ctx, name+"-https-out", &compute.FirewallArgs{
		Project:           pulumi.String(s.Project),
		Network:           n.VPC.ID(),
		Description:       pulumi.String("HTTPS out through Cloud NAT and Private Google Access: image pulls, logs, metrics"),
		Direction:         pulumi.String("EGRESS"),
		Priority:          pulumi.Int(1000),
		DestinationRanges: pulumi.StringArray{pulumi.String("0.0.0.0/0")},
		TargetTags:        tag,
		Allows: compute.FirewallAllowArray{&compute.FirewallAllowArgs{
			Protocol: pulumi.String("tcp"), Ports: pulumi.StringArray{pulumi.String("443")},
		}},
		LogConfig: logs,
	}, parent); err != nil {
		return err
	}
	// GCP allows all egress by default; this replaces that with a logged deny.
	if _, err := compute.NewFirewall(ctx, name+"-deny-egress", &compute.FirewallArgs{
		Project:           pulumi.String(s.Project),
		Network:           n.VPC.ID(),
		Description:       pulumi.String("deny and log every other outbound connection"),
		Direction:         pulumi.String("EGRESS"),
		Priority:          pulumi.Int(65000),
		DestinationRanges: pulumi.StringArray{pulumi.String("0.0.0.0/0")},
		Denies:            compute.FirewallDenyArray{&compute.FirewallDenyArgs{Protocol: pulumi.String("all")}},
		LogConfig:         logs,
	}, parent); err != nil {
		return err
	}
	// GCP denies ingress by default without a trace; this rule denies the
	// same and logs it, so probes of the instances are visible.
	_, err := compute.NewFirewall(ctx, name+"-deny-ingress", &compute.FirewallArgs{
		Project:      pulumi.String(s.Project),
		Network:      n.VPC.ID(),
		Description:  pulumi.String("deny and log every other inbound connection"),
		Direction:    pulumi.String("INGRESS"),
		Priority:     pulumi.Int(65000),
		SourceRanges: pulumi.StringArray{pulumi.String("0.0.0.0/0")},
		Denies:       compute.FirewallDenyArray{&compute.FirewallDenyArgs{Protocol: pulumi.String("all")}},
		LogConfig:    logs,
	}, parent)
	return err
}
