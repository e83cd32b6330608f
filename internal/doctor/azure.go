package doctor

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v7"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v7"

	"stayup/infra/spec"
	"stayup/internal/stackops"
)

// azureProviders are the resource providers the program's resources
// belong to; each must be registered on the subscription
// (pulumi-azure-native #3479 shows the failure for Microsoft.Insights).
var azureProviders = []string{"Microsoft.Compute", "Microsoft.Network", "Microsoft.Insights", "Microsoft.OperationalInsights", "Microsoft.Storage"}

// azureSKU is what doctor needs of a VM size in a region.
type azureSKU struct {
	Family          string   // the quota family, e.g. standardBSFamily
	VCPUs           int      // per instance
	Zones           []string // zones the size is offered in
	RestrictedZones []string // zones the subscription may not use it in
	Restricted      bool     // not offered to the subscription in the region at all
}

// azureWatcher is a Network Watcher.
type azureWatcher struct{ ID, Location string }

// azureAPI is what doctor asks of Azure; tests script it.
type azureAPI interface {
	WhoAmI(ctx context.Context) (string, error)
	// Providers maps each resource provider namespace to its registration state.
	Providers(ctx context.Context) (map[string]string, error)
	CheckFeatures(ctx context.Context, features []stackops.Feature) error
	// Usage maps the region's quota names (cores, standardBSFamily...) to
	// their current value and limit.
	Usage(ctx context.Context, location string) (map[string][2]float64, error)
	SKU(ctx context.Context, location, size string) (*azureSKU, error)
	ScaleSetCapacity(ctx context.Context, resourceGroup, name string) (int, error)
	NetworkWatchers(ctx context.Context) ([]azureWatcher, error)
	// ImageState reads a version of the instances' marketplace image
	// (spec.AzureImage) in a location.
	ImageState(ctx context.Context, location, version string) (stackops.ImageState, error)
}

// Azure checks an Azure subscription.
type Azure struct {
	API          azureAPI
	Subscription string
	Features     []stackops.Feature
}

// Check runs the Azure checks.
func (a *Azure) Check(ctx context.Context, need Need, own Own, r *Report) {
	s := need.Spec
	who, err := a.API.WhoAmI(ctx)
	if err != nil {
		r.add(Check{Name: "credentials", Status: Fail, Detail: "no usable Azure credentials: " + oneLine(err), Fix: "az login (or the ARM_* / AZURE_* variables), then run doctor again"})
		return
	}
	r.add(Check{Name: "credentials", Status: OK, Detail: fmt.Sprintf("%s, subscription %s", who, a.Subscription)})

	providers, err := a.API.Providers(ctx)
	if err != nil {
		r.add(failed("resource providers", "read the subscription's resource providers", err, "check the subscription id and that the caller may read it"))
	} else {
		var missing []string
		for _, p := range azureProviders {
			if providers[strings.ToLower(p)] != "Registered" {
				missing = append(missing, p)
			}
		}
		if len(missing) == 0 {
			r.add(Check{Name: "resource providers", Status: OK, Detail: "registered: " + strings.Join(azureProviders, ", ")})
		} else {
			cmds := make([]string, len(missing))
			for i, p := range missing {
				cmds[i] = "az provider register --namespace " + p
			}
			r.add(Check{Name: "resource providers", Status: Fail, Detail: "not registered: " + strings.Join(missing, ", "), Fix: strings.Join(cmds, "; ")})
		}
	}

	switch err := a.API.CheckFeatures(ctx, a.Features); {
	case err == nil:
		names := make([]string, len(a.Features))
		for i, f := range a.Features {
			names[i] = f.String()
		}
		r.add(Check{Name: "preview features", Status: OK, Detail: "registered: " + strings.Join(names, ", ")})
	case errors.Is(err, stackops.ErrFeatureMissing):
		detail, fix, _ := strings.Cut(err.Error(), "\n")
		r.add(Check{Name: "preview features", Status: Fail, Detail: detail, Fix: strings.TrimSpace(strings.ReplaceAll(fix, "\n", " "))})
	default:
		r.add(failed("preview features", "read the subscription's features", err, "az feature show --namespace Microsoft.Compute --name MaxSurgeRollingUpgrade"))
	}

	a.size(ctx, s, need.Peak, own, r)
	a.watcher(ctx, s, r)
	r.add(a.baseImage(ctx, s))
}

