package chaos

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sort"
	"strconv"
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
)

// The simulated fleet: each instance is a real HTTP server on loopback,
// behind lb, a small reverse proxy that health-checks its targets like an
// ALB target group. sim plays the Auto Scaling, EC2 and ELB APIs over them,
// so the real fleet/aws code reads it, and replaces a killed instance after
// a delay the way an Auto Scaling group does.

// backend is one instance's app.
type backend struct {
	srv *http.Server
	url *url.URL
}

func startBackend(t *testing.T, id string) *backend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "hello from %s\n", id)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return &backend{srv: srv, url: &url.URL{Scheme: "http", Host: ln.Addr().String()}}
}

// kill stops the server at once: connections are closed, new ones refused.
func (b *backend) kill() { b.srv.Close() }

// lb is the load balancer: round robin over healthy targets, a health
// check every interval, in or out after threshold checks in a row.
type lb struct {
	mu        sync.Mutex
	targets   map[string]*target
	rr        int
	interval  time.Duration
	threshold int
	client    *http.Client
	proxy     *httputil.ReverseProxy
}

type target struct {
	id       string
	b        *backend
	state    elbtypes.TargetHealthStateEnum
	ok, fail int
}

type ctxKey struct{}

func newLB(t *testing.T, interval time.Duration) (*lb, string) {
	l := &lb{targets: map[string]*target{}, interval: interval, threshold: 2, client: &http.Client{Timeout: interval / 2}}
	l.proxy = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(r.In.Context().Value(ctxKey{}).(*url.URL)) },
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, _ error) {
			w.WriteHeader(http.StatusBadGateway) // what an ALB answers when its target fails
		},
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: l}
	go srv.Serve(ln)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); srv.Close() })
	go l.check(ctx)
	return l, "http://" + ln.Addr().String() + "/"
}

func (l *lb) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	l.mu.Lock()
	var healthy []*target
	for _, t := range l.targets {
		if t.state == elbtypes.TargetHealthStateEnumHealthy {
			healthy = append(healthy, t)
		}
	}
	sort.Slice(healthy, func(i, j int) bool { return healthy[i].id < healthy[j].id })
	var to *backend
	if len(healthy) > 0 {
		l.rr++
		to = healthy[l.rr%len(healthy)].b
	}
	l.mu.Unlock()
	if to == nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	l.proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, to.url)))
}

func (l *lb) check(ctx context.Context) {
	tick := time.NewTicker(l.interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		l.mu.Lock()
		var ts []*target
		for _, t := range l.targets {
			if t.state != elbtypes.TargetHealthStateEnumDraining {
				ts = append(ts, t)
			}
		}
		l.mu.Unlock()
		for _, t := range ts {
			resp, err := l.client.Get(t.b.url.String() + "/readyz")
			ok := err == nil && resp.StatusCode == http.StatusOK
			if err == nil {
				resp.Body.Close()
			}
			l.mu.Lock()
			if ok {
				t.ok, t.fail = t.ok+1, 0
				if t.ok >= l.threshold && t.state != elbtypes.TargetHealthStateEnumDraining {
					t.state = elbtypes.TargetHealthStateEnumHealthy
				}
			} else {
				t.ok, t.fail = 0, t.fail+1
				if t.fail >= l.threshold && t.state != elbtypes.TargetHealthStateEnumDraining {
					t.state = elbtypes.TargetHealthStateEnumUnhealthy
				}
			}
			l.mu.Unlock()
		}
	}
}

func (l *lb) register(id string, b *backend) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.targets[id] = &target{id: id, b: b, state: elbtypes.TargetHealthStateEnumInitial}
}

func (l *lb) drain(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if t, ok := l.targets[id]; ok {
		t.state = elbtypes.TargetHealthStateEnumDraining
	}
}

func (l *lb) deregister(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.targets, id)
}

func (l *lb) allHealthy(n int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	h := 0
	for _, t := range l.targets {
		if t.state == elbtypes.TargetHealthStateEnumHealthy {
			h++
		}
	}
	return h == n
}

