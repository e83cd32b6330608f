// Package aws deploys the service on EC2: an Auto Scaling group over two or
// more zones' private subnets behind an internet-facing Application Load
// Balancer, with an instance role that may only write its logs.
package aws

import (
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"stayup/infra/spec"
)

// Service is the whole deployment on AWS.
type Service struct {
	pulumi.ResourceState

	URL   pulumi.StringOutput `pulumi:"url"`
	Zones []string
	Fleet pulumi.Map
	// BaseImage is the OS image the instances boot, in the form
	// stayup:baseImage takes, so stayup up can pin it.
	BaseImage string
}

// NewService deploys the spec on AWS.
func NewService(ctx *pulumi.Context, name string, s spec.Spec, opts ...pulumi.ResourceOption) (*Service, error) {
	svc := &Service{}
	if err := ctx.RegisterComponentResource("stayup:aws:Service", name, svc, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(svc)

	zones, err := pickZones(ctx, s)
	if err != nil {
		return nil, err
	}
	svc.Zones = zones
	caller, err := aws.GetCallerIdentity(ctx, nil, parent)
	if err != nil {
		return nil, fmt.Errorf("read the AWS account: %w", err)
	}
	// ARNs name the partition: aws, but aws-us-gov in GovCloud and aws-cn
	// in the China regions, where an ARN of another partition matches nothing.
	partition, err := aws.GetPartition(ctx, nil, parent)
	if err != nil {
		return nil, fmt.Errorf("read the AWS partition: %w", err)
	}
	at := arns{Partition: partition.Partition, Region: s.Region, Account: caller.AccountId}

	net, err := newNetwork(ctx, name+"-net", s, zones, at, parent)
	if err != nil {
		return nil, err
	}
	id, err := newIdentity(ctx, name+"-instance", s, at, parent)
	if err != nil {
		return nil, err
	}
	lbal, err := newLoadBalancer(ctx, name+"-lb", s, net, caller.AccountId, parent)
	if err != nil {
		return nil, err
	}
	fleet, err := newFleet(ctx, name+"-fleet", s, net, id, lbal, parent)
	if err != nil {
		return nil, err
	}

	svc.URL = lbal.URL
	svc.BaseImage = fleet.BaseImage
	svc.Fleet = pulumi.Map{
		"asgName":          fleet.Group.Name,
		"targetGroupArn":   lbal.TargetGroup.Arn,
		"launchTemplateId": fleet.LaunchTemplate.ID(),
	}
	return svc, ctx.RegisterResourceOutputs(svc, pulumi.Map{"url": svc.URL})
}

// pickZones takes the first available zones of the region: as many as the
// config asks for, or up to three when it does not say.
func pickZones(ctx *pulumi.Context, s spec.Spec) ([]string, error) {
	// Pinned zones are used as they are: a zone reported impaired or DOWN
	// for a moment must not move (or, on GCP, replace) a deployed fleet.
	if len(s.ZoneNames) > 0 {
		return s.ZoneNames, nil
	}
	available, err := aws.GetAvailabilityZones(ctx, &aws.GetAvailabilityZonesArgs{
		State: pulumi.StringRef("available"),
		// Local and Wavelength zones lack the services the fleet uses.
		Filters: []aws.GetAvailabilityZonesFilter{{Name: "opt-in-status", Values: []string{"opt-in-not-required"}}},
	})
	if err != nil {
		return nil, fmt.Errorf("list the availability zones of %s: %w", s.Region, err)
	}
	return s.PickZones(available.Names, "availability zones available")
}

// arns builds the ARNs of this stack's partition, region and account.
type arns struct {
	Partition, Region, Account string
}

// of is the ARN of a resource of a regional service.
func (a arns) of(service, resource string) string {
	return fmt.Sprintf("arn:%s:%s:%s:%s:%s", a.Partition, service, a.Region, a.Account, resource)
}

// tags names a resource in the console and says who made it.
func tags(ctx *pulumi.Context, name string) pulumi.StringMap {
	return pulumi.StringMap{
		"Name":           pulumi.String(fmt.Sprintf("%s-%s", ctx.Stack(), name)),
		"stayup:stack":   pulumi.String(ctx.Stack()),
		"stayup:project": pulumi.String(ctx.Project()),
	}
}
