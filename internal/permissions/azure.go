package permissions

// The Azure tables. azure-native calls Resource Manager's REST API
// directly: a resource's create and update are one PUT (the type's /write),
// read a GET (/read), delete a DELETE (/delete); each action is from the
// resource provider operations reference ("Azure permissions" for
// Compute, Networking, Monitor, Storage, Management and governance). A PUT
// that refers to another resource also needs that resource's join or
// assign action ("Permissions" sections of the virtual network, load
// balancer and Application Gateway docs). Long-running operations are
// polled at the provider's locations/operations URL.

// azureResources maps each resource type to the actions it needs.
var azureResources = map[string][]string{
	"azure-native:resources:ResourceGroup": {
		"Microsoft.Resources/subscriptions/resourceGroups/write", "Microsoft.Resources/subscriptions/resourceGroups/read",
		"Microsoft.Resources/subscriptions/resourceGroups/delete",
	},
	"azure-native:network:VirtualNetwork": {
		"Microsoft.Network/virtualNetworks/write", "Microsoft.Network/virtualNetworks/read", "Microsoft.Network/virtualNetworks/delete",
		"Microsoft.Network/locations/operations/read", "Microsoft.Network/locations/operationResults/read",
	},
	// A subnet with an NSG joins it.
	"azure-native:network:Subnet": {
		"Microsoft.Network/virtualNetworks/subnets/write", "Microsoft.Network/virtualNetworks/subnets/read",
		"Microsoft.Network/virtualNetworks/subnets/delete", "Microsoft.Network/networkSecurityGroups/join/action",
		"Microsoft.Network/locations/operations/read", "Microsoft.Network/locations/operationResults/read",
	},
	// Security rules are written inline with the group.
	"azure-native:network:NetworkSecurityGroup": {
		"Microsoft.Network/networkSecurityGroups/write", "Microsoft.Network/networkSecurityGroups/read",
		"Microsoft.Network/networkSecurityGroups/delete", "Microsoft.Network/locations/operations/read", "Microsoft.Network/locations/operationResults/read",
	},
	"azure-native:network:PublicIPAddress": {
		"Microsoft.Network/publicIPAddresses/write", "Microsoft.Network/publicIPAddresses/read",
		"Microsoft.Network/publicIPAddresses/delete", "Microsoft.Network/locations/operations/read", "Microsoft.Network/locations/operationResults/read",
	},
	// The outbound-only load balancer's frontend joins its public IP.
	"azure-native:network:LoadBalancer": {
		"Microsoft.Network/loadBalancers/write", "Microsoft.Network/loadBalancers/read", "Microsoft.Network/loadBalancers/delete",
		"Microsoft.Network/publicIPAddresses/join/action", "Microsoft.Network/locations/operations/read", "Microsoft.Network/locations/operationResults/read",
	},
	// The gateway joins its subnet and public IP; with TLS it reads the Key
	// Vault certificate through a user-assigned identity it is assigned.
	"azure-native:network:ApplicationGateway": {
		"Microsoft.Network/applicationGateways/write", "Microsoft.Network/applicationGateways/read",
		"Microsoft.Network/applicationGateways/delete",
		"Microsoft.Network/virtualNetworks/subnets/join/action", "Microsoft.Network/publicIPAddresses/join/action",
		"Microsoft.ManagedIdentity/userAssignedIdentities/assign/action",
		"Microsoft.Network/locations/operations/read", "Microsoft.Network/locations/operationResults/read",
	},
	// The scale set's NICs join the subnet, the gateway's backend pool and
	// the outbound load balancer's pool.
	"azure-native:compute:VirtualMachineScaleSet": {
		"Microsoft.Compute/virtualMachineScaleSets/write", "Microsoft.Compute/virtualMachineScaleSets/read",
		"Microsoft.Compute/virtualMachineScaleSets/delete",
		"Microsoft.Network/virtualNetworks/subnets/join/action",
		"Microsoft.Network/applicationGateways/backendAddressPools/join/action",
		"Microsoft.Network/loadBalancers/backendAddressPools/join/action",
		"Microsoft.Compute/locations/operations/read",
	},
	"azure-native:insights:AutoscaleSetting": {
		"Microsoft.Insights/autoscalesettings/write", "Microsoft.Insights/autoscalesettings/read", "Microsoft.Insights/autoscalesettings/delete",
	},
	// A diagnostic setting that sends to a workspace reads it (Azure Monitor,
	// "Diagnostic settings": write on the source, read on the destination).
	"azure-native:insights:DiagnosticSetting": {
		"Microsoft.Insights/diagnosticSettings/write", "Microsoft.Insights/diagnosticSettings/read", "Microsoft.Insights/diagnosticSettings/delete",
		"Microsoft.OperationalInsights/workspaces/read", "Microsoft.OperationalInsights/workspaces/sharedKeys/action",
	},
	// Network Watcher's flow log permissions ("Network Watcher permissions":
	// flow logs need the storage account's keys and SAS; traffic analytics
	// the workspace's read and shared keys).
	"azure-native:network:FlowLog": {
		"Microsoft.Network/networkWatchers/flowLogs/write", "Microsoft.Network/networkWatchers/flowLogs/read",
		"Microsoft.Network/networkWatchers/flowLogs/delete", "Microsoft.Network/networkWatchers/read",
		"Microsoft.Network/virtualNetworks/read", "Microsoft.Network/networkSecurityGroups/read",
		"Microsoft.Storage/storageAccounts/read", "Microsoft.Storage/storageAccounts/listKeys/action",
		"Microsoft.Storage/storageAccounts/listAccountSas/action", "Microsoft.Storage/storageAccounts/listServiceSas/action",
		"Microsoft.OperationalInsights/workspaces/read", "Microsoft.OperationalInsights/workspaces/sharedKeys/action",
		"Microsoft.Network/locations/operations/read", "Microsoft.Network/locations/operationResults/read",
	},
	// Created only where the region has none; kept on destroy.
	"azure-native:network:NetworkWatcher": {
		"Microsoft.Network/networkWatchers/write", "Microsoft.Network/networkWatchers/read",
	},
	"azure-native:operationalinsights:Workspace": {
		"Microsoft.OperationalInsights/workspaces/write", "Microsoft.OperationalInsights/workspaces/read",
		"Microsoft.OperationalInsights/workspaces/delete",
	},
	"azure-native:storage:StorageAccount": {
		"Microsoft.Storage/storageAccounts/write", "Microsoft.Storage/storageAccounts/read", "Microsoft.Storage/storageAccounts/delete",
		"Microsoft.Storage/locations/asyncoperations/read",
	},
	// Which roles the holder may assign is the assignment's condition, not
	// this list (see azureAssignCondition).
	"azure-native:authorization:RoleAssignment": {
		"Microsoft.Authorization/roleAssignments/write", "Microsoft.Authorization/roleAssignments/read",
		"Microsoft.Authorization/roleAssignments/delete",
	},
}

