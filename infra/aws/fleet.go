package aws

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/autoscaling"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ssm"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"stayup/infra/spec"
)

// amiParameter is where AWS publishes the current Amazon Linux 2023 AMI
// for the instance type's architecture. It is read at deploy time and the
// id written into the launch template: instance refresh rollback refuses
// templates that say resolve:ssm:.
func amiParameter(instanceType string) string {
	arch := "x86_64"
	if graviton(instanceType) {
		arch = "arm64"
	}
	return "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-" + arch
}

// graviton reports an Arm instance type: a "g" among the letters after the
// generation number (t4g, m7gd, c6gn, is4gen), not a leading one (g5).
func graviton(instanceType string) bool {
	family, _, _ := strings.Cut(instanceType, ".")
	i := strings.IndexAny(family, "0123456789")
	if i < 0 {
		return false
	}
	suffix := strings.TrimLeft(family[i:], "0123456789")
	// a1 is the first Graviton family, named before the g suffix was.
	return strings.Contains(suffix, "g") || family == "a1"
}

// Fleet is the launch template, the Auto Scaling group that keeps the
// instances alive across zones, and its CPU target tracking.
type Fleet struct {
	pulumi.ResourceState

	LaunchTemplate *ec2.LaunchTemplate
	Group          *autoscaling.Group
	// BaseImage is the AMI the template boots: the pinned one, or the
	// newest when none is pinned (or the pin does not fit).
	BaseImage string
}

// baseImage is the AMI the instances boot. A pinned AMI (stayup:baseImage)
// is used as it is, so no up moves the fleet to a new OS behind the user's
// back, unless it cannot boot this stack: an AMI is regional and of one
// architecture, so after a change of region or of instance family (t3 to
// t4g) the pin is re-resolved to the current Amazon Linux 2023 AMI, with a
// warning (stayup up then stores the new one). Without a pin the current
// one is read from the parameter AWS publishes it under.
func baseImage(ctx *pulumi.Context, s spec.Spec, parent pulumi.ResourceOrInvokeOption) (string, error) {
	param := amiParameter(s.InstanceType)
	latest := func(why string) (string, error) {
		p, err := ssm.LookupParameter(ctx, &ssm.LookupParameterArgs{Name: param}, parent)
		if err != nil {
			return "", fmt.Errorf("look up the Amazon Linux 2023 AMI (%s): %w", param, err)
		}
		if why != "" {
			_ = ctx.Log.Warn(fmt.Sprintf("stayup:baseImage %s %s: using the current Amazon Linux 2023 AMI %s instead (stayup up stores it; a plain pulumi up does not)", s.BaseImage, why, p.Value), nil)
		}
		return p.Value, nil
	}
	if s.BaseImage == "" {
		return latest("")
	}
	img, err := ec2.LookupAmi(ctx, &ec2.LookupAmiArgs{
		Filters: []ec2.GetAmiFilter{{Name: "image-id", Values: []string{s.BaseImage}}},
		// A pinned AMI AWS has since deprecated still boots: keep it, and
		// say so, rather than move the fleet.
		IncludeDeprecated: pulumi.BoolRef(true),
	}, parent)
	switch {
	case err != nil && strings.Contains(err.Error(), "Your query returned no results"):
		return latest("is not found in " + s.Region + " (deregistered, disabled, or another region's)")
	case err != nil:
		return "", fmt.Errorf("look up the pinned AMI stayup:baseImage %s: %w", s.BaseImage, err)
	}
	arch := "x86_64"
	if graviton(s.InstanceType) {
		arch = "arm64"
	}
	if img.Architecture != arch {
		return latest(fmt.Sprintf("is %s, but %s is %s", img.Architecture, s.InstanceType, arch))
	}
	if img.DeprecationTime != "" {
		if t, err := time.Parse(time.RFC3339, img.DeprecationTime); err == nil && t.Before(time.Now()) {
			_ = ctx.Log.Warn(fmt.Sprintf("stayup:baseImage %s was deprecated by AWS on %s: it still boots, but move to a current AMI soon (stayup up --refresh-base-image)", s.BaseImage, img.DeprecationTime), nil)
		}
	}
	return s.BaseImage, nil
}

// bootsInto is what must exist before the first instance boots, so the
// group's creation wait (minSize healthy in the target group within 10
// minutes) and each instance's grace period are spent on the instance
// alone: its NAT gateway and route, or the runtime cannot be installed;
// the listeners, or the instance registers in a target group that no
// load balancer health-checks yet; the log group and the role's policy,
// or the log driver cannot create the instance's stream (and in
// non-blocking mode a stream that can never be created can hang the
// container's exit: moby/moby#53143).
func bootsInto(net *Network, id *Identity, lbal *LoadBalancer) []pulumi.Resource {
	deps := append([]pulumi.Resource{}, net.Egress...)
	deps = append(deps, lbal.Listeners...)
	return append(deps, id.LogGroup, id.Policy)
}

