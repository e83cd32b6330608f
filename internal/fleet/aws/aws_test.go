package aws

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	asgtypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/smithy-go"

	"stayup/internal/fleet"
)

// fakeAWS plays the three APIs: it records every call and answers from
// scripted state, the way the real services page and fail.
type fakeAWS struct {
	mu    sync.Mutex
	calls []string

	group     asgtypes.AutoScalingGroup
	pages     []*ec2.DescribeInstancesOutput // EC2 pages; NextToken "p<i>" asks for page i
	tokens    []string                       // NextToken each DescribeInstances call got
	health    []elbtypes.TargetHealthDescription
	refreshes []asgtypes.InstanceRefresh
	tg        elbtypes.TargetGroup
	attrs     []elbtypes.TargetGroupAttribute

	// errs scripts failures: the next calls of an operation return these
	// errors, one per call, before it answers normally.
	errs map[string][]error

	terminated []string
	// crashed: each TerminateInstances call's SkipOsShutdown. Without it
	// EC2 shuts the OS down cleanly first ("Methods for terminating an
	// instance", EC2 user guide): the app drains, which is no crash.
	crashed   []bool
	asgKilled []*autoscaling.TerminateInstanceInAutoScalingGroupInput

	// cancelling counts the DescribeInstanceRefreshes calls a cancelled
	// refresh stays Cancelling for before it shows Cancelled.
	cancelling int
	updates    []*autoscaling.UpdateAutoScalingGroupInput
}

// active reports the latest refresh when it is still running: the states
// in which AWS still replaces instances (Auto Scaling API reference,
// InstanceRefresh.Status).
func (f *fakeAWS) active() *asgtypes.InstanceRefresh {
	if len(f.refreshes) == 0 {
		return nil
	}
	switch r := &f.refreshes[0]; r.Status {
	case asgtypes.InstanceRefreshStatusPending, asgtypes.InstanceRefreshStatusInProgress,
		asgtypes.InstanceRefreshStatusCancelling, asgtypes.InstanceRefreshStatusRollbackInProgress,
		asgtypes.InstanceRefreshStatusBaking:
		return r
	}
	return nil
}

// UpdateAutoScalingGroup is what the provider calls on an up; the fleet
// never does, but the fake holds the platform's rule for the tests that
// play a rollout on it. AWS refuses to change the launch template while
// an instance refresh with a desired configuration is active: "An active
// instance refresh with a desired configuration exists. All configuration
// options derived from the desired configuration are not available for
// update while the instance refresh is active." (Auto Scaling user guide,
// "How an instance refresh works", Limitations: Update restriction, which
// calls it a validation error; the provider surfaces it as
// "ValidationError: ... status code: 400"). The API reference lists no
// modelled fault for it, so it is the generic ValidationError.
func (f *fakeAWS) UpdateAutoScalingGroup(_ context.Context, in *autoscaling.UpdateAutoScalingGroupInput, _ ...func(*autoscaling.Options)) (*autoscaling.UpdateAutoScalingGroupOutput, error) {
	if err := f.record("UpdateAutoScalingGroup"); err != nil {
		return nil, err
	}
	if r := f.active(); r != nil && r.DesiredConfiguration != nil && (in.LaunchTemplate != nil || in.MixedInstancesPolicy != nil) {
		return nil, &smithy.GenericAPIError{Code: "ValidationError", Message: "An active instance refresh with a desired configuration exists. All configuration options derived from the desired configuration are not available for update while the instance refresh is active.", Fault: smithy.FaultClient}
	}
	f.updates = append(f.updates, in)
	if in.LaunchTemplate != nil {
		f.group.LaunchTemplate = in.LaunchTemplate
	}
	return &autoscaling.UpdateAutoScalingGroupOutput{}, nil
}

