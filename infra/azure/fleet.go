package azure

import (
	"encoding/base64"
	"fmt"
	"time"

	compute "github.com/pulumi/pulumi-azure-native-sdk/compute/v2"
	insights "github.com/pulumi/pulumi-azure-native-sdk/insights/v2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"stayup/infra/spec"
)

// adminUser is the instances' only login, by SSH key, and never from the
// internet: no public IP, and the fleet's NSG admits only the app port.
const adminUser = "stayup"

// Rolling upgrade numbers for a fleet of three.
const (
	// One instance per batch (a third of three).
	maxBatchPercent = 34
	// One unrelated unhealthy instance of three does not stop a rollout;
	// Azure's default (20%) would abort on it.
	maxUnhealthyPercent = 34
	// Any new instance that does not turn healthy breaches the policy:
	// the rollout stops and that instance is rolled back.
	maxUnhealthyUpgradedPercent = 0
)

// The health extension's boot tolerance. Binary health (1.0) has no
// Initializing state and no gracePeriod: those are Rich Health (2.0) only
// ("Use Application Health extension with Virtual Machine Scale Sets",
// Binary versus Rich Health States), and the 1.x handler's settings schema
// rejects any key it does not know (applicationhealth-extension-linux
// v1.0.7, main/schema.go: additionalProperties false), so a gracePeriod
// would fail the extension on every VM. What 1.x does have (main/cmds.go):
// it reports no state until either one probe passes, which reports Healthy
// at once, or numberOfProbes probes in a row fail, which reports Unhealthy.
// So intervalInSeconds x numberOfProbes is how long a booting VM stays
// unjudged: it must outlast the boot (cloud-init updates the package index,
// installs Docker and pulls the image: about two to three minutes, see
// BootBudget) and end within the rolling upgrade's wait for a batch to turn
// healthy (5 minutes), after which the batch counts as failed. 10 s x 24 =
// 240 s. The price: a VM that stops answering later is reported Unhealthy,
// and repaired, after 240 s instead of 10 s; the gateway's own probe takes
// it out of rotation within 10 s either way.
const (
	healthInterval = 10 // seconds; the handler allows 5 to 60
	healthProbes   = 24 // the handler's maximum
)

// BootBudget is the boot the health extension's tolerance is sized for;
// RollingUpgradeWait is how long a rolling upgrade waits for an upgraded
// instance to turn healthy ("Azure Virtual Machine Scale Set automatic OS
// image upgrades", Upgrading virtual machines in a scale set: "waits up to
// 5 minutes"; rolling upgrades of the model share the orchestrator and
// policy; assumed for them, to check on a live run).
const (
	BootBudget         = 3 * time.Minute
	RollingUpgradeWait = 5 * time.Minute
)

// Fleet is the scale set, its rolling and repair policies, and its autoscale.
type Fleet struct {
	pulumi.ResourceState

	ScaleSet *compute.VirtualMachineScaleSet
}

