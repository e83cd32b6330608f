package stackops

import (
	"context"
	"fmt"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v7"
)

// NetworkWatcherKey pins the region's Network Watcher, which the stack's
// flow log belongs to.
const NetworkWatcherKey = "stayup:networkWatcher"

// AzureNetworkWatcher returns the resource id of the subscription's Network
// Watcher in location, or "" when it has none. There is at most one per
// region per subscription, wherever Azure or a policy put it, so it is
// found by listing them all (Microsoft.Network/networkWatchers/read) and
// matching the location, not by name.
func AzureNetworkWatcher(ctx context.Context, subscription, location string) (string, error) {
	cred, err := azidentity.NewDefaultAzureCredential(nil)
	if err != nil {
		return "", fmt.Errorf("Azure credentials: %w", err)
	}
	c, err := armnetwork.NewWatchersClient(subscription, cred, nil)
	if err != nil {
		return "", err
	}
	pager := c.NewListAllPager(nil)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return "", fmt.Errorf("list the subscription's Network Watchers (Microsoft.Network/networkWatchers/read): %w", err)
		}
		for _, w := range page.Value {
			if w != nil && w.ID != nil && w.Location != nil && SameAzureLocation(*w.Location, location) {
				return *w.ID, nil
			}
		}
	}
	return "", nil
}

// SameAzureLocation compares a location as the API writes it ("westeurope",
// sometimes "West Europe") with a programmatic name.
func SameAzureLocation(a, b string) bool {
	return strings.EqualFold(strings.ReplaceAll(a, " ", ""), strings.ReplaceAll(b, " ", ""))
}
