package aws_test

import (
	"encoding/base64"
	"encoding/json"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"stayup/infra/aws"
	"stayup/infra/spec"
	"stayup/internal/graph"
	"stayup/internal/testkit"
)

// plan records the AWS service for eu-west-1 with extra config.
func plan(t *testing.T, kv ...string) *graph.Graph {
	t.Helper()
	g, err := record(kv...)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func record(kv ...string) (*graph.Graph, error) {
	cfg := map[string]string{"stayup:cloud": "aws", "aws:region": "eu-west-1"}
	for i := 0; i+1 < len(kv); i += 2 {
		cfg[kv[i]] = kv[i+1]
	}
	s, err := spec.Parse(spec.MapLookup(cfg))
	if err != nil {
		return nil, err
	}
	return graph.Record("stayup", "test", cfg, func(ctx *pulumi.Context) (pulumi.Map, error) {
		svc, err := aws.NewService(ctx, "stayup", s)
		if err != nil {
			return nil, err
		}
		return pulumi.Map{"url": svc.URL, "fleet": svc.Fleet}, nil
	})
}

// routesVia returns the type of the target of a subnet's default route.
func defaultRouteOf(t *testing.T, g *graph.Graph, subnet *graph.Resource) string {
	t.Helper()
	for _, assoc := range g.ByType("aws:ec2/routeTableAssociation:RouteTableAssociation") {
		if assoc.Str("subnetId") != subnet.ID {
			continue
		}
		rt := g.Ref(assoc.Str("routeTableId"))
		if rt == nil {
			t.Fatalf("association %s names no route table", assoc.Name)
		}
		for _, route := range rt.List("routes") {
			if graph.Lookup(route, "cidrBlock") != "0.0.0.0/0" {
				continue
			}
			for _, key := range []string{"natGatewayId", "gatewayId"} {
				if target := g.Ref(graph.Lookup(route, key)); target != nil {
					return target.Type
				}
			}
		}
	}
	return ""
}

func TestFleetSpreadsOverPrivateSubnetsInEveryZone(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		kv    []string
		zones []string
	}{
		{"default three zones", nil, []string{"eu-west-1a", "eu-west-1b", "eu-west-1c"}},
		{"two zones asked for", []string{"stayup:zones", "2"}, []string{"eu-west-1a", "eu-west-1b"}},
		{"region with two zones", []string{"aws:region", "us-west-1"}, []string{"us-west-1b", "us-west-1c"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g := plan(t, tc.kv...)
			asg := testkit.Only(t, g, "aws:autoscaling/group:Group")
			var zones []string
			for _, id := range asg.List("vpcZoneIdentifiers") {
				subnet := g.Ref(id)
				if subnet == nil || subnet.Type != "aws:ec2/subnet:Subnet" {
					t.Fatalf("vpcZoneIdentifier %v is not a subnet of the plan", id)
				}
				if via := defaultRouteOf(t, g, subnet); via != "aws:ec2/natGateway:NatGateway" {
					t.Errorf("fleet subnet %s reaches the internet via %q, want a NAT gateway (private)", subnet.Name, via)
				}
				if b, _ := subnet.Bool("mapPublicIpOnLaunch"); b {
					t.Errorf("fleet subnet %s gives public IPs", subnet.Name)
				}
				zones = append(zones, subnet.Str("availabilityZone"))
			}
			if !slices.Equal(zones, tc.zones) {
				t.Errorf("fleet zones = %v, want %v", zones, tc.zones)
			}
			alb := testkit.Only(t, g, "aws:lb/loadBalancer:LoadBalancer")
			if got := len(alb.List("subnets")); got != len(tc.zones) {
				t.Errorf("ALB spans %d subnets, want one per zone (%d)", got, len(tc.zones))
			}
			for _, id := range alb.List("subnets") {
				if via := defaultRouteOf(t, g, g.Ref(id)); via != "aws:ec2/internetGateway:InternetGateway" {
					t.Errorf("ALB subnet %v routes via %q, want the internet gateway", id, via)
				}
			}
		})
	}
}

func TestZonesTheRegionLacksAreRefused(t *testing.T) {
	t.Parallel()
	_, err := record("aws:region", "us-west-1", "stayup:zones", "3")
	if err == nil || !strings.Contains(err.Error(), "stayup:zones = 3") || !strings.Contains(err.Error(), "only 2") {
		t.Fatalf("error = %v, want one naming stayup:zones and the region's 2 zones", err)
	}
}

func TestNATPerZoneOrShared(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		kv   []string
		nats int
	}{{nil, 3}, {[]string{"stayup:natGateways", "single"}, 1}} {
		g := plan(t, tc.kv...)
		nats := g.ByType("aws:ec2/natGateway:NatGateway")
		if len(nats) != tc.nats {
			t.Errorf("%v: %d NAT gateways, want %d", tc.kv, len(nats), tc.nats)
		}
		zonesOfNAT := map[string]bool{}
		for _, n := range nats {
			zonesOfNAT[g.Ref(n.Str("subnetId")).Str("availabilityZone")] = true
		}
		if len(zonesOfNAT) != tc.nats {
			t.Errorf("%v: NAT gateways in %d zones, want %d", tc.kv, len(zonesOfNAT), tc.nats)
		}
	}
}

