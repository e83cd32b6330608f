// Package aws is the fleet view of an EC2 Auto Scaling group behind an
// Application Load Balancer target group, on aws-sdk-go-v2.
//
// The group says which instances are members and which template version
// each was launched from; EC2 says when each launched and whether it still
// exists; the target group says whether the load balancer sends it traffic.
package aws

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"time"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	asgtypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/smithy-go"

	"stayup/internal/fleet"
)

// AutoScalingAPI is what the fleet needs of EC2 Auto Scaling.
type AutoScalingAPI interface {
	DescribeAutoScalingGroups(context.Context, *autoscaling.DescribeAutoScalingGroupsInput, ...func(*autoscaling.Options)) (*autoscaling.DescribeAutoScalingGroupsOutput, error)
	DescribeInstanceRefreshes(context.Context, *autoscaling.DescribeInstanceRefreshesInput, ...func(*autoscaling.Options)) (*autoscaling.DescribeInstanceRefreshesOutput, error)
	TerminateInstanceInAutoScalingGroup(context.Context, *autoscaling.TerminateInstanceInAutoScalingGroupInput, ...func(*autoscaling.Options)) (*autoscaling.TerminateInstanceInAutoScalingGroupOutput, error)
}

// RefreshCancelAPI is what cancelling a rollout needs of EC2 Auto Scaling.
// It is apart from AutoScalingAPI so fakes that only read need not have
// it; the SDK's client has both.
type RefreshCancelAPI interface {
	CancelInstanceRefresh(context.Context, *autoscaling.CancelInstanceRefreshInput, ...func(*autoscaling.Options)) (*autoscaling.CancelInstanceRefreshOutput, error)
}

// EC2API is what the fleet needs of EC2.
type EC2API interface {
	DescribeInstances(context.Context, *ec2.DescribeInstancesInput, ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error)
	TerminateInstances(context.Context, *ec2.TerminateInstancesInput, ...func(*ec2.Options)) (*ec2.TerminateInstancesOutput, error)
}

// ELBAPI is what the fleet needs of Elastic Load Balancing v2.
type ELBAPI interface {
	DescribeTargetHealth(context.Context, *elb.DescribeTargetHealthInput, ...func(*elb.Options)) (*elb.DescribeTargetHealthOutput, error)
	DescribeTargetGroups(context.Context, *elb.DescribeTargetGroupsInput, ...func(*elb.Options)) (*elb.DescribeTargetGroupsOutput, error)
	DescribeTargetGroupAttributes(context.Context, *elb.DescribeTargetGroupAttributesInput, ...func(*elb.Options)) (*elb.DescribeTargetGroupAttributesOutput, error)
}

// Clients are the SDK clients a Fleet calls; tests pass fakes.
type Clients struct {
	ASG AutoScalingAPI
	EC2 EC2API
	ELB ELBAPI
}

// Outputs is the stack's `fleet` output on AWS.
type Outputs struct {
	ASGName          string
	TargetGroupARN   string
	LaunchTemplateID string
}

// ParseOutputs reads the stack's `fleet` output.
func ParseOutputs(m map[string]any) (Outputs, error) {
	o := Outputs{}
	err := fleet.ReadOutputs(m, map[string]*string{
		"asgName": &o.ASGName, "targetGroupArn": &o.TargetGroupARN, "launchTemplateId": &o.LaunchTemplateID,
	})
	return o, err
}

// Fleet is an Auto Scaling group and its target group.
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

// Open builds the clients from the default credential chain (environment,
// shared config and SSO, instance or task role) for the region.
func Open(ctx context.Context, region string, out Outputs) (*Fleet, error) {
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(region))
	if err != nil {
		return nil, fmt.Errorf("load AWS credentials: %w", err)
	}
	return New(out, Clients{
		ASG: autoscaling.NewFromConfig(cfg),
		EC2: ec2.NewFromConfig(cfg),
		ELB: elb.NewFromConfig(cfg),
	}), nil
}