func (a *Azure) baseImage(ctx context.Context, s spec.Spec) Check {
	if s.BaseImage == "" {
		return baseImageCheck("", stackops.ImageState{}, nil)
	}
	st, err := a.API.ImageState(ctx, s.Region, s.BaseImage)
	return baseImageCheck(s.BaseImage, st, err)
}

func (a *Azure) size(ctx context.Context, s spec.Spec, peak int, own Own, r *Report) {
	sku, err := a.API.SKU(ctx, s.Region, s.InstanceType)
	if err != nil {
		r.add(failed("instance type", "read the region's VM sizes (resource SKUs)", err, "az vm list-skus --location "+s.Region+" --size "+s.InstanceType))
		return
	}
	if sku == nil || sku.Restricted {
		r.add(Check{Name: "instance type", Status: Fail, Detail: fmt.Sprintf("%s is not offered to this subscription in %s", s.InstanceType, s.Region), Fix: "choose another stayup:instanceType (az vm list-skus --location " + s.Region + " --resource-type virtualMachines)"})
		return
	}
	a.regionZones(s, sku, r)
	usable := slices.DeleteFunc(slices.Clone(sku.Zones), func(z string) bool { return slices.Contains(sku.RestrictedZones, z) })
	slices.Sort(usable)
	if len(usable) < s.Zones {
		r.add(Check{Name: "instance type", Status: Fail, Detail: fmt.Sprintf("%s is offered in zones %v of %s, the stack needs %d", s.InstanceType, usable, s.Region, s.Zones), Fix: "choose a size offered in every zone, or fewer stayup:zones"})
	} else {
		r.add(Check{Name: "instance type", Status: OK, Detail: fmt.Sprintf("%s (%d vCPUs, %s) in zones %s", s.InstanceType, sku.VCPUs, sku.Family, strings.Join(usable, ", "))})
	}
	usage, err := a.API.Usage(ctx, s.Region)
	if err != nil {
		r.add(failed("vCPU quota", "read the region's compute usage", err, "az vm list-usage --location "+s.Region))
		return
	}
	var mine float64
	if rg, _ := own.Fleet["resourceGroup"].(string); rg != "" {
		if n, err := a.API.ScaleSetCapacity(ctx, rg, fmt.Sprint(own.Fleet["scaleSetName"])); err == nil {
			mine = float64(n * sku.VCPUs)
		}
	}
	need := float64(peak * sku.VCPUs)
	for _, q := range []struct{ key, label string }{{sku.Family, sku.Family + " vCPUs"}, {"cores", "regional vCPUs"}} {
		u, ok := usage[q.key]
		if !ok {
			r.add(Check{Name: "vCPU quota", Status: Warn, Detail: "the region reports no " + q.key + " quota", Fix: "az vm list-usage --location " + s.Region})
			continue
		}
		c := quotaCheck("vCPU quota", q.label, u[1], u[0], mine, need,
			fmt.Sprintf("ask for more %s in %s (Quotas in the portal; az quota), or lower stayup:maxSize: a rolling upgrade adds a batch on top", q.label, s.Region))
		r.add(c)
	}
}

// regionZones confirms live what plan took from its table of zonal
// regions (spec.AzureRegionHasZones): the resource SKUs list the zones a
// size is offered in, and a region without zones lists none. A region the
// table does not know but that has zones is a warning: the table is older
// than the region, and the stack's pinned zones are what plan goes by.
func (a *Azure) regionZones(s spec.Spec, sku *azureSKU, r *Report) {
	zonal, _ := spec.AzureRegionHasZones(s.Region)
	live := slices.Sorted(slices.Values(sku.Zones))
	switch {
	case len(live) == 0:
		r.add(Check{Name: "region zones", Status: Fail, Detail: fmt.Sprintf("%s offers %s in no availability zone: the fleet must span two or more", s.Region, s.InstanceType),
			Fix: "choose a region with availability zones (azure-native:location), or a size offered in its zones"})
	case !zonal:
		r.add(Check{Name: "region zones", Status: Warn, Detail: fmt.Sprintf("%s has zones %s live, but stayup's table of zonal regions (as of %s) does not list it", s.Region, strings.Join(live, ", "), spec.AzureZonesAsOf),
			Fix: "keep stayup:zoneNames pinned to the zones above; the table in infra/spec is due an update"})
	default:
		r.add(Check{Name: "region zones", Status: OK, Detail: fmt.Sprintf("%s has zones %s, as stayup's table (as of %s) says", s.Region, strings.Join(live, ", "), spec.AzureZonesAsOf)})
	}
}