func newFleet(ctx *pulumi.Context, name string, s spec.Spec, sc scope, zones []string, net *Network, gw *Gateway, opts ...pulumi.ResourceOption) (*Fleet, error) {
	f := &Fleet{}
	if err := ctx.RegisterComponentResource("stayup:azure:Fleet", name, f, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(f)

	userData, err := CloudInit(s)
	if err != nil {
		return nil, fmt.Errorf("render cloud-init: %w", err)
	}

	// A system-assigned identity only where it holds a role: pulling from
	// the image's registry. Without one, nothing on the VM (and nothing
	// that reaches its metadata service) can get a token at all. A scale
	// set deployed with the identity keeps it (ignoreChanges): a change of
	// the scale set's identity is a model change, which Rolling mode would
	// roll to every VM; it holds no role once the registry's assignment
	// is gone.
	var identity *compute.VirtualMachineScaleSetIdentityArgs
	keep := []string{"sku.capacity"}
	if acrRegistry(s.Image) != "" {
		identity = &compute.VirtualMachineScaleSetIdentityArgs{Type: compute.ResourceIdentityTypeSystemAssigned}
	} else {
		keep = append(keep, "identity")
	}

	f.ScaleSet, err = compute.NewVirtualMachineScaleSet(ctx, name, &compute.VirtualMachineScaleSetArgs{
		ResourceGroupName: sc.resourceGroup,
		Location:          pulumi.String(sc.location),
		OrchestrationMode: pulumi.String("Uniform"),
		Sku: &compute.SkuArgs{
			Name: pulumi.String(s.InstanceType),
			Tier: pulumi.String("Standard"),
			// The initial size only: autoscale owns it afterwards
			// (sku.capacity is in ignoreChanges below).
			Capacity: pulumi.Float64(float64(s.DesiredSize)),
		},
		// Spread over the zones and kept balanced between them.
		Zones:       pulumi.ToStringArray(zones),
		ZoneBalance: pulumi.Bool(true),
		// Within a zone, spread over as many fault domains as Azure can.
		PlatformFaultDomainCount: pulumi.Int(1),
		SinglePlacementGroup:     pulumi.Bool(false),
		// No extra VMs at creation: extensions and the gateway would see
		// instances that are deleted moments later.
		Overprovision: pulumi.Bool(false),
		Identity:      identity,
		UpgradePolicy: &compute.UpgradePolicyArgs{
			Mode: compute.UpgradeModeRolling,
			RollingUpgradePolicy: &compute.RollingUpgradePolicyArgs{
				// New instances come up before old ones go (the
				// subscription feature MaxSurgeRollingUpgrade).
				MaxSurge:                              pulumi.Bool(true),
				MaxBatchInstancePercent:               pulumi.Int(maxBatchPercent),
				MaxUnhealthyInstancePercent:           pulumi.Int(maxUnhealthyPercent),
				MaxUnhealthyUpgradedInstancePercent:   pulumi.Int(maxUnhealthyUpgradedPercent),
				RollbackFailedInstancesOnPolicyBreach: pulumi.Bool(true),
				PrioritizeUnhealthyInstances:          pulumi.Bool(true),
				EnableCrossZoneUpgrade:                pulumi.Bool(true),
				// A short pause lets the gateway's probe see each batch.
				PauseTimeBetweenBatches: pulumi.String("PT10S"),
			},
		},
		// An instance the health extension reports Unhealthy is replaced;
		// 10 minutes is the API's shortest grace and covers a boot.
		AutomaticRepairsPolicy: &compute.AutomaticRepairsPolicyArgs{
			Enabled:      pulumi.Bool(true),
			GracePeriod:  pulumi.String("PT10M"),
			RepairAction: pulumi.String("Replace"),
		},
		VirtualMachineProfile: &compute.VirtualMachineScaleSetVMProfileArgs{
			StorageProfile: &compute.VirtualMachineScaleSetStorageProfileArgs{
				ImageReference: &compute.ImageReferenceArgs{
					Publisher: pulumi.String(spec.AzureImage.Publisher),
					Offer:     pulumi.String(spec.AzureImage.Offer),
					Sku:       pulumi.String(spec.AzureImage.SKU),
					// The pinned version (stayup:baseImage), so every VM the
					// set creates (surge, repair, scale-out) boots the same
					// OS; latest only where a stack was deployed that way.
					Version: pulumi.String(baseImageVersion(s)),
				},
				OsDisk: &compute.VirtualMachineScaleSetOSDiskArgs{
					CreateOption: pulumi.String("FromImage"),
					Caching:      compute.CachingTypesReadWrite,
					DiskSizeGB:   pulumi.Int(30),
					ManagedDisk: &compute.VirtualMachineScaleSetManagedDiskParametersArgs{
						// Locally redundant: a lost instance is replaced,
						// never moved, so zone-redundant disks add nothing.
						StorageAccountType: pulumi.String("StandardSSD_LRS"),
					},
				},
			},
			OsProfile: &compute.VirtualMachineScaleSetOSProfileArgs{
				ComputerNamePrefix: pulumi.String("stayup"),
				AdminUsername:      pulumi.String(adminUser),
				CustomData:         pulumi.String(base64.StdEncoding.EncodeToString([]byte(userData))),
				LinuxConfiguration: &compute.LinuxConfigurationArgs{
					// SSH keys only (CKV_AZURE_49).
					DisablePasswordAuthentication: pulumi.Bool(true),
					ProvisionVMAgent:              pulumi.Bool(true),
					Ssh: &compute.SshConfigurationArgs{PublicKeys: compute.SshPublicKeyTypeArray{&compute.SshPublicKeyTypeArgs{
						Path:    pulumi.String(fmt.Sprintf("/home/%s/.ssh/authorized_keys", adminUser)),
						KeyData: pulumi.String(s.Azure.SSHPublicKey),
					}}},
				},
			},
			SecurityProfile: &compute.SecurityProfileArgs{
				// Temp disks and caches encrypted on the host too
				// (subscription feature EncryptionAtHost).
				EncryptionAtHost: pulumi.Bool(s.Azure.EncryptionAtHost),
				SecurityType:     pulumi.String("TrustedLaunch"),
				UefiSettings: &compute.UefiSettingsArgs{
					SecureBootEnabled: pulumi.Bool(true),
					VTpmEnabled:       pulumi.Bool(true),
				},
			},
			// Deletion (a rollout's old instance, a repair, a scale-in)
			// waits until the instance approves its Terminate event, up to
			// 5 minutes: cloud-init's watcher stops the container first,
			// so the app drains while the gateway takes it out of rotation.
			ScheduledEventsProfile: &compute.ScheduledEventsProfileArgs{
				TerminateNotificationProfile: &compute.TerminateNotificationProfileArgs{
					Enable:           pulumi.Bool(true),
					NotBeforeTimeout: pulumi.String("PT5M"),
				},
			},
			DiagnosticsProfile: &compute.DiagnosticsProfileArgs{
				BootDiagnostics: &compute.BootDiagnosticsArgs{Enabled: pulumi.Bool(true)},
			},
			NetworkProfile: &compute.VirtualMachineScaleSetNetworkProfileArgs{
				NetworkInterfaceConfigurations: compute.VirtualMachineScaleSetNetworkConfigurationArray{&compute.VirtualMachineScaleSetNetworkConfigurationArgs{
					Name:    pulumi.String("primary"),
					Primary: pulumi.Bool(true),
					IpConfigurations: compute.VirtualMachineScaleSetIPConfigurationArray{&compute.VirtualMachineScaleSetIPConfigurationArgs{
						Name:    pulumi.String("primary"),
						Primary: pulumi.Bool(true),
						Subnet:  &compute.ApiEntityReferenceArgs{Id: net.FleetSubnet.ID()},
						// No public IP configuration: the gateway is the way in,
						// the egress load balancer the way out.
						ApplicationGatewayBackendAddressPools: compute.SubResourceArray{&compute.SubResourceArgs{Id: gw.Pool}},
						LoadBalancerBackendAddressPools:       compute.SubResourceArray{&compute.SubResourceArgs{Id: net.EgressPool}},
					}},
				}},
			},
			ExtensionProfile: &compute.VirtualMachineScaleSetExtensionProfileArgs{
				Extensions: compute.VirtualMachineScaleSetExtensionTypeArray{&compute.VirtualMachineScaleSetExtensionTypeArgs{
					// The Application Health extension reports liveness from
					// inside the VM: what rolling upgrades wait for and
					// automatic repairs act on.
					Name:      pulumi.String("health"),
					Publisher: pulumi.String("Microsoft.ManagedServices"),
					Type:      pulumi.String("ApplicationHealthLinux"),
					// Binary health (1.0): a 2xx is Healthy, anything else
					// Unhealthy. Rich health (2.0) would call a plain 200
					// without its JSON body Unknown, and repairs replace
					// Unknown instances too.
					TypeHandlerVersion:      pulumi.String("1.0"),
					AutoUpgradeMinorVersion: pulumi.Bool(true),
					Settings: pulumi.Map{
						"protocol":          pulumi.String("http"),
						"port":              pulumi.Int(s.Port),
						"requestPath":       pulumi.String(s.HealthPath),
						"intervalInSeconds": pulumi.Int(healthInterval),
						"numberOfProbes":    pulumi.Int(healthProbes),
					},
				}},
			},
		},
		Tags: tags(ctx),
	}, parent, pulumi.IgnoreChanges(keep),
		// The pools it joins must exist first.
		pulumi.DependsOn([]pulumi.Resource{gw.Gateway, net.EgressLB}))
	if err != nil {
		return nil, err
	}

	cpu := func(op string, threshold int, direction string, cooldown string) *insights.ScaleRuleArgs {
		return &insights.ScaleRuleArgs{
			MetricTrigger: &insights.MetricTriggerArgs{
				MetricName:        pulumi.String("Percentage CPU"),
				MetricNamespace:   pulumi.String("microsoft.compute/virtualmachinescalesets"),
				MetricResourceUri: f.ScaleSet.ID(),
				Operator:          insights.ComparisonOperationType(op),
				Statistic:         insights.MetricStatisticTypeAverage,
				Threshold:         pulumi.Float64(float64(threshold)),
				TimeAggregation:   insights.TimeAggregationTypeAverage,
				TimeGrain:         pulumi.String("PT1M"),
				TimeWindow:        pulumi.String("PT5M"),
			},
			ScaleAction: &insights.ScaleActionArgs{
				Direction: insights.ScaleDirection(direction),
				Type:      insights.ScaleTypeChangeCount,
				Value:     pulumi.String("1"),
				Cooldown:  pulumi.String(cooldown),
			},
		}
	}
	// Azure autoscale has no target tracking: out above the target, in
	// well below it, so one scale-in does not push the rest back over.
	out, in := min(s.CPUTarget+10, 95), max(s.CPUTarget-20, 5)
	if _, err := insights.NewAutoscaleSetting(ctx, name, &insights.AutoscaleSettingArgs{
		ResourceGroupName: sc.resourceGroup,
		Location:          pulumi.String(sc.location),
		Enabled:           pulumi.Bool(true),
		TargetResourceUri: f.ScaleSet.ID(),
		Profiles: insights.AutoscaleProfileArray{&insights.AutoscaleProfileArgs{
			Name: pulumi.String("cpu"),
			Capacity: &insights.ScaleCapacityArgs{
				Minimum: pulumi.String(fmt.Sprint(s.MinSize)),
				Maximum: pulumi.String(fmt.Sprint(s.MaxSize)),
				Default: pulumi.String(fmt.Sprint(s.DesiredSize)),
			},
			Rules: insights.ScaleRuleArray{
				cpu("GreaterThan", out, "Increase", "PT5M"),
				cpu("LessThan", in, "Decrease", "PT10M"),
			},
		}},
		Tags: tags(ctx),
	}, parent); err != nil {
		return nil, err
	}
	return f, ctx.RegisterResourceOutputs(f, pulumi.Map{"scaleSet": f.ScaleSet.Name})
}

// baseImageVersion is the marketplace image version the scale set model
// names: the pinned one, or latest when none is pinned (a plan; `stayup up`
// pins a new stack's before its first deploy, since moving a deployed
// model off latest would roll every VM).
func baseImageVersion(s spec.Spec) string {
	if s.BaseImage == "" {
		return "latest"
	}
	return s.BaseImage
}