// Cloud is "aws".
func (f *Fleet) Cloud() string { return "aws" }

// Name is the Auto Scaling group's name.
func (f *Fleet) Name() string { return f.out.ASGName }

// call runs one API call with the throttling backoff, and turns the
// cloud's error codes into the fleet's errors. action is the IAM action.
func (f *Fleet) call(ctx context.Context, action string, do func() error) error {
	err := f.backoff.Do(ctx, action, throttled, do)
	if err == nil {
		return nil
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnauthorizedAccess":
			return &fleet.PermissionError{Action: action, Err: err}
		case "InvalidInstanceID.NotFound", "InvalidInstanceID.Malformed", "TargetGroupNotFound":
			return fmt.Errorf("%s: %w: %w", action, fleet.ErrNotFound, err)
		}
	}
	return fmt.Errorf("%s: %w", action, err)
}

// throttled reports the error codes AWS APIs use for rate limits.
func throttled(err error) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.ErrorCode() {
	case "Throttling", "ThrottlingException", "ThrottledException", "RequestLimitExceeded",
		"TooManyRequestsException", "RequestThrottled", "RequestThrottledException", "SlowDown":
		return true
	}
	return false
}

func (f *Fleet) group(ctx context.Context) (asgtypes.AutoScalingGroup, error) {
	var out *autoscaling.DescribeAutoScalingGroupsOutput
	err := f.call(ctx, "autoscaling:DescribeAutoScalingGroups", func() (err error) {
		out, err = f.c.ASG.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{
			AutoScalingGroupNames: []string{f.out.ASGName},
		})
		return err
	})
	if err != nil {
		return asgtypes.AutoScalingGroup{}, err
	}
	for _, g := range out.AutoScalingGroups {
		if sdkaws.ToString(g.AutoScalingGroupName) == f.out.ASGName {
			return g, nil
		}
	}
	return asgtypes.AutoScalingGroup{}, fmt.Errorf("auto scaling group %s: %w (was the stack destroyed?)", f.out.ASGName, fleet.ErrNotFound)
}

// Capacity is the group's desired, minimum and maximum size.
func (f *Fleet) Capacity(ctx context.Context) (fleet.Capacity, error) {
	g, err := f.group(ctx)
	if err != nil {
		return fleet.Capacity{}, err
	}
	return fleet.Capacity{
		Desired: int(sdkaws.ToInt32(g.DesiredCapacity)),
		Min:     int(sdkaws.ToInt32(g.MinSize)),
		Max:     int(sdkaws.ToInt32(g.MaxSize)),
	}, nil
}

