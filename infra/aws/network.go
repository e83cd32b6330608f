package aws

import (
	"fmt"
	"net/netip"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/vpc"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"stayup/infra/spec"
)

// vpcCIDR leaves room for up to six zones of /20 subnets, public ones in
// the lower half and private ones in the upper half.
const vpcCIDR = "10.0.0.0/16"

// Network is the VPC, its subnets per zone, egress, flow logs, and the two
// security groups that say who may reach what.
type Network struct {
	pulumi.ResourceState

	VPC            *ec2.Vpc
	PublicSubnets  pulumi.StringArray
	PrivateSubnets pulumi.StringArray
	// LBSecurityGroup admits clients to the load balancer; AppSecurityGroup
	// admits only the load balancer to the instances.
	LBSecurityGroup  *ec2.SecurityGroup
	AppSecurityGroup *ec2.SecurityGroup
	// LBIngress are the rules admitting clients to each listener port.
	LBIngress map[int][]pulumi.Resource
	// Egress is what must exist before an instance boots: its NAT gateway
	// and route. Without them the first boot cannot install the runtime.
	Egress []pulumi.Resource
}

func newNetwork(ctx *pulumi.Context, name string, s spec.Spec, zones []string, at arns, opts ...pulumi.ResourceOption) (*Network, error) {
	n := &Network{}
	if err := ctx.RegisterComponentResource("stayup:aws:Network", name, n, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(n)

	var err error
	n.VPC, err = ec2.NewVpc(ctx, name, &ec2.VpcArgs{
		CidrBlock: pulumi.String(vpcCIDR),
		// Instances resolve registries and AWS endpoints through the VPC resolver.
		EnableDnsSupport:   pulumi.Bool(true),
		EnableDnsHostnames: pulumi.Bool(true),
		InstanceTenancy:    pulumi.String("default"),
		// IPv6 only when a client range is IPv6: the ALB then listens on both.
		AssignGeneratedIpv6CidrBlock: pulumi.Bool(s.IPv6()),
		Tags:                         tags(ctx, name),
	}, parent)
	if err != nil {
		return nil, err
	}

	// The default security group admits all traffic between its members;
	// nothing uses it, so it is emptied (FSBP EC2.2).
	if _, err := ec2.NewDefaultSecurityGroup(ctx, name+"-default", &ec2.DefaultSecurityGroupArgs{
		VpcId: n.VPC.ID(),
		Tags:  tags(ctx, name+"-default-unused"),
	}, parent); err != nil {
		return nil, err
	}

	igw, err := ec2.NewInternetGateway(ctx, name, &ec2.InternetGatewayArgs{VpcId: n.VPC.ID(), Tags: tags(ctx, name)}, parent)
	if err != nil {
		return nil, err
	}
	publicRoutes := ec2.RouteTableRouteArray{&ec2.RouteTableRouteArgs{
		CidrBlock: pulumi.String("0.0.0.0/0"), GatewayId: igw.ID(),
	}}
	if s.IPv6() {
		publicRoutes = append(publicRoutes, &ec2.RouteTableRouteArgs{
			Ipv6CidrBlock: pulumi.String("::/0"), GatewayId: igw.ID(),
		})
	}
	publicRT, err := ec2.NewRouteTable(ctx, name+"-public", &ec2.RouteTableArgs{
		VpcId:  n.VPC.ID(),
		Routes: publicRoutes,
		Tags:   tags(ctx, name+"-public"),
	}, parent)
	if err != nil {
		return nil, err
	}

	var nats []*ec2.NatGateway
	for i, zone := range zones {
		publicArgs := &ec2.SubnetArgs{
			VpcId:            n.VPC.ID(),
			AvailabilityZone: pulumi.String(zone),
			CidrBlock:        pulumi.String(subnetCIDR(i)),
			// Only the load balancer and NAT gateways live here, and
			// they get their addresses explicitly (FSBP EC2.15).
			MapPublicIpOnLaunch: pulumi.Bool(false),
			Tags:                tags(ctx, fmt.Sprintf("%s-public-%s", name, zone)),
		}
		if s.IPv6() {
			publicArgs.Ipv6CidrBlock = n.VPC.Ipv6CidrBlock.ApplyT(func(block string) (string, error) {
				return ipv6Subnet(block, i)
			}).(pulumi.StringOutput)
			publicArgs.AssignIpv6AddressOnCreation = pulumi.Bool(false)
		}
		public, err := ec2.NewSubnet(ctx, fmt.Sprintf("%s-public-%s", name, zone), publicArgs, parent)
		if err != nil {
			return nil, err
		}
		if _, err := ec2.NewRouteTableAssociation(ctx, fmt.Sprintf("%s-public-%s", name, zone), &ec2.RouteTableAssociationArgs{
			SubnetId: public.ID(), RouteTableId: publicRT.ID(),
		}, parent); err != nil {
			return nil, err
		}
		n.PublicSubnets = append(n.PublicSubnets, public.ID())

		// One NAT gateway per zone, so losing a zone does not cut the
		// others' egress; with natGateways=single, one in the first zone.
		if i == 0 || !s.AWS.SingleNAT {
			eip, err := ec2.NewEip(ctx, fmt.Sprintf("%s-nat-%s", name, zone), &ec2.EipArgs{
				Domain: pulumi.String("vpc"),
				Tags:   tags(ctx, fmt.Sprintf("%s-nat-%s", name, zone)),
			}, parent)
			if err != nil {
				return nil, err
			}
			nat, err := ec2.NewNatGateway(ctx, fmt.Sprintf("%s-%s", name, zone), &ec2.NatGatewayArgs{
				AllocationId:     eip.AllocationId,
				SubnetId:         public.ID(),
				ConnectivityType: pulumi.String("public"),
				Tags:             tags(ctx, fmt.Sprintf("%s-%s", name, zone)),
			}, parent, pulumi.DependsOn([]pulumi.Resource{igw}))
			if err != nil {
				return nil, err
			}
			nats = append(nats, nat)
		}
		nat := nats[len(nats)-1]
		n.Egress = append(n.Egress, nat)

		private, err := ec2.NewSubnet(ctx, fmt.Sprintf("%s-private-%s", name, zone), &ec2.SubnetArgs{
			VpcId:               n.VPC.ID(),
			AvailabilityZone:    pulumi.String(zone),
			CidrBlock:           pulumi.String(subnetCIDR(8 + i)),
			MapPublicIpOnLaunch: pulumi.Bool(false),
			Tags:                tags(ctx, fmt.Sprintf("%s-private-%s", name, zone)),
		}, parent)
		if err != nil {
			return nil, err
		}
		privateRT, err := ec2.NewRouteTable(ctx, fmt.Sprintf("%s-private-%s", name, zone), &ec2.RouteTableArgs{
			VpcId: n.VPC.ID(),
			Routes: ec2.RouteTableRouteArray{&ec2.RouteTableRouteArgs{
				CidrBlock: pulumi.String("0.0.0.0/0"), NatGatewayId: nat.ID(),
			}},
			Tags: tags(ctx, fmt.Sprintf("%s-private-%s", name, zone)),
		}, parent)
		if err != nil {
			return nil, err
		}
		assoc, err := ec2.NewRouteTableAssociation(ctx, fmt.Sprintf("%s-private-%s", name, zone), &ec2.RouteTableAssociationArgs{
			SubnetId: private.ID(), RouteTableId: privateRT.ID(),
		}, parent)
		if err != nil {
			return nil, err
		}
		n.Egress = append(n.Egress, assoc, privateRT)
		n.PrivateSubnets = append(n.PrivateSubnets, private.ID())
	}

	// Flow logs record every accepted and rejected connection, the
	// evidence of who talked to what (FSBP EC2.6).
	flowLogs, err := cloudwatch.NewLogGroup(ctx, name+"-flow", &cloudwatch.LogGroupArgs{
		Name:            pulumi.String(fmt.Sprintf("/stayup/%s/vpc-flow", ctx.Stack())),
		RetentionInDays: pulumi.Int(s.LogRetentionDays),
		Tags:            tags(ctx, name+"-flow"),
	}, parent)
	if err != nil {
		return nil, err
	}
	role, rolePolicy, err := flowLogRole(ctx, name+"-flow", at, flowLogs.Arn, parent)
	if err != nil {
		return nil, err
	}
	if _, err := ec2.NewFlowLog(ctx, name, &ec2.FlowLogArgs{
		VpcId:              n.VPC.ID(),
		TrafficType:        pulumi.String("ALL"),
		LogDestinationType: pulumi.String("cloud-watch-logs"),
		LogDestination:     flowLogs.Arn,
		IamRoleArn:         role.Arn,
		// One-minute aggregation: a chaos experiment's connections show
		// up while it runs, not ten minutes later.
		MaxAggregationInterval: pulumi.Int(60),
		Tags:                   tags(ctx, name),
		// Created with its permissions in place, so the first delivery
		// does not fail with an access error.
	}, parent, pulumi.DependsOn([]pulumi.Resource{rolePolicy})); err != nil {
		return nil, err
	}
	if err := n.securityGroups(ctx, name, s, parent); err != nil {
		return nil, err
	}
	return n, ctx.RegisterResourceOutputs(n, pulumi.Map{"vpcId": n.VPC.ID()})
}

// ipv6Subnet is the i-th /64 of the VPC's Amazon-assigned /56.
func ipv6Subnet(block string, i int) (string, error) {
	prefix, err := netip.ParsePrefix(block)
	if err != nil || !prefix.Addr().Is6() || prefix.Bits() != 56 {
		return "", fmt.Errorf("VPC IPv6 block %q is not a /56", block)
	}
	b := prefix.Addr().As16()
	b[7] = byte(i)
	return netip.PrefixFrom(netip.AddrFrom16(b), 64).String(), nil
}

// subnetCIDR is the i-th /20 of the VPC.
func subnetCIDR(i int) string {
	return fmt.Sprintf("10.0.%d.0/20", i*16)
}

// securityGroups makes the only paths into the service: clients to the
// load balancer's listeners, and the load balancer to the app port.
func (n *Network) securityGroups(ctx *pulumi.Context, name string, s spec.Spec, parent pulumi.ResourceOption) error {
	var err error
	n.LBSecurityGroup, err = ec2.NewSecurityGroup(ctx, name+"-lb", &ec2.SecurityGroupArgs{
		VpcId:       n.VPC.ID(),
		Description: pulumi.String("stayup load balancer: HTTP(S) from the allowed clients, out to the app port only"),
		// Rules are separate resources below, each with its description;
		// inline rules would fight them.
		Tags: tags(ctx, name+"-lb"),
	}, parent)
	if err != nil {
		return err
	}
	n.AppSecurityGroup, err = ec2.NewSecurityGroup(ctx, name+"-app", &ec2.SecurityGroupArgs{
		VpcId:       n.VPC.ID(),
		Description: pulumi.String("stayup instances: the app port from the load balancer only, HTTPS out"),
		Tags:        tags(ctx, name+"-app"),
	}, parent)
	if err != nil {
		return err
	}

	ports := []int{80}
	if s.TLSCertificate != "" {
		ports = append(ports, 443)
	}
	for _, port := range ports {
		for i, cidr := range s.AllowedCIDRs {
			args := &vpc.SecurityGroupIngressRuleArgs{
				SecurityGroupId: n.LBSecurityGroup.ID(),
				IpProtocol:      pulumi.String("tcp"),
				FromPort:        pulumi.Int(port),
				ToPort:          pulumi.Int(port),
				Description:     pulumi.String(fmt.Sprintf("%s from %s to the load balancer", listenerName(port), cidr)),
				Tags:            tags(ctx, fmt.Sprintf("%s-lb-in-%d-%d", name, port, i)),
			}
			if netip.MustParsePrefix(cidr).Addr().Is6() {
				args.CidrIpv6 = pulumi.String(cidr)
			} else {
				args.CidrIpv4 = pulumi.String(cidr)
			}
			rule, err := vpc.NewSecurityGroupIngressRule(ctx, fmt.Sprintf("%s-lb-in-%d-%d", name, port, i), args, parent)
			if err != nil {
				return err
			}
			if n.LBIngress == nil {
				n.LBIngress = map[int][]pulumi.Resource{}
			}
			n.LBIngress[port] = append(n.LBIngress[port], rule)
		}
	}
	if _, err := vpc.NewSecurityGroupEgressRule(ctx, name+"-lb-to-app", &vpc.SecurityGroupEgressRuleArgs{
		SecurityGroupId:           n.LBSecurityGroup.ID(),
		IpProtocol:                pulumi.String("tcp"),
		FromPort:                  pulumi.Int(s.Port),
		ToPort:                    pulumi.Int(s.Port),
		ReferencedSecurityGroupId: n.AppSecurityGroup.ID(),
		Description:               pulumi.String(fmt.Sprintf("requests and health checks to the instances on %d/tcp", s.Port)),
		Tags:                      tags(ctx, name+"-lb-to-app"),
	}, parent); err != nil {
		return err
	}
	if _, err := vpc.NewSecurityGroupIngressRule(ctx, name+"-app-from-lb", &vpc.SecurityGroupIngressRuleArgs{
		SecurityGroupId:           n.AppSecurityGroup.ID(),
		IpProtocol:                pulumi.String("tcp"),
		FromPort:                  pulumi.Int(s.Port),
		ToPort:                    pulumi.Int(s.Port),
		ReferencedSecurityGroupId: n.LBSecurityGroup.ID(),
		Description:               pulumi.String(fmt.Sprintf("%d/tcp from the load balancer only", s.Port)),
		Tags:                      tags(ctx, name+"-app-from-lb"),
	}, parent); err != nil {
		return err
	}
	// HTTPS out is all the instances need: the image registry, the
	// package repository and the CloudWatch Logs endpoint. DNS and time
	// go to the VPC's link-local services, which security groups do not filter.
	if _, err := vpc.NewSecurityGroupEgressRule(ctx, name+"-app-https-out", &vpc.SecurityGroupEgressRuleArgs{
		SecurityGroupId: n.AppSecurityGroup.ID(),
		IpProtocol:      pulumi.String("tcp"),
		FromPort:        pulumi.Int(443),
		ToPort:          pulumi.Int(443),
		CidrIpv4:        pulumi.String("0.0.0.0/0"),
		Description:     pulumi.String("HTTPS out through NAT: image pulls, packages, CloudWatch Logs"),
		Tags:            tags(ctx, name+"-app-https-out"),
	}, parent); err != nil {
		return err
	}
	return nil
}

func listenerName(port int) string {
	if port == 443 {
		return "HTTPS"
	}
	return "HTTP"
}

// flowLogRole lets the VPC Flow Logs service, for this account's flow logs
// in this region only, write to the flow log group and nothing else.
func flowLogRole(ctx *pulumi.Context, name string, at arns, logGroupArn pulumi.StringOutput, parent pulumi.ResourceOption) (*iam.Role, *iam.RolePolicy, error) {
	role, err := iam.NewRole(ctx, name, &iam.RoleArgs{
		Description:      pulumi.String("stayup: lets VPC Flow Logs deliver to its log group"),
		AssumeRolePolicy: pulumi.String(flowLogTrust(at)),
		Tags:             tags(ctx, name),
	}, parent)
	if err != nil {
		return nil, nil, err
	}
	policy, err := iam.NewRolePolicy(ctx, name, &iam.RolePolicyArgs{
		Role: role.ID(),
		Policy: logGroupArn.ApplyT(func(arn string) string {
			return document(
				statement{
					Sid:      "DeliverFlowLogs",
					Effect:   "Allow",
					Action:   []string{"logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"},
					Resource: logGroupResources(arn),
				},
				statement{
					// DescribeLogGroups is authorised per account and
					// region, not per group: this is its narrowest scope.
					Sid:      "FindLogGroup",
					Effect:   "Allow",
					Action:   []string{"logs:DescribeLogGroups"},
					Resource: []string{logGroupsIn(arn)},
				},
			)
		}).(pulumi.StringOutput),
	}, parent)
	return role, policy, err
}

// flowLogTrust lets VPC Flow Logs assume the role on behalf of this
// account's flow logs in this region only: the confused-deputy guard AWS
// recommends names both the source account and the source ARN (VPC Flow
// Logs user guide, "IAM role for publishing flow logs to CloudWatch Logs").
// The flow log's own id is not known before the role exists, hence the "*".
func flowLogTrust(at arns) string {
	return document(statement{
		Effect:    "Allow",
		Principal: map[string]any{"Service": "vpc-flow-logs.amazonaws.com"},
		Action:    []string{"sts:AssumeRole"},
		Condition: map[string]map[string]any{
			"StringEquals": {"aws:SourceAccount": at.Account},
			"ArnLike":      {"aws:SourceArn": at.of("ec2", "vpc-flow-log/*")},
		},
	})
}
