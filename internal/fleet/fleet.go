// Package fleet is the cloud-neutral view of a deployed stack's instances:
// what runs where, whether the load balancer sends it traffic, what it was
// launched from, and how to take one away. chaos (and rollout) work on this
// view only; each cloud implements it in its own package (fleet/aws,
// fleet/gcp) on that cloud's SDK, built from the stack's `fleet` output.
package fleet

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"
)

// Fleet is a running group of instances behind a load balancer.
type Fleet interface {
	// Cloud is "aws", "gcp" or "azure"; Name is the group's name there.
	Cloud() string
	Name() string
	// Instances lists the group's instances with their load balancer health.
	Instances(ctx context.Context) ([]Instance, error)
	// Capacity is the group's size as its autoscaler sees it.
	Capacity(ctx context.Context) (Capacity, error)
	// Kill takes one instance away in the given mode; the platform is
	// expected to replace it. ErrNotFound when it is already gone.
	Kill(ctx context.Context, id string, mode KillMode) error
	// Rollout reports the group's rolling update, for rollout to wait on.
	Rollout(ctx context.Context) (Rollout, error)
	// Settings are the group's health and healing settings as deployed,
	// from which chaos predicts how fast it should heal.
	Settings(ctx context.Context) (Settings, error)
}

// KillChecker is a fleet that must ask the platform whether a kill in a
// mode can be healed before it is done (Azure: a scale set whose automatic
// repairs are suspended heals nothing after an abrupt kill). chaos calls it
// while preparing, so a dry run shows the refusal too. An error that wraps
// ErrRefused is a refusal with its reason; any other is a failed read.
type KillChecker interface {
	CheckKill(ctx context.Context, mode KillMode) error
}

// Substituter is a fleet whose kill may have to take another instance than
// the one named to keep the zones even (Azure's graceful kill: the extra
// VM lands in the zone the platform picks, and the instance to remove is
// the old one in that zone). KillInstead kills and returns the instance it
// took; chaos uses it for victims it picked itself, never for named ones.
type Substituter interface {
	KillInstead(ctx context.Context, id string, mode KillMode) (killed string, err error)
}

// HoldRestorer is a fleet whose experiments change a setting that Pulumi
// does not see (Azure: the autoscale minimum held during a graceful kill)
// and record the original value on the setting itself. RestoreStaleHolds
// puts back every hold whose recorded expiry has passed (a crashed or
// killed run) and says, one line each, what it restored; chaos, status and
// up call it first.
type HoldRestorer interface {
	RestoreStaleHolds(ctx context.Context) ([]string, error)
}

// Canceller is a fleet whose rolling update must be stopped before the
// stack can be deployed again (AWS: a running instance refresh would go on
// replacing instances, and while one with a desired configuration is
// active the group refuses the update that restores the previous image).
// CancelRollout asks the platform to stop the update and returns at once;
// the caller waits for Rollout to show it is no longer in progress. No
// update to cancel is not an error.
type Canceller interface {
	CancelRollout(ctx context.Context) error
}

// RevisionCleaner is a fleet whose superseded revisions outlive the deploy
// that replaced them (GCP: the program retains replaced instance templates,
// because Compute refuses to delete one the group still uses while it
// rolls). CleanupRevisions deletes those the group no longer targets and
// says what it did; one still in use stays for the next call.
type RevisionCleaner interface {
	CleanupRevisions(ctx context.Context) (Cleanup, error)
}

// Cleanup is what a CleanupRevisions did.
type Cleanup struct {
	// Deleted were removed (or already gone); InUse the cloud refused as
	// still used; Skipped are newer than the group's target (an up under
	// way may be about to use them).
	Deleted []string `json:"deleted,omitempty"`
	InUse   []string `json:"in_use,omitempty"`
	Skipped []string `json:"skipped,omitempty"`
}

// String says it in one line for people.
func (c Cleanup) String() string {
	s := fmt.Sprintf("deleted %d", len(c.Deleted))
	if len(c.Deleted) > 0 {
		s += fmt.Sprintf(" %v", c.Deleted)
	}
	if len(c.InUse) > 0 {
		s += fmt.Sprintf(", kept %v (still in use)", c.InUse)
	}
	if len(c.Skipped) > 0 {
		s += fmt.Sprintf(", kept %v (newer than the group's target)", c.Skipped)
	}
	return s
}

// State is an instance's lifecycle state, mapped from the cloud's words.
type State string

const (
	// Pending: being created or booting.
	Pending State = "pending"
	// Running: up (which does not mean the load balancer sends it traffic).
	Running State = "running"
	// Stopping: being terminated, deleted or recreated.
	Stopping State = "stopping"
	// Stopped: terminated or deleted, still listed for a moment.
	Stopped State = "stopped"
)

// Health is how the load balancer sees an instance.
type Health string

const (
	// Healthy: in rotation, passing the readiness check.
	Healthy Health = "healthy"
	// Unhealthy: failing the check; no traffic.
	Unhealthy Health = "unhealthy"
	// Initial: registered, not yet passed enough checks.
	Initial Health = "initial"
	// Draining: leaving rotation, finishing requests in flight.
	Draining Health = "draining"
	// Unregistered: the load balancer does not know the instance.
	Unregistered Health = "unregistered"
	// Unknown: the load balancer did not say.
	Unknown Health = "unknown"
)