func TestAutoScalingGroupHealsAndRollsWithoutLosingCapacity(t *testing.T) {
	t.Parallel()
	g := plan(t, "stayup:minSize", "2", "stayup:desiredSize", "4", "stayup:maxSize", "6")
	asg := testkit.Only(t, g, "aws:autoscaling/group:Group")
	if got := testkit.Int(t, asg, "minSize"); got != 2 {
		t.Errorf("minSize = %d, want 2", got)
	}
	if got := testkit.Int(t, asg, "maxSize"); got != 6 {
		t.Errorf("maxSize = %d, want 6", got)
	}
	if got := testkit.Int(t, asg, "desiredCapacity"); got != 4 {
		t.Errorf("desiredCapacity = %d, want 4", got)
	}
	if !slices.Contains(asg.IgnoreChanges, "desiredCapacity") {
		t.Errorf("ignoreChanges = %v: an up would reset the autoscaler's capacity", asg.IgnoreChanges)
	}
	if got := asg.Str("healthCheckType"); got != "ELB" {
		t.Errorf("healthCheckType = %q, want ELB (replace what the load balancer finds unhealthy)", got)
	}
	if grace := testkit.Int(t, asg, "healthCheckGracePeriod"); grace < 60 || grace > 600 {
		t.Errorf("healthCheckGracePeriod = %d s, want time for a boot (60-600 s)", grace)
	}
	if got := asg.Str("instanceRefresh.strategy"); got != "Rolling" {
		t.Errorf("instanceRefresh.strategy = %q, want Rolling", got)
	}
	prefs := "instanceRefresh.preferences."
	if got := testkit.Int(t, asg, prefs+"minHealthyPercentage"); got != 100 {
		t.Errorf("refresh minHealthyPercentage = %d, want 100 (never below capacity)", got)
	}
	if got := testkit.Int(t, asg, prefs+"maxHealthyPercentage"); got != 200 {
		t.Errorf("refresh maxHealthyPercentage = %d, want 200 (launch before terminate)", got)
	}
	if testkit.Bool(t, asg, prefs+"autoRollback") {
		t.Error("refresh autoRollback is on: its rollback relaunches the new version (the provider updates the group first), and its desired configuration blocks rollout's own rollback")
	}
	if !testkit.Bool(t, asg, prefs+"skipMatching") {
		t.Error("refresh skipMatching is off")
	}
	if got := testkit.Int(t, asg, "instanceMaintenancePolicy.minHealthyPercentage"); got != 100 {
		t.Errorf("maintenance minHealthyPercentage = %d, want 100", got)
	}

	lt := g.Ref(asg.Str("launchTemplate.id"))
	if lt == nil || lt.Type != "aws:ec2/launchTemplate:LaunchTemplate" {
		t.Fatalf("launchTemplate.id %q names no launch template", asg.Str("launchTemplate.id"))
	}
	version := asg.Str("launchTemplate.version")
	if latest := lt.Outputs["latestVersion"]; latest != graph.MockTemplateVersion || version != strconv.Itoa(graph.MockTemplateVersion) {
		t.Errorf("launch template version = %q (latest %v): want the latest version number, not $Latest/$Default", version, latest)
	}
	if got := testkit.Int(t, asg, "minElbCapacity"); got != 2 {
		t.Errorf("minElbCapacity = %d, want minSize: creation waits for a serving fleet", got)
	}
	// The group waits for every zone's NAT gateway and private route.
	deps := map[string]int{}
	for _, urn := range asg.Dependencies {
		if r := g.ByURN(urn); r != nil {
			deps[r.Type]++
		}
	}
	if deps["aws:ec2/natGateway:NatGateway"] != 3 || deps["aws:ec2/routeTableAssociation:RouteTableAssociation"] != 3 {
		t.Errorf("group depends on %v, want the 3 NAT gateways and private route associations", deps)
	}
	if !testkit.Bool(t, lt, "updateDefaultVersion") {
		t.Error("launch template updateDefaultVersion is off")
	}

	if tgs := asg.List("targetGroupArns"); len(tgs) != 1 || g.Ref(tgs[0]) == nil {
		t.Errorf("targetGroupArns = %v, want the plan's target group", tgs)
	}

	policy := testkit.Only(t, g, "aws:autoscaling/policy:Policy")
	if policy.Str("policyType") != "TargetTrackingScaling" ||
		policy.Str("targetTrackingConfiguration.predefinedMetricSpecification.predefinedMetricType") != "ASGAverageCPUUtilization" {
		t.Errorf("scaling policy = %v, want target tracking on average CPU", policy.Inputs)
	}
	if got := testkit.Int(t, policy, "targetTrackingConfiguration.targetValue"); got != spec.DefaultCPUTarget {
		t.Errorf("CPU target = %d, want %d", got, spec.DefaultCPUTarget)
	}
}

