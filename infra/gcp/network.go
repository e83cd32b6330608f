package gcp

import (
	"fmt"

	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/compute"
	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/dns"
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

// privateGoogleAPIs is private.googleapis.com: the addresses through which
// Private Google Access serves Google APIs (Artifact Registry, Logging,
// Monitoring, OAuth) to instances without external IPs, over the default
// route but never out to the internet ("Configure Private Google Access",
// Domain options). Not restricted.googleapis.com (199.36.153.4/30): that
// one serves only APIs VPC Service Controls supports and is meant for a
// service perimeter, which this project does not create.
const privateGoogleAPIs = "199.36.153.8/30"

var privateGoogleAPIAddresses = []string{"199.36.153.8", "199.36.153.9", "199.36.153.10", "199.36.153.11"}

// privateZones are the private DNS zones that send the Google API and
// registry names to private.googleapis.com's addresses: googleapis.com
// (the APIs), pkg.dev (Artifact Registry) and gcr.io (gcr.io images,
// served by Artifact Registry), as "Configure Private Google Access", DNS
// configuration, lists them.
var privateZones = []struct {
	name, domain string
	// apex is the name given the addresses; every other name in the zone is
	// a CNAME to it.
	apex string
}{
	{"googleapis", "googleapis.com.", "private.googleapis.com."},
	{"pkg-dev", "pkg.dev.", "pkg.dev."},
	{"gcr-io", "gcr.io.", "gcr.io."},
}

// Network is the VPC, the fleet's subnet, its way out (Private Google
// Access only, or Cloud NAT), and the firewall rules that say who may reach
// the instances.
type Network struct {
	pulumi.ResourceState

	VPC    *compute.Network
	Subnet *compute.Subnetwork
	// PrivateOnly: the image is in a Google registry, so the instances need
	// nothing but Google APIs, and have no way to the internet.
	PrivateOnly bool
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

	// With the image in a Google registry, everything the instances reach
	// (the registry, Logging, Monitoring, OAuth) is a Google API, and
	// metadata, DNS and NTP are the metadata server's. So no NAT: private
	// DNS zones send the API names to private.googleapis.com, and the
	// firewall allows HTTPS to nothing else. Other registries need the
	// internet through NAT.
	// Assumed, to check on a live run: COS boots and ships logs with no
	// other host (its in-place updates are off unless cos-update-strategy
	// asks for them, and would only fail here, not stop the service).
	n.PrivateOnly = InGoogleRegistry(s.Image)
	var egressDeps []pulumi.Resource
	if n.PrivateOnly {
		if egressDeps, err = n.privateDNS(ctx, name, s, parent); err != nil {
			return nil, err
		}
	} else if err := n.nat(ctx, name, s, parent); err != nil {
		return nil, err
	}

	if err := n.firewall(ctx, name, s, egressDeps, parent); err != nil {
		return nil, err
	}
	return n, ctx.RegisterResourceOutputs(n, pulumi.Map{"network": n.VPC.Name})
}

// nat is Cloud NAT on a regional router: the instances' way to a registry
// outside Google.
func (n *Network) nat(ctx *pulumi.Context, name string, s spec.Spec, parent pulumi.ResourceOption) error {
	router, err := compute.NewRouter(ctx, name, &compute.RouterArgs{
		Project:     pulumi.String(s.Project),
		Region:      pulumi.String(s.Region),
		Network:     n.VPC.ID(),
		Description: pulumi.String("carries Cloud NAT for the instances' egress"),
	}, parent)
	if err != nil {
		return err
	}
	_, err = compute.NewRouterNat(ctx, name, &compute.RouterNatArgs{
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
	}, parent)
	return err
}

// privateDNS attaches to the VPC the private zones that resolve Google's
// API and registry names to private.googleapis.com, and returns the record
// sets, which the egress rule waits for.
func (n *Network) privateDNS(ctx *pulumi.Context, name string, s spec.Spec, parent pulumi.ResourceOption) ([]pulumi.Resource, error) {
	var records []pulumi.Resource
	for _, z := range privateZones {
		zone, err := dns.NewManagedZone(ctx, name+"-"+z.name, &dns.ManagedZoneArgs{
			Project:     pulumi.String(s.Project),
			Description: pulumi.String(fmt.Sprintf("%s through Private Google Access only (private.googleapis.com)", z.domain)),
			DnsName:     pulumi.String(z.domain),
			Visibility:  pulumi.String("private"),
			PrivateVisibilityConfig: &dns.ManagedZonePrivateVisibilityConfigArgs{
				Networks: dns.ManagedZonePrivateVisibilityConfigNetworkArray{&dns.ManagedZonePrivateVisibilityConfigNetworkArgs{
					NetworkUrl: n.VPC.ID(),
				}},
			},
			Labels: labels(ctx),
		}, parent)
		if err != nil {
			return nil, err
		}
		a, err := dns.NewRecordSet(ctx, name+"-"+z.name+"-a", &dns.RecordSetArgs{
			Project:     pulumi.String(s.Project),
			ManagedZone: zone.Name,
			Name:        pulumi.String(z.apex),
			Type:        pulumi.String("A"),
			Ttl:         pulumi.Int(300),
			Rrdatas:     pulumi.ToStringArray(privateGoogleAPIAddresses),
		}, parent)
		if err != nil {
			return nil, err
		}
		cname, err := dns.NewRecordSet(ctx, name+"-"+z.name+"-cname", &dns.RecordSetArgs{
			Project:     pulumi.String(s.Project),
			ManagedZone: zone.Name,
			Name:        pulumi.String("*." + z.domain),
			Type:        pulumi.String("CNAME"),
			Ttl:         pulumi.Int(300),
			Rrdatas:     pulumi.StringArray{pulumi.String(z.apex)},
		}, parent)
		if err != nil {
			return nil, err
		}
		records = append(records, a, cname)
	}
	return records, nil
}

// firewall admits Google's front ends and health checkers to the app port,
// SSH from IAP when asked, and logs and denies everything else.
func (n *Network) firewall(ctx *pulumi.Context, name string, s spec.Spec, egressDeps []pulumi.Resource, parent pulumi.ResourceOption) error {
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
	// outside the firewall's reach. With the image in a Google registry,
	// only to private.googleapis.com; the rule narrows only once the
	// private zones answer with those addresses, so a running instance's
	// logging is not cut off while the zones are created.
	description, destination := "HTTPS out through Cloud NAT and Private Google Access: image pulls and logs", "0.0.0.0/0"
	if n.PrivateOnly {
		description, destination = "HTTPS out to private.googleapis.com only (Private Google Access): image pulls and logs", privateGoogleAPIs
	}
	if _, err := compute.NewFirewall(ctx, name+"-https-out", &compute.FirewallArgs{
		Project:           pulumi.String(s.Project),
		Network:           n.VPC.ID(),
		Description:       pulumi.String(description),
		Direction:         pulumi.String("EGRESS"),
		Priority:          pulumi.Int(1000),
		DestinationRanges: pulumi.StringArray{pulumi.String(destination)},
		TargetTags:        tag,
		Allows: compute.FirewallAllowArray{&compute.FirewallAllowArgs{
			Protocol: pulumi.String("tcp"), Ports: pulumi.StringArray{pulumi.String("443")},
		}},
		LogConfig: logs,
	}, parent, pulumi.DependsOn(egressDeps)); err != nil {
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
