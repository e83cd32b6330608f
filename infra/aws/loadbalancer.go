package aws

import (
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/lb"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"stayup/infra/spec"
)

// tlsPolicy accepts TLS 1.3 and TLS 1.2 with forward-secret ciphers only.
const tlsPolicy = "ELBSecurityPolicy-TLS13-1-2-2021-06"

// LoadBalancer is the internet-facing ALB, its listeners and the target
// group the fleet registers in.
type LoadBalancer struct {
	pulumi.ResourceState

	ALB         *lb.LoadBalancer
	TargetGroup *lb.TargetGroup
	// Listeners attach the target group to the load balancer: until they
	// exist, an instance registered in the group gets no health checks.
	Listeners []pulumi.Resource
	URL       pulumi.StringOutput
}

func newLoadBalancer(ctx *pulumi.Context, name string, s spec.Spec, net *Network, account string, opts ...pulumi.ResourceOption) (*LoadBalancer, error) {
	l := &LoadBalancer{}
	if err := ctx.RegisterComponentResource("stayup:aws:LoadBalancer", name, l, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(l)

	logs, logsPolicy, err := accessLogs(ctx, name+"-logs", s, account, parent)
	if err != nil {
		return nil, err
	}
	l.ALB, err = lb.NewLoadBalancer(ctx, name, &lb.LoadBalancerArgs{
		LoadBalancerType: pulumi.String("application"),
		Internal:         pulumi.Bool(false),
		IpAddressType:    pulumi.String(ipAddressType(s)),
		// One node per zone's public subnet: the ALB survives a zone's loss.
		Subnets:        net.PublicSubnets,
		SecurityGroups: pulumi.StringArray{net.LBSecurityGroup.ID()},
		// Requests with malformed headers are dropped, not passed to the
		// app (FSBP ELB.4), and ambiguous ones are refused (ELB.12).
		DropInvalidHeaderFields:  pulumi.Bool(true),
		DesyncMitigationMode:     pulumi.String("defensive"),
		EnableDeletionProtection: pulumi.Bool(s.AWS.DeletionProtection),
		EnableHttp2:              pulumi.Bool(true),
		// 60 s: the app's keep-alive idle timeout is longer, so the ALB
		// closes idle connections first and never reuses a closed one.
		IdleTimeout: pulumi.Int(60),
		// ALBs always balance across zones; written out to be explicit.
		EnableCrossZoneLoadBalancing: pulumi.Bool(true),
		// One line per request, kept logRetentionDays.
		AccessLogs: &lb.LoadBalancerAccessLogsArgs{Bucket: logs.ID(), Enabled: pulumi.Bool(true)},
		Tags:       tags(ctx, name),
		// AWS checks that it may write to the bucket when logging is set.
	}, parent, pulumi.DependsOn([]pulumi.Resource{logsPolicy}))
	if err != nil {
		return nil, err
	}

	l.TargetGroup, err = lb.NewTargetGroup(ctx, name, &lb.TargetGroupArgs{
		VpcId:      net.VPC.ID(),
		TargetType: pulumi.String("instance"),
		Protocol:   pulumi.String("HTTP"),
		Port:       pulumi.Int(s.Port),
		// In-flight requests to a leaving instance get this long to finish.
		DeregistrationDelay:        pulumi.Int(int(spec.DeregistrationDelay.Seconds())),
		LoadBalancingAlgorithmType: pulumi.String("round_robin"),
		// No slow start: instances serve as soon as they pass the checks,
		// which is what keeps a rollout's surge short.
		SlowStart: pulumi.Int(0),
		HealthCheck: &lb.TargetGroupHealthCheckArgs{
			Enabled:            pulumi.Bool(true),
			Protocol:           pulumi.String("HTTP"),
			Port:               pulumi.String("traffic-port"),
			Path:               pulumi.String(s.ReadyPath),
			Matcher:            pulumi.String("200-299"),
			Interval:           pulumi.Int(int(spec.HealthCheckInterval.Seconds())),
			Timeout:            pulumi.Int(int(spec.HealthCheckTimeout.Seconds())),
			HealthyThreshold:   pulumi.Int(spec.HealthyThreshold),
			UnhealthyThreshold: pulumi.Int(spec.UnhealthyThreshold),
		},
		Tags: tags(ctx, name),
	}, parent)
	if err != nil {
		return nil, err
	}

	forward := lb.ListenerDefaultActionArray{&lb.ListenerDefaultActionArgs{
		Type:           pulumi.String("forward"),
		TargetGroupArn: l.TargetGroup.Arn,
	}}
	httpActions := forward
	scheme := "http"
	if s.TLSCertificate != "" {
		scheme = "https"
		// Plain HTTP only ever answers with a permanent redirect.
		httpActions = lb.ListenerDefaultActionArray{&lb.ListenerDefaultActionArgs{
			Type: pulumi.String("redirect"),
			Redirect: &lb.ListenerDefaultActionRedirectArgs{
				Protocol:   pulumi.String("HTTPS"),
				Port:       pulumi.String("443"),
				StatusCode: pulumi.String("HTTP_301"),
			},
		}}
		https, err := lb.NewListener(ctx, name+"-https", &lb.ListenerArgs{
			LoadBalancerArn: l.ALB.Arn,
			Port:            pulumi.Int(443),
			Protocol:        pulumi.String("HTTPS"),
			SslPolicy:       pulumi.String(tlsPolicy),
			CertificateArn:  pulumi.String(s.TLSCertificate),
			DefaultActions:  forward,
			Tags:            tags(ctx, name+"-https"),
		}, parent)
		if err != nil {
			return nil, err
		}
		l.Listeners = append(l.Listeners, https)
	}
	// HTTP starts redirecting only once HTTPS answers: when TLS is added
	// to a deployed stack, the HTTPS listener and its port's ingress exist
	// before the redirect sends clients there.
	plain, err := lb.NewListener(ctx, name+"-http", &lb.ListenerArgs{
		LoadBalancerArn: l.ALB.Arn,
		Port:            pulumi.Int(80),
		Protocol:        pulumi.String("HTTP"),
		DefaultActions:  httpActions,
		Tags:            tags(ctx, name+"-http"),
	}, parent, pulumi.DependsOn(append(append([]pulumi.Resource{}, l.Listeners...), net.LBIngress[443]...)))
	if err != nil {
		return nil, err
	}
	l.Listeners = append(l.Listeners, plain)

	host := l.ALB.DnsName
	if s.Domain != "" {
		host = pulumi.String(s.Domain).ToStringOutput()
	}
	l.URL = pulumi.Sprintf("%s://%s/", scheme, host)
	return l, ctx.RegisterResourceOutputs(l, pulumi.Map{"url": l.URL})
}

// ipAddressType is dual-stack when IPv6 clients are allowed in.
func ipAddressType(s spec.Spec) string {
	if s.IPv6() {
		return "dualstack"
	}
	return "ipv4"
}