// Instances lists the group's members, joined with EC2's description and
// the target group's health. An instance the group lists but EC2 no longer
// knows (terminated between the two calls) is left out: it is gone.
func (f *Fleet) Instances(ctx context.Context) ([]fleet.Instance, error) {
	g, err := f.group(ctx)
	if err != nil {
		return nil, err
	}
	described, err := f.describe(ctx)
	if err != nil {
		return nil, err
	}
	health, err := f.targetHealth(ctx)
	if err != nil {
		return nil, err
	}
	var list []fleet.Instance
	for _, gi := range g.Instances {
		id := sdkaws.ToString(gi.InstanceId)
		ei, ok := described[id]
		if !ok {
			slog.Debug("instance listed by the group is gone from EC2", "instance", id)
			continue
		}
		in := fleet.Instance{
			ID:       id,
			Zone:     sdkaws.ToString(gi.AvailabilityZone),
			State:    state(gi.LifecycleState, ei.State),
			Health:   fleet.Unregistered,
			Image:    sdkaws.ToString(ei.ImageId),
			Revision: revision(gi.LaunchTemplate),
			Launched: sdkaws.ToTime(ei.LaunchTime),
		}
		if h, ok := health[id]; ok {
			in.Health = h
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

// describe pages through EC2's instances tagged with the group's name
// (the group tags its instances), so one call covers any group size.
func (f *Fleet) describe(ctx context.Context) (map[string]ec2types.Instance, error) {
	found := map[string]ec2types.Instance{}
	var token *string
	for {
		var out *ec2.DescribeInstancesOutput
		err := f.call(ctx, "ec2:DescribeInstances", func() (err error) {
			out, err = f.c.EC2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{
				Filters: []ec2types.Filter{
					{Name: sdkaws.String("tag:aws:autoscaling:groupName"), Values: []string{f.out.ASGName}},
				},
				MaxResults: sdkaws.Int32(100),
				NextToken:  token,
			})
			return err
		})
		if err != nil {
			return nil, err
		}
		for _, r := range out.Reservations {
			for _, i := range r.Instances {
				if i.State != nil && i.State.Name == ec2types.InstanceStateNameTerminated {
					continue
				}
				found[sdkaws.ToString(i.InstanceId)] = i
			}
		}
		if sdkaws.ToString(out.NextToken) == "" {
			return found, nil
		}
		token = out.NextToken
	}
}

func (f *Fleet) targetHealth(ctx context.Context) (map[string]fleet.Health, error) {
	var out *elb.DescribeTargetHealthOutput
	err := f.call(ctx, "elasticloadbalancing:DescribeTargetHealth", func() (err error) {
		out, err = f.c.ELB.DescribeTargetHealth(ctx, &elb.DescribeTargetHealthInput{TargetGroupArn: &f.out.TargetGroupARN})
		return err
	})
	if err != nil {
		return nil, err
	}
	h := map[string]fleet.Health{}
	for _, d := range out.TargetHealthDescriptions {
		if d.Target == nil || d.TargetHealth == nil {
			continue
		}
		h[sdkaws.ToString(d.Target.Id)] = health(d.TargetHealth.State)
	}
	return h, nil
}

func health(s elbtypes.TargetHealthStateEnum) fleet.Health {
	switch s {
	case elbtypes.TargetHealthStateEnumHealthy:
		return fleet.Healthy
	case elbtypes.TargetHealthStateEnumInitial:
		return fleet.Initial
	case elbtypes.TargetHealthStateEnumUnhealthy, elbtypes.TargetHealthStateEnumUnavailable:
		return fleet.Unhealthy
	case elbtypes.TargetHealthStateEnumDraining, elbtypes.TargetHealthStateEnumUnhealthyDraining:
		return fleet.Draining
	case elbtypes.TargetHealthStateEnumUnused:
		return fleet.Unregistered
	}
	return fleet.Unknown
}

// state combines the group's lifecycle state with EC2's.
func state(l asgtypes.LifecycleState, s *ec2types.InstanceState) fleet.State {
	if s != nil {
		switch s.Name {
		case ec2types.InstanceStateNameShuttingDown, ec2types.InstanceStateNameStopping:
			return fleet.Stopping
		case ec2types.InstanceStateNameTerminated, ec2types.InstanceStateNameStopped:
			return fleet.Stopped
		case ec2types.InstanceStateNamePending:
			return fleet.Pending
		}
	}
	switch l {
	case asgtypes.LifecycleStateInService:
		return fleet.Running
	case asgtypes.LifecycleStateTerminated, asgtypes.LifecycleStateDetached:
		return fleet.Stopped
	case asgtypes.LifecycleStatePending, asgtypes.LifecycleStatePendingWait, asgtypes.LifecycleStatePendingProceed:
		return fleet.Pending
	}
	return fleet.Stopping // terminating, detaching, standby: leaving service
}

func revision(lt *asgtypes.LaunchTemplateSpecification) string {
	if lt == nil {
		return ""
	}
	return sdkaws.ToString(lt.LaunchTemplateId) + ":" + sdkaws.ToString(lt.Version)
}

// Kill terminates the instance. Abrupt: EC2 TerminateInstances with
// SkipOsShutdown, behind the group's back: a crash, not a shutdown. Without
// it EC2 first shuts the OS down cleanly (systemd stops the unit, docker
// sends SIGTERM, the app drains), which is a graceful kill by another name
// ("Methods for terminating an instance", EC2 user guide). The group finds
// the instance gone on its next health check and launches a replacement,
// while the target group sees the dead instance fail its checks. Graceful: the group's own
// TerminateInstanceInAutoScalingGroup without decrementing the desired
// capacity, so the group deregisters it from the target group (which
// drains it) before terminating it, and launches a replacement.
func (f *Fleet) Kill(ctx context.Context, id string, mode fleet.KillMode) error {
	switch mode {
	case fleet.Abrupt:
		err := f.call(ctx, "ec2:TerminateInstances", func() error {
			_, err := f.c.EC2.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}, SkipOsShutdown: sdkaws.Bool(true)})
			return err
		})
		if err != nil {
			return fmt.Errorf("terminate instance %s: %w", id, err)
		}
		return nil
	case fleet.Graceful:
		err := f.call(ctx, "autoscaling:TerminateInstanceInAutoScalingGroup", func() error {
			_, err := f.c.ASG.TerminateInstanceInAutoScalingGroup(ctx, &autoscaling.TerminateInstanceInAutoScalingGroupInput{
				InstanceId:                     &id,
				ShouldDecrementDesiredCapacity: sdkaws.Bool(false),
			})
			return err
		})
		var ae smithy.APIError
		// The group answers ValidationError "Instance Id not found" for an
		// instance that is not (any more) a member.
		if errors.As(err, &ae) && ae.ErrorCode() == "ValidationError" {
			return fmt.Errorf("terminate instance %s in group %s: %w: %w", id, f.out.ASGName, fleet.ErrNotFound, err)
		}
		if err != nil {
			return fmt.Errorf("terminate instance %s in group %s: %w", id, f.out.ASGName, err)
		}
		return nil
	}
	return fmt.Errorf("kill %s: unknown mode %q", id, mode)
}

