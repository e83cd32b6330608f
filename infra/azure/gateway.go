package azure

import (
	network "github.com/pulumi/pulumi-azure-native-sdk/network/v2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"stayup/infra/spec"
)

// The gateway's fixed name, and the names of its parts that refer to each
// other by id.
const (
	gatewayName  = "stayup-gateway"
	backendPool  = "fleet"
	backendHTTP  = "fleet-http"
	readyProbe   = "ready"
	frontendIP   = "public"
	httpPort     = "http"
	httpsPort    = "https"
	httpListener = "http"
	tlsListener  = "https"
	tlsCert      = "service"
	toHTTPS      = "to-https"
)

// tlsPolicy is TLS 1.2 and later with strong ciphers only.
const tlsPolicy = "AppGwSslPolicy20220101S"

// Gateway is Application Gateway v2: an L7 load balancer across the zones,
// like the ALB and Google's front ends on the other clouds.
type Gateway struct {
	pulumi.ResourceState

	Gateway *network.ApplicationGateway
	// Pool is the backend pool the scale set's instances join.
	Pool pulumi.StringOutput
	URL  pulumi.StringOutput
}

func newGateway(ctx *pulumi.Context, name string, s spec.Spec, sc scope, zones []string, net *Network, opts ...pulumi.ResourceOption) (*Gateway, error) {
	g := &Gateway{}
	if err := ctx.RegisterComponentResource("stayup:azure:Gateway", name, g, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(g)
	part := func(kind, partName string) *network.SubResourceArgs {
		return &network.SubResourceArgs{Id: sc.subResource("Microsoft.Network", "applicationGateways", gatewayName, kind, partName)}
	}
	g.Pool = part("backendAddressPools", backendPool).Id.(pulumi.StringOutput)

	ip, err := network.NewPublicIPAddress(ctx, name, &network.PublicIPAddressArgs{
		ResourceGroupName:        sc.resourceGroup,
		Location:                 pulumi.String(sc.location),
		Sku:                      &network.PublicIPAddressSkuArgs{Name: pulumi.String("Standard"), Tier: pulumi.String("Regional")},
		PublicIPAllocationMethod: pulumi.String("Static"),
		PublicIPAddressVersion:   pulumi.String("IPv4"),
		// Zone-redundant: every zone of the region, whatever the gateway uses.
		Zones: pulumi.ToStringArray([]string{"1", "2", "3"}),
		Tags:  tags(ctx),
	}, parent)
	if err != nil {
		return nil, err
	}

	args := &network.ApplicationGatewayArgs{
		ResourceGroupName:      sc.resourceGroup,
		Location:               pulumi.String(sc.location),
		ApplicationGatewayName: pulumi.String(gatewayName),
		Sku:                    &network.ApplicationGatewaySkuArgs{Name: pulumi.String("Standard_v2"), Tier: pulumi.String("Standard_v2")},
		// Instances in every zone: the gateway survives a zone's loss.
		Zones: pulumi.ToStringArray(zones),
		// Two instances at least, one more per 10 connections' worth of
		// load up to 10: never a single gateway instance.
		AutoscaleConfiguration: &network.ApplicationGatewayAutoscaleConfigurationArgs{MinCapacity: pulumi.Int(2), MaxCapacity: pulumi.Int(10)},
		EnableHttp2:            pulumi.Bool(true),
		GatewayIPConfigurations: network.ApplicationGatewayIPConfigurationArray{&network.ApplicationGatewayIPConfigurationArgs{
			Name:   pulumi.String("gateway"),
			Subnet: &network.SubResourceArgs{Id: net.GatewaySubnet.ID()},
		}},
		FrontendIPConfigurations: network.ApplicationGatewayFrontendIPConfigurationArray{&network.ApplicationGatewayFrontendIPConfigurationArgs{
			Name:            pulumi.String(frontendIP),
			PublicIPAddress: &network.SubResourceArgs{Id: ip.ID()},
		}},
		FrontendPorts: network.ApplicationGatewayFrontendPortArray{
			&network.ApplicationGatewayFrontendPortArgs{Name: pulumi.String(httpPort), Port: pulumi.Int(80)},
		},
		BackendAddressPools: network.ApplicationGatewayBackendAddressPoolArray{
			// Empty here: the scale set's instances join it themselves.
			&network.ApplicationGatewayBackendAddressPoolArgs{Name: pulumi.String(backendPool)},
		},
		Probes: network.ApplicationGatewayProbeArray{&network.ApplicationGatewayProbeArgs{
			Name:     pulumi.String(readyProbe),
			Protocol: pulumi.String("Http"),
			Host:     pulumi.String("127.0.0.1"),
			Path:     pulumi.String(s.ReadyPath),
			// The same cadence as the other clouds: out of rotation after
			// 2 failed checks 5 s apart.
			Interval:                            pulumi.Int(int(spec.HealthCheckInterval.Seconds())),
			Timeout:                             pulumi.Int(int(spec.HealthCheckTimeout.Seconds())),
			UnhealthyThreshold:                  pulumi.Int(spec.UnhealthyThreshold),
			PickHostNameFromBackendHttpSettings: pulumi.Bool(false),
			Match: &network.ApplicationGatewayProbeHealthResponseMatchArgs{
				StatusCodes: pulumi.StringArray{pulumi.String("200-299")},
			},
		}},
		BackendHttpSettingsCollection: network.ApplicationGatewayBackendHttpSettingsArray{&network.ApplicationGatewayBackendHttpSettingsArgs{
			Name:                pulumi.String(backendHTTP),
			Port:                pulumi.Int(s.Port),
			Protocol:            pulumi.String("Http"),
			CookieBasedAffinity: pulumi.String("Disabled"),
			// Longer than any request the service should serve.
			RequestTimeout: pulumi.Int(30),
			Probe:          part("probes", readyProbe),
			// A leaving instance gets this long to finish its requests.
			ConnectionDraining: &network.ApplicationGatewayConnectionDrainingArgs{
				Enabled:           pulumi.Bool(true),
				DrainTimeoutInSec: pulumi.Int(int(spec.DeregistrationDelay.Seconds())),
			},
		}},
		// TLS 1.2 or later even before a certificate is configured, so
		// turning HTTPS on cannot bring an old protocol with it.
		SslPolicy: &network.ApplicationGatewaySslPolicyArgs{
			PolicyType: pulumi.String("Predefined"),
			PolicyName: pulumi.String(tlsPolicy),
		},
		Tags: tags(ctx),
	}
	forward := &network.ApplicationGatewayRequestRoutingRuleArgs{
		RuleType:            pulumi.String("Basic"),
		BackendAddressPool:  part("backendAddressPools", backendPool),
		BackendHttpSettings: part("backendHttpSettingsCollection", backendHTTP),
	}
	listener := func(name, port, protocol string) *network.ApplicationGatewayHttpListenerArgs {
		return &network.ApplicationGatewayHttpListenerArgs{
			Name:                    pulumi.String(name),
			FrontendIPConfiguration: part("frontendIPConfigurations", frontendIP),
			FrontendPort:            part("frontendPorts", port),
			Protocol:                pulumi.String(protocol),
		}
	}
	scheme := "http"
	if s.TLSCertificate != "" {
		scheme = "https"
		// Application Gateway reads Key Vault certificates only through a
		// user-assigned identity.
		args.Identity = &network.ManagedServiceIdentityArgs{
			Type:                   network.ResourceIdentityTypeUserAssigned,
			UserAssignedIdentities: pulumi.StringArray{pulumi.String(s.Azure.TLSIdentity)},
		}
		args.SslCertificates = network.ApplicationGatewaySslCertificateArray{&network.ApplicationGatewaySslCertificateArgs{
			Name:             pulumi.String(tlsCert),
			KeyVaultSecretId: pulumi.String(s.TLSCertificate),
		}}
		args.FrontendPorts = append(args.FrontendPorts.(network.ApplicationGatewayFrontendPortArray),
			&network.ApplicationGatewayFrontendPortArgs{Name: pulumi.String(httpsPort), Port: pulumi.Int(443)})
		https := listener(tlsListener, httpsPort, "Https")
		https.SslCertificate = part("sslCertificates", tlsCert)
		args.HttpListeners = network.ApplicationGatewayHttpListenerArray{listener(httpListener, httpPort, "Http"), https}
		// Plain HTTP only ever answers with a permanent redirect.
		args.RedirectConfigurations = network.ApplicationGatewayRedirectConfigurationArray{&network.ApplicationGatewayRedirectConfigurationArgs{
			Name:               pulumi.String(toHTTPS),
			RedirectType:       pulumi.String("Permanent"),
			TargetListener:     part("httpListeners", tlsListener),
			IncludePath:        pulumi.Bool(true),
			IncludeQueryString: pulumi.Bool(true),
		}}
		forward.Name, forward.Priority, forward.HttpListener = pulumi.String("serve"), pulumi.Int(100), part("httpListeners", tlsListener)
		args.RequestRoutingRules = network.ApplicationGatewayRequestRoutingRuleArray{forward, &network.ApplicationGatewayRequestRoutingRuleArgs{
			Name:                  pulumi.String("redirect"),
			Priority:              pulumi.Int(200),
			RuleType:              pulumi.String("Basic"),
			HttpListener:          part("httpListeners", httpListener),
			RedirectConfiguration: part("redirectConfigurations", toHTTPS),
		}}
	} else {
		args.HttpListeners = network.ApplicationGatewayHttpListenerArray{listener(httpListener, httpPort, "Http")}
		forward.Name, forward.Priority, forward.HttpListener = pulumi.String("serve"), pulumi.Int(100), part("httpListeners", httpListener)
		args.RequestRoutingRules = network.ApplicationGatewayRequestRoutingRuleArray{forward}
	}

	g.Gateway, err = network.NewApplicationGateway(ctx, name, args, parent)
	if err != nil {
		return nil, err
	}
	host := ip.IpAddress.Elem()
	if s.Domain != "" {
		host = pulumi.String(s.Domain).ToStringOutput()
	}
	g.URL = pulumi.Sprintf("%s://%s/", scheme, host)
	return g, ctx.RegisterResourceOutputs(g, pulumi.Map{"url": g.URL})
}
