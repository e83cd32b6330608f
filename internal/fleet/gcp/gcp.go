// Package gcp is the fleet view of a regional managed instance group behind
// a global backend service, on cloud.google.com/go/compute (REST clients,
// Application Default Credentials).
//
// The group lists its instances (with its current action on each and the
// template each came from); Compute says when each was created; the backend
// service says whether the load balancer sends it traffic.
package gcp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"time"

	compute "cloud.google.com/go/compute/apiv1"
	"cloud.google.com/go/compute/apiv1/computepb"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/iterator"
	"google.golang.org/protobuf/proto"

	"stayup/internal/fleet"
)

// GroupAPI is what the fleet needs of regional instance group managers.
// ListManagedInstancesPage returns one page: the request's PageToken
// chooses it, the response's NextPageToken names the next.
type GroupAPI interface {
	Get(context.Context, *computepb.GetRegionInstanceGroupManagerRequest) (*computepb.InstanceGroupManager, error)
	ListManagedInstancesPage(context.Context, *computepb.ListManagedInstancesRegionInstanceGroupManagersRequest) (*computepb.RegionInstanceGroupManagersListInstancesResponse, error)
	RecreateInstances(context.Context, *computepb.RecreateInstancesRegionInstanceGroupManagerRequest) error
}

// InstancesAPI is what the fleet needs of Compute instances.
type InstancesAPI interface {
	Get(context.Context, *computepb.GetInstanceRequest) (*computepb.Instance, error)
	Reset(context.Context, *computepb.ResetInstanceRequest) error
}

// BackendAPI is what the fleet needs of global backend services.
type BackendAPI interface {
	Get(context.Context, *computepb.GetBackendServiceRequest) (*computepb.BackendService, error)
	GetHealth(context.Context, *computepb.GetHealthBackendServiceRequest) (*computepb.BackendServiceGroupHealth, error)
}

// HealthCheckAPI reads global health checks.
type HealthCheckAPI interface {
	Get(context.Context, *computepb.GetHealthCheckRequest) (*computepb.HealthCheck, error)
}

// AutoscalerAPI reads regional autoscalers.
type AutoscalerAPI interface {
	Get(context.Context, *computepb.GetRegionAutoscalerRequest) (*computepb.Autoscaler, error)
}

// Clients are the SDK clients a Fleet calls; tests pass fakes.
type Clients struct {
	Groups       GroupAPI
	Instances    InstancesAPI
	Backends     BackendAPI
	HealthChecks HealthCheckAPI
	Autoscalers  AutoscalerAPI
	// Templates and TemplateLabels find the stack's instance templates,
	// for CleanupRevisions; Open sets them when Outputs names the stack.
	Templates      TemplatesAPI
	TemplateLabels map[string]string
	closers        []io.Closer
}

// Outputs is the stack's `fleet` output on GCP.
type Outputs struct {
	Project, Region, InstanceGroupManager, BackendService, HealthCheck string
	// Stack and PulumiProject are not outputs: the caller knows them, and
	// they name the labels of the stack's instance templates.
	Stack, PulumiProject string
}

// ParseOutputs reads the stack's `fleet` output.
func ParseOutputs(m map[string]any) (Outputs, error) {
	o := Outputs{}
	err := fleet.ReadOutputs(m, map[string]*string{
		"project": &o.Project, "region": &o.Region, "instanceGroupManager": &o.InstanceGroupManager,
		"backendService": &o.BackendService, "healthCheck": &o.HealthCheck,
	})
	return o, err
}

// Fleet is a regional managed instance group and its backend service.
type Fleet struct {
	out     Outputs
	c       Clients
	backoff fleet.Backoff
}

// New returns the fleet for the outputs, calling the given clients.
func New(out Outputs, c Clients) *Fleet {
	return &Fleet{out: out, c: c, backoff: fleet.DefaultBackoff}
}