// CancelInstanceRefresh cancels "an instance refresh or rollback that is
// in progress. If an instance refresh or rollback is not in progress, an
// ActiveInstanceRefreshNotFound error occurs" (API reference). The refresh
// shows Cancelling while in-flight launches and terminations finish
// (WaitForTransitioningInstances defaults to true), then Cancelled.
func (f *fakeAWS) CancelInstanceRefresh(_ context.Context, in *autoscaling.CancelInstanceRefreshInput, _ ...func(*autoscaling.Options)) (*autoscaling.CancelInstanceRefreshOutput, error) {
	if err := f.record("CancelInstanceRefresh"); err != nil {
		return nil, err
	}
	r := f.active()
	if r == nil || r.Status == asgtypes.InstanceRefreshStatusCancelling {
		return nil, &asgtypes.ActiveInstanceRefreshNotFoundFault{Message: sdkaws.String("No in progress or pending Instance Refresh found for Auto Scaling group " + sdkaws.ToString(in.AutoScalingGroupName))}
	}
	r.Status, r.StatusReason = asgtypes.InstanceRefreshStatusCancelling, nil
	if f.cancelling == 0 {
		f.cancelling = 1
	}
	return &autoscaling.CancelInstanceRefreshOutput{InstanceRefreshId: r.InstanceRefreshId}, nil
}

func (f *fakeAWS) record(op string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, op)
	if q := f.errs[op]; len(q) > 0 {
		f.errs[op] = q[1:]
		return q[0]
	}
	return nil
}

