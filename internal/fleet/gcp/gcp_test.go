package gcp

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/compute/apiv1/computepb"
	"google.golang.org/api/googleapi"
	"google.golang.org/protobuf/proto"

	"stayup/internal/fleet"
)

const base = "https://www.googleapis.com/compute/v1/projects/p/"

// fakeGCP plays the Compute APIs: it records every call and answers from
// scripted state, paging and failing the way Compute does.
type fakeGCP struct {
	mu    sync.Mutex
	calls []string

	group     *computepb.InstanceGroupManager
	pages     []*computepb.RegionInstanceGroupManagersListInstancesResponse // token "p<i>" asks for page i
	tokens    []string
	vms       map[string]*computepb.Instance // by name; absent: 404
	health    []*computepb.HealthStatus
	healthFor string // the group GetHealth was asked about
	backend   *computepb.BackendService
	checks    map[string]*computepb.HealthCheck
	scaler    *computepb.Autoscaler

	errs map[string][]error // scripted failures per operation, one per call

	reset      []string // zone/name
	onReset    func(name string)
	onList     func()   // called at each listing: a simulation's clock
	recreated  []string // instance URLs
	recreateIn string   // group recreate was called on
}

func (f *fakeGCP) record(op string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, op)
	if q := f.errs[op]; len(q) > 0 {
		f.errs[op] = q[1:]
		return q[0]
	}
	return nil
}

func (f *fakeGCP) count(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if c == op {
			n++
		}
	}
	return n
}

type groups struct{ *fakeGCP }

func (f groups) Get(_ context.Context, r *computepb.GetRegionInstanceGroupManagerRequest) (*computepb.InstanceGroupManager, error) {
	if err := f.record("groups.get"); err != nil {
		return nil, err
	}
	if r.GetInstanceGroupManager() != f.group.GetName() {
		return nil, &googleapi.Error{Code: http.StatusNotFound}
	}
	return f.group, nil
}

func (f groups) ListManagedInstancesPage(_ context.Context, r *computepb.ListManagedInstancesRegionInstanceGroupManagersRequest) (*computepb.RegionInstanceGroupManagersListInstancesResponse, error) {
	if err := f.record("groups.listManagedInstances"); err != nil {
		return nil, err
	}
	tok := r.GetPageToken()
	f.tokens = append(f.tokens, tok)
	if f.onList != nil && tok == "" {
		f.onList()
	}
	i := 0
	if tok != "" {
		i = int(tok[1] - '0')
	}
	return f.pages[i], nil
}

func (f groups) RecreateInstances(_ context.Context, r *computepb.RecreateInstancesRegionInstanceGroupManagerRequest) error {
	if err := f.record("groups.recreateInstances"); err != nil {
		return err
	}
	f.recreateIn = r.GetInstanceGroupManager()
	f.recreated = append(f.recreated, r.GetRegionInstanceGroupManagersRecreateRequestResource().GetInstances()...)
	return nil
}

type instances struct{ *fakeGCP }

func (f instances) Get(_ context.Context, r *computepb.GetInstanceRequest) (*computepb.Instance, error) {
	if err := f.record("instances.get"); err != nil {
		return nil, err
	}
	vm, ok := f.vms[r.GetInstance()]
	if !ok || vm.GetZone() != r.GetZone() {
		return nil, &googleapi.Error{Code: http.StatusNotFound, Message: "The resource was not found"}
	}
	return vm, nil
}

// Reset is Compute's hard reset: the VM keeps its name, its creation
// time and its RUNNING status ("Throughout this process, the VM remains in
// the RUNNING state"; Compute Engine guide, Reset a VM instance). onReset
// lets a simulation play what follows.
func (f instances) Reset(_ context.Context, r *computepb.ResetInstanceRequest) error {
	if err := f.record("instances.reset"); err != nil {
		return err
	}
	f.reset = append(f.reset, r.GetZone()+"/"+r.GetInstance())
	if f.onReset != nil {
		f.onReset(r.GetInstance())
	}
	return nil
}

type backends struct{ *fakeGCP }

func (f backends) Get(context.Context, *computepb.GetBackendServiceRequest) (*computepb.BackendService, error) {
	if err := f.record("backends.get"); err != nil {
		return nil, err
	}
	return f.backend, nil
}

func (f backends) GetHealth(_ context.Context, r *computepb.GetHealthBackendServiceRequest) (*computepb.BackendServiceGroupHealth, error) {
	if err := f.record("backends.getHealth"); err != nil {
		return nil, err
	}
	f.healthFor = r.GetResourceGroupReferenceResource().GetGroup()
	return &computepb.BackendServiceGroupHealth{HealthStatus: f.health}, nil
}