// watcher finds the region's Network Watcher, as up does before it pins
// it (stayup:networkWatcher). Azure creates one per region per
// subscription, NetworkWatcher_<region> in NetworkWatcherRG, some time
// after the region's first virtual network, unless a policy puts it
// elsewhere or turns that off; the flow log belongs to whichever it is.
// Where there is none, the program creates one: nothing blocks.
func (a *Azure) watcher(ctx context.Context, s spec.Spec, r *Report) {
	ws, err := a.API.NetworkWatchers(ctx)
	if err != nil {
		r.add(failed("network watcher", "list the subscription's Network Watchers", err, "az network watcher list"))
		return
	}
	for _, w := range ws {
		if !stackops.SameAzureLocation(w.Location, s.Region) {
			continue
		}
		detail := w.ID + ": up pins it as " + stackops.NetworkWatcherKey
		if s.Azure.NetworkWatcher != "" && !strings.EqualFold(s.Azure.NetworkWatcher, w.ID) {
			r.add(Check{Name: "network watcher", Status: Warn, Detail: fmt.Sprintf("%s pins %s, but %s's Network Watcher is %s", stackops.NetworkWatcherKey, s.Azure.NetworkWatcher, s.Region, w.ID),
				Fix: "up moves the pin to it (the flow log is recreated there)"})
			return
		}
		r.add(Check{Name: "network watcher", Status: OK, Detail: detail})
		return
	}
	r.add(Check{Name: "network watcher", Status: Warn, Detail: fmt.Sprintf("%s has no Network Watcher yet: up creates NetworkWatcher_%s in the stack's resource group (kept by Pulumi, deleted with the group on destroy)", s.Region, s.Region),
		Fix: fmt.Sprintf("nothing to do; to keep it outside the stack: az group create --name NetworkWatcherRG --location %s && az network watcher configure --resource-group NetworkWatcherRG --locations %s --enabled true", s.Region, s.Region)})
}

// azureClients is the real azureAPI.
type azureClients struct {
	cred         azcore.TokenCredential
	subscription string
	usage        *armcompute.UsageClient
	skus         *armcompute.ResourceSKUsClient
	scaleSets    *armcompute.VirtualMachineScaleSetsClient
	watchers     *armnetwork.WatchersClient
	features     *stackops.FeatureChecker
	http         *http.Client
}

// NewAzure uses the default Azure credential chain, as the provider does.
func NewAzure(subscription string, features []stackops.Feature) (*Azure, error) {
	cred, err := azidentity.NewDefaultAzureCredential(nil)
	if err != nil {
		return nil, fmt.Errorf("Azure credentials: %w", err)
	}
	c := &azureClients{cred: cred, subscription: subscription, http: &http.Client{Timeout: 30 * time.Second}}
	if c.usage, err = armcompute.NewUsageClient(subscription, cred, nil); err == nil {
		if c.skus, err = armcompute.NewResourceSKUsClient(subscription, cred, nil); err == nil {
			if c.scaleSets, err = armcompute.NewVirtualMachineScaleSetsClient(subscription, cred, nil); err == nil {
				c.watchers, err = armnetwork.NewWatchersClient(subscription, cred, nil)
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("Azure clients: %w", err)
	}
	if c.features, err = stackops.NewFeatureChecker(); err != nil {
		return nil, err
	}
	return &Azure{API: c, Subscription: subscription, Features: features}, nil
}

func (c *azureClients) token(ctx context.Context) (string, error) {
	t, err := c.cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"https://management.azure.com/.default"}})
	return t.Token, err
}

// WhoAmI reads the token's claims (they are the caller's, as Resource
// Manager sees it; the signature is Resource Manager's to check).
func (c *azureClients) WhoAmI(ctx context.Context) (string, error) {
	tok, err := c.token(ctx)
	if err != nil {
		return "", err
	}
	parts := strings.Split(tok, ".")
	if len(parts) < 2 {
		return "a token that is not a JWT", nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", fmt.Errorf("read the token's claims: %w", err)
	}
	var claims struct{ UPN, AppID, OID, Name string }
	_ = json.Unmarshal(raw, &claims)
	switch {
	case claims.UPN != "":
		return claims.UPN, nil
	case claims.AppID != "":
		return "application " + claims.AppID + " (object " + claims.OID + ")", nil
	}
	return "object " + claims.OID, nil
}