func TestLaunchTemplateHardensTheHost(t *testing.T) {
	t.Parallel()
	g := plan(t)
	lt := testkit.Only(t, g, "aws:ec2/launchTemplate:LaunchTemplate")
	if got := lt.Str("metadataOptions.httpTokens"); got != "required" {
		t.Errorf("httpTokens = %q, want required (IMDSv2)", got)
	}
	if got := testkit.Int(t, lt, "metadataOptions.httpPutResponseHopLimit"); got != 1 {
		t.Errorf("hop limit = %d, want 1 (the container cannot reach IMDS)", got)
	}
	if got := lt.Str("imageId"); !strings.HasPrefix(got, "ami-") {
		t.Errorf("imageId = %q, want an AMI id resolved at deploy time (not resolve:ssm:)", got)
	}
	nics := lt.List("networkInterfaces")
	if len(nics) != 1 || graph.Lookup(nics[0], "associatePublicIpAddress") != "false" {
		t.Errorf("networkInterfaces = %v, want one without a public IP", nics)
	}
	disks := lt.List("blockDeviceMappings")
	if len(disks) == 0 {
		t.Error("no root volume settings: encryption would be the account default")
	}
	for _, bd := range disks {
		if graph.Lookup(bd, "ebs.encrypted") != "true" || graph.Lookup(bd, "ebs.volumeType") != "gp3" {
			t.Errorf("block device %v, want encrypted gp3", bd)
		}
	}
	data, err := base64.StdEncoding.DecodeString(lt.Str("userData"))
	if err != nil {
		t.Fatalf("userData is not base64: %v", err)
	}
	want, err := aws.UserData(mustSpec(t), "/stayup/test/app")
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != want {
		t.Errorf("launch template user data differs from UserData()")
	}
}

