package azure

import (
	"strings"

	insights "github.com/pulumi/pulumi-azure-native-sdk/insights/v2"
	network "github.com/pulumi/pulumi-azure-native-sdk/network/v2"
	"github.com/pulumi/pulumi-azure-native-sdk/operationalinsights/v2"
	"github.com/pulumi/pulumi-azure-native-sdk/storage/v2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"stayup/infra/spec"
)

// Logging is where the gateway's access logs and the network's flow logs
// go, kept logRetentionDays.
type Logging struct {
	pulumi.ResourceState

	Workspace *operationalinsights.Workspace
}

func newLogging(ctx *pulumi.Context, name string, s spec.Spec, sc scope, net *Network, gw *Gateway, opts ...pulumi.ResourceOption) (*Logging, error) {
	l := &Logging{}
	if err := ctx.RegisterComponentResource("stayup:azure:Logging", name, l, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(l)

	var err error
	l.Workspace, err = operationalinsights.NewWorkspace(ctx, name, &operationalinsights.WorkspaceArgs{
		ResourceGroupName: sc.resourceGroup,
		Location:          pulumi.String(sc.location),
		Sku:               &operationalinsights.WorkspaceSkuArgs{Name: pulumi.String("PerGB2018")},
		// 30 days is the shortest this pricing tier keeps.
		RetentionInDays: pulumi.Int(max(s.LogRetentionDays, 30)),
		Tags:            tags(ctx),
	}, parent)
	if err != nil {
		return nil, err
	}
	// Every request through the gateway and every probe result.
	if _, err := insights.NewDiagnosticSetting(ctx, name+"-gateway", &insights.DiagnosticSettingArgs{
		Name:        pulumi.String("stayup-gateway-logs"),
		ResourceUri: gw.Gateway.ID(),
		WorkspaceId: l.Workspace.ID(),
		Logs: insights.LogSettingsArray{&insights.LogSettingsArgs{
			CategoryGroup: pulumi.String("allLogs"),
			Enabled:       pulumi.Bool(true),
		}},
		Metrics: insights.MetricSettingsArray{&insights.MetricSettingsArgs{
			Category: pulumi.String("AllMetrics"),
			Enabled:  pulumi.Bool(true),
		}},
	}, parent); err != nil {
		return nil, err
	}

	// Flow logs are written to a storage account: private, TLS 1.2 only,
	// and reachable from no network. Network Watcher writes as a trusted
	// service, which the AzureServices bypass lets through ("Trusted access
	// for resources registered in your Microsoft Entra tenant": Azure
	// networking services, Microsoft.Network, "Store and analyze network
	// traffic logs, including through the Azure Network Watcher"; Azure
	// Storage network security). Public network access stays Enabled: off
	// would leave private endpoints only, and the bypass with it. Shared-key
	// access stays on: nothing shows that a flow log without a managed
	// identity of its own writes to an account that refuses keys, and a
	// flow log that silently stops writing is worse than a key no one here
	// hands out.
	account, err := storage.NewStorageAccount(ctx, "stayupflowlogs", &storage.StorageAccountArgs{
		ResourceGroupName:      sc.resourceGroup,
		Location:               pulumi.String(sc.location),
		Kind:                   pulumi.String("StorageV2"),
		Sku:                    &storage.SkuArgs{Name: pulumi.String("Standard_LRS")},
		MinimumTlsVersion:      pulumi.String("TLS1_2"),
		EnableHttpsTrafficOnly: pulumi.Bool(true),
		AllowBlobPublicAccess:  pulumi.Bool(false),
		NetworkRuleSet: &storage.NetworkRuleSetArgs{
			DefaultAction: storage.DefaultActionDeny,
			Bypass:        pulumi.String("AzureServices"),
		},
		Tags: tags(ctx),
	}, parent)
	if err != nil {
		return nil, err
	}
	watcherGroup, watcherName, err := networkWatcher(ctx, name, s, sc, parent)
	if err != nil {
		return nil, err
	}
	// Every flow in and out of the virtual network (CKV_AZURE_12).
	if _, err := network.NewFlowLog(ctx, name+"-flow", &network.FlowLogArgs{
		ResourceGroupName:  watcherGroup,
		NetworkWatcherName: watcherName,
		Location:           pulumi.String(sc.location),
		TargetResourceId:   net.VNet.ID(),
		StorageId:          account.ID(),
		Enabled:            pulumi.Bool(true),
		Format:             &network.FlowLogFormatParametersArgs{Type: pulumi.String("JSON"), Version: pulumi.Int(2)},
		RetentionPolicy: &network.RetentionPolicyParametersArgs{
			Enabled: pulumi.Bool(true),
			Days:    pulumi.Int(s.LogRetentionDays),
		},
		Tags: tags(ctx),
	}, parent); err != nil {
		return nil, err
	}
	return l, ctx.RegisterResourceOutputs(l, pulumi.Map{"workspace": l.Workspace.Name})
}

// defaultWatcherGroup is where Azure creates a region's Network Watcher.
const defaultWatcherGroup = "NetworkWatcherRG"

// networkWatcher is the resource group and name of the region's Network
// Watcher, which flow logs belong to. There is one per region per
// subscription: Azure creates it, NetworkWatcher_<region> in
// NetworkWatcherRG, some time after the region's first virtual network,
// unless a policy puts it elsewhere or turns that off ("Enable or disable
// Azure Network Watcher"). So `stayup up` looks it up and pins its id
// (stayup:networkWatcher). Where there is none, the program creates it in
// the stack's resource group, and Pulumi never deletes it: a later up pins
// it like any other, and only the group's deletion (destroy) removes it.
func networkWatcher(ctx *pulumi.Context, name string, s spec.Spec, sc scope, parent pulumi.ResourceOption) (group, watcher pulumi.StringInput, err error) {
	if id := s.Azure.NetworkWatcher; id != "" {
		// /subscriptions/<id>/resourceGroups/<rg>/providers/Microsoft.Network/networkWatchers/<name>
		parts := strings.Split(id, "/")
		group, name := parts[4], parts[8]
		// ARM may spell a group's name in another case in an id than it was
		// created with; the flow log's group and watcher are part of its
		// id, so a stack deployed with Azure's default watcher keeps those
		// names exactly as it named them, or its flow log would be replaced.
		if strings.EqualFold(group, defaultWatcherGroup) && strings.EqualFold(name, "NetworkWatcher_"+sc.location) {
			group, name = defaultWatcherGroup, "NetworkWatcher_"+sc.location
		}
		return pulumi.String(group), pulumi.String(name), nil
	}
	w, err := network.NewNetworkWatcher(ctx, name+"-watcher", &network.NetworkWatcherArgs{
		ResourceGroupName:  sc.resourceGroup,
		Location:           pulumi.String(sc.location),
		NetworkWatcherName: pulumi.String("NetworkWatcher_" + sc.location),
		Tags:               tags(ctx),
	}, parent, pulumi.RetainOnDelete(true))
	if err != nil {
		return nil, nil, err
	}
	return sc.resourceGroup, w.Name, nil
}