func (c *azureClients) Providers(ctx context.Context) (map[string]string, error) {
	tok, err := c.token(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	url := fmt.Sprintf("https://management.azure.com/subscriptions/%s/providers?api-version=2021-04-01", c.subscription)
	for url != "" {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := c.http.Do(req)
		if err != nil {
			return nil, err
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("HTTP %d (Microsoft.Resources/subscriptions/providers/read): %s", resp.StatusCode, strings.TrimSpace(string(body)))
		}
		var page struct {
			Value []struct {
				Namespace         string `json:"namespace"`
				RegistrationState string `json:"registrationState"`
			} `json:"value"`
			NextLink string `json:"nextLink"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			return nil, err
		}
		for _, p := range page.Value {
			out[strings.ToLower(p.Namespace)] = p.RegistrationState
		}
		url = page.NextLink
	}
	return out, nil
}

func (c *azureClients) CheckFeatures(ctx context.Context, features []stackops.Feature) error {
	return c.features.Check(ctx, c.subscription, features)
}

func (c *azureClients) Usage(ctx context.Context, location string) (map[string][2]float64, error) {
	out := map[string][2]float64{}
	pager := c.usage.NewListPager(location, nil)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("Microsoft.Compute/locations/usages/read: %w", err)
		}
		for _, u := range page.Value {
			if u.Name != nil && u.Name.Value != nil && u.CurrentValue != nil && u.Limit != nil {
				out[*u.Name.Value] = [2]float64{float64(*u.CurrentValue), float64(*u.Limit)}
			}
		}
	}
	return out, nil
}

func (c *azureClients) SKU(ctx context.Context, location, size string) (*azureSKU, error) {
	filter := fmt.Sprintf("location eq '%s'", location)
	pager := c.skus.NewListPager(&armcompute.ResourceSKUsClientListOptions{Filter: &filter})
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("Microsoft.Compute/skus/read: %w", err)
		}
		for _, s := range page.Value {
			if s.ResourceType == nil || *s.ResourceType != "virtualMachines" || s.Name == nil || !strings.EqualFold(*s.Name, size) {
				continue
			}
			out := &azureSKU{}
			if s.Family != nil {
				out.Family = *s.Family
			}
			for _, cap := range s.Capabilities {
				if cap.Name != nil && *cap.Name == "vCPUs" && cap.Value != nil {
					fmt.Sscan(*cap.Value, &out.VCPUs)
				}
			}
			for _, li := range s.LocationInfo {
				for _, z := range li.Zones {
					out.Zones = append(out.Zones, *z)
				}
			}
			for _, rs := range s.Restrictions {
				if rs.Type == nil {
					continue
				}
				switch *rs.Type {
				case armcompute.ResourceSKURestrictionsTypeLocation:
					out.Restricted = true
				case armcompute.ResourceSKURestrictionsTypeZone:
					if rs.RestrictionInfo != nil {
						for _, z := range rs.RestrictionInfo.Zones {
							out.RestrictedZones = append(out.RestrictedZones, *z)
						}
					}
				}
			}
			return out, nil
		}
	}
	return nil, nil
}

func (c *azureClients) ScaleSetCapacity(ctx context.Context, resourceGroup, name string) (int, error) {
	ss, err := c.scaleSets.Get(ctx, resourceGroup, name, nil)
	if err != nil {
		return 0, err
	}
	if ss.SKU == nil || ss.SKU.Capacity == nil {
		return 0, nil
	}
	return int(*ss.SKU.Capacity), nil
}

func (c *azureClients) ImageState(ctx context.Context, location, version string) (stackops.ImageState, error) {
	i := spec.AzureImage
	return c.features.ImageVersionState(ctx, c.subscription, location, i.Publisher, i.Offer, i.SKU, version, time.Now())
}

func (c *azureClients) NetworkWatchers(ctx context.Context) ([]azureWatcher, error) {
	var out []azureWatcher
	pager := c.watchers.NewListAllPager(nil)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("Microsoft.Network/networkWatchers/read: %w", err)
		}
		for _, w := range page.Value {
			if w.ID != nil && w.Location != nil {
				out = append(out, azureWatcher{ID: *w.ID, Location: *w.Location})
			}
		}
	}
	return out, nil
}