func mustSpec(t *testing.T) spec.Spec {
	t.Helper()
	s, err := spec.Parse(spec.MapLookup(map[string]string{"stayup:cloud": "aws", "aws:region": "eu-west-1"}))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestTargetGroupChecksReadinessFastAndDrains(t *testing.T) {
	t.Parallel()
	g := plan(t, "stayup:readyPath", "/readyz", "stayup:port", "9000")
	tg := testkit.Only(t, g, "aws:lb/targetGroup:TargetGroup")
	if got := tg.Str("healthCheck.path"); got != "/readyz" {
		t.Errorf("health check path = %q, want readyPath /readyz", got)
	}
	if got := testkit.Int(t, tg, "port"); got != 9000 {
		t.Errorf("target port = %d, want 9000", got)
	}
	interval, unhealthy := testkit.Int(t, tg, "healthCheck.interval"), testkit.Int(t, tg, "healthCheck.unhealthyThreshold")
	if interval*unhealthy > 15 {
		t.Errorf("an unready instance stays in rotation %d s (%d x %d), want <= 15 s", interval*unhealthy, interval, unhealthy)
	}
	if timeout := testkit.Int(t, tg, "healthCheck.timeout"); timeout >= interval {
		t.Errorf("health check timeout %d s >= interval %d s", timeout, interval)
	}
	if d := testkit.Int(t, tg, "deregistrationDelay"); d < 15 || d > 60 {
		t.Errorf("deregistrationDelay = %d s, want about 30 s", d)
	}
	alb := testkit.Only(t, g, "aws:lb/loadBalancer:LoadBalancer")
	if !testkit.Bool(t, alb, "dropInvalidHeaderFields") || alb.Str("desyncMitigationMode") != "defensive" {
		t.Errorf("ALB header handling = %v / %v, want drop invalid + defensive", alb.Get("dropInvalidHeaderFields"), alb.Get("desyncMitigationMode"))
	}
	if b, _ := alb.Bool("internal"); b {
		t.Error("ALB is internal; the service must be internet-facing")
	}
}

// reach lists, for each security group, the sources its ingress admits and
// on which ports.
type ingress struct {
	from string // a CIDR, or "sg:<name>" for a referenced group
	port int
}

func ingressBySG(t *testing.T, g *graph.Graph) map[string][]ingress {
	t.Helper()
	out := map[string][]ingress{}
	for _, r := range g.ByType("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule") {
		if r.Str("description") == "" {
			t.Errorf("ingress rule %s has no description", r.Name)
		}
		sg := g.Ref(r.Str("securityGroupId"))
		if sg == nil {
			t.Fatalf("rule %s names no security group", r.Name)
		}
		from := r.Str("cidrIpv4") + r.Str("cidrIpv6")
		if ref := g.Ref(r.Str("referencedSecurityGroupId")); ref != nil {
			from = "sg:" + ref.Name
		}
		lo, hi := testkit.Int(t, r, "fromPort"), testkit.Int(t, r, "toPort")
		if lo != hi {
			t.Errorf("rule %s opens a port range %d-%d", r.Name, lo, hi)
		}
		out[sg.Name] = append(out[sg.Name], ingress{from, lo})
	}
	for _, sg := range g.ByType("aws:ec2/securityGroup:SecurityGroup") {
		if len(sg.List("ingress")) > 0 || len(sg.List("egress")) > 0 {
			t.Errorf("security group %s has inline rules", sg.Name)
		}
	}
	return out
}

func TestOnlyTheLoadBalancerIsReachableFromTheInternet(t *testing.T) {
	t.Parallel()
	g := plan(t, "stayup:allowedCidrs", `["203.0.113.0/24","2001:db8::/32"]`)
	rules := ingressBySG(t, g)
	want := map[string][]ingress{
		"stayup-net-lb":  {{"203.0.113.0/24", 80}, {"2001:db8::/32", 80}},
		"stayup-net-app": {{"sg:stayup-net-lb", 8080}},
	}
	for sg, wantRules := range want {
		got := rules[sg]
		if len(got) != len(wantRules) {
			t.Errorf("%s admits %v, want %v", sg, got, wantRules)
			continue
		}
		for _, w := range wantRules {
			if !slices.Contains(got, w) {
				t.Errorf("%s admits %v, want %v", sg, got, wantRules)
			}
		}
	}
	if len(rules) != len(want) {
		t.Errorf("security groups with ingress: %v, want only the LB's and the app's", rules)
	}

	alb := testkit.Only(t, g, "aws:lb/loadBalancer:LoadBalancer")
	lt := testkit.Only(t, g, "aws:ec2/launchTemplate:LaunchTemplate")
	if sgs := alb.List("securityGroups"); len(sgs) != 1 || g.Ref(sgs[0]).Name != "stayup-net-lb" {
		t.Errorf("ALB security groups = %v, want the LB group", sgs)
	}
	if sgs := lt.List("networkInterfaces.0.securityGroups"); len(sgs) != 1 || g.Ref(sgs[0]).Name != "stayup-net-app" {
		t.Errorf("instance security groups = %v, want the app group", sgs)
	}

	// Egress: the LB only to the app port of the instances, the instances only HTTPS.
	egress := g.ByType("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule")
	if len(egress) != 2 {
		t.Errorf("%d egress rules, want 2 (LB to app, app HTTPS out)", len(egress))
	}
	for _, r := range egress {
		sg := g.Ref(r.Str("securityGroupId")).Name
		switch sg {
		case "stayup-net-lb":
			if ref := g.Ref(r.Str("referencedSecurityGroupId")); ref == nil || ref.Name != "stayup-net-app" || testkit.Int(t, r, "fromPort") != 8080 {
				t.Errorf("LB egress %v, want 8080 to the app group only", r.Inputs)
			}
		case "stayup-net-app":
			if testkit.Int(t, r, "fromPort") != 443 || testkit.Int(t, r, "toPort") != 443 {
				t.Errorf("instance egress %v, want 443 only", r.Inputs)
			}
		default:
			t.Errorf("unexpected egress rule on %s", sg)
		}
	}
}

func TestHTTPSRedirectsAndUsesAModernPolicy(t *testing.T) {
	t.Parallel()
	cert := "arn:aws:acm:eu-west-1:123456789012:certificate/0a1b2c3d-1111-2222-3333-444455556666"
	g := plan(t, "stayup:tlsCertificate", cert)
	listeners := map[int]*graph.Resource{}
	for _, l := range g.ByType("aws:lb/listener:Listener") {
		listeners[testkit.Int(t, l, "port")] = l
	}
	http, https := listeners[80], listeners[443]
	if http == nil || https == nil {
		t.Fatalf("listeners on %v, want 80 and 443", listeners)
	}
	if http.Str("defaultActions.0.type") != "redirect" || http.Str("defaultActions.0.redirect.protocol") != "HTTPS" {
		t.Errorf("HTTP listener action = %v, want a redirect to HTTPS", http.Get("defaultActions"))
	}
	if https.Str("certificateArn") != cert || !strings.HasPrefix(https.Str("sslPolicy"), "ELBSecurityPolicy-TLS13-1-2") {
		t.Errorf("HTTPS listener = %v / %v, want the certificate and a TLS 1.3/1.2 policy", https.Str("certificateArn"), https.Str("sslPolicy"))
	}
	var ports []int
	for _, r := range ingressBySG(t, g)["stayup-net-lb"] {
		ports = append(ports, r.port)
	}
	slices.Sort(ports)
	if !slices.Equal(ports, []int{80, 443}) {
		t.Errorf("LB admits ports %v, want 80 and 443", ports)
	}
	if url := g.Outputs["url"]; !strings.HasPrefix(url.(string), "https://") {
		t.Errorf("url = %v, want https", url)
	}

	// Adding TLS to a deployed stack: the redirect starts only once the
	// HTTPS listener and the 443 ingress exist.
	if !slices.Contains(http.Dependencies, https.URN) {
		t.Error("the HTTP listener may redirect before the HTTPS listener exists")
	}
	for _, r := range g.ByType("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule") {
		if testkit.Int(t, r, "fromPort") == 443 && !slices.Contains(http.Dependencies, r.URN) {
			t.Errorf("the HTTP listener may redirect before ingress rule %s admits 443", r.Name)
		}
	}

	plain := plan(t)
	l := testkit.Only(t, plain, "aws:lb/listener:Listener")
	if l.Str("defaultActions.0.type") != "forward" || testkit.Int(t, l, "port") != 80 {
		t.Errorf("without a certificate the one listener is %v, want HTTP 80 forwarding", l.Inputs)
	}
}

// TestGroupBootsIntoListenersAndItsLogGroup: the group is created only
// once every listener attaches the target group to the load balancer (else
// instances register where no health check runs), and once the log group
// and the role's policy exist (else the log driver cannot create the
// instance's stream, which in non-blocking mode can hang the container's
// exit). A dependency change alone updates no input: nothing rolls.
func TestGroupBootsIntoListenersAndItsLogGroup(t *testing.T) {
	t.Parallel()
	cert := "arn:aws:acm:eu-west-1:123456789012:certificate/0a1b2c3d-1111-2222-3333-444455556666"
	for _, tc := range []struct {
		name      string
		kv        []string
		listeners int
	}{{"HTTP only", nil, 1}, {"HTTPS and redirect", []string{"stayup:tlsCertificate", cert}, 2}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g := plan(t, tc.kv...)
			asg := testkit.Only(t, g, "aws:autoscaling/group:Group")
			listeners := g.ByType("aws:lb/listener:Listener")
			if len(listeners) != tc.listeners {
				t.Fatalf("%d listeners, want %d", len(listeners), tc.listeners)
			}
			want := map[string]string{}
			for _, l := range listeners {
				want[l.URN] = "listener " + l.Name
			}
			for _, lg := range g.ByType("aws:cloudwatch/logGroup:LogGroup") {
				if lg.Str("name") == "/stayup/test/app" {
					want[lg.URN] = "app log group"
				}
			}
			for _, p := range g.ByType("aws:iam/rolePolicy:RolePolicy") {
				if p.Name == "stayup-instance" {
					want[p.URN] = "instance role policy"
				}
			}
			if len(want) != tc.listeners+2 {
				t.Fatalf("found %v, want the listeners, the app log group and the instance role policy", want)
			}
			for urn, what := range want {
				if !slices.Contains(asg.Dependencies, urn) {
					t.Errorf("the group does not depend on the %s (%s)", what, urn)
				}
			}
		})
	}
}

