// Package azure is the fleet view of a Uniform virtual machine scale set
// behind an Application Gateway v2 backend pool, on azure-sdk-for-go
// (armcompute, armnetwork, armmonitor) with azidentity's default
// credential chain.
//
// The scale set lists its VMs and whether each runs its latest model; each
// VM's instance view gives its power state and the Application Health
// extension's verdict; the scale set's network interfaces give each VM's
// private IP, which is how the gateway's backend health names it.
package azure

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v7"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/monitor/armmonitor"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v7"

	"stayup/internal/fleet"
)

// VMsAPI is what the fleet needs of the scale set's VMs. The methods are
// the SDK client's own, so *armcompute.VirtualMachineScaleSetVMsClient is one.
type VMsAPI interface {
	NewListPager(resourceGroupName, vmScaleSetName string, options *armcompute.VirtualMachineScaleSetVMsClientListOptions) *runtime.Pager[armcompute.VirtualMachineScaleSetVMsClientListResponse]
	GetInstanceView(ctx context.Context, resourceGroupName, vmScaleSetName, instanceID string, options *armcompute.VirtualMachineScaleSetVMsClientGetInstanceViewOptions) (armcompute.VirtualMachineScaleSetVMsClientGetInstanceViewResponse, error)
	BeginRunCommand(ctx context.Context, resourceGroupName, vmScaleSetName, instanceID string, parameters armcompute.RunCommandInput, options *armcompute.VirtualMachineScaleSetVMsClientBeginRunCommandOptions) (*runtime.Poller[armcompute.VirtualMachineScaleSetVMsClientRunCommandResponse], error)
	BeginDelete(ctx context.Context, resourceGroupName, vmScaleSetName, instanceID string, options *armcompute.VirtualMachineScaleSetVMsClientBeginDeleteOptions) (*runtime.Poller[armcompute.VirtualMachineScaleSetVMsClientDeleteResponse], error)
}

// ScaleSetsAPI is what the fleet needs of the scale set itself.
type ScaleSetsAPI interface {
	Get(ctx context.Context, resourceGroupName, vmScaleSetName string, options *armcompute.VirtualMachineScaleSetsClientGetOptions) (armcompute.VirtualMachineScaleSetsClientGetResponse, error)
	BeginUpdate(ctx context.Context, resourceGroupName, vmScaleSetName string, parameters armcompute.VirtualMachineScaleSetUpdate, options *armcompute.VirtualMachineScaleSetsClientBeginUpdateOptions) (*runtime.Poller[armcompute.VirtualMachineScaleSetsClientUpdateResponse], error)
	GetInstanceView(ctx context.Context, resourceGroupName, vmScaleSetName string, options *armcompute.VirtualMachineScaleSetsClientGetInstanceViewOptions) (armcompute.VirtualMachineScaleSetsClientGetInstanceViewResponse, error)
}

// RollingUpgradesAPI reads the scale set's latest rolling upgrade and
// cancels one in progress.
type RollingUpgradesAPI interface {
	GetLatest(ctx context.Context, resourceGroupName, vmScaleSetName string, options *armcompute.VirtualMachineScaleSetRollingUpgradesClientGetLatestOptions) (armcompute.VirtualMachineScaleSetRollingUpgradesClientGetLatestResponse, error)
	BeginCancel(ctx context.Context, resourceGroupName, vmScaleSetName string, options *armcompute.VirtualMachineScaleSetRollingUpgradesClientBeginCancelOptions) (*runtime.Poller[armcompute.VirtualMachineScaleSetRollingUpgradesClientCancelResponse], error)
}

// GatewaysAPI is what the fleet needs of the Application Gateway.
type GatewaysAPI interface {
	Get(ctx context.Context, resourceGroupName, applicationGatewayName string, options *armnetwork.ApplicationGatewaysClientGetOptions) (armnetwork.ApplicationGatewaysClientGetResponse, error)
	BeginBackendHealth(ctx context.Context, resourceGroupName, applicationGatewayName string, options *armnetwork.ApplicationGatewaysClientBeginBackendHealthOptions) (*runtime.Poller[armnetwork.ApplicationGatewaysClientBackendHealthResponse], error)
}

// InterfacesAPI lists the scale set's network interfaces.
type InterfacesAPI interface {
	NewListVirtualMachineScaleSetNetworkInterfacesPager(resourceGroupName, virtualMachineScaleSetName string, options *armnetwork.InterfacesClientListVirtualMachineScaleSetNetworkInterfacesOptions) *runtime.Pager[armnetwork.InterfacesClientListVirtualMachineScaleSetNetworkInterfacesResponse]
}

// AutoscaleAPI lists the resource group's autoscale settings (the stack's
// has a generated name, so it is found by its target), and reads and
// writes one to hold its minimum during a graceful kill. The methods are
// the SDK client's own, so *armmonitor.AutoscaleSettingsClient is one.
type AutoscaleAPI interface {
	NewListByResourceGroupPager(resourceGroupName string, options *armmonitor.AutoscaleSettingsClientListByResourceGroupOptions) *runtime.Pager[armmonitor.AutoscaleSettingsClientListByResourceGroupResponse]
	Get(ctx context.Context, resourceGroupName, autoscaleSettingName string, options *armmonitor.AutoscaleSettingsClientGetOptions) (armmonitor.AutoscaleSettingsClientGetResponse, error)
	CreateOrUpdate(ctx context.Context, resourceGroupName, autoscaleSettingName string, parameters armmonitor.AutoscaleSettingResource, options *armmonitor.AutoscaleSettingsClientCreateOrUpdateOptions) (armmonitor.AutoscaleSettingsClientCreateOrUpdateResponse, error)
}

// Clients are the SDK clients a Fleet calls; tests pass fakes.
type Clients struct {
	VMs        VMsAPI
	ScaleSets  ScaleSetsAPI
	Upgrades   RollingUpgradesAPI
	Gateways   GatewaysAPI
	Interfaces InterfacesAPI
	Autoscale  AutoscaleAPI
}

// Outputs is the stack's `fleet` output on Azure.
type Outputs struct {
	SubscriptionID, ResourceGroup, ScaleSetName, ApplicationGateway, BackendPool string
}

// ParseOutputs reads the stack's `fleet` output.
func ParseOutputs(m map[string]any) (Outputs, error) {
	o := Outputs{}
	err := fleet.ReadOutputs(m, map[string]*string{
		"subscriptionId": &o.SubscriptionID, "resourceGroup": &o.ResourceGroup, "scaleSetName": &o.ScaleSetName,
		"applicationGateway": &o.ApplicationGateway, "backendPool": &o.BackendPool,
	})
	return o, err
}