// sim plays the three AWS APIs over the instances and the lb.
type sim struct {
	t            *testing.T
	mu           sync.Mutex
	lb           *lb
	members      []*simInstance
	next         int
	desired      int
	replaceAfter time.Duration
	drainFor     time.Duration
	timers       []*time.Timer
	// skipOS records each TerminateInstances call's SkipOsShutdown: an
	// abrupt kill must bypass the clean OS shutdown EC2 does by default
	// ("Methods for terminating an instance", EC2 user guide).
	skipOS []bool
}

type simInstance struct {
	id        string
	zone      string
	lifecycle asgtypes.LifecycleState
	state     ec2types.InstanceStateName
	launched  time.Time
	b         *backend
}

func newSim(t *testing.T, l *lb, n int) *sim {
	s := &sim{t: t, lb: l, desired: n, replaceAfter: 300 * time.Millisecond, drainFor: 150 * time.Millisecond}
	for i := range n {
		s.launch(fmt.Sprintf("zone-%c", 'a'+i))
	}
	t.Cleanup(func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, tm := range s.timers {
			tm.Stop()
		}
	})
	return s
}

// launch starts an instance; the caller holds no lock or the sim's.
func (s *sim) launch(zone string) {
	s.next++
	id := "i-" + strconv.Itoa(s.next)
	b := startBackend(s.t, id)
	s.members = append(s.members, &simInstance{id: id, zone: zone, lifecycle: asgtypes.LifecycleStateInService, state: ec2types.InstanceStateNameRunning, launched: time.Now(), b: b})
	s.lb.register(id, b)
}

func (s *sim) after(d time.Duration, f func()) {
	s.timers = append(s.timers, time.AfterFunc(d, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		f()
	}))
}

func (s *sim) find(id string) *simInstance {
	for _, m := range s.members {
		if m.id == id {
			return m
		}
	}
	return nil
}

// remove takes an instance out of the group and the lb and launches its
// replacement in the same zone, as the group does.
func (s *sim) replace(m *simInstance) {
	for i, x := range s.members {
		if x == m {
			s.members = append(s.members[:i], s.members[i+1:]...)
		}
	}
	s.lb.deregister(m.id)
	s.launch(m.zone)
}

func (s *sim) TerminateInstances(_ context.Context, in *ec2.TerminateInstancesInput, _ ...func(*ec2.Options)) (*ec2.TerminateInstancesOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.skipOS = append(s.skipOS, sdkaws.ToBool(in.SkipOsShutdown))
	for _, id := range in.InstanceIds {
		m := s.find(id)
		if m == nil {
			return nil, fmt.Errorf("InvalidInstanceID.NotFound: %s", id)
		}
		// Behind the group's back: the app dies now; the lb finds out by
		// its checks, the group by its own after a while.
		m.b.kill()
		m.state = ec2types.InstanceStateNameShuttingDown
		s.after(s.replaceAfter, func() { s.replace(m) })
	}
	return &ec2.TerminateInstancesOutput{}, nil
}

func (s *sim) TerminateInstanceInAutoScalingGroup(_ context.Context, in *autoscaling.TerminateInstanceInAutoScalingGroupInput, _ ...func(*autoscaling.Options)) (*autoscaling.TerminateInstanceInAutoScalingGroupOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.find(sdkaws.ToString(in.InstanceId))
	if m == nil {
		return nil, fmt.Errorf("ValidationError: Instance Id not found")
	}
	// The group deregisters it first: the lb sends it nothing new and lets
	// requests in flight finish, then the instance is terminated.
	m.lifecycle = asgtypes.LifecycleStateTerminating
	s.lb.drain(m.id)
	s.after(s.drainFor, func() {
		m.b.kill()
		m.state = ec2types.InstanceStateNameShuttingDown
	})
	s.after(s.replaceAfter, func() { s.replace(m) })
	return &autoscaling.TerminateInstanceInAutoScalingGroupOutput{}, nil
}