// policy is an IAM policy document.
type policy struct {
	Statement []struct {
		Sid       string
		Effect    string
		Principal map[string]any
		Action    []string
		Resource  any
	}
}

func parsePolicy(t *testing.T, doc string) policy {
	t.Helper()
	var p policy
	if err := json.Unmarshal([]byte(doc), &p); err != nil {
		t.Fatalf("policy %q: %v", doc, err)
	}
	return p
}

// resourceStar lists the actions allowed on "*", with the reason each
// cannot be scoped (see identity.go).
var resourceStar = []string{
	"ecr:GetAuthorizationToken",
	"ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel",
	"ssmmessages:OpenControlChannel", "ssmmessages:OpenDataChannel",
}

func TestEveryIAMPolicyIsLeastPrivilege(t *testing.T) {
	t.Parallel()
	for _, kv := range [][]string{
		nil,
		{"stayup:image", "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/app:v2", "stayup:sessionManager", "true"},
	} {
		g := plan(t, kv...)
		for _, r := range g.ByType("aws:iam/rolePolicy:RolePolicy") {
			for _, st := range parsePolicy(t, r.Str("policy")).Statement {
				if st.Effect != "Allow" {
					continue
				}
				for _, a := range st.Action {
					if strings.Contains(a, "*") {
						t.Errorf("%s allows wildcard action %s", r.Name, a)
					}
				}
				resources, _ := st.Resource.([]any)
				if st.Resource == "*" {
					resources = []any{"*"}
				}
				if len(resources) == 0 {
					t.Errorf("%s statement %s names no resource", r.Name, st.Sid)
				}
				for _, res := range resources {
					arn, _ := res.(string)
					parts := strings.Split(arn, ":")
					// "*", or an ARN whose account or region is left open.
					open := arn == "*" || (len(parts) > 4 && (parts[3] == "*" || parts[4] == "*"))
					if !open {
						continue
					}
					for _, a := range st.Action {
						if !slices.Contains(resourceStar, a) {
							t.Errorf("%s allows %s on %s", r.Name, a, arn)
						}
					}
				}
			}
		}
		for _, r := range g.ByType("aws:iam/role:Role") {
			for _, st := range parsePolicy(t, r.Str("assumeRolePolicy")).Statement {
				if _, ok := st.Principal["Service"]; !ok || len(st.Principal) != 1 {
					t.Errorf("role %s can be assumed by %v, want one AWS service", r.Name, st.Principal)
				}
			}
		}
		if len(g.ByType("aws:iam/rolePolicyAttachment:RolePolicyAttachment")) > 0 {
			t.Error("a managed policy is attached; every grant should be written out")
		}
	}
}

func TestInstanceRoleGrantsExactlyWhatTheInstancesDo(t *testing.T) {
	t.Parallel()
	actionsOf := func(g *graph.Graph) map[string]any {
		t.Helper()
		for _, r := range g.ByType("aws:iam/rolePolicy:RolePolicy") {
			if !strings.HasPrefix(r.Name, "stayup-instance") {
				continue
			}
			out := map[string]any{}
			for _, st := range parsePolicy(t, r.Str("policy")).Statement {
				for _, a := range st.Action {
					out[a] = st.Resource
				}
			}
			return out
		}
		t.Fatal("no instance role policy")
		return nil
	}

	plain := actionsOf(plan(t))
	if len(plain) != 2 || plain["logs:PutLogEvents"] == nil || plain["logs:CreateLogStream"] == nil {
		t.Errorf("instance actions = %v, want only writing its log streams", plain)
	}
	logs, _ := plain["logs:PutLogEvents"].([]any)
	group := "arn:aws:logs:eu-west-1:123456789012:log-group:/stayup/test/app"
	if len(logs) != 2 || logs[0] != group || logs[1] != group+":*" {
		t.Errorf("log permission on %v, want the app log group and its streams only", logs)
	}

	ecr := actionsOf(plan(t, "stayup:image", "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/app:v2"))
	pull, _ := ecr["ecr:BatchGetImage"].([]any)
	if len(pull) != 1 || pull[0] != "arn:aws:ecr:eu-west-1:123456789012:repository/team/app" {
		t.Errorf("ECR pull on %v, want the image's repository only", pull)
	}
	if _, ok := ecr["ssmmessages:OpenDataChannel"]; ok {
		t.Error("Session Manager allowed without sessionManager=true")
	}
	ssm := actionsOf(plan(t, "stayup:sessionManager", "true"))
	if _, ok := ssm["ssmmessages:OpenDataChannel"]; !ok {
		t.Error("sessionManager=true does not allow Session Manager's channels")
	}
	if _, ok := ssm["ecr:BatchGetImage"]; ok {
		t.Error("ECR pull allowed for an image outside ECR")
	}
}

