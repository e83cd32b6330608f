package gcp

import (
	"fmt"

	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/compute"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"stayup/infra/spec"
)

// LoadBalancer is the global external Application Load Balancer: a
// reserved address, forwarding rules, proxies, the URL map and the backend
// service over the fleet.
type LoadBalancer struct {
	pulumi.ResourceState

	Backend *compute.BackendService
	// Address is the IPv4 address the url names; IPv6 holds the second
	// address when IPv6 clients are allowed in.
	Address *compute.GlobalAddress
	IPv6    *compute.GlobalAddress
	URL     pulumi.StringOutput
	// Certificate is the Google-managed certificate the stack creates for
	// stayup:domain; nil with a certificate of the user's or without HTTPS.
	Certificate *compute.ManagedSslCertificate
}

// The label on the HTTP forwarding rules while they serve the fleet
// instead of redirecting (stayup:httpsRedirect false): it puts the phase in
// the resource graph, where the compliance rules read it, and in the
// console next to the rule.
const (
	redirectLabel       = "stayup-https-redirect"
	awaitingCertificate = "awaiting-certificate"
)

// everyone is the default allowedCidrs: no Cloud Armor policy is needed.
func everyone(cidrs []string) bool {
	for _, c := range cidrs {
		if c != "0.0.0.0/0" && c != "::/0" {
			return false
		}
	}
	return true
}