// azureInvokes maps the program's lookups to their actions.
var azureInvokes = map[string][]string{
	// The client's tenant, subscription and object id come from its token: no call.
	"azure-native:authorization:getClientConfig": {},
}

// azureStayup are doctor's and up's own calls with the deployer's
// credentials: the subscription, its resource providers and features, the
// region's vCPU usage and the sizes offered in its zones, the Network
// Watchers (doctor lists them; up pins the region's, stayup:networkWatcher).
var azureStayup = []string{
	"Microsoft.Resources/subscriptions/read",
	"Microsoft.Resources/subscriptions/locations/read",
	"Microsoft.Resources/subscriptions/providers/read",
	"Microsoft.Features/providers/features/read",
	"Microsoft.Compute/locations/usages/read",
	"Microsoft.Compute/skus/read",
	"Microsoft.Compute/virtualMachineScaleSets/read",
	"Microsoft.Network/networkWatchers/read",
	// up: the newest version of the Ubuntu image, pinned before a new
	// stack's first deploy (stayup:baseImage); doctor: whether the pinned
	// version is deprecated or gone.
	"Microsoft.Compute/locations/publishers/artifacttypes/offers/skus/versions/read",
}

// azureOperate are the calls internal/fleet/azure makes, each an act*
// constant there.
var azureOperate = []string{
	"Microsoft.Compute/virtualMachineScaleSets/virtualMachines/read",                 // instances and their health
	"Microsoft.Compute/virtualMachineScaleSets/virtualMachines/delete",               // chaos: delete an instance
	"Microsoft.Compute/virtualMachineScaleSets/virtualMachines/runCommand/action",    // chaos --mode abrupt: crash it from inside
	"Microsoft.Compute/virtualMachineScaleSets/read",                                 // the scale set's model
	"Microsoft.Compute/virtualMachineScaleSets/write",                                // chaos: suspend and resume repairs
	"Microsoft.Compute/virtualMachineScaleSets/instanceView/read",                    // instances' states
	"Microsoft.Compute/virtualMachineScaleSets/rollingUpgrades/read",                 // rollout: the upgrade's progress
	"Microsoft.Compute/virtualMachineScaleSets/rollingUpgrades/cancel/action",        // rollout: stop the forward upgrade before rolling back
	"Microsoft.Compute/virtualMachineScaleSets/networkInterfaces/read",               // instances' addresses for the gateway's health
	"Microsoft.Network/applicationGateways/read",                                     // the gateway's pools
	"Microsoft.Network/applicationGateways/backendhealth/action",                     // the gateway's view of each instance
	"Microsoft.Insights/autoscalesettings/read",                                      // the autoscale bounds
	"Microsoft.Insights/autoscalesettings/write",                                     // chaos: hold autoscale while it runs
	"Microsoft.Compute/locations/operations/read",                                    // the long-running operations above
	"Microsoft.Compute/locations/publishers/artifacttypes/offers/skus/versions/read", // status: whether the pinned image version is deprecated or gone
}

// azureAssignableRoles are role definitions the program may assign beyond
// those its graph names; empty: it is generated from the graph.
var azureAssignableRoles = []string{}