// Rollout reports the group's latest instance refresh.
func (f *Fleet) Rollout(ctx context.Context) (fleet.Rollout, error) {
	g, err := f.group(ctx)
	if err != nil {
		return fleet.Rollout{}, err
	}
	r := fleet.Rollout{Percent: -1, Target: revision(g.LaunchTemplate)}
	var out *autoscaling.DescribeInstanceRefreshesOutput
	err = f.call(ctx, "autoscaling:DescribeInstanceRefreshes", func() (err error) {
		out, err = f.c.ASG.DescribeInstanceRefreshes(ctx, &autoscaling.DescribeInstanceRefreshesInput{
			AutoScalingGroupName: &f.out.ASGName,
			MaxRecords:           sdkaws.Int32(1), // the latest comes first
		})
		return err
	})
	if err != nil {
		return fleet.Rollout{}, err
	}
	if len(out.InstanceRefreshes) > 0 {
		ir := out.InstanceRefreshes[0]
		r.Status = string(ir.Status)
		r.Reason = sdkaws.ToString(ir.StatusReason)
		if ir.StartTime != nil {
			r.Started = *ir.StartTime
		}
		if ir.PercentageComplete != nil {
			r.Percent = int(*ir.PercentageComplete)
		}
		// In progress: the group is still replacing instances, so an up
		// now would cancel the refresh or be refused. A rollback in
		// progress is one too, though to rollout it is already a failed
		// roll forward (see rollout's failedStatus).
		switch ir.Status {
		case asgtypes.InstanceRefreshStatusPending, asgtypes.InstanceRefreshStatusInProgress,
			asgtypes.InstanceRefreshStatusCancelling, asgtypes.InstanceRefreshStatusRollbackInProgress,
			asgtypes.InstanceRefreshStatusBaking:
			r.InProgress = true
		}
	}
	r.Reached = r.Target != ""
	for _, i := range g.Instances {
		if revision(i.LaunchTemplate) != r.Target {
			r.Reached = false
		}
	}
	return r, nil
}