func newFleet(ctx *pulumi.Context, name string, s spec.Spec, net *Network, id *Identity, lbal *LoadBalancer, opts ...pulumi.ResourceOption) (*Fleet, error) {
	f := &Fleet{}
	if err := ctx.RegisterComponentResource("stayup:aws:Fleet", name, f, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(f)

	ami, err := baseImage(ctx, s, parent)
	if err != nil {
		return nil, err
	}
	f.BaseImage = ami
	userData, err := UserData(s, appLogGroupName(ctx))
	if err != nil {
		return nil, fmt.Errorf("render user data: %w", err)
	}

	f.LaunchTemplate, err = ec2.NewLaunchTemplate(ctx, name, &ec2.LaunchTemplateArgs{
		Description:  pulumi.String("stayup instances: the service container under systemd"),
		ImageId:      pulumi.String(ami),
		InstanceType: pulumi.String(s.InstanceType),
		// Each change makes a new version and the default follows it; the
		// group below names the version number itself.
		UpdateDefaultVersion: pulumi.Bool(true),
		IamInstanceProfile: &ec2.LaunchTemplateIamInstanceProfileArgs{
			Arn: id.InstanceProfile.Arn,
		},
		MetadataOptions: &ec2.LaunchTemplateMetadataOptionsArgs{
			HttpEndpoint: pulumi.String("enabled"),
			// IMDSv2 only: no credentials for a plain GET forged through
			// the app (FSBP EC2.8).
			HttpTokens: pulumi.String("required"),
			// Hop limit 1: the container, one hop further, cannot reach
			// the metadata service and the role's credentials.
			HttpPutResponseHopLimit: pulumi.Int(1),
			InstanceMetadataTags:    pulumi.String("disabled"),
		},
		NetworkInterfaces: ec2.LaunchTemplateNetworkInterfaceArray{&ec2.LaunchTemplateNetworkInterfaceArgs{
			DeviceIndex: pulumi.Int(0),
			// Private subnets only; the load balancer is the way in.
			AssociatePublicIpAddress: pulumi.String("false"),
			SecurityGroups:           pulumi.StringArray{net.AppSecurityGroup.ID()},
			DeleteOnTermination:      pulumi.String("true"),
		}},
		BlockDeviceMappings: ec2.LaunchTemplateBlockDeviceMappingArray{&ec2.LaunchTemplateBlockDeviceMappingArgs{
			DeviceName: pulumi.String("/dev/xvda"),
			Ebs: &ec2.LaunchTemplateBlockDeviceMappingEbsArgs{
				// 20 GiB holds the OS, the runtime and a few image versions.
				VolumeSize:          pulumi.Int(20),
				VolumeType:          pulumi.String("gp3"),
				Encrypted:           pulumi.String("true"),
				DeleteOnTermination: pulumi.String("true"),
			},
		}},
		// One-minute metrics, so target tracking reacts within minutes.
		Monitoring: &ec2.LaunchTemplateMonitoringArgs{Enabled: pulumi.Bool(true)},
		UserData:   pulumi.String(base64.StdEncoding.EncodeToString([]byte(userData))),
		TagSpecifications: ec2.LaunchTemplateTagSpecificationArray{
			&ec2.LaunchTemplateTagSpecificationArgs{ResourceType: pulumi.String("instance"), Tags: tags(ctx, name)},
			&ec2.LaunchTemplateTagSpecificationArgs{ResourceType: pulumi.String("volume"), Tags: tags(ctx, name)},
		},
		Tags: tags(ctx, name),
	}, parent)
	if err != nil {
		return nil, err
	}

	f.Group, err = autoscaling.NewGroup(ctx, name, &autoscaling.GroupArgs{
		// One private subnet per zone: the group balances instances
		// across them and relaunches in another zone if one fails.
		VpcZoneIdentifiers: net.PrivateSubnets,
		MinSize:            pulumi.Int(s.MinSize),
		MaxSize:            pulumi.Int(s.MaxSize),
		// The initial size only: target tracking owns capacity afterwards
		// (desiredCapacity is in ignoreChanges below).
		DesiredCapacity: pulumi.Int(s.DesiredSize),
		LaunchTemplate: &autoscaling.GroupLaunchTemplateArgs{
			Id: f.LaunchTemplate.ID(),
			// The version number, not $Latest: a change of number is what
			// starts an instance refresh, and refresh rollback needs one.
			Version: f.LaunchTemplate.LatestVersion.ApplyT(func(v int) string { return strconv.Itoa(v) }).(pulumi.StringOutput),
		},
		TargetGroupArns: pulumi.StringArray{lbal.TargetGroup.Arn},
		// ELB: an instance the load balancer finds unhealthy is replaced,
		// not only one whose VM has stopped.
		HealthCheckType:        pulumi.String("ELB"),
		HealthCheckGracePeriod: pulumi.Int(int(spec.BootGrace.Seconds())),
		DefaultInstanceWarmup:  pulumi.Int(int(spec.Warmup.Seconds())),
		InstanceRefresh: &autoscaling.GroupInstanceRefreshArgs{
			Strategy: pulumi.String("Rolling"),
			Preferences: &autoscaling.GroupInstanceRefreshPreferencesArgs{
				// Never below full capacity: new instances come up and
				// turn healthy before old ones go.
				MinHealthyPercentage: pulumi.Int(100),
				MaxHealthyPercentage: pulumi.Int(200),
				// No auto rollback: rollout owns the rollback. The provider
				// updates the group to the new template version first and
				// only then starts the refresh, sending a desired
				// configuration only when auto rollback is on
				// (terraform-provider-aws internal/service/autoscaling/
				// group.go: resourceGroupUpdate, then
				// expandStartInstanceRefreshInput). The refresh's rollback
				// then "restores" the group's configuration, which already
				// is the new version, so a bad image is relaunched over and
				// over (reported on the provider's tracker as "ASG Instance
				// Refresh Rollback Impaired behavior"); and while that
				// refresh with a desired configuration is active, AWS
				// refuses the group update that would put the previous
				// image back (Auto Scaling user guide, "How an instance
				// refresh works", Limitations: Update restriction).
				AutoRollback:   pulumi.Bool(false),
				SkipMatching:   pulumi.Bool(true),
				InstanceWarmup: pulumi.String(strconv.Itoa(int(spec.Warmup.Seconds()))),
				// Standby or scale-in-protected instances would block the
				// refresh forever; wait for them, and fail, visibly.
				ScaleInProtectedInstances: pulumi.String("Wait"),
				StandbyInstances:          pulumi.String("Wait"),
			},
		},
		// Replacing an unhealthy instance (or rebalancing zones) also
		// launches first and terminates after.
		InstanceMaintenancePolicy: &autoscaling.GroupInstanceMaintenancePolicyArgs{
			MinHealthyPercentage: pulumi.Int(100),
			MaxHealthyPercentage: pulumi.Int(200),
		},
		// On scale-in, instances of older template versions go first.
		TerminationPolicies: pulumi.StringArray{pulumi.String("OldestLaunchTemplate"), pulumi.String("OldestInstance")},
		// Creation waits up to 10 minutes for minSize instances to be
		// healthy in the target group, so `up` ends with a serving fleet.
		WaitForCapacityTimeout: pulumi.String("10m"),
		MinElbCapacity:         pulumi.Int(s.MinSize),
		// Group metrics at one minute: what status and chaos watch.
		MetricsGranularity: pulumi.String("1Minute"),
		EnabledMetrics: pulumi.StringArray{
			pulumi.String("GroupDesiredCapacity"), pulumi.String("GroupInServiceInstances"),
			pulumi.String("GroupPendingInstances"), pulumi.String("GroupTerminatingInstances"),
			pulumi.String("GroupTotalInstances"),
		},
		Tags: autoscaling.GroupTagArray{&autoscaling.GroupTagArgs{
			Key: pulumi.String("Name"), Value: pulumi.String(fmt.Sprintf("%s-%s", ctx.Stack(), name)), PropagateAtLaunch: pulumi.Bool(true),
		}},
	}, parent, pulumi.IgnoreChanges([]string{"desiredCapacity"}),
		pulumi.DependsOn(bootsInto(net, id, lbal)))
	if err != nil {
		return nil, err
	}

	if _, err := autoscaling.NewPolicy(ctx, name+"-cpu", &autoscaling.PolicyArgs{
		AutoscalingGroupName: f.Group.Name,
		PolicyType:           pulumi.String("TargetTrackingScaling"),
		TargetTrackingConfiguration: &autoscaling.PolicyTargetTrackingConfigurationArgs{
			PredefinedMetricSpecification: &autoscaling.PolicyTargetTrackingConfigurationPredefinedMetricSpecificationArgs{
				PredefinedMetricType: pulumi.String("ASGAverageCPUUtilization"),
			},
			TargetValue:    pulumi.Float64(float64(s.CPUTarget)),
			DisableScaleIn: pulumi.Bool(false),
		},
	}, parent); err != nil {
		return nil, err
	}
	return f, ctx.RegisterResourceOutputs(f, pulumi.Map{"asgName": f.Group.Name})
}
