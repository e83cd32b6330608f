package azure

import (
	"strings"

	"github.com/pulumi/pulumi-azure-native-sdk/authorization/v2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"stayup/infra/spec"
)

// acrPull is the built-in role that may pull images and nothing else:
// its id as "Azure built-in roles" (Containers, AcrPull) lists it.
const acrPull = "7f951dda-4ed3-4680-a7ca-43fe172d538d"

// Identity is what the scale set's system-assigned identity may do: pull
// from the one registry the image lives in. A public image needs none, and
// the scale set then has no identity.
type Identity struct {
	pulumi.ResourceState
}

func newIdentity(ctx *pulumi.Context, name string, s spec.Spec, fleet *Fleet, opts ...pulumi.ResourceOption) (*Identity, error) {
	id := &Identity{}
	if err := ctx.RegisterComponentResource("stayup:azure:Identity", name, id, opts...); err != nil {
		return nil, err
	}
	if acrRegistry(s.Image) != "" {
		if _, err := authorization.NewRoleAssignment(ctx, name+"-pull", &authorization.RoleAssignmentArgs{
			PrincipalId:   fleet.ScaleSet.Identity.Elem().PrincipalId(),
			PrincipalType: pulumi.String("ServicePrincipal"),
			// Named in the registry's subscription, which may not be the stack's.
			RoleDefinitionId: pulumi.Sprintf("/subscriptions/%s/providers/Microsoft.Authorization/roleDefinitions/%s", subscriptionOf(s.Azure.RegistryID), acrPull),
			// The registry itself, not its resource group or the subscription.
			Scope:       pulumi.String(s.Azure.RegistryID),
			Description: pulumi.String("stayup instances pull their image"),
		}, pulumi.Parent(id)); err != nil {
			return nil, err
		}
	}
	return id, ctx.RegisterResourceOutputs(id, pulumi.Map{})
}

// subscriptionOf is the subscription id in a resource id.
func subscriptionOf(resourceID string) string {
	parts := strings.Split(resourceID, "/")
	for i := 0; i+1 < len(parts); i++ {
		if strings.EqualFold(parts[i], "subscriptions") {
			return parts[i+1]
		}
	}
	return ""
}