func (s *sim) DescribeAutoScalingGroups(context.Context, *autoscaling.DescribeAutoScalingGroupsInput, ...func(*autoscaling.Options)) (*autoscaling.DescribeAutoScalingGroupsOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := asgtypes.AutoScalingGroup{
		AutoScalingGroupName: sdkaws.String("sim-asg"),
		DesiredCapacity:      sdkaws.Int32(int32(s.desired)), MinSize: sdkaws.Int32(3), MaxSize: sdkaws.Int32(9),
		HealthCheckGracePeriod: sdkaws.Int32(1),
		LaunchTemplate:         &asgtypes.LaunchTemplateSpecification{LaunchTemplateId: sdkaws.String("lt-sim"), Version: sdkaws.String("1")},
	}
	for _, m := range s.members {
		g.Instances = append(g.Instances, asgtypes.Instance{
			InstanceId: sdkaws.String(m.id), AvailabilityZone: sdkaws.String(m.zone), LifecycleState: m.lifecycle,
			LaunchTemplate: g.LaunchTemplate,
		})
	}
	return &autoscaling.DescribeAutoScalingGroupsOutput{AutoScalingGroups: []asgtypes.AutoScalingGroup{g}}, nil
}

func (s *sim) DescribeInstanceRefreshes(context.Context, *autoscaling.DescribeInstanceRefreshesInput, ...func(*autoscaling.Options)) (*autoscaling.DescribeInstanceRefreshesOutput, error) {
	return &autoscaling.DescribeInstanceRefreshesOutput{}, nil
}

// DescribeInstances answers two instances a page, as EC2 pages.
func (s *sim) DescribeInstances(_ context.Context, in *ec2.DescribeInstancesInput, _ ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	start, _ := strconv.Atoi(sdkaws.ToString(in.NextToken))
	out := &ec2.DescribeInstancesOutput{}
	end := min(start+2, len(s.members))
	for _, m := range s.members[start:end] {
		out.Reservations = append(out.Reservations, ec2types.Reservation{Instances: []ec2types.Instance{{
			InstanceId: sdkaws.String(m.id), ImageId: sdkaws.String("ami-sim"), LaunchTime: sdkaws.Time(m.launched),
			State: &ec2types.InstanceState{Name: m.state},
		}}})
	}
	if end < len(s.members) {
		out.NextToken = sdkaws.String(strconv.Itoa(end))
	}
	return out, nil
}

func (s *sim) DescribeTargetHealth(context.Context, *elb.DescribeTargetHealthInput, ...func(*elb.Options)) (*elb.DescribeTargetHealthOutput, error) {
	s.lb.mu.Lock()
	defer s.lb.mu.Unlock()
	out := &elb.DescribeTargetHealthOutput{}
	for id, t := range s.lb.targets {
		out.TargetHealthDescriptions = append(out.TargetHealthDescriptions, elbtypes.TargetHealthDescription{
			Target: &elbtypes.TargetDescription{Id: sdkaws.String(id)}, TargetHealth: &elbtypes.TargetHealth{State: t.state},
		})
	}
	return out, nil
}

func (s *sim) DescribeTargetGroups(context.Context, *elb.DescribeTargetGroupsInput, ...func(*elb.Options)) (*elb.DescribeTargetGroupsOutput, error) {
	return &elb.DescribeTargetGroupsOutput{TargetGroups: []elbtypes.TargetGroup{{
		HealthCheckIntervalSeconds: sdkaws.Int32(1), HealthCheckTimeoutSeconds: sdkaws.Int32(1),
		HealthyThresholdCount: sdkaws.Int32(2), UnhealthyThresholdCount: sdkaws.Int32(2),
	}}}, nil
}

func (s *sim) DescribeTargetGroupAttributes(context.Context, *elb.DescribeTargetGroupAttributesInput, ...func(*elb.Options)) (*elb.DescribeTargetGroupAttributesOutput, error) {
	return &elb.DescribeTargetGroupAttributesOutput{Attributes: []elbtypes.TargetGroupAttribute{
		{Key: sdkaws.String("deregistration_delay.timeout_seconds"), Value: sdkaws.String("1")},
	}}, nil
}
