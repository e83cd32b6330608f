package graph

import (
	"fmt"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// AzureSubscription is the subscription every mocked Azure id carries.
const AzureSubscription = "00000000-0000-4000-8000-000000000000"

// azureProvider maps a resource type to its ARM provider and collection.
var azureProvider = map[string]string{
	"azure-native:network:VirtualNetwork":         "Microsoft.Network/virtualNetworks",
	"azure-native:network:NetworkSecurityGroup":   "Microsoft.Network/networkSecurityGroups",
	"azure-native:network:PublicIPAddress":        "Microsoft.Network/publicIPAddresses",
	"azure-native:network:LoadBalancer":           "Microsoft.Network/loadBalancers",
	"azure-native:network:ApplicationGateway":     "Microsoft.Network/applicationGateways",
	"azure-native:compute:VirtualMachineScaleSet": "Microsoft.Compute/virtualMachineScaleSets",
	"azure-native:insights:AutoscaleSetting":      "Microsoft.Insights/autoscalesettings",
	"azure-native:operationalinsights:Workspace":  "Microsoft.OperationalInsights/workspaces",
	"azure-native:storage:StorageAccount":         "Microsoft.Storage/storageAccounts",
	"azure-native:network:FlowLog":                "Microsoft.Network/networkWatchers/flowLogs",
}

// azureNameInputs are the inputs that name a resource explicitly.
var azureNameInputs = []string{"applicationGatewayName", "loadBalancerName", "vmScaleSetName", "resourceGroupName"}

func (m *mocks) azurePhysical(typ, name string, inputs resource.PropertyMap) (string, map[string]any) {
	out := map[string]any{}
	rg := "stayup"
	if v, ok := inputs["resourceGroupName"]; ok && v.IsString() {
		rg = v.StringValue()
	}
	physName := name
	for _, key := range azureNameInputs[:3] {
		if v, ok := inputs[resource.PropertyKey(key)]; ok && v.IsString() && v.StringValue() != "" {
			physName = v.StringValue()
		}
	}
	out["name"] = physName
	base := fmt.Sprintf("/subscriptions/%s/resourceGroups/%s", AzureSubscription, rg)
	var id string
	switch typ {
	case "azure-native:resources:ResourceGroup":
		id = fmt.Sprintf("/subscriptions/%s/resourceGroups/%s", AzureSubscription, name)
	case "azure-native:network:Subnet":
		vnet := ""
		if v, ok := inputs["virtualNetworkName"]; ok && v.IsString() {
			vnet = v.StringValue()
		}
		id = fmt.Sprintf("%s/providers/Microsoft.Network/virtualNetworks/%s/subnets/%s", base, vnet, physName)
	case "azure-native:authorization:RoleAssignment":
		scope := ""
		if v, ok := inputs["scope"]; ok && v.IsString() {
			scope = v.StringValue()
		}
		id = fmt.Sprintf("%s/providers/Microsoft.Authorization/roleAssignments/%s", scope, hexID(name, 32))
	default:
		provider := azureProvider[typ]
		if provider == "" {
			provider = "Microsoft.Unknown/" + strings.ToLower(typ[strings.LastIndex(typ, ":")+1:])
		}
		id = fmt.Sprintf("%s/providers/%s/%s", base, provider, physName)
	}
	switch typ {
	case "azure-native:network:PublicIPAddress":
		out["ipAddress"] = fmt.Sprintf("20.61.%d.%d", int(hexID(name, 2)[0])%200+10, int(hexID(name, 2)[1])%200+10)
	case "azure-native:compute:VirtualMachineScaleSet":
		if v, ok := inputs["identity"]; ok && v.IsObject() {
			identity := map[string]any{"principalId": "11111111-2222-4333-8444-" + hexID(name, 12), "tenantId": AzureSubscription}
			if t, ok := v.ObjectValue()["type"]; ok && t.IsString() {
				identity["type"] = t.StringValue()
			}
			out["identity"] = identity
		}
	}
	return id, out
}

func (m *mocks) azureCall(token string, _ map[string]any) (map[string]any, error) {
	switch token {
	case "azure-native:authorization:getClientConfig":
		return map[string]any{
			"subscriptionId": AzureSubscription, "tenantId": "00000000-0000-4000-8000-00000000aaaa",
			"clientId": "00000000-0000-4000-8000-00000000bbbb", "objectId": "00000000-0000-4000-8000-00000000cccc",
		}, nil
	}
	return nil, fmt.Errorf("the plan's mocks do not answer %s", token)
}