// policiesOf maps "name key" to every IAM document of a plan: role
// policies, trust policies and bucket policies.
func policiesOf(g *graph.Graph) map[string]string {
	out := map[string]string{}
	for _, typ := range []string{"aws:iam/rolePolicy:RolePolicy", "aws:iam/role:Role", "aws:s3/bucketPolicy:BucketPolicy"} {
		for _, r := range g.ByType(typ) {
			for _, k := range []string{"policy", "assumeRolePolicy"} {
				if v := r.Str(k); v != "" {
					out[r.Name+" "+k] = v
				}
			}
		}
	}
	return out
}

// TestPoliciesInTheAWSPartitionAreUnchanged: taking the partition from
// the caller changes no byte of a deployed stack's policies in the aws
// partition (the documents below are what the program rendered before
// it read the partition), so an up there shows no diff; the flow-log
// trust policy only gains its source ARN condition.
func TestPoliciesInTheAWSPartitionAreUnchanged(t *testing.T) {
	t.Parallel()
	g := plan(t, "stayup:image", "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/app:v2", "stayup:sessionManager", "true")
	want := map[string]string{
		"stayup-instance policy":           `{"Statement":[{"Sid":"WriteOwnLogs","Effect":"Allow","Action":["logs:CreateLogStream","logs:PutLogEvents"],"Resource":["arn:aws:logs:eu-west-1:123456789012:log-group:/stayup/test/app","arn:aws:logs:eu-west-1:123456789012:log-group:/stayup/test/app:*"]},{"Sid":"LogInToECR","Effect":"Allow","Action":["ecr:GetAuthorizationToken"],"Resource":"*"},{"Sid":"PullOwnImage","Effect":"Allow","Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer","ecr:BatchCheckLayerAvailability"],"Resource":["arn:aws:ecr:eu-west-1:123456789012:repository/team/app"]},{"Sid":"SessionManagerRegister","Effect":"Allow","Action":["ssm:UpdateInstanceInformation"],"Resource":["arn:aws:ec2:eu-west-1:123456789012:instance/*"]},{"Sid":"SessionManagerChannels","Effect":"Allow","Action":["ssmmessages:CreateControlChannel","ssmmessages:CreateDataChannel","ssmmessages:OpenControlChannel","ssmmessages:OpenDataChannel"],"Resource":"*"}],"Version":"2012-10-17"}`,
		"stayup-net-flow policy":           `{"Statement":[{"Sid":"DeliverFlowLogs","Effect":"Allow","Action":["logs:CreateLogStream","logs:PutLogEvents","logs:DescribeLogStreams"],"Resource":["arn:aws:logs:eu-west-1:123456789012:log-group:/stayup/test/vpc-flow","arn:aws:logs:eu-west-1:123456789012:log-group:/stayup/test/vpc-flow:*"]},{"Sid":"FindLogGroup","Effect":"Allow","Action":["logs:DescribeLogGroups"],"Resource":["arn:aws:logs:eu-west-1:123456789012:log-group:*"]}],"Version":"2012-10-17"}`,
		"stayup-instance assumeRolePolicy": `{"Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":["sts:AssumeRole"]}],"Version":"2012-10-17"}`,
		"stayup-net-flow assumeRolePolicy": `{"Statement":[{"Effect":"Allow","Principal":{"Service":"vpc-flow-logs.amazonaws.com"},"Action":["sts:AssumeRole"],"Condition":{"ArnLike":{"aws:SourceArn":"arn:aws:ec2:eu-west-1:123456789012:vpc-flow-log/*"},"StringEquals":{"aws:SourceAccount":"123456789012"}}}],"Version":"2012-10-17"}`,
		"stayup-lb-logs policy":            `{"Statement":[{"Sid":"LoadBalancerDelivers","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::127311923021:root"},"Action":["s3:PutObject"],"Resource":["arn:aws:s3:::stayup-lb-logs/AWSLogs/123456789012/*"]},{"Sid":"TLSOnly","Effect":"Deny","Principal":{"AWS":"*"},"Action":["s3:GetObject","s3:PutObject","s3:ListBucket","s3:DeleteObject"],"Resource":["arn:aws:s3:::stayup-lb-logs","arn:aws:s3:::stayup-lb-logs/*"],"Condition":{"Bool":{"aws:SecureTransport":"false"}}}],"Version":"2012-10-17"}`,
	}
	got := policiesOf(g)
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s =\n%s\nwant\n%s", k, got[k], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d policy documents, want %d: %v", len(got), len(want), got)
	}
}