type checks struct{ *fakeGCP }

func (f checks) Get(_ context.Context, r *computepb.GetHealthCheckRequest) (*computepb.HealthCheck, error) {
	if err := f.record("healthChecks.get"); err != nil {
		return nil, err
	}
	return f.checks[r.GetHealthCheck()], nil
}

type scalers struct{ *fakeGCP }

func (f scalers) Get(_ context.Context, r *computepb.GetRegionAutoscalerRequest) (*computepb.Autoscaler, error) {
	if err := f.record("autoscalers.get"); err != nil {
		return nil, err
	}
	if r.GetAutoscaler() != f.scaler.GetName() {
		return nil, &googleapi.Error{Code: http.StatusNotFound}
	}
	return f.scaler, nil
}

var (
	t0  = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	out = Outputs{Project: "p", Region: "europe-west1", InstanceGroupManager: "mig", BackendService: "be", HealthCheck: "live"}
)

func url(zone, name string) string { return base + "zones/" + zone + "/instances/" + name }

func managed(zone, name, status, action, template string) *computepb.ManagedInstance {
	return &computepb.ManagedInstance{
		Instance: proto.String(url(zone, name)), Name: proto.String(name),
		InstanceStatus: proto.String(status), CurrentAction: proto.String(action),
		Version: &computepb.ManagedInstanceVersion{InstanceTemplate: proto.String(base + "global/instanceTemplates/" + template)},
	}
}

func vm(zone, name string, created time.Time) *computepb.Instance {
	return &computepb.Instance{Name: proto.String(name), Zone: proto.String(zone), CreationTimestamp: proto.String(created.Format(time.RFC3339))}
}

func status(zone, name, state string) *computepb.HealthStatus {
	return &computepb.HealthStatus{Instance: proto.String(url(zone, name)), HealthState: proto.String(state)}
}

// newFake is a group of four where vm-d vanished from Compute between the
// group's list and the describe, listed over two pages.
func newFake() *fakeGCP {
	return &fakeGCP{
		group: &computepb.InstanceGroupManager{
			Name: proto.String("mig"), TargetSize: proto.Int32(3),
			InstanceGroup: proto.String(base + "regions/europe-west1/instanceGroups/mig"),
			Versions:      []*computepb.InstanceGroupManagerVersion{{InstanceTemplate: proto.String(base + "global/instanceTemplates/tpl-2")}},
			Status: &computepb.InstanceGroupManagerStatus{
				Autoscaler: proto.String(base + "regions/europe-west1/autoscalers/scaler"),
				IsStable:   proto.Bool(false), VersionTarget: &computepb.InstanceGroupManagerStatusVersionTarget{IsReached: proto.Bool(false)},
			},
			AutoHealingPolicies: []*computepb.InstanceGroupManagerAutoHealingPolicy{{HealthCheck: proto.String(base + "global/healthChecks/live"), InitialDelaySec: proto.Int32(180)}},
		},
		pages: []*computepb.RegionInstanceGroupManagersListInstancesResponse{
			{ManagedInstances: []*computepb.ManagedInstance{
				managed("europe-west1-c", "vm-c", "RUNNING", "RECREATING", "tpl-1"),
				managed("europe-west1-b", "vm-b", "RUNNING", "NONE", "tpl-2"),
			}, NextPageToken: proto.String("p1")},
			{ManagedInstances: []*computepb.ManagedInstance{
				managed("europe-west1-b", "vm-a", "STAGING", "CREATING", "tpl-2"),
				managed("europe-west1-d", "vm-d", "RUNNING", "NONE", "tpl-2"),
			}},
		},
		vms: map[string]*computepb.Instance{
			"vm-a": vm("europe-west1-b", "vm-a", t0.Add(2*time.Minute)),
			"vm-b": vm("europe-west1-b", "vm-b", t0),
			"vm-c": vm("europe-west1-c", "vm-c", t0.Add(time.Minute)),
		},
		health: []*computepb.HealthStatus{
			status("europe-west1-b", "vm-b", "HEALTHY"),
			status("europe-west1-c", "vm-c", "HEALTHY"),
			status("europe-west1-d", "vm-d", "HEALTHY"),
		},
		backend: &computepb.BackendService{
			HealthChecks:       []string{base + "global/healthChecks/ready"},
			ConnectionDraining: &computepb.ConnectionDraining{DrainingTimeoutSec: proto.Int32(30)},
		},
		checks: map[string]*computepb.HealthCheck{
			"ready": {CheckIntervalSec: proto.Int32(5), TimeoutSec: proto.Int32(3), HealthyThreshold: proto.Int32(2), UnhealthyThreshold: proto.Int32(2)},
			"live":  {CheckIntervalSec: proto.Int32(10), TimeoutSec: proto.Int32(5), HealthyThreshold: proto.Int32(2), UnhealthyThreshold: proto.Int32(3)},
		},
		scaler: &computepb.Autoscaler{Name: proto.String("scaler"), AutoscalingPolicy: &computepb.AutoscalingPolicy{MinNumReplicas: proto.Int32(2), MaxNumReplicas: proto.Int32(9)}},
		errs:   map[string][]error{},
	}
}

