package azure

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v7"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/monitor/armmonitor"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v7"

	"stayup/internal/fleet"
)

const (
	rg     = "stayup-rg"
	vmss   = "stayup-fleet"
	ssID   = "/subscriptions/sub/resourceGroups/stayup-rg/providers/Microsoft.Compute/virtualMachineScaleSets/stayup-fleet"
	poolID = "/subscriptions/sub/resourceGroups/stayup-rg/providers/Microsoft.Network/applicationGateways/stayup-gateway/backendAddressPools/fleet"
)

var (
	t0  = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	out = Outputs{SubscriptionID: "sub", ResourceGroup: rg, ScaleSetName: vmss, ApplicationGateway: "stayup-gateway", BackendPool: "fleet"}
)

// apiError is ARM's error as the SDK returns it.
func apiError(status int, code string) error {
	return &azcore.ResponseError{StatusCode: status, ErrorCode: code, RawResponse: &http.Response{
		StatusCode: status, Status: fmt.Sprintf("%d %s", status, http.StatusText(status)), Header: http.Header{}, Body: http.NoBody,
	}}
}

// lro is a long-running operation that is done after a number of polls.
type lro[T any] struct {
	left   int
	result T
}

func (h *lro[T]) Done() bool { return h.left <= 0 }

func (h *lro[T]) Poll(context.Context) (*http.Response, error) {
	h.left--
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{}, Body: http.NoBody}, nil
}

func (h *lro[T]) Result(_ context.Context, out *T) error { *out = h.result; return nil }

func poller[T any](polls int, result T) *runtime.Poller[T] {
	p, err := runtime.NewPoller(nil, runtime.Pipeline{}, &runtime.NewPollerOptions[T]{Handler: &lro[T]{left: polls, result: result}})
	if err != nil {
		panic(err)
	}
	return p
}

// pager serves pages one after the other, each fetch recorded as op (and
// failing as scripted), as the SDK's pagers follow nextLink.
func pager[T any](f *fakeAzure, op string, pages []T, more func(T) bool) *runtime.Pager[T] {
	i := 0
	return runtime.NewPager(runtime.PagingHandler[T]{
		More: more,
		Fetcher: func(context.Context, *T) (T, error) {
			if err := f.record(fmt.Sprintf("%s#%d", op, i)); err != nil {
				var zero T
				return zero, err
			}
			p := pages[i]
			i++
			return p, nil
		},
	})
}

// fakeAzure plays ARM for one scale set and its gateway: it records every
// call and answers from scripted state, paging and failing as ARM does.
type fakeAzure struct {
	mu    sync.Mutex
	calls []string
	errs  map[string][]error // scripted failures per operation, one per call

	vms      []*armcompute.VirtualMachineScaleSetVM // listed two per page
	views    map[string]*armcompute.VirtualMachineScaleSetVMInstanceView
	ips      map[string]string                                                 // instance id -> private IP
	health   map[string]armnetwork.ApplicationGatewayBackendHealthServerHealth // by IP
	other    map[string]armnetwork.ApplicationGatewayBackendHealthServerHealth // another pool's view of the same IPs
	scaleSet armcompute.VirtualMachineScaleSet
	upgrade  *armcompute.RollingUpgradeStatusInfo // nil: never ran (404)
	gateway  armnetwork.ApplicationGateway
	scalers  [][]*armmonitor.AutoscaleSettingResource // pages
	repairs  armcompute.OrchestrationServiceState     // "": not listed

	// onUpdate, if set, plays what ARM does when the capacity changes;
	// onDelete when a VM's deletion is accepted; onList runs before each
	// listing of the VMs and onHealth before each backend health answer,
	// for what the platform does meanwhile. They run without f.mu held.
	onUpdate func(capacity int64)
	onDelete func(id string)
	onList   func()
	onHealth func()

	// guest, if set, plays the guest running a Run Command script and
	// returns its stdout and stderr; by default the script succeeds.
	guest func(script string) (stdout, stderr string)

	puts    []string // autoscale setting writes, as recorded
	ran     []armcompute.RunCommandInput
	ranOn   []string
	deleted []string
	updates []int64
}

func (f *fakeAzure) record(op string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, op)
	if q := f.errs[op]; len(q) > 0 {
		f.errs[op] = q[1:]
		return q[0]
	}
	return nil
}

func (f *fakeAzure) count(prefix string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if strings.HasPrefix(c, prefix) {
			n++
		}
	}
	return n
}

type vmsAPI struct{ *fakeAzure }

func (f vmsAPI) NewListPager(group, scaleSet string, _ *armcompute.VirtualMachineScaleSetVMsClientListOptions) *runtime.Pager[armcompute.VirtualMachineScaleSetVMsClientListResponse] {
	if f.onList != nil {
		f.onList()
	}
	f.mu.Lock()
	vms := slices.Clone(f.vms)
	f.mu.Unlock()
	var pages []armcompute.VirtualMachineScaleSetVMsClientListResponse
	if group == rg && scaleSet == vmss {
		for i := 0; i < len(vms); i += 2 {
			page := armcompute.VirtualMachineScaleSetVMsClientListResponse{}
			page.Value = vms[i:min(i+2, len(vms))]
			if i+2 < len(vms) {
				page.NextLink = ptr(fmt.Sprintf("https://management.azure.com%s/virtualMachines?$skiptoken=%d", ssID, i+2))
			}
			pages = append(pages, page)
		}
	}
	if len(pages) == 0 {
		pages = append(pages, armcompute.VirtualMachineScaleSetVMsClientListResponse{})
	}
	return pager(f.fakeAzure, "vms.list", pages, func(p armcompute.VirtualMachineScaleSetVMsClientListResponse) bool { return p.NextLink != nil })
}