// TestARNsFollowTheCallersPartition: in GovCloud and the China regions
// every ARN the program writes names that partition, since an arn:aws:
// ARN matches nothing there.
func TestARNsFollowTheCallersPartition(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ region, partition, registry string }{
		{"us-gov-west-1", "aws-us-gov", "123456789012.dkr.ecr.us-gov-west-1.amazonaws.com"},
		{"cn-north-1", "aws-cn", "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn"},
	} {
		region, partition := tc.region, tc.partition
		t.Run(region, func(t *testing.T) {
			t.Parallel()
			g := plan(t, "aws:region", region, "stayup:sessionManager", "true", "stayup:image", tc.registry+"/team/app:v2")
			arnRE := regexp.MustCompile(`"arn:[^:"]*:`)
			docs := policiesOf(g)
			for k, doc := range docs {
				for _, m := range arnRE.FindAllString(doc, -1) {
					if m != `"arn:`+partition+`:` {
						t.Errorf("%s names an ARN of %s, want %s: %s", k, m, partition, doc)
					}
				}
			}
			if !strings.Contains(docs["stayup-instance policy"], "arn:"+partition+":ecr:"+region+":123456789012:repository/team/app") {
				t.Errorf("the instances may not pull their image: %s", docs["stayup-instance policy"])
			}
			for _, k := range []string{"stayup-instance policy", "stayup-net-flow assumeRolePolicy"} {
				if !strings.Contains(docs[k], "arn:"+partition+":ec2:"+region+":123456789012:") {
					t.Errorf("%s builds no ec2 ARN of %s in %s: %s", k, partition, region, docs[k])
				}
			}
		})
	}
}

func TestFlowLogsAndLogRetention(t *testing.T) {
	t.Parallel()
	g := plan(t, "stayup:logRetentionDays", "90")
	fl := testkit.Only(t, g, "aws:ec2/flowLog:FlowLog")
	if fl.Str("trafficType") != "ALL" {
		t.Errorf("flow log traffic = %q, want ALL", fl.Str("trafficType"))
	}
	if vpc := g.Ref(fl.Str("vpcId")); vpc == nil || vpc.Type != "aws:ec2/vpc:Vpc" {
		t.Errorf("flow log is not on the VPC")
	}
	if dest := g.Ref(fl.Str("logDestination")); dest == nil || dest.Type != "aws:cloudwatch/logGroup:LogGroup" {
		t.Errorf("flow log destination %q is not a log group of the plan", fl.Str("logDestination"))
	}
	role := g.Ref(fl.Str("iamRoleArn"))
	if role == nil || role.Type != "aws:iam/role:Role" || !strings.Contains(role.Str("assumeRolePolicy"), "vpc-flow-logs.amazonaws.com") {
		t.Fatalf("flow log role %q is not a role VPC Flow Logs may assume", fl.Str("iamRoleArn"))
	}
	var delivers bool
	for _, p := range g.ByType("aws:iam/rolePolicy:RolePolicy") {
		if p.Str("role") == role.ID && strings.Contains(p.Str("policy"), "logs:PutLogEvents") {
			delivers = true
		}
	}
	if !delivers {
		t.Error("the flow log role may not write to its log group")
	}
	for _, lg := range g.ByType("aws:cloudwatch/logGroup:LogGroup") {
		if got := testkit.Int(t, lg, "retentionInDays"); got != 90 {
			t.Errorf("log group %s keeps logs %d days, want 90", lg.Name, got)
		}
	}
}

func TestOutputsNameTheFleet(t *testing.T) {
	t.Parallel()
	g := plan(t)
	fleet, _ := g.Outputs["fleet"].(map[string]any)
	for key, typ := range map[string]string{
		"asgName":          "aws:autoscaling/group:Group",
		"targetGroupArn":   "aws:lb/targetGroup:TargetGroup",
		"launchTemplateId": "aws:ec2/launchTemplate:LaunchTemplate",
	} {
		v, _ := fleet[key].(string)
		var found bool
		for _, r := range g.ByType(typ) {
			if r.ID == v || r.Outputs["arn"] == v || r.Outputs["name"] == v {
				found = true
			}
		}
		if !found {
			t.Errorf("fleet.%s = %q names no %s", key, v, typ)
		}
	}
	if url, _ := g.Outputs["url"].(string); !strings.HasPrefix(url, "http://") || !strings.Contains(url, ".elb.amazonaws.com") {
		t.Errorf("url = %q, want the ALB's DNS name", url)
	}
}

func TestEveryResourceHasAComponentParent(t *testing.T) {
	t.Parallel()
	g := plan(t)
	for _, r := range g.Resources {
		if r.Type == "stayup:aws:Service" {
			if r.Parent != "" {
				t.Errorf("the service has parent %s", r.Parent)
			}
			continue
		}
		p := g.ByURN(r.Parent)
		if p == nil || !strings.HasPrefix(p.Type, "stayup:aws:") {
			t.Errorf("%s %s is not under a stayup component (parent %q)", r.Type, r.Name, r.Parent)
		}
	}
}