// The Azure RBAC actions each call needs, named in permission errors.
const (
	actVMRead         = "Microsoft.Compute/virtualMachineScaleSets/virtualMachines/read"
	actVMDelete       = "Microsoft.Compute/virtualMachineScaleSets/virtualMachines/delete"
	actVMRunCommand   = "Microsoft.Compute/virtualMachineScaleSets/virtualMachines/runCommand/action"
	actScaleSetRead   = "Microsoft.Compute/virtualMachineScaleSets/read"
	actScaleSetWrite  = "Microsoft.Compute/virtualMachineScaleSets/write"
	actScaleSetView   = "Microsoft.Compute/virtualMachineScaleSets/instanceView/read"
	actUpgradesRead   = "Microsoft.Compute/virtualMachineScaleSets/rollingUpgrades/read"
	actUpgradesCancel = "Microsoft.Compute/virtualMachineScaleSets/rollingUpgrades/cancel/action"
	actInterfacesRead = "Microsoft.Compute/virtualMachineScaleSets/networkInterfaces/read"
	actGatewayRead    = "Microsoft.Network/applicationGateways/read"
	actBackendHealth  = "Microsoft.Network/applicationGateways/backendhealth/action"
	actAutoscaleRead  = "Microsoft.Insights/autoscalesettings/read"
	actAutoscaleWrite = "Microsoft.Insights/autoscalesettings/write"
)

var (
	_ fleet.KillChecker  = (*Fleet)(nil)
	_ fleet.HoldRestorer = (*Fleet)(nil)
)

// CrashScript is what an abrupt kill runs in the guest, as root, through
// Run Command: the container dies as a crashed process does, with no
// SIGTERM and so no drain, and systemd does not bring it back.
//
// The container's unit (infra/azure/cloud-init.yaml.tmpl: stayup.service,
// Restart=always, RestartSec=5, container named stayup) would restart it
// within seconds, so a runtime drop-in first sets Restart=no on it.
// `systemctl mask --runtime` would not do: the unit's file lives in
// /etc/systemd/system, which takes precedence over the mask's link in
// /run/systemd/system (systemd issue 10583, documented in systemctl(1)
// since systemd PR 27976). /run is a tmpfs, so a reboot returns the unit
// to normal; automatic repairs replace the VM anyway.
//
// Then `docker kill --signal KILL` on the container itself: the unit's
// main process is the docker CLI, and killing it would leave the container
// serving. The drain watcher (stayup-terminate.service) only acts on a
// Terminate event, which comes when the repair deletes the VM: its
// `systemctl stop` then finds the unit already failed and it approves the
// deletion at once.
//
// After twice RestartSec the script checks that the unit stayed down. Its
// last line is the exit-status marker (stayup-kill exit=N) that Kill
// reads: Run Command on Linux reports "succeeded" whatever the script's
// exit status, and returns only the last 4 KB of output.
const CrashScript = `set -u
status=0
mkdir -p /run/systemd/system/stayup.service.d &&
  printf '[Service]\nRestart=no\n' >/run/systemd/system/stayup.service.d/90-stayup-chaos.conf &&
  systemctl daemon-reload || status=$?
# A retried Run Command finds the container already gone (it runs with
# --rm): that kill happened, and the check below says whether it held.
if [ "$status" -eq 0 ] && docker inspect stayup >/dev/null 2>&1; then
  docker kill --signal KILL stayup >/dev/null || status=$?
fi
if [ "$status" -eq 0 ]; then
  sleep 10
  state=$(systemctl show --property=ActiveState --value stayup.service)
  case "$state" in
  failed | inactive) ;;
  *)
    echo "stayup.service is ${state} after the kill: systemd brought it back" >&2
    status=3
    ;;
  esac
fi
echo "` + killMarker + `${status}"
`

// killMarker starts the crash script's last line; the exit status follows.
const killMarker = "stayup-kill exit="

// Fleet is a scale set and its gateway's backend pool.
type Fleet struct {
	out     Outputs
	c       Clients
	backoff fleet.Backoff
	// poll is how often long-running operations and the graceful kill's
	// wait for its extra VM are polled (the SDK refuses less than a second
	// outside tests); surgeWait bounds that wait and the in-guest stop,
	// within the caller's deadline.
	poll, surgeWait time.Duration
	now             func() time.Time
	// healthEvery is how often the gateway's backend health is read again
	// (0: on every Instances call); gw is the last read.
	healthEvery time.Duration
	gw          *gatewayView
}

// gatewayView is the gateway's backend health as last read, and the read
// under way, if any: never more than one is in flight.
type gatewayView struct {
	mu      sync.Mutex
	health  map[string]fleet.Health
	asOf    time.Time     // when the read that gave health started
	err     error         // why the last read failed, if it did
	reading chan struct{} // closed when the read in flight ends; nil when none
}

// BackendHealthEvery is how often a fleet reads the gateway's backend
// health again. The read is a long-running operation that takes 10 to 30 s
// (it probes every backend on every gateway instance), while chaos and
// rollout read the fleet every 5 s: started on each read, the operations
// would pile up and each answer would be late anyway. So the last answer
// is kept and refreshed in the background, at most this often, and each
// Instance says how old its health is (HealthAsOf).
const BackendHealthEvery = 30 * time.Second

// healthReadTimeout bounds one background read of the backend health.
const healthReadTimeout = 2 * time.Minute

// New returns the fleet for the outputs, calling the given clients.
func New(out Outputs, c Clients) *Fleet {
	// Polls every 10 s: the gateway probes every 5 s and a backend health
	// query itself takes seconds. 15 minutes covers a boot (cloud-init
	// installs the runtime and pulls the image) within the repair grace.
	return &Fleet{out: out, c: c, backoff: fleet.DefaultBackoff, poll: 10 * time.Second, surgeWait: 15 * time.Minute, now: time.Now,
		healthEvery: BackendHealthEvery, gw: &gatewayView{}}
}

// WithHealthEvery sets how often the gateway's backend health is read
// again; 0 reads it on every Instances call (tests that script it).
func (f *Fleet) WithHealthEvery(d time.Duration) *Fleet { f.healthEvery = d; return f }

// WithBackoff sets how throttled calls are retried (tests make it fast).
func (f *Fleet) WithBackoff(b fleet.Backoff) *Fleet { f.backoff = b; return f }

// WithWait sets how often operations are polled and how long a graceful
// kill waits for its extra instance (tests make them fast).
func (f *Fleet) WithWait(poll, surge time.Duration) *Fleet {
	f.poll, f.surgeWait = poll, surge
	return f
}