func (f vmsAPI) GetInstanceView(_ context.Context, _, _, id string, _ *armcompute.VirtualMachineScaleSetVMsClientGetInstanceViewOptions) (armcompute.VirtualMachineScaleSetVMsClientGetInstanceViewResponse, error) {
	res := armcompute.VirtualMachineScaleSetVMsClientGetInstanceViewResponse{}
	if err := f.record("vms.getInstanceView"); err != nil {
		return res, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.views[id]
	if !ok {
		return res, apiError(http.StatusNotFound, "NotFound")
	}
	res.VirtualMachineScaleSetVMInstanceView = *v
	return res, nil
}

func (f vmsAPI) BeginRunCommand(_ context.Context, _, _, id string, in armcompute.RunCommandInput, _ *armcompute.VirtualMachineScaleSetVMsClientBeginRunCommandOptions) (*runtime.Poller[armcompute.VirtualMachineScaleSetVMsClientRunCommandResponse], error) {
	if err := f.record("vms.runCommand"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.views[id]; !ok {
		return nil, apiError(http.StatusNotFound, "NotFound")
	}
	f.ran = append(f.ran, in)
	f.ranOn = append(f.ranOn, id)
	stdout, stderr := killMarker+"0\n", ""
	if f.guest != nil {
		stdout, stderr = f.guest(deref(in.Script[0]))
	}
	// On Linux, Run Command answers with one status that says succeeded
	// whatever the script's exit status, its message holding both streams
	// (azure-cli issues 14425 and 32286: "Enable succeeded: \n[stdout]\n...
	// \n[stderr]\n..."), each cut to its last 4,096 bytes ("Run scripts in
	// your Linux VM by using action Run Commands", Restrictions).
	res := armcompute.VirtualMachineScaleSetVMsClientRunCommandResponse{}
	res.Value = []*armcompute.InstanceViewStatus{{
		Code: ptr("ProvisioningState/succeeded"), Level: ptr(armcompute.StatusLevelTypesInfo), DisplayStatus: ptr("Provisioning succeeded"),
		Message: ptr("Enable succeeded: \n[stdout]\n" + last4K(stdout) + "\n[stderr]\n" + last4K(stderr)),
	}}
	return poller(3, res), nil
}

func last4K(s string) string { return s[max(0, len(s)-4096):] }

func (f vmsAPI) BeginDelete(_ context.Context, _, _, id string, _ *armcompute.VirtualMachineScaleSetVMsClientBeginDeleteOptions) (*runtime.Poller[armcompute.VirtualMachineScaleSetVMsClientDeleteResponse], error) {
	if err := f.record("vms.delete " + id); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.views[id]; !ok {
		return nil, apiError(http.StatusNotFound, "NotFound")
	}
	f.deleted = append(f.deleted, id)
	if hook := f.onDelete; hook != nil {
		f.mu.Unlock()
		hook(id)
		f.mu.Lock()
	}
	return poller(1, armcompute.VirtualMachineScaleSetVMsClientDeleteResponse{}), nil
}

type scaleSetsAPI struct{ *fakeAzure }

func (f scaleSetsAPI) Get(_ context.Context, _, name string, _ *armcompute.VirtualMachineScaleSetsClientGetOptions) (armcompute.VirtualMachineScaleSetsClientGetResponse, error) {
	res := armcompute.VirtualMachineScaleSetsClientGetResponse{}
	if err := f.record("scaleSets.get"); err != nil {
		return res, err
	}
	if name != vmss {
		return res, apiError(http.StatusNotFound, "ResourceNotFound")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	res.VirtualMachineScaleSet = f.scaleSet
	return res, nil
}

func (f scaleSetsAPI) BeginUpdate(_ context.Context, _, _ string, u armcompute.VirtualMachineScaleSetUpdate, _ *armcompute.VirtualMachineScaleSetsClientBeginUpdateOptions) (*runtime.Poller[armcompute.VirtualMachineScaleSetsClientUpdateResponse], error) {
	if err := f.record(fmt.Sprintf("scaleSets.update %d", deref(u.SKU.Capacity))); err != nil {
		return nil, err
	}
	f.mu.Lock()
	n := deref(u.SKU.Capacity)
	f.updates = append(f.updates, n)
	f.scaleSet.SKU.Capacity = &n
	hook := f.onUpdate
	f.mu.Unlock()
	if hook != nil {
		hook(n)
	}
	return poller(1, armcompute.VirtualMachineScaleSetsClientUpdateResponse{}), nil
}

// GetInstanceView answers with the automatic repairs' service state, as
// "Automatic instance repairs for Azure Virtual Machine Scale Sets"
// (Suspension of repairs) shows it: orchestrationServices[] with
// serviceName AutomaticRepairs and serviceState Running, Suspended (by
// the platform after repeated failed repairs, or by a user) or NotRunning
// (a policy defined but not enabled).
func (f scaleSetsAPI) GetInstanceView(context.Context, string, string, *armcompute.VirtualMachineScaleSetsClientGetInstanceViewOptions) (armcompute.VirtualMachineScaleSetsClientGetInstanceViewResponse, error) {
	res := armcompute.VirtualMachineScaleSetsClientGetInstanceViewResponse{}
	if err := f.record("scaleSets.getInstanceView"); err != nil {
		return res, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.repairs != "" {
		res.OrchestrationServices = []*armcompute.OrchestrationServiceSummary{{
			ServiceName: ptr(armcompute.OrchestrationServiceNamesAutomaticRepairs), ServiceState: ptr(f.repairs),
		}}
	}
	return res, nil
}

type upgradesAPI struct{ *fakeAzure }

// BeginCancel plays "Virtual Machine Scale Set Rolling Upgrades - Cancel":
// a rolling upgrade in progress (RollingForward) ends Cancelled; the VMs it
// already upgraded stay upgraded. With none running it answers 409.
func (f upgradesAPI) BeginCancel(context.Context, string, string, *armcompute.VirtualMachineScaleSetRollingUpgradesClientBeginCancelOptions) (*runtime.Poller[armcompute.VirtualMachineScaleSetRollingUpgradesClientCancelResponse], error) {
	if err := f.record("upgrades.cancel"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.upgrade == nil || f.upgrade.Properties == nil || f.upgrade.Properties.RunningStatus == nil ||
		deref(f.upgrade.Properties.RunningStatus.Code) != armcompute.RollingUpgradeStatusCodeRollingForward {
		return nil, apiError(http.StatusConflict, "Conflict")
	}
	f.upgrade.Properties.RunningStatus.Code = ptr(armcompute.RollingUpgradeStatusCodeCancelled)
	return poller(1, armcompute.VirtualMachineScaleSetRollingUpgradesClientCancelResponse{}), nil
}

func (f upgradesAPI) GetLatest(context.Context, string, string, *armcompute.VirtualMachineScaleSetRollingUpgradesClientGetLatestOptions) (armcompute.VirtualMachineScaleSetRollingUpgradesClientGetLatestResponse, error) {
	res := armcompute.VirtualMachineScaleSetRollingUpgradesClientGetLatestResponse{}
	if err := f.record("upgrades.getLatest"); err != nil {
		return res, err
	}
	if f.upgrade == nil {
		return res, apiError(http.StatusNotFound, "NotFound")
	}
	res.RollingUpgradeStatusInfo = *f.upgrade
	return res, nil
}

type gatewaysAPI struct{ *fakeAzure }

func (f gatewaysAPI) Get(context.Context, string, string, *armnetwork.ApplicationGatewaysClientGetOptions) (armnetwork.ApplicationGatewaysClientGetResponse, error) {
	res := armnetwork.ApplicationGatewaysClientGetResponse{}
	if err := f.record("gateways.get"); err != nil {
		return res, err
	}
	res.ApplicationGateway = f.gateway
	return res, nil
}

func servers(h map[string]armnetwork.ApplicationGatewayBackendHealthServerHealth) []*armnetwork.ApplicationGatewayBackendHealthServer {
	var s []*armnetwork.ApplicationGatewayBackendHealthServer
	for ip, health := range h {
		s = append(s, &armnetwork.ApplicationGatewayBackendHealthServer{Address: ptr(ip), Health: ptr(health)})
	}
	return s
}

func (f gatewaysAPI) BeginBackendHealth(context.Context, string, string, *armnetwork.ApplicationGatewaysClientBeginBackendHealthOptions) (*runtime.Poller[armnetwork.ApplicationGatewaysClientBackendHealthResponse], error) {
	if err := f.record("gateways.backendHealth"); err != nil {
		return nil, err
	}
	if f.onHealth != nil {
		f.onHealth()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	res := armnetwork.ApplicationGatewaysClientBackendHealthResponse{}
	// The pool as the API names it: an id, no name, unless expanded.
	res.BackendAddressPools = []*armnetwork.ApplicationGatewayBackendHealthPool{
		{BackendAddressPool: &armnetwork.ApplicationGatewayBackendAddressPool{ID: ptr(strings.TrimSuffix(poolID, "fleet") + "other")},
			BackendHTTPSettingsCollection: []*armnetwork.ApplicationGatewayBackendHealthHTTPSettings{{Servers: servers(f.other)}}},
		{BackendAddressPool: &armnetwork.ApplicationGatewayBackendAddressPool{ID: ptr(poolID)},
			BackendHTTPSettingsCollection: []*armnetwork.ApplicationGatewayBackendHealthHTTPSettings{{Servers: servers(f.health)}}},
	}
	// The operation takes a few polls, as the real one takes seconds.
	return poller(2, res), nil
}

type interfacesAPI struct{ *fakeAzure }

func (f interfacesAPI) NewListVirtualMachineScaleSetNetworkInterfacesPager(string, string, *armnetwork.InterfacesClientListVirtualMachineScaleSetNetworkInterfacesOptions) *runtime.Pager[armnetwork.InterfacesClientListVirtualMachineScaleSetNetworkInterfacesResponse] {
	f.mu.Lock()
	var nics []*armnetwork.Interface
	for id, ip := range f.ips {
		nics = append(nics, &armnetwork.Interface{Properties: &armnetwork.InterfacePropertiesFormat{
			VirtualMachine: &armnetwork.SubResource{ID: ptr(ssID + "/virtualMachines/" + id)},
			IPConfigurations: []*armnetwork.InterfaceIPConfiguration{{Properties: &armnetwork.InterfaceIPConfigurationPropertiesFormat{
				Primary: ptr(true), PrivateIPAddress: ptr(ip),
			}}},
		}})
	}
	f.mu.Unlock()
	// One interface per page: the listing must follow nextLink.
	var pages []armnetwork.InterfacesClientListVirtualMachineScaleSetNetworkInterfacesResponse
	for i, n := range nics {
		p := armnetwork.InterfacesClientListVirtualMachineScaleSetNetworkInterfacesResponse{}
		p.Value = []*armnetwork.Interface{n}
		if i+1 < len(nics) {
			p.NextLink = ptr("next")
		}
		pages = append(pages, p)
	}
	return pager(f.fakeAzure, "interfaces.list", pages, func(p armnetwork.InterfacesClientListVirtualMachineScaleSetNetworkInterfacesResponse) bool {
		return p.NextLink != nil
	})
}

type autoscaleAPI struct{ *fakeAzure }

func (f autoscaleAPI) NewListByResourceGroupPager(string, *armmonitor.AutoscaleSettingsClientListByResourceGroupOptions) *runtime.Pager[armmonitor.AutoscaleSettingsClientListByResourceGroupResponse] {
	var pages []armmonitor.AutoscaleSettingsClientListByResourceGroupResponse
	for i, v := range f.scalers {
		p := armmonitor.AutoscaleSettingsClientListByResourceGroupResponse{}
		p.Value = v
		if i+1 < len(f.scalers) {
			p.NextLink = ptr("next")
		}
		pages = append(pages, p)
	}
	return pager(f.fakeAzure, "autoscale.list", pages, func(p armmonitor.AutoscaleSettingsClientListByResourceGroupResponse) bool {
		return p.NextLink != nil
	})
}

// setting finds an autoscale setting by name in the scripted pages.
func (f *fakeAzure) setting(name string) *armmonitor.AutoscaleSettingResource {
	for _, page := range f.scalers {
		for _, r := range page {
			if deref(r.Name) == name {
				return r
			}
		}
	}
	return nil
}

// clone copies a setting through its JSON, as ARM's answers are copies.
func clone(r *armmonitor.AutoscaleSettingResource) armmonitor.AutoscaleSettingResource {
	b, err := json.Marshal(r)
	if err != nil {
		panic(err)
	}
	var c armmonitor.AutoscaleSettingResource
	if err := json.Unmarshal(b, &c); err != nil {
		panic(err)
	}
	return c
}

func (f autoscaleAPI) Get(ctx context.Context, _, name string, _ *armmonitor.AutoscaleSettingsClientGetOptions) (armmonitor.AutoscaleSettingsClientGetResponse, error) {
	res := armmonitor.AutoscaleSettingsClientGetResponse{}
	if err := ctx.Err(); err != nil {
		return res, err // the SDK sends nothing on a cancelled context
	}
	if err := f.record("autoscale.get " + name); err != nil {
		return res, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.setting(name)
	if r == nil {
		return res, apiError(http.StatusNotFound, "ResourceNotFound")
	}
	res.AutoscaleSettingResource = clone(r)
	return res, nil
}

// CreateOrUpdate replaces the stored setting with the one given, as a PUT
// does, and records its first profile's minimum and its hold tag.
func (f autoscaleAPI) CreateOrUpdate(ctx context.Context, _, name string, in armmonitor.AutoscaleSettingResource, _ *armmonitor.AutoscaleSettingsClientCreateOrUpdateOptions) (armmonitor.AutoscaleSettingsClientCreateOrUpdateResponse, error) {
	res := armmonitor.AutoscaleSettingsClientCreateOrUpdateResponse{}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	put := fmt.Sprintf("autoscale.put min=%s", deref(in.Properties.Profiles[0].Capacity.Minimum))
	if v := in.Tags[holdTag]; v != nil {
		put += " hold=" + *v
	}
	if err := f.record("autoscale.put"); err != nil {
		return res, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.setting(name)
	if r == nil {
		return res, apiError(http.StatusNotFound, "ResourceNotFound")
	}
	*r = clone(&in)
	f.puts = append(f.puts, put)
	res.AutoscaleSettingResource = clone(r)
	return res, nil
}

func vm(id, zone, provisioning string, latest bool, created time.Time) *armcompute.VirtualMachineScaleSetVM {
	return &armcompute.VirtualMachineScaleSetVM{
		ID: ptr(ssID + "/virtualMachines/" + id), InstanceID: ptr(id), Name: ptr(vmss + "_" + id),
		Location: ptr("westeurope"), Zones: []*string{ptr(zone)},
		Properties: &armcompute.VirtualMachineScaleSetVMProperties{
			ProvisioningState: ptr(provisioning), LatestModelApplied: ptr(latest), TimeCreated: ptr(created),
			StorageProfile: &armcompute.StorageProfile{ImageReference: &armcompute.ImageReference{
				Publisher: ptr("Canonical"), Offer: ptr("ubuntu-24_04-lts"), SKU: ptr("server"), Version: ptr("latest"), ExactVersion: ptr("24.04.202604300"),
			}},
		},
	}
}

func view(power, health string) *armcompute.VirtualMachineScaleSetVMInstanceView {
	v := &armcompute.VirtualMachineScaleSetVMInstanceView{Statuses: []*armcompute.InstanceViewStatus{
		{Code: ptr("ProvisioningState/succeeded")}, {Code: ptr("PowerState/" + power)},
	}}
	if health != "" {
		v.VMHealth = &armcompute.VirtualMachineHealthStatus{Status: &armcompute.InstanceViewStatus{Code: ptr("HealthState/" + health)}}
	}
	return v
}

const (
	up      = armnetwork.ApplicationGatewayBackendHealthServerHealthUp
	down    = armnetwork.ApplicationGatewayBackendHealthServerHealthDown
	unknown = armnetwork.ApplicationGatewayBackendHealthServerHealthUnknown
)

// newFake is a scale set of four listed over two pages: 0 healthy, 1
// failing the gateway's probe, 2 being deleted while still Up, 4 new and
// not yet probed; 3 was listed but deleted before its instance view could
// be read.
func newFake() *fakeAzure {
	return &fakeAzure{
		errs: map[string][]error{},
		vms: []*armcompute.VirtualMachineScaleSetVM{
			vm("0", "1", "Succeeded", true, t0),
			vm("1", "2", "Succeeded", true, t0.Add(time.Minute)),
			vm("2", "3", "Deleting", false, t0.Add(2*time.Minute)),
			vm("3", "1", "Succeeded", true, t0.Add(3*time.Minute)),
			vm("4", "2", "Creating", true, t0.Add(4*time.Minute)),
		},
		views: map[string]*armcompute.VirtualMachineScaleSetVMInstanceView{
			"0": view("running", "healthy"),
			"1": view("running", "unhealthy"),
			"2": view("running", "healthy"),
			"4": view("starting", "initializing"),
		},
		repairs: armcompute.OrchestrationServiceStateRunning,
		ips:     map[string]string{"0": "10.0.1.4", "1": "10.0.1.5", "2": "10.0.1.6", "3": "10.0.1.7", "4": "10.0.1.8"},
		health:  map[string]armnetwork.ApplicationGatewayBackendHealthServerHealth{"10.0.1.4": up, "10.0.1.5": down, "10.0.1.6": up, "10.0.1.7": up, "10.0.1.8": unknown},
		other:   map[string]armnetwork.ApplicationGatewayBackendHealthServerHealth{"10.0.1.4": down, "10.0.1.5": up},
		scaleSet: armcompute.VirtualMachineScaleSet{
			ID: ptr(ssID), Name: ptr(vmss), SKU: &armcompute.SKU{Name: ptr("Standard_B2s"), Tier: ptr("Standard"), Capacity: ptr[int64](3)},
			Properties: &armcompute.VirtualMachineScaleSetProperties{
				AutomaticRepairsPolicy: &armcompute.AutomaticRepairsPolicy{Enabled: ptr(true), GracePeriod: ptr("PT10M"), RepairAction: ptr(armcompute.RepairActionReplace)},
				VirtualMachineProfile: &armcompute.VirtualMachineScaleSetVMProfile{ExtensionProfile: &armcompute.VirtualMachineScaleSetExtensionProfile{
					Extensions: []*armcompute.VirtualMachineScaleSetExtension{{Name: ptr("health"), Properties: &armcompute.VirtualMachineScaleSetExtensionProperties{
						Publisher: ptr("Microsoft.ManagedServices"), Type: ptr("ApplicationHealthLinux"),
						// As ARM's JSON decodes: numbers are float64.
						Settings: map[string]any{"protocol": "http", "port": float64(8080), "requestPath": "/healthz", "intervalInSeconds": float64(5), "numberOfProbes": float64(2)},
					}}},
				}},
			},
		},
		gateway: armnetwork.ApplicationGateway{Properties: &armnetwork.ApplicationGatewayPropertiesFormat{
			Probes: []*armnetwork.ApplicationGatewayProbe{
				{ID: ptr("probes/default"), Properties: &armnetwork.ApplicationGatewayProbePropertiesFormat{Interval: ptr[int32](30), Timeout: ptr[int32](30), UnhealthyThreshold: ptr[int32](3)}},
				{ID: ptr("probes/ready"), Properties: &armnetwork.ApplicationGatewayProbePropertiesFormat{Interval: ptr[int32](5), Timeout: ptr[int32](3), UnhealthyThreshold: ptr[int32](2)}},
			},
			BackendHTTPSettingsCollection: []*armnetwork.ApplicationGatewayBackendHTTPSettings{{Properties: &armnetwork.ApplicationGatewayBackendHTTPSettingsPropertiesFormat{
				Probe:              &armnetwork.SubResource{ID: ptr("probes/ready")},
				ConnectionDraining: &armnetwork.ApplicationGatewayConnectionDraining{Enabled: ptr(true), DrainTimeoutInSec: ptr[int32](30)},
			}}},
		}},
		scalers: [][]*armmonitor.AutoscaleSettingResource{
			{{Name: ptr("other"), Properties: &armmonitor.AutoscaleSetting{Enabled: ptr(true), TargetResourceURI: ptr(ssID + "-other"),
				Profiles: []*armmonitor.AutoscaleProfile{{Capacity: &armmonitor.ScaleCapacity{Minimum: ptr("1"), Maximum: ptr("1"), Default: ptr("1")}}}}}},
			{{Name: ptr("stayup-fleet-a1b2"), Properties: &armmonitor.AutoscaleSetting{Enabled: ptr(true), TargetResourceURI: ptr(strings.ToLower(ssID)),
				Profiles: []*armmonitor.AutoscaleProfile{{Capacity: &armmonitor.ScaleCapacity{Minimum: ptr("2"), Maximum: ptr("9"), Default: ptr("3")}}}}}},
		},
	}
}

// newFleet reads the backend health on every call: the tests script it
// read by read. Its shipped cadence is tested on its own (health_test.go).
func newFleet(f *fakeAzure) *Fleet {
	return New(out, Clients{
		VMs: vmsAPI{f}, ScaleSets: scaleSetsAPI{f}, Upgrades: upgradesAPI{f},
		Gateways: gatewaysAPI{f}, Interfaces: interfacesAPI{f}, Autoscale: autoscaleAPI{f},
	}).WithBackoff(fleet.Backoff{Base: time.Millisecond, Max: 2 * time.Millisecond, Attempts: 4}).
		WithWait(time.Millisecond, 2*time.Second).WithHealthEvery(0)
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestInstancesPagesJoinsAndDropsVanished(t *testing.T) {
	t.Parallel()
	f := newFake()
	got, err := newFleet(f).Instances(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	img := "ubuntu-24_04-lts:server:24.04.202604300"
	want := []fleet.Instance{
		{ID: "stayup-fleet_0", Zone: "westeurope-1", State: fleet.Running, Health: fleet.Healthy, Image: img, Revision: "latest", Launched: t0},
		{ID: "stayup-fleet_1", Zone: "westeurope-2", State: fleet.Running, Health: fleet.Unhealthy, Image: img, Revision: "latest", Launched: t0.Add(time.Minute)},
		{ID: "stayup-fleet_4", Zone: "westeurope-2", State: fleet.Pending, Health: fleet.Initial, Image: img, Revision: "latest", Launched: t0.Add(4 * time.Minute)},
		{ID: "stayup-fleet_2", Zone: "westeurope-3", State: fleet.Stopping, Health: fleet.Draining, Image: img, Revision: "outdated", Launched: t0.Add(2 * time.Minute)},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d instances %+v, want %d (3 vanished)", len(got), got, len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("instance %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
	if got, want := f.count("vms.list#"), 3; got != want {
		t.Errorf("VM list fetched %d pages, want %d", got, want)
	}
	if got, want := f.count("interfaces.list#"), 5; got != want {
		t.Errorf("interface list fetched %d pages, want %d", got, want)
	}
}

func TestBackendHealthByPrivateIP(t *testing.T) {
	t.Parallel()
	f := newFake()
	// The gateway answers by address; the other pool's opposite verdicts
	// on the same addresses must not leak in.
	f.ips["0"], f.ips["1"] = "10.0.1.5", "10.0.1.4"
	got, err := newFleet(f).Instances(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	health := map[string]fleet.Health{}
	for _, in := range got {
		health[in.ID] = in.Health
	}
	if health["stayup-fleet_0"] != fleet.Unhealthy || health["stayup-fleet_1"] != fleet.Healthy {
		t.Errorf("health %v: want each VM to get the verdict on its own IP in pool fleet", health)
	}
	delete(f.ips, "0") // no interface: the gateway cannot know it
	f.views["0"] = view("running", "healthy")
	got, _ = newFleet(f).Instances(ctxT(t))
	if got[0].ID != "stayup-fleet_0" || got[0].Health != fleet.Unregistered {
		t.Errorf("VM without an address in the pool: %+v, want unregistered", got[0])
	}
}

func TestThrottlingRetriedWithBackoff(t *testing.T) {
	t.Parallel()
	f := newFake()
	tooMany := apiError(http.StatusTooManyRequests, "TooManyRequests")
	f.errs["vms.list#1"] = []error{tooMany}
	f.errs["vms.getInstanceView"] = []error{tooMany}
	f.errs["gateways.backendHealth"] = []error{tooMany}
	got, err := newFleet(f).Instances(ctxT(t))
	if err != nil {
		t.Fatalf("throttled calls should be retried: %v", err)
	}
	if len(got) != 4 {
		t.Errorf("got %d instances after a throttled page, want 4 (no duplicates, none lost)", len(got))
	}
	// Page 0, page 1 refused, then the listing starts over: 0, 1, 2.
	if got, want := f.count("vms.list#"), 5; got != want {
		t.Errorf("VM list pages fetched %d times, want %d (restarted after the refusal)", got, want)
	}
	if got, want := f.count("vms.getInstanceView"), 6; got != want {
		t.Errorf("instance view read %d times, want %d (5 VMs, one retried)", got, want)
	}
	if got, want := f.count("gateways.backendHealth"), 2; got != want {
		t.Errorf("backend health asked %d times, want %d", got, want)
	}

	f = newFake()
	for range 4 {
		f.errs["scaleSets.get"] = append(f.errs["scaleSets.get"], tooMany)
	}
	_, err = newFleet(f).Capacity(ctxT(t))
	if !errors.Is(err, fleet.ErrThrottled) {
		t.Fatalf("after the attempts run out: %v, want ErrThrottled", err)
	}
	if errors.Is(err, fleet.ErrPermission) {
		t.Errorf("a rate limit is not a missing permission: %v", err)
	}
}

func TestMissingPermissionsReported(t *testing.T) {
	t.Parallel()
	denied := apiError(http.StatusForbidden, "AuthorizationFailed")
	for _, tc := range []struct {
		name, op, action string
		run              func(*Fleet) error
	}{
		{"list", "vms.list#0", actVMRead,
			func(fl *Fleet) error { _, err := fl.Instances(context.Background()); return err }},
		{"backend health", "gateways.backendHealth", actBackendHealth,
			func(fl *Fleet) error { _, err := fl.Instances(context.Background()); return err }},
		{"interfaces", "interfaces.list#0", actInterfacesRead,
			func(fl *Fleet) error { _, err := fl.Instances(context.Background()); return err }},
		{"run command", "vms.runCommand", actVMRunCommand,
			func(fl *Fleet) error { return fl.Kill(context.Background(), "stayup-fleet_0", fleet.Abrupt) }},
		{"scale out", "scaleSets.update 4", actScaleSetWrite,
			func(fl *Fleet) error { return fl.Kill(context.Background(), "stayup-fleet_0", fleet.Graceful) }},
		{"autoscale", "autoscale.list#0", actAutoscaleRead,
			func(fl *Fleet) error { _, err := fl.Capacity(context.Background()); return err }},
		{"autoscale hold", "autoscale.put", actAutoscaleWrite,
			func(fl *Fleet) error { return fl.Kill(context.Background(), "stayup-fleet_0", fleet.Graceful) }},
		{"rolling upgrades", "upgrades.getLatest", actUpgradesRead,
			func(fl *Fleet) error { _, err := fl.Rollout(context.Background()); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFake()
			f.errs[tc.op] = []error{denied}
			err := tc.run(newFleet(f))
			if !errors.Is(err, fleet.ErrPermission) {
				t.Fatalf("err %v, want a permission error", err)
			}
			var pe *fleet.PermissionError
			if !errors.As(err, &pe) || pe.Action != tc.action {
				t.Errorf("err %q does not name the action %s", err, tc.action)
			}
			if got := f.count(tc.op); got != 1 {
				t.Errorf("%s called %d times: a refusal is not retried", tc.op, got)
			}
		})
	}
}

func TestKillAbruptCrashesTheContainerAndDeletesNothing(t *testing.T) {
	t.Parallel()
	f := newFake()
	fl := newFleet(f)
	for _, id := range []string{"stayup-fleet_0", "1"} {
		if err := fl.Kill(ctxT(t), id, fleet.Abrupt); err != nil {
			t.Fatalf("kill %s: %v", id, err)
		}
	}
	if got, want := strings.Join(f.ranOn, ","), "0,1"; got != want {
		t.Errorf("run command on %q, want %q", got, want)
	}
	for _, in := range f.ran {
		if deref(in.CommandID) != "RunShellScript" || len(in.Script) != 1 {
			t.Fatalf("run command %s %v, want RunShellScript with one script", deref(in.CommandID), in.Script)
		}
		script := deref(in.Script[0])
		// The unit (infra/azure/cloud-init.yaml.tmpl) has Restart=always:
		// a runtime drop-in stops that, then the container itself gets
		// SIGKILL (not the docker CLI, not a docker stop that drains).
		for _, want := range []string{
			"/run/systemd/system/stayup.service.d/", "Restart=no", "systemctl daemon-reload",
			"docker kill --signal KILL stayup",
			`echo "stayup-kill exit=${status}"`,
		} {
			if !strings.Contains(script, want) {
				t.Errorf("crash script lacks %q:\n%s", want, script)
			}
		}
		for _, bad := range []string{"systemctl stop", "docker stop", "/etc/systemd/system"} {
			if strings.Contains(script, bad) {
				t.Errorf("crash script has %q, which drains or changes the unit for good:\n%s", bad, script)
			}
		}
		if i, j := strings.Index(script, "Restart=no"), strings.Index(script, "docker kill"); i > j {
			t.Errorf("the container is killed before systemd is kept from restarting it")
		}
		if lines := strings.Split(strings.TrimSpace(script), "\n"); !strings.Contains(lines[len(lines)-1], killMarker) {
			t.Errorf("the marker is not the script's last line: %q", lines[len(lines)-1])
		}
	}
	if len(f.deleted) != 0 || len(f.updates) != 0 {
		t.Errorf("abrupt deleted %v and set capacity %v: it must only fail in the guest", f.deleted, f.updates)
	}
	if err := fl.Kill(ctxT(t), "web-7", fleet.Abrupt); !errors.Is(err, fleet.ErrNotFound) {
		t.Errorf("kill of a VM not in the scale set: %v, want ErrNotFound", err)
	}
	if err := fl.Kill(ctxT(t), "stayup-fleet_3", fleet.Abrupt); !errors.Is(err, fleet.ErrNotFound) {
		t.Errorf("kill of a vanished VM: %v, want ErrNotFound", err)
	}
}

func TestKillAbruptFailsLoudlyWhenTheScriptFails(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 5000) + "\n"
	for _, tc := range []struct {
		name           string
		stdout, stderr string
		want           []string // in the error; nil: the kill succeeded
	}{
		{"exit 0", "stayup-kill exit=0\n", "", nil},
		{"exit 0 after 5 KB of output", long + "stayup-kill exit=0\n", "", nil},
		{"exit 1", "stayup-kill exit=1\n", "Error response from daemon: cannot kill container: stayup: container is not running\n",
			[]string{"stayup-fleet_0", "exited 1", "container is not running"}},
		{"came back", "stayup-kill exit=3\n", "stayup.service is activating after the kill: systemd brought it back\n",
			[]string{"exited 3", "systemd brought it back"}},
		{"no marker: cut short", "", "bash: line 3: systemctl: command not found\n",
			[]string{"stayup-fleet_0", "marker is missing", "command not found"}},
		{"marker not last", "stayup-kill exit=0\nsomething after\n", "", []string{"marker is missing"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFake()
			f.guest = func(string) (string, string) { return tc.stdout, tc.stderr }
			err := newFleet(f).Kill(ctxT(t), "stayup-fleet_0", fleet.Abrupt)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("kill: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("kill reported success though the script did not kill the container")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

// surgeFake plays the scale-out of a graceful kill: the capacity update
// adds VM 5, booting, not yet known to the gateway.
func surgeFake() *fakeAzure {
	f := newFake()
	f.vms = f.vms[:2] // 0 and 1, both running
	f.health["10.0.1.5"] = up
	f.views["1"] = view("running", "healthy")
	f.onUpdate = func(n int64) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if n != 4 {
			return
		}
		f.vms = append(f.vms, vm("5", "3", "Creating", true, t0.Add(time.Hour)))
		f.views["5"] = view("starting", "initializing")
		f.ips["5"] = "10.0.1.9"
	}
	return f
}

// healthAfter wraps the gateway so VM 5 turns Up after n answers.
type healthAfter struct {
	gatewaysAPI
	n, served int
	upSeen    *bool
}

func (h *healthAfter) BeginBackendHealth(ctx context.Context, g, n string, o *armnetwork.ApplicationGatewaysClientBeginBackendHealthOptions) (*runtime.Poller[armnetwork.ApplicationGatewaysClientBackendHealthResponse], error) {
	h.gatewaysAPI.mu.Lock()
	if _, ok := h.gatewaysAPI.ips["5"]; ok {
		h.served++
		if h.served >= h.n {
			h.gatewaysAPI.health["10.0.1.9"] = up
			h.gatewaysAPI.views["5"] = view("running", "healthy")
			h.gatewaysAPI.vms[2].Properties.ProvisioningState = ptr("Succeeded")
			*h.upSeen = true
		} else {
			h.gatewaysAPI.health["10.0.1.9"] = unknown
		}
	}
	h.gatewaysAPI.mu.Unlock()
	return h.gatewaysAPI.BeginBackendHealth(ctx, g, n, o)
}

func TestKillGracefulScalesOutThenDeletes(t *testing.T) {
	t.Parallel()
	f := surgeFake()
	upSeen := false
	gw := &healthAfter{gatewaysAPI: gatewaysAPI{f}, n: 3, upSeen: &upSeen}
	var deletedAfterUp bool
	fl := New(out, Clients{VMs: deleteProbe{vmsAPI{f}, &upSeen, &deletedAfterUp}, ScaleSets: scaleSetsAPI{f}, Upgrades: upgradesAPI{f},
		Gateways: gw, Interfaces: interfacesAPI{f}, Autoscale: autoscaleAPI{f}}).
		WithBackoff(fleet.Backoff{Base: time.Millisecond, Attempts: 2}).WithWait(time.Millisecond, 5*time.Second).WithHealthEvery(0)
	if err := fl.Kill(ctxT(t), "stayup-fleet_1", fleet.Graceful); err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprint(f.updates), "[4]"; got != want {
		t.Errorf("capacity updates %s, want %s (one up, then the delete brings it back)", got, want)
	}
	if got, want := strings.Join(f.deleted, ","), "1"; got != want {
		t.Errorf("deleted %q, want the victim %q", got, want)
	}
	if !deletedAfterUp {
		t.Errorf("the victim was deleted before the new VM was healthy in the gateway")
	}
	order := strings.Join(f.calls, " ")
	if u, d := strings.Index(order, "scaleSets.update 4"), strings.Index(order, "vms.delete 1"); u < 0 || d < u {
		t.Errorf("calls %s: want the capacity raised before the delete", order)
	}
	if len(f.ran) != 0 {
		t.Errorf("graceful ran a command in the guest")
	}
}

// deleteProbe notes whether a delete came after the new VM was seen Up.
type deleteProbe struct {
	vmsAPI
	upSeen, after *bool
}

func (d deleteProbe) BeginDelete(ctx context.Context, g, s, id string, o *armcompute.VirtualMachineScaleSetVMsClientBeginDeleteOptions) (*runtime.Poller[armcompute.VirtualMachineScaleSetVMsClientDeleteResponse], error) {
	d.vmsAPI.mu.Lock()
	*d.after = *d.upSeen
	d.vmsAPI.mu.Unlock()
	return d.vmsAPI.BeginDelete(ctx, g, s, id, o)
}

func TestKillGracefulNewVMNeverHealthy(t *testing.T) {
	t.Parallel()
	f := surgeFake()
	fl := newFleet(f).WithWait(time.Millisecond, 50*time.Millisecond)
	err := fl.Kill(ctxT(t), "stayup-fleet_1", fleet.Graceful)
	if err == nil {
		t.Fatal("graceful kill succeeded though the new VM never turned healthy")
	}
	if got, want := strings.Join(f.deleted, ","), "5"; got != want {
		t.Errorf("deleted %q, want only the extra VM %q (the victim is left alone)", got, want)
	}
	if _, ok := f.views["1"]; !ok || strings.Contains(strings.Join(f.calls, " "), "vms.delete 1") {
		t.Errorf("the victim was deleted")
	}
}

func TestKillGracefulNotAMember(t *testing.T) {
	t.Parallel()
	f := newFake()
	if err := newFleet(f).Kill(ctxT(t), "stayup-fleet_3", fleet.Graceful); !errors.Is(err, fleet.ErrNotFound) {
		t.Errorf("graceful kill of a vanished VM: %v, want ErrNotFound", err)
	}
	if len(f.updates) != 0 {
		t.Errorf("capacity changed %v for a VM that is not there", f.updates)
	}
}

func TestRollout(t *testing.T) {
	t.Parallel()
	status := func(code armcompute.RollingUpgradeStatusCode, ok, failed, running, pending int32) *armcompute.RollingUpgradeStatusInfo {
		return &armcompute.RollingUpgradeStatusInfo{Properties: &armcompute.RollingUpgradeStatusInfoProperties{
			RunningStatus: &armcompute.RollingUpgradeRunningStatus{Code: ptr(code), StartTime: ptr(t0)},
			Progress: &armcompute.RollingUpgradeProgressInfo{SuccessfulInstanceCount: ptr(ok), FailedInstanceCount: ptr(failed),
				InProgressInstanceCount: ptr(running), PendingInstanceCount: ptr(pending)},
		}}
	}
	for _, tc := range []struct {
		name    string
		upgrade *armcompute.RollingUpgradeStatusInfo
		latest  bool
		want    fleet.Rollout
	}{
		{"never ran", nil, true, fleet.Rollout{Percent: -1, Target: "latest", Reached: true}},
		{"rolling forward", status(armcompute.RollingUpgradeStatusCodeRollingForward, 1, 0, 1, 2), false,
			fleet.Rollout{InProgress: true, Status: "RollingForward", Percent: 25, Target: "latest", Started: t0}},
		{"completed", status(armcompute.RollingUpgradeStatusCodeCompleted, 3, 0, 0, 0), true,
			fleet.Rollout{Status: "Completed", Percent: 100, Target: "latest", Reached: true, Started: t0}},
		{"cancelled", status(armcompute.RollingUpgradeStatusCodeCancelled, 1, 0, 0, 2), false,
			fleet.Rollout{Status: "Cancelled", Percent: 33, Target: "latest", Started: t0}},
		{"faulted", status(armcompute.RollingUpgradeStatusCodeFaulted, 1, 1, 0, 1), false,
			fleet.Rollout{Status: "Faulted", Percent: 66, Target: "latest", Started: t0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFake()
			f.upgrade = tc.upgrade
			f.vms = []*armcompute.VirtualMachineScaleSetVM{vm("0", "1", "Succeeded", true, t0), vm("1", "2", "Succeeded", tc.latest, t0)}
			got, err := newFleet(f).Rollout(ctxT(t))
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("rollout %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestCapacityFromAutoscaleSetting(t *testing.T) {
	t.Parallel()
	f := newFake()
	got, err := newFleet(f).Capacity(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if want := (fleet.Capacity{Desired: 3, Min: 2, Max: 9}); got != want {
		t.Errorf("capacity %+v, want %+v (the setting on page 2 targets the scale set)", got, want)
	}
	f.scalers = f.scalers[:1]
	got, _ = newFleet(f).Capacity(ctxT(t))
	if want := (fleet.Capacity{Desired: 3, Min: 3, Max: 3}); got != want {
		t.Errorf("without an autoscale setting %+v, want the fixed size %+v", got, want)
	}
}

func TestSettings(t *testing.T) {
	t.Parallel()
	got, err := newFleet(newFake()).Settings(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	want := fleet.Settings{
		CheckInterval: 5 * time.Second, CheckTimeout: 3 * time.Second, HealthyThreshold: 1, UnhealthyThreshold: 2,
		Drain: 30 * time.Second, Grace: 10 * time.Minute, HealInterval: 5 * time.Second, HealThreshold: 2,
	}
	if got != want {
		t.Errorf("settings %+v, want %+v", got, want)
	}
	for in, want := range map[string]time.Duration{"PT10M": 10 * time.Minute, "PT1H30M": 90 * time.Minute, "PT45S": 45 * time.Second, "P1D": 0, "": 0} {
		if got := isoDuration(in); got != want {
			t.Errorf("isoDuration(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestParseOutputs(t *testing.T) {
	t.Parallel()
	got, err := ParseOutputs(map[string]any{"subscriptionId": "sub", "resourceGroup": rg, "scaleSetName": vmss, "applicationGateway": "stayup-gateway", "backendPool": "fleet"})
	if err != nil || got != out {
		t.Errorf("ParseOutputs = %+v, %v", got, err)
	}
	if _, err := ParseOutputs(map[string]any{"subscriptionId": "sub"}); err == nil || !strings.Contains(err.Error(), "scaleSetName") {
		t.Errorf("missing keys: %v, want an error naming scaleSetName", err)
	}
}

func TestCheckKillRefusesAbruptWithoutRunningRepairs(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		repairs armcompute.OrchestrationServiceState
		enabled bool
		mode    fleet.KillMode
		want    []string // in the refusal; nil: allowed
	}{
		{"running", armcompute.OrchestrationServiceStateRunning, true, fleet.Abrupt, nil},
		{"suspended", armcompute.OrchestrationServiceStateSuspended, true, fleet.Abrupt,
			[]string{"Suspended", "nothing would replace", "az vmss set-orchestration-service-state --resource-group stayup-rg --name stayup-fleet --service-name AutomaticRepairs --action Resume"}},
		{"not running", armcompute.OrchestrationServiceStateNotRunning, true, fleet.Abrupt, []string{"NotRunning"}},
		{"not listed", "", true, fleet.Abrupt, []string{"no AutomaticRepairs"}},
		{"disabled in the model", armcompute.OrchestrationServiceStateRunning, false, fleet.Abrupt, []string{"disabled in the model", "--mode graceful"}},
		{"graceful needs no repairs", armcompute.OrchestrationServiceStateSuspended, false, fleet.Graceful, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFake()
			f.repairs = tc.repairs
			f.scaleSet.Properties.AutomaticRepairsPolicy.Enabled = ptr(tc.enabled)
			var fl fleet.Fleet = newFleet(f)
			kc, ok := fl.(fleet.KillChecker)
			if !ok {
				t.Fatal("the Azure fleet is not a fleet.KillChecker")
			}
			err := kc.CheckKill(ctxT(t), tc.mode)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, fleet.ErrRefused) {
				t.Fatalf("err %v, want a refusal (ErrRefused)", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("refusal %q does not say %q", err, w)
				}
			}
		})
	}

	f := newFake()
	f.errs["scaleSets.getInstanceView"] = []error{apiError(http.StatusForbidden, "AuthorizationFailed")}
	err := newFleet(f).CheckKill(ctxT(t), fleet.Abrupt)
	var pe *fleet.PermissionError
	if !errors.As(err, &pe) || pe.Action != actScaleSetView || errors.Is(err, fleet.ErrRefused) {
		t.Errorf("denied instance view: %v, want a permission error naming %s, not a refusal", err, actScaleSetView)
	}
}

// A rolling upgrade in progress is cancelled, so that the rollback's up
// starts one of its own; with none running there is nothing to cancel.
func TestCancelRollout(t *testing.T) {
	t.Parallel()
	f := newFake()
	f.upgrade = &armcompute.RollingUpgradeStatusInfo{Properties: &armcompute.RollingUpgradeStatusInfoProperties{
		RunningStatus: &armcompute.RollingUpgradeRunningStatus{Code: ptr(armcompute.RollingUpgradeStatusCodeRollingForward), StartTime: ptr(t0)},
	}}
	fl := newFleet(f)
	if err := fl.CancelRollout(context.Background()); err != nil {
		t.Fatal(err)
	}
	r, err := fl.Rollout(context.Background())
	if err != nil || r.InProgress || r.Status != string(armcompute.RollingUpgradeStatusCodeCancelled) {
		t.Errorf("after the cancel: %+v, %v; want Cancelled, not in progress", r, err)
	}
	if err := fl.CancelRollout(context.Background()); err != nil {
		t.Errorf("a second cancel, nothing running: %v, want nil", err)
	}
	if got := f.count("upgrades.cancel"); got != 2 {
		t.Errorf("cancel called %d times", got)
	}
}
