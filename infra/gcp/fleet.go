package gcp

import (
	"fmt"

	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/compute"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"stayup/infra/spec"
)

// osFamily is Container-Optimized OS: a read-only, minimal host with the
// container runtime built in, updated by Google. The family's current image
// is read at deploy time and written into the template, so a new COS
// release reaches the fleet through a rolling update, not one healed
// instance at a time.
const (
	osProject = "cos-cloud"
	osFamily  = "cos-stable"
)

// namedPort is the name the backend service uses for the app port.
const namedPort = "http"

// Autohealing numbers: a liveness check every 10 s, replaced after 3
// failures in a row (30 s), so a slow moment is not a death sentence.
const (
	autohealInterval  = 10
	autohealTimeout   = 5
	autohealUnhealthy = 3
	autohealHealthy   = 2
	// minReadySec is how long a new instance must stay healthy before the
	// update counts it and moves on: a crash right after start stops the rollout.
	minReadySec = 30
)

// Fleet is the instance template, the regional managed instance group that
// keeps instances alive across zones, its health checks and autoscaler.
type Fleet struct {
	pulumi.ResourceState

	Template    *compute.InstanceTemplate
	Group       *compute.RegionInstanceGroupManager
	Autohealing *compute.HealthCheck
	Readiness   *compute.HealthCheck
	// BaseImage is the image the template boots.
	BaseImage string
}