func newLoadBalancer(ctx *pulumi.Context, name string, s spec.Spec, fleet *Fleet, opts ...pulumi.ResourceOption) (*LoadBalancer, error) {
	l := &LoadBalancer{}
	if err := ctx.RegisterComponentResource("stayup:gcp:LoadBalancer", name, l, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(l)
	project := pulumi.String(s.Project)

	backendArgs := &compute.BackendServiceArgs{
		Project:             project,
		Description:         pulumi.String("the stayup fleet behind the global load balancer"),
		LoadBalancingScheme: pulumi.String("EXTERNAL_MANAGED"),
		Protocol:            pulumi.String("HTTP"),
		PortName:            pulumi.String(namedPort),
		HealthChecks:        fleet.Readiness.ID(),
		// A leaving instance gets this long to finish its requests.
		ConnectionDrainingTimeoutSec: pulumi.Int(int(spec.DeregistrationDelay.Seconds())),
		// Longer than any request the service should serve.
		TimeoutSec: pulumi.Int(30),
		Backends: compute.BackendServiceBackendArray{&compute.BackendServiceBackendArgs{
			Group:         fleet.Group.InstanceGroup,
			BalancingMode: pulumi.String("UTILIZATION"),
			// Spill to the other zones' instances before one runs hot.
			MaxUtilization: pulumi.Float64(0.8),
			CapacityScaler: pulumi.Float64(1),
		}},
		// Every request logged: the evidence behind a probe's figures.
		LogConfig: &compute.BackendServiceLogConfigArgs{Enable: pulumi.Bool(true), SampleRate: pulumi.Float64(1)},
	}
	if !everyone(s.AllowedCIDRs) {
		policy, err := allowList(ctx, name, s, parent)
		if err != nil {
			return nil, err
		}
		backendArgs.SecurityPolicy = policy.ID()
	}
	var err error
	l.Backend, err = compute.NewBackendService(ctx, name, backendArgs, parent)
	if err != nil {
		return nil, err
	}

	l.Address, err = compute.NewGlobalAddress(ctx, name, &compute.GlobalAddressArgs{
		Project:     project,
		Description: pulumi.String("the service's public address: stays the same across updates"),
		AddressType: pulumi.String("EXTERNAL"),
		IpVersion:   pulumi.String("IPV4"),
	}, parent)
	if err != nil {
		return nil, err
	}
	// Google's front ends take IPv6 only on an IPv6 address: without one,
	// an IPv6 range in allowedCidrs would admit nobody.
	if s.IPv6() {
		l.IPv6, err = compute.NewGlobalAddress(ctx, name+"-v6", &compute.GlobalAddressArgs{
			Project:     project,
			Description: pulumi.String("the service's IPv6 address"),
			AddressType: pulumi.String("EXTERNAL"),
			IpVersion:   pulumi.String("IPV6"),
		}, parent)
		if err != nil {
			return nil, err
		}
	}

	serve, err := compute.NewURLMap(ctx, name, &compute.URLMapArgs{
		Project:        project,
		Description:    pulumi.String("every request to the fleet"),
		DefaultService: l.Backend.ID(),
	}, parent)
	if err != nil {
		return nil, err
	}

	httpMap := serve
	httpLabels := labels(ctx)
	scheme, host := "http", l.Address.Address
	if s.HTTPS() {
		scheme = "https"
		if s.Domain != "" {
			host = pulumi.String(s.Domain).ToStringOutput()
		}
		if err := l.https(ctx, name, s, serve, parent); err != nil {
			return nil, err
		}
	}
	if !s.RedirectHTTP() && s.ManagedCertificate() {
		// The managed certificate provisions only once the domain resolves
		// to this address, after this up: until stayup:httpsRedirect says it
		// is ACTIVE, HTTP serves the fleet through the same URL map as
		// HTTPS, so clients always get an answer.
		httpLabels[redirectLabel] = pulumi.String(awaitingCertificate)
	}
	if s.RedirectHTTP() {
		// Plain HTTP only ever answers with a permanent redirect.
		httpMap, err = compute.NewURLMap(ctx, name+"-redirect", &compute.URLMapArgs{
			Project:     project,
			Description: pulumi.String("redirects HTTP to HTTPS"),
			DefaultUrlRedirect: &compute.URLMapDefaultUrlRedirectArgs{
				HttpsRedirect:        pulumi.Bool(true),
				RedirectResponseCode: pulumi.String("MOVED_PERMANENTLY_DEFAULT"),
				StripQuery:           pulumi.Bool(false),
			},
		}, parent)
		if err != nil {
			return nil, err
		}
	}
	httpProxy, err := compute.NewTargetHttpProxy(ctx, name, &compute.TargetHttpProxyArgs{
		Project: project,
		UrlMap:  httpMap.ID(),
		// Google's front ends keep client connections 610 s by default;
		// written out so the app's idle timeout can be set above it.
		HttpKeepAliveTimeoutSec: pulumi.Int(610),
	}, parent)
	if err != nil {
		return nil, err
	}
	if err := l.listen(ctx, name+"-http", s, 80, httpProxy.ID(), httpLabels, parent); err != nil {
		return nil, err
	}

	l.URL = pulumi.Sprintf("%s://%s/", scheme, host)
	return l, ctx.RegisterResourceOutputs(l, pulumi.Map{"url": l.URL})
}

// https adds the TLS front: a certificate (Google-managed for the domain,
// or the one named), a modern TLS policy, the proxy and port 443.
func (l *LoadBalancer) https(ctx *pulumi.Context, name string, s spec.Spec, urlMap *compute.URLMap, parent pulumi.ResourceOption) error {
	project := pulumi.String(s.Project)
	certificate := pulumi.String(s.TLSCertificate).ToStringOutput()
	if s.TLSCertificate == "" {
		cert, err := compute.NewManagedSslCertificate(ctx, name, &compute.ManagedSslCertificateArgs{
			Project:     project,
			Description: pulumi.String(fmt.Sprintf("Google-managed certificate for %s", s.Domain)),
			Type:        pulumi.String("MANAGED"),
			Managed: &compute.ManagedSslCertificateManagedArgs{
				Domains: pulumi.StringArray{pulumi.String(s.Domain)},
			},
		}, parent)
		if err != nil {
			return err
		}
		certificate = cert.ID().ToStringOutput()
		l.Certificate = cert
	}
	policy, err := compute.NewSSLPolicy(ctx, name, &compute.SSLPolicyArgs{
		Project:       project,
		Description:   pulumi.String("TLS 1.2 and later, modern ciphers only"),
		Profile:       pulumi.String("MODERN"),
		MinTlsVersion: pulumi.String("TLS_1_2"),
	}, parent)
	if err != nil {
		return err
	}
	proxy, err := compute.NewTargetHttpsProxy(ctx, name, &compute.TargetHttpsProxyArgs{
		Project:                 project,
		UrlMap:                  urlMap.ID(),
		SslCertificates:         pulumi.StringArray{certificate},
		SslPolicy:               policy.ID(),
		HttpKeepAliveTimeoutSec: pulumi.Int(610),
	}, parent)
	if err != nil {
		return err
	}
	return l.listen(ctx, name+"-https", s, 443, proxy.ID(), labels(ctx), parent)
}

// listen forwards a port on each of the service's addresses to a proxy.
func (l *LoadBalancer) listen(ctx *pulumi.Context, name string, s spec.Spec, port int, proxy pulumi.IDOutput, labels pulumi.StringMap, parent pulumi.ResourceOption) error {
	addresses := map[string]*compute.GlobalAddress{name: l.Address}
	if l.IPv6 != nil {
		addresses[name+"-v6"] = l.IPv6
	}
	for rule, address := range addresses {
		if _, err := compute.NewGlobalForwardingRule(ctx, rule, &compute.GlobalForwardingRuleArgs{
			Project:             pulumi.String(s.Project),
			Description:         pulumi.String(fmt.Sprintf("port %d on the service's address", port)),
			LoadBalancingScheme: pulumi.String("EXTERNAL_MANAGED"),
			IpAddress:           address.Address,
			IpProtocol:          pulumi.String("TCP"),
			PortRange:           pulumi.String(fmt.Sprint(port)),
			Target:              proxy,
			Labels:              labels,
		}, parent); err != nil {
			return err
		}
	}
	return nil
}

// allowList admits only allowedCidrs at the load balancer. Firewall rules
// cannot: Google's front ends, not the clients, connect to the instances.
func allowList(ctx *pulumi.Context, name string, s spec.Spec, parent pulumi.ResourceOption) (*compute.SecurityPolicy, error) {
	rules := compute.SecurityPolicyRuleTypeArray{}
	// Cloud Armor takes at most 10 ranges per rule.
	for i := 0; i < len(s.AllowedCIDRs); i += 10 {
		chunk := s.AllowedCIDRs[i:min(i+10, len(s.AllowedCIDRs))]
		rules = append(rules, &compute.SecurityPolicyRuleTypeArgs{
			Action:      pulumi.String("allow"),
			Priority:    pulumi.Int(1000 + i/10),
			Description: pulumi.String("the clients stayup:allowedCidrs lets in"),
			Match: &compute.SecurityPolicyRuleMatchArgs{
				VersionedExpr: pulumi.String("SRC_IPS_V1"),
				Config:        &compute.SecurityPolicyRuleMatchConfigArgs{SrcIpRanges: pulumi.ToStringArray(chunk)},
			},
		})
	}
	rules = append(rules, &compute.SecurityPolicyRuleTypeArgs{
		Action:      pulumi.String("deny(403)"),
		Priority:    pulumi.Int(2147483647),
		Description: pulumi.String("everyone else"),
		Match: &compute.SecurityPolicyRuleMatchArgs{
			VersionedExpr: pulumi.String("SRC_IPS_V1"),
			Config:        &compute.SecurityPolicyRuleMatchConfigArgs{SrcIpRanges: pulumi.StringArray{pulumi.String("*")}},
		},
	})
	return compute.NewSecurityPolicy(ctx, name, &compute.SecurityPolicyArgs{
		Project:     pulumi.String(s.Project),
		Description: pulumi.String("only stayup:allowedCidrs may reach the service"),
		Type:        pulumi.String("CLOUD_ARMOR"),
		Rules:       rules,
	}, parent)
}