func newFleet(f *fakeGCP) *Fleet {
	return New(out, Clients{Groups: groups{f}, Instances: instances{f}, Backends: backends{f}, HealthChecks: checks{f}, Autoscalers: scalers{f}}).
		WithBackoff(fleet.Backoff{Base: time.Millisecond, Max: 2 * time.Millisecond, Attempts: 4})
}

func TestInstancesPagesJoinsAndDropsVanished(t *testing.T) {
	t.Parallel()
	f := newFake()
	got, err := newFleet(f).Instances(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []fleet.Instance{
		{ID: "vm-a", Zone: "europe-west1-b", State: fleet.Pending, Health: fleet.Unregistered, Revision: "tpl-2", Launched: t0.Add(2 * time.Minute)},
		{ID: "vm-b", Zone: "europe-west1-b", State: fleet.Running, Health: fleet.Healthy, Revision: "tpl-2", Launched: t0},
		{ID: "vm-c", Zone: "europe-west1-c", State: fleet.Stopping, Health: fleet.Draining, Revision: "tpl-1", Launched: t0.Add(time.Minute)},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d instances %+v, want %d (vm-d vanished)", len(got), got, len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("instance %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
	if got, want := strings.Join(f.tokens, ","), ",p1"; got != want {
		t.Errorf("list tokens %q, want %q (both pages)", got, want)
	}
	if got, want := f.healthFor, f.group.GetInstanceGroup(); got != want {
		t.Errorf("health asked for group %q, want the group's instance group %q", got, want)
	}
}

func TestThrottlingRetriedWithBackoff(t *testing.T) {
	t.Parallel()
	f := newFake()
	f.errs["groups.get"] = []error{&googleapi.Error{Code: http.StatusTooManyRequests}}
	f.errs["instances.get"] = []error{&googleapi.Error{Code: http.StatusForbidden, Errors: []googleapi.ErrorItem{{Reason: "rateLimitExceeded"}}}}
	if _, err := newFleet(f).Instances(context.Background()); err != nil {
		t.Fatalf("throttled calls should be retried: %v", err)
	}
	if got, want := f.count("groups.get"), 2; got != want {
		t.Errorf("groups.get called %d times, want %d", got, want)
	}
	if got, want := f.count("instances.get"), 5; got != want {
		t.Errorf("instances.get called %d times, want %d (4 instances, one retried)", got, want)
	}

	f = newFake()
	for range 4 {
		f.errs["groups.get"] = append(f.errs["groups.get"], &googleapi.Error{Code: http.StatusTooManyRequests})
	}
	_, err := newFleet(f).Capacity(context.Background())
	if !errors.Is(err, fleet.ErrThrottled) {
		t.Fatalf("after the attempts run out: %v, want ErrThrottled", err)
	}
	if errors.Is(err, fleet.ErrPermission) {
		t.Errorf("a rate limit is not a missing permission: %v", err)
	}
}

func TestMissingPermissionsReported(t *testing.T) {
	t.Parallel()
	denied := &googleapi.Error{Code: http.StatusForbidden, Message: "Required 'compute.instances.reset' permission", Errors: []googleapi.ErrorItem{{Reason: "forbidden"}}}
	for _, tc := range []struct {
		name, op, permission string
		run                  func(*Fleet) error
	}{
		{"reset", "instances.reset", "compute.instances.reset",
			func(fl *Fleet) error { return fl.Kill(context.Background(), "vm-b", fleet.Abrupt) }},
		{"recreate", "groups.recreateInstances", "compute.instanceGroupManagers.update",
			func(fl *Fleet) error { return fl.Kill(context.Background(), "vm-b", fleet.Graceful) }},
		{"autoscaler", "autoscalers.get", "compute.autoscalers.get",
			func(fl *Fleet) error { _, err := fl.Capacity(context.Background()); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFake()
			f.errs[tc.op] = []error{denied}
			err := tc.run(newFleet(f))
			if !errors.Is(err, fleet.ErrPermission) {
				t.Fatalf("err %v, want a permission error", err)
			}
			if !strings.Contains(err.Error(), tc.permission) {
				t.Errorf("err %q does not name the permission %s", err, tc.permission)
			}
			if got := f.count(tc.op); got != 1 {
				t.Errorf("%s called %d times: a refusal is not retried", tc.op, got)
			}
		})
	}
}

func TestKillModes(t *testing.T) {
	t.Parallel()
	f := newFake()
	fl := newFleet(f)
	if err := fl.Kill(context.Background(), "vm-b", fleet.Abrupt); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(f.reset, ","), "europe-west1-b/vm-b"; got != want {
		t.Errorf("abrupt reset %q, want %q (a hard reset: deleting the VM shuts its OS down cleanly)", got, want)
	}
	if err := fl.Kill(context.Background(), "vm-c", fleet.Graceful); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(f.recreated, ","), url("europe-west1-c", "vm-c"); got != want || f.recreateIn != "mig" {
		t.Errorf("graceful recreated %q in %q, want %q in mig", got, f.recreateIn, want)
	}
	if got := f.count("instances.reset"); got != 1 {
		t.Errorf("graceful reset through Compute: the group must recreate it itself")
	}
	if err := fl.Kill(context.Background(), "vm-z", fleet.Abrupt); !errors.Is(err, fleet.ErrNotFound) {
		t.Errorf("kill of a non-member: %v, want ErrNotFound", err)
	}
}

func TestKillVanishedInstance(t *testing.T) {
	t.Parallel()
	f := newFake()
	f.errs["instances.reset"] = []error{&googleapi.Error{Code: http.StatusNotFound}}
	if err := newFleet(f).Kill(context.Background(), "vm-d", fleet.Abrupt); !errors.Is(err, fleet.ErrNotFound) {
		t.Errorf("reset of a vanished instance: %v, want ErrNotFound", err)
	}
}

func TestCapacityFromAutoscaler(t *testing.T) {
	t.Parallel()
	f := newFake()
	got, err := newFleet(f).Capacity(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := (fleet.Capacity{Desired: 3, Min: 2, Max: 9}); got != want {
		t.Errorf("capacity %+v, want %+v", got, want)
	}
	f.group.Status.Autoscaler = nil
	got, _ = newFleet(f).Capacity(context.Background())
	if want := (fleet.Capacity{Desired: 3, Min: 3, Max: 3}); got != want {
		t.Errorf("without an autoscaler %+v, want the fixed size %+v", got, want)
	}
}

func TestRollout(t *testing.T) {
	t.Parallel()
	f := newFake()
	got, err := newFleet(f).Rollout(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := (fleet.Rollout{InProgress: true, Status: "updating", Percent: 75, Target: "tpl-2"}); got != want {
		t.Errorf("rollout %+v, want %+v", got, want)
	}
	f.group.Status.IsStable = proto.Bool(true)
	f.group.Status.VersionTarget.IsReached = proto.Bool(true)
	got, _ = newFleet(f).Rollout(context.Background())
	if !got.Reached || got.InProgress || got.Status != "stable" {
		t.Errorf("stable group: %+v", got)
	}
}

func TestSettings(t *testing.T) {
	t.Parallel()
	got, err := newFleet(newFake()).Settings(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := fleet.Settings{
		CheckInterval: 5 * time.Second, CheckTimeout: 3 * time.Second, HealthyThreshold: 2, UnhealthyThreshold: 2,
		Drain: 30 * time.Second, Grace: 180 * time.Second, HealInterval: 10 * time.Second, HealThreshold: 3,
	}
	if got != want {
		t.Errorf("settings %+v, want %+v", got, want)
	}
}

func TestParseOutputs(t *testing.T) {
	t.Parallel()
	got, err := ParseOutputs(map[string]any{"project": "p", "region": "europe-west1", "instanceGroupManager": "mig", "backendService": "be", "healthCheck": "live"})
	if err != nil || got != out {
		t.Errorf("ParseOutputs = %+v, %v", got, err)
	}
	if _, err := ParseOutputs(map[string]any{"project": "p"}); err == nil || !strings.Contains(err.Error(), "backendService") {
		t.Errorf("missing keys: %v, want an error naming backendService", err)
	}
}