// WithBackoff sets how throttled calls are retried (tests make it fast).
func (f *Fleet) WithBackoff(b fleet.Backoff) *Fleet { f.backoff = b; return f }

// Open builds REST clients with Application Default Credentials
// (GOOGLE_APPLICATION_CREDENTIALS, gcloud's application-default login, or
// the metadata server).
func Open(ctx context.Context, out Outputs) (*Fleet, error) {
	groups, err := compute.NewRegionInstanceGroupManagersRESTClient(ctx)
	if err != nil {
		return nil, fmt.Errorf("connect to Compute Engine: %w", err)
	}
	instances, err := compute.NewInstancesRESTClient(ctx)
	if err != nil {
		return nil, fmt.Errorf("connect to Compute Engine: %w", err)
	}
	backends, err := compute.NewBackendServicesRESTClient(ctx)
	if err != nil {
		return nil, fmt.Errorf("connect to Compute Engine: %w", err)
	}
	checks, err := compute.NewHealthChecksRESTClient(ctx)
	if err != nil {
		return nil, fmt.Errorf("connect to Compute Engine: %w", err)
	}
	scalers, err := compute.NewRegionAutoscalersRESTClient(ctx)
	if err != nil {
		return nil, fmt.Errorf("connect to Compute Engine: %w", err)
	}
	c := Clients{
		Groups: groupClient{groups}, Instances: instanceClient{instances}, Backends: backendClient{backends},
		HealthChecks: checkClient{checks}, Autoscalers: scalerClient{scalers},
		closers: []io.Closer{groups, instances, backends, checks, scalers},
	}
	if out.Stack != "" && out.PulumiProject != "" {
		templates, err := compute.NewInstanceTemplatesRESTClient(ctx)
		if err != nil {
			return nil, fmt.Errorf("connect to Compute Engine: %w", err)
		}
		c.Templates, c.TemplateLabels = templateClient{templates}, TemplateLabels(out.Stack, out.PulumiProject)
		c.closers = append(c.closers, templates)
	}
	return New(out, c), nil
}