// Instance is one member of the fleet.
type Instance struct {
	ID     string `json:"id"`
	Zone   string `json:"zone"`
	State  State  `json:"state"`
	Health Health `json:"health"`
	// Image is the machine image the instance booted, where the API tells
	// (an AMI id on AWS); empty elsewhere.
	Image string `json:"image,omitempty"`
	// Revision is what the group launched it from: launch template id and
	// version (AWS), instance template (GCP), scale set model (Azure).
	// A rollout is done when every instance has the group's target revision.
	Revision string `json:"revision"`
	// Launched is when the instance was created. GCP recreates instances
	// under the same name, so ID and Launched together name an incarnation.
	Launched time.Time `json:"launched"`
	// HealthAsOf is when the load balancer's view in Health was read, where
	// it is older than the rest of the read (Azure keeps the gateway's
	// backend health, a read of 10 to 30 s, and refreshes it every 30 s);
	// zero where the health is read with the instance.
	HealthAsOf time.Time `json:"health_as_of,omitzero"`
}

// InService reports whether the instance is running and the load balancer
// sends it traffic.
func (i Instance) InService() bool { return i.State == Running && i.Health == Healthy }

// Capacity is the group's size.
type Capacity struct {
	Desired int `json:"desired"`
	Min     int `json:"min"`
	Max     int `json:"max"`
}

// Rollout is the state of the group's rolling update.
type Rollout struct {
	// InProgress is set while instances are being replaced by the update.
	InProgress bool `json:"in_progress"`
	// Status is the cloud's own word: an instance refresh status (AWS),
	// "stable" or "updating" (GCP), a rolling upgrade status (Azure);
	// empty when the group never rolled.
	Status string `json:"status"`
	// Percent complete, -1 when the cloud does not say.
	Percent int `json:"percent"`
	// Target is the revision the group rolls to (see Instance.Revision).
	Target string `json:"target"`
	// Reached is set when every instance runs the target revision.
	Reached bool `json:"reached"`
	// Started is when the latest update began, where the cloud says (an
	// instance refresh, a rolling upgrade): an update that started and
	// finished between two looks still shows as a new start.
	Started time.Time `json:"started,omitzero"`
	// Reason is the cloud's explanation of the status, where it gives one
	// (an instance refresh's StatusReason): why it failed or waits.
	Reason string `json:"reason,omitempty"`
}

// Settings are the deployed health and healing settings.
type Settings struct {
	// CheckInterval x UnhealthyThreshold is how long the load balancer
	// takes to take a dead instance out; x HealthyThreshold to take a new
	// one in.
	CheckInterval      time.Duration
	CheckTimeout       time.Duration
	HealthyThreshold   int
	UnhealthyThreshold int
	// Drain is the load balancer's deregistration delay / connection draining.
	Drain time.Duration
	// Grace is how long the group ignores a new instance's health
	// (ASG health check grace, MIG autohealing initial delay, Azure repair grace).
	Grace time.Duration
	// Warmup is how long a rolling update waits after a new instance is in
	// service before it counts it (ASG default instance warmup, which the
	// instance refresh uses); zero where the cloud has none.
	Warmup time.Duration
	// HealInterval x HealThreshold is how long the group's own liveness
	// check takes to condemn an instance (GCP autohealing); zero where the
	// group relies on the load balancer's check or the compute API.
	HealInterval  time.Duration
	HealThreshold int
}

// KillMode says how an instance is taken away.
type KillMode string

const (
	// Abrupt: the instance fails without warning; the platform must notice
	// by itself.
	Abrupt KillMode = "abrupt"
	// Graceful: the group removes the instance itself, draining it first.
	Graceful KillMode = "graceful"
)

// ParseKillMode reads a mode as given on the command line.
func ParseKillMode(s string) (KillMode, error) {
	switch m := KillMode(s); m {
	case Abrupt, Graceful:
		return m, nil
	}
	return "", fmt.Errorf("mode %q: want %q or %q", s, Abrupt, Graceful)
}

// Errors an implementation wraps so callers can tell the cases apart.
var (
	// ErrNotFound: the instance (or group) does not exist (any more).
	ErrNotFound = errors.New("not found")
	// ErrPermission: the caller's identity may not do this.
	ErrPermission = errors.New("permission denied")
	// ErrThrottled: the API kept refusing for rate limits after retries.
	ErrThrottled = errors.New("throttled")
	// ErrRefused: the platform is in a state in which the action would
	// not do what it is for (see KillChecker).
	ErrRefused = errors.New("refused")
)

// PermissionError says which action was refused, so the user can grant it.
type PermissionError struct {
	Action string // the cloud's name for the action, e.g. ec2:TerminateInstances
	Err    error
}

func (e *PermissionError) Error() string {
	return fmt.Sprintf("missing permission %s: %v", e.Action, e.Err)
}

// Is makes errors.Is(err, ErrPermission) true.
func (e *PermissionError) Is(target error) bool { return target == ErrPermission }

func (e *PermissionError) Unwrap() error { return e.Err }

// ReadOutputs fills fields from a stack's `fleet` output, keyed by output
// name, and names every key that is missing or empty.
func ReadOutputs(m map[string]any, fields map[string]*string) error {
	var missing []string
	for key, dst := range fields {
		if s, ok := m[key].(string); ok && s != "" {
			*dst = s
		} else {
			missing = append(missing, key)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return fmt.Errorf("the stack's fleet output lacks %v: deploy it with this version of stayup", missing)
	}
	return nil
}