func newFleet(ctx *pulumi.Context, name string, s spec.Spec, zones []string, net *Network, id *Identity, opts ...pulumi.ResourceOption) (*Fleet, error) {
	f := &Fleet{}
	if err := ctx.RegisterComponentResource("stayup:gcp:Fleet", name, f, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(f)

	userData, err := CloudInit(s)
	if err != nil {
		return nil, fmt.Errorf("render cloud-init: %w", err)
	}
	// A pinned image (stayup:baseImage) is used as it is, in the form the
	// template's state holds, so no up moves the fleet to a new OS behind
	// the user's back; without one, the family's current image.
	f.BaseImage = s.BaseImage
	if f.BaseImage == "" {
		osImage, err := compute.LookupImage(ctx, &compute.LookupImageArgs{Project: pulumi.StringRef(osProject), Family: pulumi.StringRef(osFamily)}, parent)
		if err != nil {
			return nil, fmt.Errorf("look up the %s image family in %s: %w", osFamily, osProject, err)
		}
		f.BaseImage = spec.GCPImagePath(osImage.SelfLink)
	}

	f.Template, err = compute.NewInstanceTemplate(ctx, name, &compute.InstanceTemplateArgs{
		// No name: Pulumi names each template, so a change creates the new
		// one before the group moves off the old one.
		Project:     pulumi.String(s.Project),
		Description: pulumi.String("stayup instances: the service container under systemd"),
		MachineType: pulumi.String(s.InstanceType),
		Disks: compute.InstanceTemplateDiskArray{&compute.InstanceTemplateDiskArgs{
			Boot:        pulumi.Bool(true),
			AutoDelete:  pulumi.Bool(true),
			SourceImage: pulumi.String(f.BaseImage),
			DiskType:    pulumi.String("pd-balanced"),
			// 20 GB holds the OS and a few image versions. Compute Engine
			// encrypts every disk at rest.
			DiskSizeGb: pulumi.Int(20),
		}},
		NetworkInterfaces: compute.InstanceTemplateNetworkInterfaceArray{&compute.InstanceTemplateNetworkInterfaceArgs{
			Subnetwork: net.Subnet.ID(),
			// No access configs: no external IP. Egress goes through Cloud NAT.
		}},
		ServiceAccount: &compute.InstanceTemplateServiceAccountArgs{
			Email: id.Account.Email,
			// Google's advice: the broad scope, with IAM roles deciding.
			Scopes: pulumi.StringArray{pulumi.String("https://www.googleapis.com/auth/cloud-platform")},
		},
		ShieldedInstanceConfig: &compute.InstanceTemplateShieldedInstanceConfigArgs{
			EnableSecureBoot:          pulumi.Bool(true),
			EnableVtpm:                pulumi.Bool(true),
			EnableIntegrityMonitoring: pulumi.Bool(true),
		},
		CanIpForward: pulumi.Bool(false),
		Metadata: pulumi.StringMap{
			"user-data": pulumi.String(userData),
			// Keys in project metadata must not open these instances;
			// access, if any, goes through OS Login and IAM (CIS GCP 4.3, 4.4).
			"block-project-ssh-keys": pulumi.String("TRUE"),
			"enable-oslogin":         pulumi.String("TRUE"),
			"serial-port-enable":     pulumi.String("FALSE"),
			"google-logging-enabled": pulumi.String("true"),
		},
		Scheduling: &compute.InstanceTemplateSchedulingArgs{
			// Live-migrated through host maintenance, restarted after a crash.
			OnHostMaintenance: pulumi.String("MIGRATE"),
			AutomaticRestart:  pulumi.Bool(true),
			Preemptible:       pulumi.Bool(false),
		},
		Tags:   pulumi.StringArray{pulumi.String(networkTag(ctx))},
		Labels: labels(ctx),
	}, parent,
		// Pulumi deletes the replaced template right after pointing the
		// group at the new one, and Compute refuses to delete a template
		// the group's instances still run while it rolls
		// (resourceInUseByAnotherResource). Nothing waits for the roll
		// (see the group), so the old template is kept and stayup deletes
		// it, found by its labels, once the group no longer uses it: after
		// a rollout, at the next one, and in destroy (docs/rollout.md).
		pulumi.RetainOnDelete(true))
	if err != nil {
		return nil, err
	}

	f.Autohealing, err = compute.NewHealthCheck(ctx, name+"-liveness", &compute.HealthCheckArgs{
		Project:            pulumi.String(s.Project),
		Description:        pulumi.String(fmt.Sprintf("liveness: an instance failing GET %s is replaced", s.HealthPath)),
		CheckIntervalSec:   pulumi.Int(autohealInterval),
		TimeoutSec:         pulumi.Int(autohealTimeout),
		HealthyThreshold:   pulumi.Int(autohealHealthy),
		UnhealthyThreshold: pulumi.Int(autohealUnhealthy),
		HttpHealthCheck: &compute.HealthCheckHttpHealthCheckArgs{
			Port:        pulumi.Int(s.Port),
			RequestPath: pulumi.String(s.HealthPath),
		},
		LogConfig: &compute.HealthCheckLogConfigArgs{Enable: pulumi.Bool(true)},
	}, parent)
	if err != nil {
		return nil, err
	}
	f.Readiness, err = compute.NewHealthCheck(ctx, name+"-readiness", &compute.HealthCheckArgs{
		Project:            pulumi.String(s.Project),
		Description:        pulumi.String(fmt.Sprintf("readiness: the load balancer sends traffic only while GET %s succeeds", s.ReadyPath)),
		CheckIntervalSec:   pulumi.Int(int(spec.HealthCheckInterval.Seconds())),
		TimeoutSec:         pulumi.Int(int(spec.HealthCheckTimeout.Seconds())),
		HealthyThreshold:   pulumi.Int(spec.HealthyThreshold),
		UnhealthyThreshold: pulumi.Int(spec.UnhealthyThreshold),
		HttpHealthCheck: &compute.HealthCheckHttpHealthCheckArgs{
			PortName:          pulumi.String(namedPort),
			PortSpecification: pulumi.String("USE_NAMED_PORT"),
			RequestPath:       pulumi.String(s.ReadyPath),
		},
		LogConfig: &compute.HealthCheckLogConfigArgs{Enable: pulumi.Bool(true)},
	}, parent)
	if err != nil {
		return nil, err
	}

	f.Group, err = compute.NewRegionInstanceGroupManager(ctx, name, &compute.RegionInstanceGroupManagerArgs{
		Project:          pulumi.String(s.Project),
		Region:           pulumi.String(s.Region),
		Description:      pulumi.String("stayup instances, spread evenly over the zones"),
		BaseInstanceName: pulumi.String(resourceName("stayup-"+ctx.Stack(), 50)),
		// EVEN: the group keeps the zones balanced, so a zone's loss takes
		// at most a zone's share of the capacity.
		DistributionPolicyZones:       pulumi.ToStringArray(zones),
		DistributionPolicyTargetShape: pulumi.String("EVEN"),
		Versions: compute.RegionInstanceGroupManagerVersionArray{&compute.RegionInstanceGroupManagerVersionArgs{
			Name: pulumi.String("primary"),
			// The unique self link changes with every new template, which
			// is what starts a rolling update.
			InstanceTemplate: f.Template.SelfLinkUnique,
		}},
		NamedPorts: compute.RegionInstanceGroupManagerNamedPortArray{&compute.RegionInstanceGroupManagerNamedPortArgs{
			Name: pulumi.String(namedPort), Port: pulumi.Int(s.Port),
		}},
		AutoHealingPolicies: &compute.RegionInstanceGroupManagerAutoHealingPoliciesArgs{
			HealthCheck:     f.Autohealing.ID(),
			InitialDelaySec: pulumi.Int(int(spec.BootGrace.Seconds())),
		},
		UpdatePolicy: &compute.RegionInstanceGroupManagerUpdatePolicyArgs{
			// Roll as soon as the template changes.
			Type: pulumi.String("PROACTIVE"),
			// REPLACE, not REFRESH: the image travels in metadata, and a
			// refresh would apply it without restarting the container.
			MinimalAction:               pulumi.String("REPLACE"),
			MostDisruptiveAllowedAction: pulumi.String("REPLACE"),
			// New instances (new names) come up next to the old ones.
			ReplacementMethod: pulumi.String("SUBSTITUTE"),
			// One extra instance per zone at a time (a regional group needs
			// 0 or at least the zone count), none taken away before its
			// replacement is ready.
			MaxSurgeFixed:              pulumi.Int(len(zones)),
			MaxUnavailableFixed:        pulumi.Int(0),
			MinReadySec:                pulumi.Int(minReadySec),
			InstanceRedistributionType: pulumi.String("PROACTIVE"),
		},
		// No targetSize: the autoscaler owns capacity, and an `up` during
		// a rollout must not reset it.
		// No waitForInstances: with it the provider holds `up` until the
		// whole roll is done (isStable and the version target reached),
		// so nothing could watch clients or stop a bad image meanwhile.
		// Without it, `up` returns once the group targets the new
		// template; rollout watches the roll and rolls back with an `up`
		// that retargets the group, and stayup up waits for a new fleet to
		// serve (docs/rollout.md).
		WaitForInstances: pulumi.Bool(false),
	}, parent,
		// Without the wait, create and update are single Compute
		// operations (insert, patch) that take seconds; these bound them,
		// and with them how long a rollback's `up` takes to retarget the
		// group.
		pulumi.Timeouts(&pulumi.CustomTimeouts{Create: "10m", Update: "5m"}))
	if err != nil {
		return nil, err
	}

	if _, err := compute.NewRegionAutoscaler(ctx, name, &compute.RegionAutoscalerArgs{
		Project:     pulumi.String(s.Project),
		Region:      pulumi.String(s.Region),
		Target:      f.Group.ID(),
		Description: pulumi.String("owns the fleet's size: between minSize and maxSize, on CPU"),
		AutoscalingPolicy: &compute.RegionAutoscalerAutoscalingPolicyArgs{
			MinReplicas: pulumi.Int(s.MinSize),
			MaxReplicas: pulumi.Int(s.MaxSize),
			Mode:        pulumi.String("ON"),
			// The API takes the target as a fraction of one.
			CpuUtilization: &compute.RegionAutoscalerAutoscalingPolicyCpuUtilizationArgs{
				Target: pulumi.Float64(float64(s.CPUTarget) / 100),
			},
			// Boot-time CPU is not load: wait for a new instance to settle.
			CooldownPeriod: pulumi.Int(int(spec.Warmup.Seconds())),
		},
	}, parent); err != nil {
		return nil, err
	}
	return f, ctx.RegisterResourceOutputs(f, pulumi.Map{"instanceGroupManager": f.Group.Name})
}