// Open builds the clients with azidentity's DefaultAzureCredential
// (environment, workload identity, managed identity, Azure CLI, Azure
// Developer CLI).
func Open(_ context.Context, out Outputs) (*Fleet, error) {
	cred, err := azidentity.NewDefaultAzureCredential(nil)
	if err != nil {
		return nil, fmt.Errorf("load Azure credentials: %w", err)
	}
	compute, err := armcompute.NewClientFactory(out.SubscriptionID, cred, nil)
	if err != nil {
		return nil, fmt.Errorf("connect to Azure Compute: %w", err)
	}
	network, err := armnetwork.NewClientFactory(out.SubscriptionID, cred, nil)
	if err != nil {
		return nil, fmt.Errorf("connect to Azure Network: %w", err)
	}
	autoscale, err := armmonitor.NewAutoscaleSettingsClient(out.SubscriptionID, cred, nil)
	if err != nil {
		return nil, fmt.Errorf("connect to Azure Monitor: %w", err)
	}
	return New(out, Clients{
		VMs:        compute.NewVirtualMachineScaleSetVMsClient(),
		ScaleSets:  compute.NewVirtualMachineScaleSetsClient(),
		Upgrades:   compute.NewVirtualMachineScaleSetRollingUpgradesClient(),
		Gateways:   network.NewApplicationGatewaysClient(),
		Interfaces: network.NewInterfacesClient(),
		Autoscale:  autoscale,
	}), nil
}

// Cloud is "azure".
func (f *Fleet) Cloud() string { return "azure" }

// Name is the scale set's name.
func (f *Fleet) Name() string { return f.out.ScaleSetName }

// call runs one API call with the throttling backoff and turns ARM's
// answers into the fleet's errors. action is the RBAC action it needs.
func (f *Fleet) call(ctx context.Context, action string, do func() error) error {
	err := f.backoff.Do(ctx, action, throttled, do)
	if err == nil {
		return nil
	}
	var re *azcore.ResponseError
	if errors.As(err, &re) && !errors.Is(err, fleet.ErrThrottled) {
		switch re.StatusCode {
		case http.StatusForbidden, http.StatusUnauthorized:
			// AuthorizationFailed, LinkedAuthorizationFailed.
			return &fleet.PermissionError{Action: action, Err: err}
		case http.StatusNotFound:
			return fmt.Errorf("%s: %w: %w", action, fleet.ErrNotFound, err)
		}
	}
	return fmt.Errorf("%s: %w", action, err)
}

// throttled reports ARM's rate limit answer: 429 (the SDK's own retry
// policy has already tried a few times by then).
func throttled(err error) bool {
	var re *azcore.ResponseError
	return errors.As(err, &re) && re.StatusCode == http.StatusTooManyRequests
}

// A failed page leaves an SDK pager in a terminal state, so a throttled
// listing starts again from its first page: each helper below builds its
// pager inside the retried call.

func (f *Fleet) listVMs(ctx context.Context) ([]*armcompute.VirtualMachineScaleSetVM, error) {
	var all []*armcompute.VirtualMachineScaleSetVM
	err := f.call(ctx, actVMRead, func() error {
		all = nil
		p := f.c.VMs.NewListPager(f.out.ResourceGroup, f.out.ScaleSetName, nil)
		for p.More() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return err
			}
			all = append(all, page.Value...)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list the VMs of scale set %s: %w", f.out.ScaleSetName, err)
	}
	return all, nil
}