// Close releases the clients' connections.
func (f *Fleet) Close() error {
	var errs []error
	for _, c := range f.c.closers {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

// Cloud is "gcp".
func (f *Fleet) Cloud() string { return "gcp" }

// Name is the instance group manager's name.
func (f *Fleet) Name() string { return f.out.InstanceGroupManager }

// call runs one API call with the throttling backoff and turns HTTP codes
// into the fleet's errors. permission is the IAM permission the call needs.
func (f *Fleet) call(ctx context.Context, permission string, do func() error) error {
	return call(ctx, f.backoff, permission, do)
}

func call(ctx context.Context, b fleet.Backoff, permission string, do func() error) error {
	err := b.Do(ctx, permission, throttled, do)
	if err == nil {
		return nil
	}
	var ge *googleapi.Error
	if errors.As(err, &ge) {
		switch ge.Code {
		case http.StatusForbidden, http.StatusUnauthorized:
			if !errors.Is(err, fleet.ErrThrottled) {
				return &fleet.PermissionError{Action: permission, Err: err}
			}
		case http.StatusNotFound:
			return fmt.Errorf("%s: %w: %w", permission, fleet.ErrNotFound, err)
		}
	}
	return fmt.Errorf("%s: %w", permission, err)
}

// throttled reports Compute's rate limit answers: 429, or 403 with a rate
// limit reason (the older quota errors).
func throttled(err error) bool {
	var ge *googleapi.Error
	if !errors.As(err, &ge) {
		return false
	}
	if ge.Code == http.StatusTooManyRequests {
		return true
	}
	for _, e := range ge.Errors {
		switch e.Reason {
		case "rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded":
			return true
		}
	}
	return false
}

func (f *Fleet) group(ctx context.Context) (*computepb.InstanceGroupManager, error) {
	var g *computepb.InstanceGroupManager
	err := f.call(ctx, "compute.instanceGroupManagers.get", func() (err error) {
		g, err = f.c.Groups.Get(ctx, &computepb.GetRegionInstanceGroupManagerRequest{
			Project: f.out.Project, Region: f.out.Region, InstanceGroupManager: f.out.InstanceGroupManager,
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read instance group %s: %w", f.out.InstanceGroupManager, err)
	}
	return g, nil
}

// Capacity is the group's target size and its autoscaler's bounds.
func (f *Fleet) Capacity(ctx context.Context) (fleet.Capacity, error) {
	g, err := f.group(ctx)
	if err != nil {
		return fleet.Capacity{}, err
	}
	c := fleet.Capacity{Desired: int(g.GetTargetSize()), Min: int(g.GetTargetSize()), Max: int(g.GetTargetSize())}
	url := g.GetStatus().GetAutoscaler()
	if url == "" {
		return c, nil // no autoscaler: the size is fixed
	}
	var a *computepb.Autoscaler
	err = f.call(ctx, "compute.autoscalers.get", func() (err error) {
		a, err = f.c.Autoscalers.Get(ctx, &computepb.GetRegionAutoscalerRequest{
			Project: f.out.Project, Region: f.out.Region, Autoscaler: last(url),
		})
		return err
	})
	if err != nil {
		return fleet.Capacity{}, fmt.Errorf("read autoscaler %s: %w", last(url), err)
	}
	c.Min = int(a.GetAutoscalingPolicy().GetMinNumReplicas())
	c.Max = int(a.GetAutoscalingPolicy().GetMaxNumReplicas())
	return c, nil
}

// Instances lists the group's instances with Compute's creation time and
// the backend service's health. An instance the group lists but Compute no
// longer has (deleted between the two calls) is left out: it is gone, and
// the group lists its recreation when Compute has it again.
func (f *Fleet) Instances(ctx context.Context) ([]fleet.Instance, error) {
	g, err := f.group(ctx)
	if err != nil {
		return nil, err
	}
	managed, err := f.listManaged(ctx)
	if err != nil {
		return nil, err
	}
	health, err := f.health(ctx, g.GetInstanceGroup())
	if err != nil {
		return nil, err
	}
	var list []fleet.Instance
	for _, m := range managed {
		url := m.GetInstance()
		zone, name := zoneOf(url), last(url)
		var vm *computepb.Instance
		err := f.call(ctx, "compute.instances.get", func() (err error) {
			vm, err = f.c.Instances.Get(ctx, &computepb.GetInstanceRequest{Project: f.out.Project, Zone: zone, Instance: name})
			return err
		})
		if errors.Is(err, fleet.ErrNotFound) {
			slog.Debug("instance listed by the group is gone from Compute", "instance", name)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read instance %s: %w", name, err)
		}
		in := fleet.Instance{
			ID:       name,
			Zone:     zone,
			State:    state(m),
			Health:   fleet.Unregistered,
			Revision: last(m.GetVersion().GetInstanceTemplate()),
		}
		in.Launched, _ = time.Parse(time.RFC3339, vm.GetCreationTimestamp())
		if h, ok := health[name]; ok {
			in.Health = h
		}
		if in.Health == fleet.Healthy && in.State == fleet.Stopping {
			in.Health = fleet.Draining // the group is deleting it: connection draining
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

func (f *Fleet) listManaged(ctx context.Context) ([]*computepb.ManagedInstance, error) {
	var all []*computepb.ManagedInstance
	token := ""
	for {
		var page *computepb.RegionInstanceGroupManagersListInstancesResponse
		err := f.call(ctx, "compute.instanceGroupManagers.get", func() (err error) {
			req := &computepb.ListManagedInstancesRegionInstanceGroupManagersRequest{
				Project: f.out.Project, Region: f.out.Region, InstanceGroupManager: f.out.InstanceGroupManager,
				MaxResults: proto.Uint32(500),
			}
			if token != "" {
				req.PageToken = proto.String(token)
			}
			page, err = f.c.Groups.ListManagedInstancesPage(ctx, req)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("list the instances of group %s: %w", f.out.InstanceGroupManager, err)
		}
		all = append(all, page.GetManagedInstances()...)
		if token = page.GetNextPageToken(); token == "" {
			return all, nil
		}
	}
}

func (f *Fleet) health(ctx context.Context, group string) (map[string]fleet.Health, error) {
	var gh *computepb.BackendServiceGroupHealth
	err := f.call(ctx, "compute.backendServices.get", func() (err error) {
		gh, err = f.c.Backends.GetHealth(ctx, &computepb.GetHealthBackendServiceRequest{
			Project: f.out.Project, BackendService: f.out.BackendService,
			ResourceGroupReferenceResource: &computepb.ResourceGroupReference{Group: proto.String(group)},
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read the health of backend service %s: %w", f.out.BackendService, err)
	}
	h := map[string]fleet.Health{}
	for _, s := range gh.GetHealthStatus() {
		switch s.GetHealthState() {
		case "HEALTHY":
			h[last(s.GetInstance())] = fleet.Healthy
		case "UNHEALTHY":
			h[last(s.GetInstance())] = fleet.Unhealthy
		default:
			h[last(s.GetInstance())] = fleet.Unknown
		}
	}
	return h, nil
}

// state combines the instance's status with what the group is doing to it.
func state(m *computepb.ManagedInstance) fleet.State {
	switch m.GetCurrentAction() {
	case "DELETING", "RECREATING", "ABANDONING", "RESTARTING", "STOPPING", "SUSPENDING":
		return fleet.Stopping
	case "CREATING", "CREATING_WITHOUT_RETRIES":
		return fleet.Pending
	}
	switch m.GetInstanceStatus() {
	case "RUNNING":
		return fleet.Running
	case "PROVISIONING", "STAGING", "REPAIRING":
		return fleet.Pending
	case "STOPPING", "SUSPENDING":
		return fleet.Stopping
	case "TERMINATED", "STOPPED", "SUSPENDED":
		return fleet.Stopped
	}
	return fleet.Pending // no status yet: being created
}

// Kill takes an instance away. Abrupt: a hard reset of the VM (Compute's
// instances.reset: "the VM does not perform a clean shutdown of the guest
// OS. Throughout this process, the VM remains in the RUNNING state"; the
// Compute Engine guide, Reset a VM instance). Deleting the VM would not do:
// instances.delete sends the guest an ACPI soft-off, so systemd stops the
// container and the app drains. After a reset the app is gone at once, the
// backend service's check fails it, and the VM boots again under its name
// and creation time; if the boot outlasts autohealing's check, the group
// recreates it instead (same name, new creation time). chaos counts either
// as healed and says which. SSH is closed by design, so there is no
// in-guest way to kill only the container. Graceful: the group's own recreateInstances, which drains it through the
// backend service's connection draining before deleting and recreating it.
func (f *Fleet) Kill(ctx context.Context, id string, mode fleet.KillMode) error {
	managed, err := f.listManaged(ctx)
	if err != nil {
		return err
	}
	var url string
	for _, m := range managed {
		if last(m.GetInstance()) == id {
			url = m.GetInstance()
		}
	}
	if url == "" {
		return fmt.Errorf("kill instance %s: %w in group %s", id, fleet.ErrNotFound, f.out.InstanceGroupManager)
	}
	switch mode {
	case fleet.Abrupt:
		err = f.call(ctx, "compute.instances.reset", func() error {
			return f.c.Instances.Reset(ctx, &computepb.ResetInstanceRequest{Project: f.out.Project, Zone: zoneOf(url), Instance: id})
		})
		if err != nil {
			return fmt.Errorf("reset instance %s: %w", id, err)
		}
		return nil
	case fleet.Graceful:
		err = f.call(ctx, "compute.instanceGroupManagers.update", func() error {
			return f.c.Groups.RecreateInstances(ctx, &computepb.RecreateInstancesRegionInstanceGroupManagerRequest{
				Project: f.out.Project, Region: f.out.Region, InstanceGroupManager: f.out.InstanceGroupManager,
				RegionInstanceGroupManagersRecreateRequestResource: &computepb.RegionInstanceGroupManagersRecreateRequest{Instances: []string{url}},
			})
		})
		if err != nil {
			return fmt.Errorf("recreate instance %s in group %s: %w", id, f.out.InstanceGroupManager, err)
		}
		return nil
	}
	return fmt.Errorf("kill %s: unknown mode %q", id, mode)
}

// Rollout reports the group's update: stable or not, whether every
// instance runs the target template, and the share that does.
func (f *Fleet) Rollout(ctx context.Context) (fleet.Rollout, error) {
	g, err := f.group(ctx)
	if err != nil {
		return fleet.Rollout{}, err
	}
	managed, err := f.listManaged(ctx)
	if err != nil {
		return fleet.Rollout{}, err
	}
	r := fleet.Rollout{Percent: -1, Status: "stable"}
	if vs := g.GetVersions(); len(vs) > 0 {
		r.Target = last(vs[0].GetInstanceTemplate())
	} else {
		r.Target = last(g.GetInstanceTemplate())
	}
	stable := g.GetStatus().GetIsStable()
	r.Reached = g.GetStatus().GetVersionTarget().GetIsReached()
	r.InProgress = !stable || !r.Reached
	if r.InProgress {
		r.Status = "updating"
	}
	if len(managed) > 0 {
		on := 0
		for _, m := range managed {
			if last(m.GetVersion().GetInstanceTemplate()) == r.Target {
				on++
			}
		}
		r.Percent = 100 * on / len(managed)
	}
	return r, nil
}

// Settings reads the backend service's health check and draining, and the
// group's autohealing check and initial delay.
func (f *Fleet) Settings(ctx context.Context) (fleet.Settings, error) {
	g, err := f.group(ctx)
	if err != nil {
		return fleet.Settings{}, err
	}
	var s fleet.Settings
	var bs *computepb.BackendService
	err = f.call(ctx, "compute.backendServices.get", func() (err error) {
		bs, err = f.c.Backends.Get(ctx, &computepb.GetBackendServiceRequest{Project: f.out.Project, BackendService: f.out.BackendService})
		return err
	})
	if err != nil {
		return s, fmt.Errorf("read backend service %s: %w", f.out.BackendService, err)
	}
	s.Drain = time.Duration(bs.GetConnectionDraining().GetDrainingTimeoutSec()) * time.Second
	if hcs := bs.GetHealthChecks(); len(hcs) > 0 {
		hc, err := f.healthCheck(ctx, last(hcs[0]))
		if err != nil {
			return s, err
		}
		s.CheckInterval = time.Duration(hc.GetCheckIntervalSec()) * time.Second
		s.CheckTimeout = time.Duration(hc.GetTimeoutSec()) * time.Second
		s.HealthyThreshold = int(hc.GetHealthyThreshold())
		s.UnhealthyThreshold = int(hc.GetUnhealthyThreshold())
	}
	if ps := g.GetAutoHealingPolicies(); len(ps) > 0 {
		s.Grace = time.Duration(ps[0].GetInitialDelaySec()) * time.Second
		hc, err := f.healthCheck(ctx, last(ps[0].GetHealthCheck()))
		if err != nil {
			return s, err
		}
		s.HealInterval = time.Duration(hc.GetCheckIntervalSec()) * time.Second
		s.HealThreshold = int(hc.GetUnhealthyThreshold())
	}
	return s, nil
}

func (f *Fleet) healthCheck(ctx context.Context, name string) (*computepb.HealthCheck, error) {
	var hc *computepb.HealthCheck
	err := f.call(ctx, "compute.healthChecks.get", func() (err error) {
		hc, err = f.c.HealthChecks.Get(ctx, &computepb.GetHealthCheckRequest{Project: f.out.Project, HealthCheck: name})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read health check %s: %w", name, err)
	}
	return hc, nil
}

// last is the last segment of a resource URL: its name, without a query
// (the program names the group's template by its self link with
// ?uniqueId=; see the assumptions in templates.go).
func last(url string) string {
	url, _, _ = strings.Cut(url, "?")
	return url[strings.LastIndex(url, "/")+1:]
}

// zoneOf reads the zone from an instance URL (.../zones/Z/instances/N).
func zoneOf(url string) string {
	parts := strings.Split(url, "/")
	for i := 0; i+1 < len(parts); i++ {
		if parts[i] == "zones" {
			return parts[i+1]
		}
	}
	return ""
}

// The adapters put the SDK's clients behind the interfaces. Operations
// are not waited on: Kill returns once Compute accepted the request, and
// chaos watches the group for the effect.
type groupClient struct {
	c *compute.RegionInstanceGroupManagersClient
}

func (a groupClient) Get(ctx context.Context, r *computepb.GetRegionInstanceGroupManagerRequest) (*computepb.InstanceGroupManager, error) {
	return a.c.Get(ctx, r)
}

// onePage reads the one page token names from a Compute list iterator:
// the fleet pages by token itself, so that a throttled page is retried
// alone.
func onePage[T any](it iterator.Pageable, size uint32, token string) ([]T, string, error) {
	var items []T
	next, err := iterator.NewPager(it, int(size), token).NextPage(&items)
	return items, next, err
}

func (a groupClient) ListManagedInstancesPage(ctx context.Context, r *computepb.ListManagedInstancesRegionInstanceGroupManagersRequest) (*computepb.RegionInstanceGroupManagersListInstancesResponse, error) {
	token := r.GetPageToken()
	r.PageToken = nil
	items, next, err := onePage[*computepb.ManagedInstance](a.c.ListManagedInstances(ctx, r), r.GetMaxResults(), token)
	if err != nil {
		return nil, err
	}
	return &computepb.RegionInstanceGroupManagersListInstancesResponse{ManagedInstances: items, NextPageToken: proto.String(next)}, nil
}

func (a groupClient) RecreateInstances(ctx context.Context, r *computepb.RecreateInstancesRegionInstanceGroupManagerRequest) error {
	_, err := a.c.RecreateInstances(ctx, r)
	return err
}

type instanceClient struct{ c *compute.InstancesClient }

func (a instanceClient) Get(ctx context.Context, r *computepb.GetInstanceRequest) (*computepb.Instance, error) {
	return a.c.Get(ctx, r)
}

func (a instanceClient) Reset(ctx context.Context, r *computepb.ResetInstanceRequest) error {
	_, err := a.c.Reset(ctx, r)
	return err
}

type backendClient struct {
	c *compute.BackendServicesClient
}

func (a backendClient) Get(ctx context.Context, r *computepb.GetBackendServiceRequest) (*computepb.BackendService, error) {
	return a.c.Get(ctx, r)
}

func (a backendClient) GetHealth(ctx context.Context, r *computepb.GetHealthBackendServiceRequest) (*computepb.BackendServiceGroupHealth, error) {
	return a.c.GetHealth(ctx, r)
}

type checkClient struct{ c *compute.HealthChecksClient }

func (a checkClient) Get(ctx context.Context, r *computepb.GetHealthCheckRequest) (*computepb.HealthCheck, error) {
	return a.c.Get(ctx, r)
}

type scalerClient struct {
	c *compute.RegionAutoscalersClient
}

func (a scalerClient) Get(ctx context.Context, r *computepb.GetRegionAutoscalerRequest) (*computepb.Autoscaler, error) {
	return a.c.Get(ctx, r)
}