func (f *fakeAWS) count(op string) int {
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

func (f *fakeAWS) DescribeAutoScalingGroups(_ context.Context, in *autoscaling.DescribeAutoScalingGroupsInput, _ ...func(*autoscaling.Options)) (*autoscaling.DescribeAutoScalingGroupsOutput, error) {
	if err := f.record("DescribeAutoScalingGroups"); err != nil {
		return nil, err
	}
	out := &autoscaling.DescribeAutoScalingGroupsOutput{}
	if len(in.AutoScalingGroupNames) == 1 && in.AutoScalingGroupNames[0] == sdkaws.ToString(f.group.AutoScalingGroupName) {
		out.AutoScalingGroups = []asgtypes.AutoScalingGroup{f.group}
	}
	return out, nil
}

func (f *fakeAWS) DescribeInstanceRefreshes(_ context.Context, in *autoscaling.DescribeInstanceRefreshesInput, _ ...func(*autoscaling.Options)) (*autoscaling.DescribeInstanceRefreshesOutput, error) {
	if err := f.record("DescribeInstanceRefreshes"); err != nil {
		return nil, err
	}
	if r := f.active(); r != nil && r.Status == asgtypes.InstanceRefreshStatusCancelling {
		if f.cancelling--; f.cancelling < 0 {
			r.Status = asgtypes.InstanceRefreshStatusCancelled
		}
	}
	n := min(len(f.refreshes), int(sdkaws.ToInt32(in.MaxRecords)))
	return &autoscaling.DescribeInstanceRefreshesOutput{InstanceRefreshes: f.refreshes[:n]}, nil
}

func (f *fakeAWS) TerminateInstanceInAutoScalingGroup(_ context.Context, in *autoscaling.TerminateInstanceInAutoScalingGroupInput, _ ...func(*autoscaling.Options)) (*autoscaling.TerminateInstanceInAutoScalingGroupOutput, error) {
	if err := f.record("TerminateInstanceInAutoScalingGroup"); err != nil {
		return nil, err
	}
	f.asgKilled = append(f.asgKilled, in)
	return &autoscaling.TerminateInstanceInAutoScalingGroupOutput{}, nil
}

func (f *fakeAWS) DescribeInstances(_ context.Context, in *ec2.DescribeInstancesInput, _ ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error) {
	if err := f.record("DescribeInstances"); err != nil {
		return nil, err
	}
	tok := sdkaws.ToString(in.NextToken)
	f.tokens = append(f.tokens, tok)
	i := 0
	if tok != "" {
		i = int(tok[1] - '0')
	}
	if len(f.pages) == 0 {
		return &ec2.DescribeInstancesOutput{}, nil
	}
	return f.pages[i], nil
}

func (f *fakeAWS) TerminateInstances(_ context.Context, in *ec2.TerminateInstancesInput, _ ...func(*ec2.Options)) (*ec2.TerminateInstancesOutput, error) {
	if err := f.record("TerminateInstances"); err != nil {
		return nil, err
	}
	f.terminated = append(f.terminated, in.InstanceIds...)
	f.crashed = append(f.crashed, sdkaws.ToBool(in.SkipOsShutdown))
	return &ec2.TerminateInstancesOutput{}, nil
}

func (f *fakeAWS) DescribeTargetHealth(context.Context, *elb.DescribeTargetHealthInput, ...func(*elb.Options)) (*elb.DescribeTargetHealthOutput, error) {
	if err := f.record("DescribeTargetHealth"); err != nil {
		return nil, err
	}
	return &elb.DescribeTargetHealthOutput{TargetHealthDescriptions: f.health}, nil
}

func (f *fakeAWS) DescribeTargetGroups(context.Context, *elb.DescribeTargetGroupsInput, ...func(*elb.Options)) (*elb.DescribeTargetGroupsOutput, error) {
	if err := f.record("DescribeTargetGroups"); err != nil {
		return nil, err
	}
	return &elb.DescribeTargetGroupsOutput{TargetGroups: []elbtypes.TargetGroup{f.tg}}, nil
}

func (f *fakeAWS) DescribeTargetGroupAttributes(context.Context, *elb.DescribeTargetGroupAttributesInput, ...func(*elb.Options)) (*elb.DescribeTargetGroupAttributesOutput, error) {
	if err := f.record("DescribeTargetGroupAttributes"); err != nil {
		return nil, err
	}
	return &elb.DescribeTargetGroupAttributesOutput{Attributes: f.attrs}, nil
}

var (
	t0  = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	out = Outputs{ASGName: "stayup-asg", TargetGroupARN: "arn:tg", LaunchTemplateID: "lt-1"}
)

func lt(version string) *asgtypes.LaunchTemplateSpecification {
	return &asgtypes.LaunchTemplateSpecification{LaunchTemplateId: sdkaws.String("lt-1"), Version: sdkaws.String(version)}
}

func member(id, zone string, state asgtypes.LifecycleState, version string) asgtypes.Instance {
	return asgtypes.Instance{InstanceId: sdkaws.String(id), AvailabilityZone: sdkaws.String(zone), LifecycleState: state, LaunchTemplate: lt(version)}
}

func described(id string, state ec2types.InstanceStateName, launched time.Time) ec2types.Instance {
	return ec2types.Instance{InstanceId: sdkaws.String(id), ImageId: sdkaws.String("ami-1"), LaunchTime: sdkaws.Time(launched), State: &ec2types.InstanceState{Name: state}}
}

func target(id string, s elbtypes.TargetHealthStateEnum) elbtypes.TargetHealthDescription {
	return elbtypes.TargetHealthDescription{Target: &elbtypes.TargetDescription{Id: sdkaws.String(id)}, TargetHealth: &elbtypes.TargetHealth{State: s}}
}

// threeInstances is a group of four members where i-4 vanished from EC2
// between the group's list and EC2's describe, and EC2 answers in two pages.
func threeInstances() *fakeAWS {
	return &fakeAWS{
		group: asgtypes.AutoScalingGroup{
			AutoScalingGroupName: sdkaws.String("stayup-asg"),
			DesiredCapacity:      sdkaws.Int32(3), MinSize: sdkaws.Int32(2), MaxSize: sdkaws.Int32(9),
			HealthCheckGracePeriod: sdkaws.Int32(180), DefaultInstanceWarmup: sdkaws.Int32(60),
			LaunchTemplate: lt("4"),
			Instances: []asgtypes.Instance{
				member("i-2", "us-east-1b", asgtypes.LifecycleStateInService, "4"),
				member("i-1", "us-east-1a", asgtypes.LifecycleStateInService, "4"),
				member("i-3", "us-east-1c", asgtypes.LifecycleStatePending, "3"),
				member("i-4", "us-east-1c", asgtypes.LifecycleStateTerminating, "3"),
			},
		},
		pages: []*ec2.DescribeInstancesOutput{
			{Reservations: []ec2types.Reservation{{Instances: []ec2types.Instance{described("i-1", ec2types.InstanceStateNameRunning, t0)}}}, NextToken: sdkaws.String("p1")},
			{Reservations: []ec2types.Reservation{
				{Instances: []ec2types.Instance{described("i-2", ec2types.InstanceStateNameRunning, t0.Add(time.Minute))}},
				{Instances: []ec2types.Instance{described("i-3", ec2types.InstanceStateNamePending, t0.Add(2*time.Minute))}},
			}},
		},
		health: []elbtypes.TargetHealthDescription{
			target("i-1", elbtypes.TargetHealthStateEnumHealthy),
			target("i-2", elbtypes.TargetHealthStateEnumUnhealthyDraining),
			target("i-3", elbtypes.TargetHealthStateEnumInitial),
		},
		errs: map[string][]error{},
	}
}

func newFleet(f *fakeAWS) *Fleet {
	return New(out, Clients{ASG: f, EC2: f, ELB: f}).WithBackoff(fleet.Backoff{Base: time.Millisecond, Max: 2 * time.Millisecond, Attempts: 4})
}

func TestInstancesPagesJoinsAndDropsVanished(t *testing.T) {
	t.Parallel()
	f := threeInstances()
	got, err := newFleet(f).Instances(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []fleet.Instance{
		{ID: "i-1", Zone: "us-east-1a", State: fleet.Running, Health: fleet.Healthy, Image: "ami-1", Revision: "lt-1:4", Launched: t0},
		{ID: "i-2", Zone: "us-east-1b", State: fleet.Running, Health: fleet.Draining, Image: "ami-1", Revision: "lt-1:4", Launched: t0.Add(time.Minute)},
		{ID: "i-3", Zone: "us-east-1c", State: fleet.Pending, Health: fleet.Initial, Image: "ami-1", Revision: "lt-1:3", Launched: t0.Add(2 * time.Minute)},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d instances %+v, want %d (i-4 vanished)", len(got), got, len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("instance %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
	if got, want := strings.Join(f.tokens, ","), ",p1"; got != want {
		t.Errorf("DescribeInstances tokens %q, want %q (both pages)", got, want)
	}
}

func TestThrottlingRetriedWithBackoff(t *testing.T) {
	t.Parallel()
	throttle := &smithy.GenericAPIError{Code: "Throttling", Message: "Rate exceeded"}
	f := threeInstances()
	f.errs["DescribeAutoScalingGroups"] = []error{throttle, throttle}
	f.errs["DescribeTargetHealth"] = []error{&smithy.GenericAPIError{Code: "ThrottlingException"}}
	if _, err := newFleet(f).Instances(context.Background()); err != nil {
		t.Fatalf("throttled calls should be retried: %v", err)
	}
	if got, want := f.count("DescribeAutoScalingGroups"), 3; got != want {
		t.Errorf("DescribeAutoScalingGroups called %d times, want %d", got, want)
	}
	if got, want := f.count("DescribeTargetHealth"), 2; got != want {
		t.Errorf("DescribeTargetHealth called %d times, want %d", got, want)
	}

	f = threeInstances()
	f.errs["DescribeAutoScalingGroups"] = []error{throttle, throttle, throttle, throttle, throttle}
	_, err := newFleet(f).Capacity(context.Background())
	if !errors.Is(err, fleet.ErrThrottled) {
		t.Fatalf("after the attempts run out: %v, want ErrThrottled", err)
	}
	if got, want := f.count("DescribeAutoScalingGroups"), 4; got != want {
		t.Errorf("DescribeAutoScalingGroups called %d times, want %d (the backoff's attempts)", got, want)
	}
}

func TestMissingPermissionsReported(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, op, code, action string
		run                    func(*Fleet) error
	}{
		{"terminate", "TerminateInstances", "UnauthorizedOperation", "ec2:TerminateInstances",
			func(fl *Fleet) error { return fl.Kill(context.Background(), "i-1", fleet.Abrupt) }},
		{"graceful", "TerminateInstanceInAutoScalingGroup", "AccessDenied", "autoscaling:TerminateInstanceInAutoScalingGroup",
			func(fl *Fleet) error { return fl.Kill(context.Background(), "i-1", fleet.Graceful) }},
		{"health", "DescribeTargetHealth", "AccessDenied", "elasticloadbalancing:DescribeTargetHealth",
			func(fl *Fleet) error { _, err := fl.Instances(context.Background()); return err }},
		{"cancel", "CancelInstanceRefresh", "AccessDenied", "autoscaling:CancelInstanceRefresh",
			func(fl *Fleet) error { return fl.CancelRollout(context.Background()) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := threeInstances()
			f.errs[tc.op] = []error{&smithy.GenericAPIError{Code: tc.code, Message: "not authorized"}}
			err := tc.run(newFleet(f))
			if !errors.Is(err, fleet.ErrPermission) {
				t.Fatalf("err %v, want a permission error", err)
			}
			if !strings.Contains(err.Error(), tc.action) {
				t.Errorf("err %q does not name the action %s", err, tc.action)
			}
			if got := f.count(tc.op); got != 1 {
				t.Errorf("%s called %d times: a refusal is not retried", tc.op, got)
			}
		})
	}
}

func TestKillModes(t *testing.T) {
	t.Parallel()
	f := threeInstances()
	fl := newFleet(f)
	if err := fl.Kill(context.Background(), "i-1", fleet.Abrupt); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(f.terminated, ","), "i-1"; got != want {
		t.Errorf("abrupt terminated %q, want %q", got, want)
	}
	if len(f.crashed) != 1 || !f.crashed[0] {
		t.Errorf("abrupt terminate SkipOsShutdown %v, want true: without it the OS shuts down cleanly and the app drains", f.crashed)
	}
	if err := fl.Kill(context.Background(), "i-2", fleet.Graceful); err != nil {
		t.Fatal(err)
	}
	if len(f.asgKilled) != 1 || sdkaws.ToString(f.asgKilled[0].InstanceId) != "i-2" {
		t.Fatalf("graceful: group terminate calls %+v, want one for i-2", f.asgKilled)
	}
	if dec := f.asgKilled[0].ShouldDecrementDesiredCapacity; dec == nil || *dec {
		t.Errorf("graceful must not decrement the desired capacity (the group replaces the instance)")
	}
	if got := f.count("TerminateInstances"); got != 1 {
		t.Errorf("graceful called EC2 TerminateInstances: the group must remove it itself")
	}
}

func TestKillVanishedInstance(t *testing.T) {
	t.Parallel()
	f := threeInstances()
	f.errs["TerminateInstances"] = []error{&smithy.GenericAPIError{Code: "InvalidInstanceID.NotFound"}}
	f.errs["TerminateInstanceInAutoScalingGroup"] = []error{&smithy.GenericAPIError{Code: "ValidationError", Message: "Instance Id not found - No managed instance found for instance ID: i-9"}}
	fl := newFleet(f)
	if err := fl.Kill(context.Background(), "i-9", fleet.Abrupt); !errors.Is(err, fleet.ErrNotFound) {
		t.Errorf("abrupt: %v, want ErrNotFound", err)
	}
	if err := fl.Kill(context.Background(), "i-9", fleet.Graceful); !errors.Is(err, fleet.ErrNotFound) {
		t.Errorf("graceful: %v, want ErrNotFound", err)
	}
}

func TestCapacityAndMissingGroup(t *testing.T) {
	t.Parallel()
	f := threeInstances()
	got, err := newFleet(f).Capacity(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := (fleet.Capacity{Desired: 3, Min: 2, Max: 9}); got != want {
		t.Errorf("capacity %+v, want %+v", got, want)
	}
	f.group.AutoScalingGroupName = sdkaws.String("other")
	if _, err := newFleet(f).Capacity(context.Background()); !errors.Is(err, fleet.ErrNotFound) {
		t.Errorf("missing group: %v, want ErrNotFound", err)
	}
}

func TestRollout(t *testing.T) {
	t.Parallel()
	f := threeInstances()
	f.refreshes = []asgtypes.InstanceRefresh{
		{Status: asgtypes.InstanceRefreshStatusInProgress, PercentageComplete: sdkaws.Int32(33), StartTime: sdkaws.Time(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC))},
		{Status: asgtypes.InstanceRefreshStatusSuccessful, PercentageComplete: sdkaws.Int32(100)},
	}
	got, err := newFleet(f).Rollout(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := fleet.Rollout{InProgress: true, Status: "InProgress", Percent: 33, Target: "lt-1:4", Reached: false, Started: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	if got != want {
		t.Errorf("rollout %+v, want %+v", got, want)
	}

	f.refreshes = nil
	for i := range f.group.Instances {
		f.group.Instances[i].LaunchTemplate = lt("4")
	}
	got, _ = newFleet(f).Rollout(context.Background())
	if want := (fleet.Rollout{Percent: -1, Target: "lt-1:4", Reached: true}); got != want {
		t.Errorf("never refreshed, all on the target: %+v, want %+v", got, want)
	}
}

func TestSettings(t *testing.T) {
	t.Parallel()
	f := threeInstances()
	f.tg = elbtypes.TargetGroup{HealthCheckIntervalSeconds: sdkaws.Int32(5), HealthCheckTimeoutSeconds: sdkaws.Int32(3), HealthyThresholdCount: sdkaws.Int32(2), UnhealthyThresholdCount: sdkaws.Int32(2)}
	f.attrs = []elbtypes.TargetGroupAttribute{{Key: sdkaws.String("deregistration_delay.timeout_seconds"), Value: sdkaws.String("30")}}
	got, err := newFleet(f).Settings(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := fleet.Settings{CheckInterval: 5 * time.Second, CheckTimeout: 3 * time.Second, HealthyThreshold: 2, UnhealthyThreshold: 2, Drain: 30 * time.Second, Grace: 180 * time.Second, Warmup: 60 * time.Second}
	if got != want {
		t.Errorf("settings %+v, want %+v", got, want)
	}
}

func TestParseOutputs(t *testing.T) {
	t.Parallel()
	got, err := ParseOutputs(map[string]any{"asgName": "a", "targetGroupArn": "b", "launchTemplateId": "c"})
	if err != nil || got != (Outputs{"a", "b", "c"}) {
		t.Errorf("ParseOutputs = %+v, %v", got, err)
	}
	if _, err := ParseOutputs(map[string]any{"asgName": "a"}); err == nil || !strings.Contains(err.Error(), "targetGroupArn") {
		t.Errorf("missing keys: %v, want an error naming targetGroupArn", err)
	}
}

// desiredRefresh is an instance refresh started with a desired
// configuration, as the provider starts one when auto rollback is on,
// whose new instances never pass the health check: AWS rolls it back and
// reports why.
func desiredRefresh(status asgtypes.InstanceRefreshStatus, reason string) asgtypes.InstanceRefresh {
	return asgtypes.InstanceRefresh{
		InstanceRefreshId: sdkaws.String("ir-2"), Status: status, StatusReason: sdkaws.String(reason),
		PercentageComplete: sdkaws.Int32(0), StartTime: sdkaws.Time(t0),
		DesiredConfiguration: &asgtypes.DesiredConfiguration{LaunchTemplate: lt("4")},
		Preferences:          &asgtypes.RefreshPreferences{AutoRollback: sdkaws.Bool(true)},
	}
}

// A refresh rolling back is reported as such, with its reason, and still
// in progress (an up now would be refused).
func TestRolloutReportsRollbackInProgress(t *testing.T) {
	t.Parallel()
	f := threeInstances()
	const why = "The instance refresh failed because new instances did not pass health checks. Rolling back."
	f.refreshes = []asgtypes.InstanceRefresh{desiredRefresh(asgtypes.InstanceRefreshStatusRollbackInProgress, why)}
	got, err := newFleet(f).Rollout(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != "RollbackInProgress" || !got.InProgress || got.Reason != why {
		t.Errorf("rollout %+v, want RollbackInProgress, in progress, with the status reason", got)
	}
}

// Cancelling: the group refuses a template update while the refresh with
// a desired configuration is active; CancelRollout stops it (Cancelling,
// then Cancelled), after which the update goes through; a second cancel
// finds nothing to cancel, which is not an error.
func TestCancelRolloutThenUpdate(t *testing.T) {
	t.Parallel()
	f := threeInstances()
	f.refreshes = []asgtypes.InstanceRefresh{desiredRefresh(asgtypes.InstanceRefreshStatusRollbackInProgress, "rolling back")}
	fl := newFleet(f)
	ctx := context.Background()
	update := &autoscaling.UpdateAutoScalingGroupInput{AutoScalingGroupName: sdkaws.String("stayup-asg"), LaunchTemplate: lt("5")}
	_, err := f.UpdateAutoScalingGroup(ctx, update)
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "ValidationError" || !strings.Contains(ae.ErrorMessage(), "An active instance refresh with a desired configuration exists") {
		t.Fatalf("update during the refresh: %v, want AWS's ValidationError", err)
	}
	if err := fl.CancelRollout(ctx); err != nil {
		t.Fatal(err)
	}
	var seen []string
	for range 5 {
		r, err := fl.Rollout(ctx)
		if err != nil {
			t.Fatal(err)
		}
		seen = append(seen, r.Status)
		if !r.InProgress {
			break
		}
	}
	if got, want := strings.Join(seen, ","), "Cancelling,Cancelled"; got != want {
		t.Errorf("statuses after cancel %s, want %s", got, want)
	}
	if _, err := f.UpdateAutoScalingGroup(ctx, update); err != nil {
		t.Errorf("update after the refresh stopped: %v", err)
	}
	if err := fl.CancelRollout(ctx); err != nil {
		t.Errorf("nothing to cancel: %v, want nil", err)
	}
	if got := f.count("CancelInstanceRefresh"); got != 2 {
		t.Errorf("CancelInstanceRefresh called %d times, want 2", got)
	}
}