// privateIPs maps each VM's instance id to its primary private IP.
func (f *Fleet) privateIPs(ctx context.Context) (map[string]string, error) {
	ips := map[string]string{}
	err := f.call(ctx, actInterfacesRead, func() error {
		clear(ips)
		p := f.c.Interfaces.NewListVirtualMachineScaleSetNetworkInterfacesPager(f.out.ResourceGroup, f.out.ScaleSetName, nil)
		for p.More() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return err
			}
			for _, nic := range page.Value {
				if nic == nil || nic.Properties == nil || nic.Properties.VirtualMachine == nil {
					continue
				}
				id := instanceIDOf(deref(nic.Properties.VirtualMachine.ID))
				for _, ipc := range nic.Properties.IPConfigurations {
					if ipc == nil || ipc.Properties == nil || deref(ipc.Properties.PrivateIPAddress) == "" {
						continue
					}
					if _, seen := ips[id]; !seen || deref(ipc.Properties.Primary) {
						ips[id] = deref(ipc.Properties.PrivateIPAddress)
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list the network interfaces of scale set %s: %w", f.out.ScaleSetName, err)
	}
	return ips, nil
}

// backendHealth asks the gateway for its backend health (a long-running
// operation, polled until the context's deadline) and maps each server
// address in the fleet's pool to its health.
func (f *Fleet) backendHealth(ctx context.Context) (map[string]fleet.Health, error) {
	var bh armnetwork.ApplicationGatewayBackendHealth
	err := f.call(ctx, actBackendHealth, func() error {
		poller, err := f.c.Gateways.BeginBackendHealth(ctx, f.out.ResourceGroup, f.out.ApplicationGateway, nil)
		if err != nil {
			return err
		}
		res, err := poller.PollUntilDone(ctx, &runtime.PollUntilDoneOptions{Frequency: f.poll})
		bh = res.ApplicationGatewayBackendHealth
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read the backend health of gateway %s: %w", f.out.ApplicationGateway, err)
	}
	h := map[string]fleet.Health{}
	for _, pool := range bh.BackendAddressPools {
		if pool == nil || !f.isFleetPool(pool.BackendAddressPool) {
			continue
		}
		for _, hs := range pool.BackendHTTPSettingsCollection {
			if hs == nil {
				continue
			}
			for _, s := range hs.Servers {
				if s == nil || s.Address == nil {
					continue
				}
				h[*s.Address] = gatewayHealth(s.Health)
			}
		}
	}
	return h, nil
}

// gatewayHealth is the gateway's backend health and when it was read (zero
// when read on every call, with the instances). The
// first call waits for a read; later ones answer from the last read at
// once, and start a new one in the background when it is healthEvery old
// and none is under way. A background read that fails leaves the last
// answer in place, older (its age says so); one that fails before any
// answer is the caller's error.
func (f *Fleet) gatewayHealth(ctx context.Context) (map[string]fleet.Health, time.Time, error) {
	if f.healthEvery <= 0 {
		h, err := f.backendHealth(ctx)
		return h, time.Time{}, err // read with the instances
	}
	v := f.gw
	v.mu.Lock()
	if v.health != nil {
		h, at := v.health, v.asOf
		if v.reading == nil && f.now().Sub(at) >= f.healthEvery {
			f.readGateway(ctx)
		}
		v.mu.Unlock()
		return h, at, nil
	}
	if v.reading == nil {
		f.readGateway(ctx)
	}
	done := v.reading
	v.mu.Unlock()
	select {
	case <-done:
	case <-ctx.Done():
		return nil, time.Time{}, ctx.Err()
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.health == nil {
		return nil, time.Time{}, v.err
	}
	return v.health, v.asOf, nil
}

// readGateway starts a read of the backend health; f.gw.mu is held. It
// outlives the call that started it (a poll must not cancel the read the
// next poll will use), within healthReadTimeout.
func (f *Fleet) readGateway(ctx context.Context) {
	v := f.gw
	done := make(chan struct{})
	v.reading = done
	start := f.now()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), healthReadTimeout)
	go func() {
		defer cancel()
		h, err := f.backendHealth(ctx)
		v.mu.Lock()
		if err == nil {
			v.health, v.asOf = h, start
		} else if v.health != nil {
			slog.Debug("read the gateway's backend health; keeping the last answer", "asOf", v.asOf, "err", err)
		}
		v.err, v.reading = err, nil
		v.mu.Unlock()
		close(done)
	}()
}

func (f *Fleet) isFleetPool(p *armnetwork.ApplicationGatewayBackendAddressPool) bool {
	if p == nil {
		return false
	}
	return deref(p.Name) == f.out.BackendPool ||
		strings.HasSuffix(strings.ToLower(deref(p.ID)), "/backendaddresspools/"+strings.ToLower(f.out.BackendPool))
}

func gatewayHealth(h *armnetwork.ApplicationGatewayBackendHealthServerHealth) fleet.Health {
	if h == nil {
		return fleet.Unknown
	}
	switch *h {
	case armnetwork.ApplicationGatewayBackendHealthServerHealthUp:
		return fleet.Healthy
	case armnetwork.ApplicationGatewayBackendHealthServerHealthDown:
		return fleet.Unhealthy
	case armnetwork.ApplicationGatewayBackendHealthServerHealthDraining:
		return fleet.Draining
	}
	return fleet.Unknown // Unknown, Partial (one pool with several settings)
}

// Instances lists the scale set's VMs with their instance views and the
// gateway's health. A VM the list returns but whose instance view is gone
// (deleted between the two calls) is left out.
func (f *Fleet) Instances(ctx context.Context) ([]fleet.Instance, error) {
	vms, err := f.listVMs(ctx)
	if err != nil {
		return nil, err
	}
	ips, err := f.privateIPs(ctx)
	if err != nil {
		return nil, err
	}
	gw, asOf, err := f.gatewayHealth(ctx)
	if err != nil {
		return nil, err
	}
	var list []fleet.Instance
	for _, vm := range vms {
		if vm == nil {
			continue
		}
		id := deref(vm.InstanceID)
		var view armcompute.VirtualMachineScaleSetVMInstanceView
		err := f.call(ctx, actVMRead, func() error {
			res, err := f.c.VMs.GetInstanceView(ctx, f.out.ResourceGroup, f.out.ScaleSetName, id, nil)
			view = res.VirtualMachineScaleSetVMInstanceView
			return err
		})
		if errors.Is(err, fleet.ErrNotFound) {
			slog.Debug("VM listed by the scale set is gone", "vm", deref(vm.Name))
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read the instance view of VM %s: %w", deref(vm.Name), err)
		}
		in := fleet.Instance{ID: deref(vm.Name), Zone: zoneOf(vm), Revision: revision(vm), HealthAsOf: asOf}
		var prov string
		if p := vm.Properties; p != nil {
			prov = deref(p.ProvisioningState)
			if p.TimeCreated != nil {
				in.Launched = p.TimeCreated.UTC()
			}
			if sp := p.StorageProfile; sp != nil && sp.ImageReference != nil {
				in.Image = imageOf(sp.ImageReference)
			}
		}
		in.State = state(prov, &view)
		ip, hasIP := ips[id]
		g, inPool := gw[ip]
		in.Health = health(g, hasIP && inPool, extensionHealth(&view))
		if in.Health == fleet.Healthy && in.State == fleet.Stopping {
			in.Health = fleet.Draining // being deleted: connection draining
		}
		list = append(list, in)
	}
	sort.Slice(list, func(i, j int) bool {
		if list[i].Zone != list[j].Zone {
			return list[i].Zone < list[j].Zone
		}
		return list[i].ID < list[j].ID
	})
	return list, nil
}

// health is the gateway's view; where the gateway has no verdict yet (a
// new instance not in its answer, or Unknown), the Application Health
// extension's tells whether it is still starting or failing.
func health(gw fleet.Health, inPool bool, ext string) fleet.Health {
	if inPool && gw != fleet.Unknown {
		return gw
	}
	switch ext {
	case "HealthState/initializing":
		return fleet.Initial
	case "HealthState/unhealthy":
		return fleet.Unhealthy
	}
	if inPool {
		return fleet.Unknown
	}
	return fleet.Unregistered
}

func extensionHealth(v *armcompute.VirtualMachineScaleSetVMInstanceView) string {
	if v == nil || v.VMHealth == nil || v.VMHealth.Status == nil {
		return ""
	}
	return deref(v.VMHealth.Status.Code)
}

// state combines the VM's provisioning state with its power state.
func state(provisioning string, v *armcompute.VirtualMachineScaleSetVMInstanceView) fleet.State {
	power := ""
	if v != nil {
		for _, s := range v.Statuses {
			code := deref(s.Code)
			switch {
			case strings.HasPrefix(code, "PowerState/"):
				power = strings.TrimPrefix(code, "PowerState/")
			case strings.HasPrefix(code, "ProvisioningState/") && provisioning == "":
				provisioning = strings.TrimPrefix(code, "ProvisioningState/")
			}
		}
	}
	switch strings.ToLower(provisioning) {
	case "deleting":
		return fleet.Stopping
	case "creating":
		return fleet.Pending
	}
	switch power {
	case "running":
		return fleet.Running
	case "starting":
		return fleet.Pending
	case "stopping", "deallocating":
		return fleet.Stopping
	case "stopped", "deallocated":
		return fleet.Stopped
	}
	return fleet.Pending // no power state yet: being created
}

// Revision is whether the VM runs the scale set's latest model: Azure
// keeps no model version to name, so "latest" is the rollout's target.
const (
	latestModel   = "latest"
	outdatedModel = "outdated"
)

func revision(vm *armcompute.VirtualMachineScaleSetVM) string {
	if vm.Properties != nil && deref(vm.Properties.LatestModelApplied) {
		return latestModel
	}
	return outdatedModel
}

// zoneOf names the zone as the instance's app reports it (location-zone).
func zoneOf(vm *armcompute.VirtualMachineScaleSetVM) string {
	if len(vm.Zones) == 0 || vm.Zones[0] == nil {
		return deref(vm.Location)
	}
	return deref(vm.Location) + "-" + *vm.Zones[0]
}

// imageOf is the marketplace image and the version it resolved to, or the
// gallery image's id.
func imageOf(r *armcompute.ImageReference) string {
	if id := deref(r.ID); id != "" {
		return id[strings.LastIndex(id, "/")+1:]
	}
	v := deref(r.ExactVersion)
	if v == "" {
		v = deref(r.Version)
	}
	if deref(r.Offer) == "" {
		return v
	}
	return deref(r.Offer) + ":" + deref(r.SKU) + ":" + v
}

func (f *Fleet) scaleSet(ctx context.Context) (armcompute.VirtualMachineScaleSet, error) {
	var ss armcompute.VirtualMachineScaleSet
	err := f.call(ctx, actScaleSetRead, func() error {
		res, err := f.c.ScaleSets.Get(ctx, f.out.ResourceGroup, f.out.ScaleSetName, nil)
		ss = res.VirtualMachineScaleSet
		return err
	})
	if err != nil {
		return ss, fmt.Errorf("read scale set %s: %w", f.out.ScaleSetName, err)
	}
	return ss, nil
}

// Capacity is the scale set's sku.capacity with the bounds of the
// autoscale setting that targets it; without one the size is fixed.
func (f *Fleet) Capacity(ctx context.Context) (fleet.Capacity, error) {
	ss, err := f.scaleSet(ctx)
	if err != nil {
		return fleet.Capacity{}, err
	}
	n := 0
	if ss.SKU != nil {
		n = int(deref(ss.SKU.Capacity))
	}
	c := fleet.Capacity{Desired: n, Min: n, Max: n}
	r, err := f.autoscaleSetting(ctx, ss)
	if err != nil {
		return fleet.Capacity{}, err
	}
	if r == nil {
		return c, nil
	}
	setting := r.Properties
	if len(setting.Profiles) == 0 || setting.Profiles[0] == nil || setting.Profiles[0].Capacity == nil {
		return c, nil
	}
	sc := setting.Profiles[0].Capacity
	if v, err := strconv.Atoi(deref(sc.Minimum)); err == nil {
		c.Min = v
	}
	if v, err := strconv.Atoi(deref(sc.Maximum)); err == nil {
		c.Max = v
	}
	return c, nil
}

// CheckKill refuses a kill the platform would not heal. An abrupt kill
// leaves a running VM whose health extension reports Unhealthy; only
// automatic repairs replace it, so they must be enabled in the model and
// running: the platform suspends them by itself after repairs that keep
// failing, and an operator may have. A graceful kill replaces the VM
// itself and needs no repairs, but it holds the autoscale minimum, which
// another graceful kill may be holding already.
func (f *Fleet) CheckKill(ctx context.Context, mode fleet.KillMode) error {
	ss, err := f.scaleSet(ctx)
	if err != nil {
		return err
	}
	if mode == fleet.Graceful {
		r, err := f.autoscaleSetting(ctx, ss)
		if err != nil || r == nil {
			return err
		}
		if h, ok, err := readHold(r); ok && err == nil && f.now().Before(h.Until) {
			return fmt.Errorf("%w: another graceful kill holds the minimum of autoscale setting %s at %d until %s",
				fleet.ErrRefused, deref(r.Name), h.Held, h.Until.Format(time.RFC3339))
		}
		return nil
	}
	if p := ss.Properties; p == nil || p.AutomaticRepairsPolicy == nil || !deref(p.AutomaticRepairsPolicy.Enabled) {
		return fmt.Errorf("%w: automatic repairs are disabled in the model of scale set %s, so nothing would replace a VM killed abruptly; "+
			"deploy the stack again with stayup up (it enables them), or use --mode graceful", fleet.ErrRefused, f.out.ScaleSetName)
	}
	var view armcompute.VirtualMachineScaleSetInstanceView
	err = f.call(ctx, actScaleSetView, func() error {
		res, err := f.c.ScaleSets.GetInstanceView(ctx, f.out.ResourceGroup, f.out.ScaleSetName, nil)
		view = res.VirtualMachineScaleSetInstanceView
		return err
	})
	if err != nil {
		return fmt.Errorf("read the instance view of scale set %s (are its automatic repairs running?): %w", f.out.ScaleSetName, err)
	}
	state := ""
	for _, o := range view.OrchestrationServices {
		if o != nil && deref(o.ServiceName) == armcompute.OrchestrationServiceNamesAutomaticRepairs {
			state = string(deref(o.ServiceState))
		}
	}
	resume := fmt.Sprintf("az vmss set-orchestration-service-state --resource-group %s --name %s --service-name AutomaticRepairs --action Resume",
		f.out.ResourceGroup, f.out.ScaleSetName)
	switch armcompute.OrchestrationServiceState(state) {
	case armcompute.OrchestrationServiceStateRunning:
		return nil
	case armcompute.OrchestrationServiceStateSuspended:
		return fmt.Errorf("%w: the automatic repairs of scale set %s are Suspended (the platform suspends them when replacements keep failing, "+
			"or someone did), so nothing would replace a VM killed abruptly; find out why, then resume them: %s", fleet.ErrRefused, f.out.ScaleSetName, resume)
	case "":
		return fmt.Errorf("%w: the instance view of scale set %s lists no AutomaticRepairs service, so nothing would replace a VM killed abruptly",
			fleet.ErrRefused, f.out.ScaleSetName)
	}
	return fmt.Errorf("%w: the automatic repairs of scale set %s are %s, so nothing would replace a VM killed abruptly; "+
		"once the policy is enabled in the model: %s", fleet.ErrRefused, f.out.ScaleSetName, state, resume)
}

// autoscaleSettings lists the resource group's autoscale settings that
// target the scale set, enabled or not (ARM allows one per resource).
func (f *Fleet) autoscaleSettings(ctx context.Context, ss armcompute.VirtualMachineScaleSet) ([]*armmonitor.AutoscaleSettingResource, error) {
	var found []*armmonitor.AutoscaleSettingResource
	err := f.call(ctx, actAutoscaleRead, func() error {
		found = nil
		p := f.c.Autoscale.NewListByResourceGroupPager(f.out.ResourceGroup, nil)
		for p.More() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return err
			}
			for _, r := range page.Value {
				if r != nil && r.Properties != nil && strings.EqualFold(deref(r.Properties.TargetResourceURI), deref(ss.ID)) {
					found = append(found, r)
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read the autoscale setting of scale set %s: %w", f.out.ScaleSetName, err)
	}
	return found, nil
}

// autoscaleSetting is the enabled setting that scales the scale set, or
// nil when nothing does.
func (f *Fleet) autoscaleSetting(ctx context.Context, ss armcompute.VirtualMachineScaleSet) (*armmonitor.AutoscaleSettingResource, error) {
	all, err := f.autoscaleSettings(ctx, ss)
	if err != nil {
		return nil, err
	}
	for _, r := range all {
		if deref(r.Properties.Enabled) {
			return r, nil
		}
	}
	return nil, nil
}

// instanceID reads a VM's instance id from its name (scaleSet_N) or takes
// a bare id as given.
func (f *Fleet) instanceID(id string) (string, bool) {
	n := strings.TrimPrefix(id, f.out.ScaleSetName+"_")
	if _, err := strconv.Atoi(n); err != nil {
		return "", false
	}
	return n, true
}

// Kill takes a VM away. Deleting a scale set VM lowers the capacity
// instead of replacing it, so:
//
// Abrupt is an in-guest crash: Run Command SIGKILLs the container and
// keeps systemd from restarting it (CrashScript; Kill returns once the
// script has checked the unit stayed down, and fails when its exit marker
// is missing or not 0). The gateway's probe takes the VM out, the
// Application Health extension reports it unhealthy, and automatic repairs
// replace it after their grace period. No VM is deleted.
//
// Graceful holds the autoscale minimum at capacity+1 (see holdMinimum),
// raises the capacity by one, waits until the new VM is running and
// healthy in the gateway's pool, restores the minimum, then deletes the
// victim, which approves its Terminate event once its container has
// drained. If the new VM does not turn healthy in time, it is removed
// again and the victim is left alone.
func (f *Fleet) Kill(ctx context.Context, id string, mode fleet.KillMode) error {
	_, err := f.kill(ctx, id, mode, false)
	return err
}

// KillInstead is Kill, except that a graceful kill removes the old VM in
// the zone the extra VM landed in when that is not the victim's: with one
// VM per zone (the shipped 1/1/1) the scale set puts the extra VM where it
// likes, and deleting the victim elsewhere would leave 2/0/1, which a
// Uniform scale set does not rebalance by itself ("Zone balancing in
// Virtual Machine Scale Sets": balanced means within one VM per zone). It
// returns the VM it removed.
func (f *Fleet) KillInstead(ctx context.Context, id string, mode fleet.KillMode) (string, error) {
	return f.kill(ctx, id, mode, true)
}

func (f *Fleet) kill(ctx context.Context, id string, mode fleet.KillMode, substitute bool) (string, error) {
	iid, ok := f.instanceID(id)
	if !ok {
		return "", fmt.Errorf("kill instance %s: %w in scale set %s", id, fleet.ErrNotFound, f.out.ScaleSetName)
	}
	switch mode {
	case fleet.Abrupt:
		return id, f.crashInGuest(ctx, id, iid)
	case fleet.Graceful:
		return f.surgeThenDelete(ctx, id, iid, substitute)
	}
	return "", fmt.Errorf("kill %s: unknown mode %q", id, mode)
}

func (f *Fleet) crashInGuest(ctx context.Context, id, iid string) error {
	ctx, cancel := f.bounded(ctx)
	defer cancel()
	var res armcompute.RunCommandResult
	err := f.call(ctx, actVMRunCommand, func() error {
		poller, err := f.c.VMs.BeginRunCommand(ctx, f.out.ResourceGroup, f.out.ScaleSetName, iid, armcompute.RunCommandInput{
			CommandID: ptr("RunShellScript"),
			Script:    []*string{ptr(CrashScript)},
		}, nil)
		if err != nil {
			return err
		}
		r, err := poller.PollUntilDone(ctx, &runtime.PollUntilDoneOptions{Frequency: f.poll})
		res = r.RunCommandResult
		return err
	})
	if err != nil {
		return fmt.Errorf("kill the container on VM %s (run command): %w", id, err)
	}
	stdout, stderr := runOutput(res)
	code, ok := exitStatus(stdout)
	switch {
	case !ok:
		return fmt.Errorf("kill the container on VM %s: the script's exit marker is missing from its output, so the kill may not have happened (stdout %q, stderr %q)",
			id, tail(stdout), tail(stderr))
	case code != 0:
		return fmt.Errorf("kill the container on VM %s: the script exited %d: %s", id, code, tail(stderr))
	}
	return nil
}

// runOutput reads a Run Command result. On Linux it is one status,
// ProvisioningState/succeeded even when the script failed, whose message
// holds both streams: "Enable succeeded: \n[stdout]\n...\n[stderr]\n..."
// (azure-cli issues 14425 and 32286). Windows answers with one status per
// stream (ComponentStatus/StdOut, ComponentStatus/StdErr); both are read.
func runOutput(res armcompute.RunCommandResult) (stdout, stderr string) {
	for _, s := range res.Value {
		if s == nil {
			continue
		}
		code, msg := deref(s.Code), deref(s.Message)
		switch {
		case strings.Contains(code, "/StdOut/"):
			stdout += msg
		case strings.Contains(code, "/StdErr/"):
			stderr += msg
		case strings.Contains(msg, "[stdout]") || strings.Contains(msg, "[stderr]"):
			out, errs, _ := strings.Cut(msg, "[stderr]")
			if _, after, found := strings.Cut(out, "[stdout]"); found {
				out = after
			}
			stdout, stderr = stdout+out, stderr+errs
		}
	}
	return stdout, stderr
}

// exitStatus reads the marker on the last line of the script's output.
func exitStatus(stdout string) (int, bool) {
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	last := strings.TrimSpace(lines[len(lines)-1])
	n, err := strconv.Atoi(strings.TrimPrefix(last, killMarker))
	if !strings.HasPrefix(last, killMarker) || err != nil {
		return 0, false
	}
	return n, true
}

// tail is the end of a stream, enough to say why without flooding the
// error.
func tail(s string) string {
	s = strings.TrimSpace(s)
	const keep = 400
	if len(s) > keep {
		return "..." + s[len(s)-keep:]
	}
	return s
}

// bounded is ctx with the fleet's own limit on a wait, which the caller's
// deadline shortens: every wait has one.
func (f *Fleet) bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, f.surgeWait)
}

func (f *Fleet) surgeThenDelete(ctx context.Context, id, iid string, substitute bool) (string, error) {
	before, err := f.Instances(ctx)
	if err != nil {
		return "", err
	}
	known := map[string]bool{}
	member := false
	for _, in := range before {
		known[in.ID] = true
		member = member || in.ID == id
	}
	if !member {
		return "", fmt.Errorf("kill instance %s: %w in scale set %s", id, fleet.ErrNotFound, f.out.ScaleSetName)
	}
	ss, err := f.scaleSet(ctx)
	if err != nil {
		return "", err
	}
	if ss.SKU == nil || ss.SKU.Capacity == nil {
		return "", fmt.Errorf("scale set %s reports no capacity", f.out.ScaleSetName)
	}
	capacity := *ss.SKU.Capacity
	// Held first: autoscale may run between the two writes, and with the
	// minimum held it adds the VM itself instead of removing ours.
	release, err := f.holdMinimum(ctx, ss, int(capacity)+1)
	if err != nil {
		return "", fmt.Errorf("graceful kill of %s: %w", id, err)
	}
	defer release() // every way out: failure, timeout, a cancelled ctx
	if err := f.setCapacity(ctx, ss.SKU, capacity+1); err != nil {
		return "", err
	}
	slog.Debug("raised capacity for a graceful kill", "scaleSet", f.out.ScaleSetName, "capacity", capacity+1, "victim", id)

	wctx, cancel := f.bounded(ctx)
	defer cancel()
	extra, err := f.waitForNew(wctx, known)
	surge := extra.ID
	// The minimum goes back before any VM is deleted: deleting first would
	// leave the capacity below the held minimum, and autoscale would add a
	// VM back (one that chaos would take for the victim's replacement).
	// What remains is a window of one call in which an evaluation may
	// scale in a VM before the delete is accepted.
	release()
	if err != nil {
		f.undoSurge(ctx, ss.SKU, capacity, surge)
		return "", fmt.Errorf("graceful kill of %s: the extra VM did not turn healthy (%w); capacity set back, %s left alone", id, err, id)
	}
	if substitute {
		id, iid = f.sameZoneAs(before, id, iid, extra.Zone)
	}
	err = f.call(ctx, actVMDelete, func() error {
		// Not waited on: the deletion waits for the VM to approve its
		// Terminate event, and chaos watches for the effect.
		_, err := f.c.VMs.BeginDelete(ctx, f.out.ResourceGroup, f.out.ScaleSetName, iid, nil)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("delete VM %s after %s joined: %w (capacity is one above where it was)", id, surge, err)
	}
	return id, nil
}

// sameZoneAs is the VM to delete once the extra VM serves: the victim when
// the extra VM landed in its zone, else the old VM in service in the extra
// VM's zone (the zones then stay even); the victim where there is none. It
// reads nothing: the delete must follow the minimum's release at once.
func (f *Fleet) sameZoneAs(before []fleet.Instance, id, iid, zone string) (string, string) {
	for _, in := range before {
		if in.ID == id && in.Zone == zone {
			return id, iid
		}
	}
	for _, in := range before {
		if in.Zone == zone && in.InService() {
			if n, ok := f.instanceID(in.ID); ok {
				slog.Debug("graceful kill takes the old VM in the extra VM's zone", "planned", id, "instead", in.ID, "zone", zone)
				return in.ID, n
			}
		}
	}
	return id, iid
}

func (f *Fleet) setCapacity(ctx context.Context, sku *armcompute.SKU, n int64) error {
	err := f.call(ctx, actScaleSetWrite, func() error {
		// Not waited on: the update ends when the new VM is provisioned,
		// and the wait below watches for it becoming healthy instead.
		_, err := f.c.ScaleSets.BeginUpdate(ctx, f.out.ResourceGroup, f.out.ScaleSetName, armcompute.VirtualMachineScaleSetUpdate{
			SKU: &armcompute.SKU{Name: sku.Name, Tier: sku.Tier, Capacity: &n},
		}, nil)
		return err
	})
	if err != nil {
		return fmt.Errorf("set the capacity of scale set %s to %d: %w", f.out.ScaleSetName, n, err)
	}
	return nil
}

// waitForNew polls until a VM not in known is in service, and returns it;
// on failure, the new VM seen, if any (its ID empty when none was).
func (f *Fleet) waitForNew(ctx context.Context, known map[string]bool) (fleet.Instance, error) {
	var seen fleet.Instance
	t := time.NewTicker(f.poll)
	defer t.Stop()
	for {
		list, err := f.Instances(ctx)
		if errors.Is(err, fleet.ErrPermission) {
			return seen, err
		}
		if err != nil {
			slog.Debug("read the fleet while waiting for the extra VM", "err", err)
		}
		for _, in := range list {
			if known[in.ID] {
				continue
			}
			seen = in
			if in.InService() {
				return in, nil
			}
		}
		select {
		case <-ctx.Done():
			return seen, ctx.Err()
		case <-t.C:
		}
	}
}

// undoSurge removes the extra VM when it is known (deleting a scale set VM
// lowers the capacity by one), else sets the capacity back. It runs even
// when ctx was cancelled, within a minute of its own.
func (f *Fleet) undoSurge(ctx context.Context, sku *armcompute.SKU, capacity int64, surge string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	if iid, ok := f.instanceID(surge); ok && surge != "" {
		err := f.call(ctx, actVMDelete, func() error {
			_, err := f.c.VMs.BeginDelete(ctx, f.out.ResourceGroup, f.out.ScaleSetName, iid, nil)
			return err
		})
		if err == nil {
			return
		}
		slog.Warn("could not delete the extra VM of a graceful kill", "vm", surge, "err", err)
	}
	if err := f.setCapacity(ctx, sku, capacity); err != nil {
		slog.Warn("could not set the capacity back after a graceful kill", "scaleSet", f.out.ScaleSetName, "capacity", capacity, "err", err)
	}
}

// Rollout reports the scale set's latest rolling upgrade and whether every
// VM runs the latest model.
func (f *Fleet) Rollout(ctx context.Context) (fleet.Rollout, error) {
	vms, err := f.listVMs(ctx)
	if err != nil {
		return fleet.Rollout{}, err
	}
	r := fleet.Rollout{Percent: -1, Target: latestModel, Reached: true}
	for _, vm := range vms {
		if vm != nil && revision(vm) != latestModel {
			r.Reached = false
		}
	}
	var info armcompute.RollingUpgradeStatusInfo
	err = f.call(ctx, actUpgradesRead, func() error {
		res, err := f.c.Upgrades.GetLatest(ctx, f.out.ResourceGroup, f.out.ScaleSetName, nil)
		info = res.RollingUpgradeStatusInfo
		return err
	})
	if errors.Is(err, fleet.ErrNotFound) {
		return r, nil // no rolling upgrade ever ran
	}
	if err != nil {
		return fleet.Rollout{}, fmt.Errorf("read the rolling upgrade of scale set %s: %w", f.out.ScaleSetName, err)
	}
	if p := info.Properties; p != nil {
		if rs := p.RunningStatus; rs != nil && rs.Code != nil {
			r.Status = string(*rs.Code)
			r.InProgress = *rs.Code == armcompute.RollingUpgradeStatusCodeRollingForward
			if rs.StartTime != nil {
				r.Started = *rs.StartTime
			}
		}
		if pr := p.Progress; pr != nil {
			done := int(deref(pr.SuccessfulInstanceCount) + deref(pr.FailedInstanceCount))
			total := done + int(deref(pr.InProgressInstanceCount)+deref(pr.PendingInstanceCount))
			if total > 0 {
				r.Percent = 100 * done / total
			}
		}
	}
	return r, nil
}

// CancelRollout cancels the scale set's rolling upgrade in progress
// ("Virtual Machine Scale Set Rolling Upgrades - Cancel": VMs already
// upgraded stay as they are, the rest are left alone), so that stayup's
// rollback, an up with the previous image, starts a rolling upgrade of its
// own instead of landing in the middle of the forward one. It does not
// wait: rollout watches Rollout until the upgrade shows Cancelled. No
// upgrade in progress is not an error.
func (f *Fleet) CancelRollout(ctx context.Context) error {
	err := f.call(ctx, actUpgradesCancel, func() error {
		_, err := f.c.Upgrades.BeginCancel(ctx, f.out.ResourceGroup, f.out.ScaleSetName, nil)
		return err
	})
	var re *azcore.ResponseError
	// Assumed, to check on a live run: with no upgrade running, Cancel
	// answers 409 Conflict (the REST reference lists only 200 and 202).
	if errors.As(err, &re) && re.StatusCode == http.StatusConflict {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cancel the rolling upgrade of scale set %s: %w", f.out.ScaleSetName, err)
	}
	return nil
}

// Settings reads the gateway's probe and connection draining, and the
// scale set's repair grace and health extension.
func (f *Fleet) Settings(ctx context.Context) (fleet.Settings, error) {
	ss, err := f.scaleSet(ctx)
	if err != nil {
		return fleet.Settings{}, err
	}
	var gw armnetwork.ApplicationGateway
	err = f.call(ctx, actGatewayRead, func() error {
		res, err := f.c.Gateways.Get(ctx, f.out.ResourceGroup, f.out.ApplicationGateway, nil)
		gw = res.ApplicationGateway
		return err
	})
	if err != nil {
		return fleet.Settings{}, fmt.Errorf("read gateway %s: %w", f.out.ApplicationGateway, err)
	}
	// The gateway takes a server back after one passing probe: it has no
	// healthy threshold.
	s := fleet.Settings{HealthyThreshold: 1}
	if gp := gw.Properties; gp != nil {
		var settings *armnetwork.ApplicationGatewayBackendHTTPSettingsPropertiesFormat
		for _, hs := range gp.BackendHTTPSettingsCollection {
			if hs != nil && hs.Properties != nil && settings == nil {
				settings = hs.Properties
			}
		}
		var probe *armnetwork.ApplicationGatewayProbePropertiesFormat
		for _, p := range gp.Probes {
			if p == nil || p.Properties == nil {
				continue
			}
			if probe == nil || (settings != nil && settings.Probe != nil && strings.EqualFold(deref(settings.Probe.ID), deref(p.ID))) {
				probe = p.Properties
			}
		}
		if probe != nil {
			s.CheckInterval = time.Duration(deref(probe.Interval)) * time.Second
			s.CheckTimeout = time.Duration(deref(probe.Timeout)) * time.Second
			s.UnhealthyThreshold = int(deref(probe.UnhealthyThreshold))
		}
		if settings != nil && settings.ConnectionDraining != nil && deref(settings.ConnectionDraining.Enabled) {
			s.Drain = time.Duration(deref(settings.ConnectionDraining.DrainTimeoutInSec)) * time.Second
		}
	}
	if p := ss.Properties; p != nil {
		if ar := p.AutomaticRepairsPolicy; ar != nil && deref(ar.Enabled) {
			s.Grace = isoDuration(deref(ar.GracePeriod))
		}
		if vp := p.VirtualMachineProfile; vp != nil && vp.ExtensionProfile != nil {
			for _, e := range vp.ExtensionProfile.Extensions {
				if e == nil || e.Properties == nil || !strings.HasPrefix(deref(e.Properties.Type), "ApplicationHealth") {
					continue
				}
				m, _ := e.Properties.Settings.(map[string]any)
				s.HealInterval = time.Duration(number(m["intervalInSeconds"])) * time.Second
				s.HealThreshold = number(m["numberOfProbes"])
			}
		}
	}
	return s, nil
}

var isoRE = regexp.MustCompile(`^PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?$`)

// isoDuration reads the ISO 8601 durations ARM uses (PT10M, PT1H30M).
func isoDuration(s string) time.Duration {
	m := isoRE.FindStringSubmatch(s)
	if m == nil {
		return 0
	}
	var d time.Duration
	for i, unit := range []time.Duration{time.Hour, time.Minute, time.Second} {
		if n, err := strconv.Atoi(m[i+1]); err == nil {
			d += time.Duration(n) * unit
		}
	}
	return d
}

// number reads a JSON number from extension settings (decoded as float64).
func number(v any) int {
	switch n := v.(type) {
	case float64:
		return int(n)
	case int:
		return n
	case string:
		i, _ := strconv.Atoi(n)
		return i
	}
	return 0
}

// instanceIDOf reads the instance id from a scale set VM's resource id
// (.../virtualMachineScaleSets/S/virtualMachines/N).
func instanceIDOf(id string) string {
	parts := strings.Split(id, "/")
	for i := 0; i+1 < len(parts); i++ {
		if strings.EqualFold(parts[i], "virtualMachines") {
			return parts[i+1]
		}
	}
	return ""
}

func deref[T any](p *T) T {
	if p == nil {
		var zero T
		return zero
	}
	return *p
}

func ptr[T any](v T) *T { return &v }