// CancelRollout cancels the group's active instance refresh (or the
// rollback of one); the refresh then shows Cancelling until the launches
// and terminations under way are done, then Cancelled. AWS answers
// ActiveInstanceRefreshNotFound when none is active: nothing to cancel.
func (f *Fleet) CancelRollout(ctx context.Context) error {
	api, ok := f.c.ASG.(RefreshCancelAPI)
	if !ok {
		return fmt.Errorf("cancel the instance refresh of group %s: the Auto Scaling client cannot", f.out.ASGName)
	}
	err := f.call(ctx, "autoscaling:CancelInstanceRefresh", func() error {
		_, err := api.CancelInstanceRefresh(ctx, &autoscaling.CancelInstanceRefreshInput{AutoScalingGroupName: &f.out.ASGName})
		return err
	})
	var none *asgtypes.ActiveInstanceRefreshNotFoundFault
	var ae smithy.APIError
	if errors.As(err, &none) || errors.As(err, &ae) && ae.ErrorCode() == "ActiveInstanceRefreshNotFound" {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cancel the instance refresh of group %s: %w", f.out.ASGName, err)
	}
	return nil
}

// Settings reads the target group's health check and drain, and the
// group's health check grace period and default instance warmup (which
// the instance refresh uses: infra/aws sets its InstanceWarmup to the same).
func (f *Fleet) Settings(ctx context.Context) (fleet.Settings, error) {
	g, err := f.group(ctx)
	if err != nil {
		return fleet.Settings{}, err
	}
	s := fleet.Settings{Grace: seconds(g.HealthCheckGracePeriod), Warmup: seconds(g.DefaultInstanceWarmup)}
	var tgs *elb.DescribeTargetGroupsOutput
	err = f.call(ctx, "elasticloadbalancing:DescribeTargetGroups", func() (err error) {
		tgs, err = f.c.ELB.DescribeTargetGroups(ctx, &elb.DescribeTargetGroupsInput{TargetGroupArns: []string{f.out.TargetGroupARN}})
		return err
	})
	if err != nil {
		return s, err
	}
	if len(tgs.TargetGroups) == 0 {
		return s, fmt.Errorf("target group %s: %w", f.out.TargetGroupARN, fleet.ErrNotFound)
	}
	tg := tgs.TargetGroups[0]
	s.CheckInterval = seconds(tg.HealthCheckIntervalSeconds)
	s.CheckTimeout = seconds(tg.HealthCheckTimeoutSeconds)
	s.HealthyThreshold = int(sdkaws.ToInt32(tg.HealthyThresholdCount))
	s.UnhealthyThreshold = int(sdkaws.ToInt32(tg.UnhealthyThresholdCount))
	var attrs *elb.DescribeTargetGroupAttributesOutput
	err = f.call(ctx, "elasticloadbalancing:DescribeTargetGroupAttributes", func() (err error) {
		attrs, err = f.c.ELB.DescribeTargetGroupAttributes(ctx, &elb.DescribeTargetGroupAttributesInput{TargetGroupArn: &f.out.TargetGroupARN})
		return err
	})
	if err != nil {
		return s, err
	}
	for _, a := range attrs.Attributes {
		if sdkaws.ToString(a.Key) == "deregistration_delay.timeout_seconds" {
			if n, err := strconv.Atoi(sdkaws.ToString(a.Value)); err == nil {
				s.Drain = time.Duration(n) * time.Second
			}
		}
	}
	return s, nil
}

func seconds(n *int32) time.Duration { return time.Duration(sdkaws.ToInt32(n)) * time.Second }