func TestIPv6ClientsGetADualStackLoadBalancer(t *testing.T) {
	t.Parallel()
	v4 := plan(t)
	if got := testkit.Only(t, v4, "aws:lb/loadBalancer:LoadBalancer").Str("ipAddressType"); got != "ipv4" {
		t.Errorf("IPv4-only clients: ipAddressType = %q, want ipv4", got)
	}
	g := plan(t, "stayup:allowedCidrs", `["2001:db8::/32"]`)
	if got := testkit.Only(t, g, "aws:lb/loadBalancer:LoadBalancer").Str("ipAddressType"); got != "dualstack" {
		t.Errorf("IPv6 clients: ipAddressType = %q, want dualstack", got)
	}
	alb := testkit.Only(t, g, "aws:lb/loadBalancer:LoadBalancer")
	seen := map[string]bool{}
	for _, id := range alb.List("subnets") {
		subnet := g.Ref(id)
		block := subnet.Str("ipv6CidrBlock")
		if !strings.HasPrefix(block, "2600:1f18:4a3:6e0") || !strings.HasSuffix(block, "::/64") || seen[block] {
			t.Errorf("ALB subnet %s has IPv6 block %q, want a distinct /64 of the VPC's", subnet.Name, block)
		}
		seen[block] = true
	}
	var v6route bool
	for _, rt := range g.ByType("aws:ec2/routeTable:RouteTable") {
		for _, route := range rt.List("routes") {
			if graph.Lookup(route, "ipv6CidrBlock") == "::/0" && g.Ref(graph.Lookup(route, "gatewayId")).Type == "aws:ec2/internetGateway:InternetGateway" {
				v6route = true
			}
		}
	}
	if !v6route {
		t.Error("no ::/0 route to the internet gateway for the dual-stack ALB")
	}
}

func TestArmInstanceTypesGetAnArmImage(t *testing.T) {
	t.Parallel()
	for typ, arm := range map[string]bool{"t3.small": false, "t4g.small": true, "m7gd.large": true, "c6gn.xlarge": true, "g5.xlarge": false, "m6i.large": false} {
		g := plan(t, "stayup:instanceType", typ)
		lt := testkit.Only(t, g, "aws:ec2/launchTemplate:LaunchTemplate")
		ami := lt.Str("imageId")
		// The mocked AMI id is derived from the parameter name: the two
		// architectures give different ids.
		x86 := testkit.Only(t, plan(t), "aws:ec2/launchTemplate:LaunchTemplate").Str("imageId")
		if (ami != x86) != arm {
			t.Errorf("%s: image %s (x86 image %s), want arm64 = %v", typ, ami, x86, arm)
		}
	}
}

func TestLoadBalancerAccessLogsArePrivateAndExpire(t *testing.T) {
	t.Parallel()
	g := plan(t, "stayup:logRetentionDays", "90")
	alb := testkit.Only(t, g, "aws:lb/loadBalancer:LoadBalancer")
	bucket := g.RefOf(alb.Str("accessLogs.bucket"), "aws:s3/bucketV2:BucketV2")
	if bucket == nil || !testkit.Bool(t, alb, "accessLogs.enabled") {
		t.Fatalf("ALB access logs = %v, want enabled to the plan's bucket", alb.Get("accessLogs"))
	}
	onBucket := func(typ string) *graph.Resource {
		for _, r := range g.ByType(typ) {
			if r.Str("bucket") == bucket.ID {
				return r
			}
		}
		t.Fatalf("no %s on the log bucket", typ)
		return nil
	}
	pab := onBucket("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
	for _, k := range []string{"blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"} {
		if !testkit.Bool(t, pab, k) {
			t.Errorf("public access block %s is off", k)
		}
	}
	sse := onBucket("aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2")
	if got := sse.Str("rules.0.applyServerSideEncryptionByDefault.sseAlgorithm"); got != "AES256" {
		t.Errorf("log bucket encryption = %q", got)
	}
	life := onBucket("aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2")
	if got := testkit.Int(t, life, "rules.0.expiration.days"); got != 90 || life.Str("rules.0.status") != "Enabled" {
		t.Errorf("logs expire after %d days (%s), want 90", got, life.Str("rules.0.status"))
	}
	pol := parsePolicy(t, onBucket("aws:s3/bucketPolicy:BucketPolicy").Str("policy"))
	var allows, tlsDeny int
	for _, st := range pol.Statement {
		switch st.Effect {
		case "Allow":
			allows++
			res, _ := st.Resource.([]any)
			if len(st.Action) != 1 || st.Action[0] != "s3:PutObject" || len(res) != 1 || !strings.HasSuffix(res[0].(string), "/AWSLogs/123456789012/*") {
				t.Errorf("bucket policy allows %v on %v, want PutObject under AWSLogs/<account> only", st.Action, st.Resource)
			}
		case "Deny":
			tlsDeny++
		}
	}
	if allows != 1 || tlsDeny != 1 {
		t.Errorf("bucket policy: %d allows, %d denies; want the delivery grant and a deny without TLS", allows, tlsDeny)
	}
	if !slices.Contains(alb.Dependencies, onBucket("aws:s3/bucketPolicy:BucketPolicy").URN) {
		t.Error("the ALB does not wait for the bucket policy: AWS would refuse the logging setting")
	}
}
