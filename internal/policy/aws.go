package policy

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"stayup/internal/graph"
)

const (
	awsASG            = "aws:autoscaling/group:Group"
	awsLaunchTemplate = "aws:ec2/launchTemplate:LaunchTemplate"
	awsLB             = "aws:lb/loadBalancer:LoadBalancer"
	awsListener       = "aws:lb/listener:Listener"
	awsTargetGroup    = "aws:lb/targetGroup:TargetGroup"
	awsSubnet         = "aws:ec2/subnet:Subnet"
	awsVPC            = "aws:ec2/vpc:Vpc"
	awsLogGroup       = "aws:cloudwatch/logGroup:LogGroup"
	awsRole           = "aws:iam/role:Role"
	awsProfileType    = "aws:iam/instanceProfile:InstanceProfile"
)

// awsProfile is the instance profile a launch template names.
func awsProfile(g *graph.Graph, lt *graph.Resource) *graph.Resource {
	if p := refType(g, lt.Get("iamInstanceProfile.arn"), awsProfileType); p != nil {
		return p
	}
	return refType(g, lt.Get("iamInstanceProfile.name"), awsProfileType)
}

// awsUnscopable are the actions that support no resource-level
// permissions, so "*" is the only resource they can name.
var awsUnscopable = []string{
	"ecr:GetAuthorizationToken",
	"ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel",
	"ssmmessages:OpenControlChannel", "ssmmessages:OpenDataChannel",
	"cloudwatch:PutMetricData",
}

// awsModernTLS are the ELB security policy families that offer TLS 1.2
// and later with forward-secret ciphers only.
var awsModernTLS = []string{"ELBSecurityPolicy-TLS13-", "ELBSecurityPolicy-FS-1-2-", "ELBSecurityPolicy-TLS-1-2-"}

var awsRules = []Rule{
	{
		ID: "aws-ha-zones", Cloud: "aws", Category: Availability, Severity: High,
		Title:     "The Auto Scaling group and the load balancer span at least two availability zones",
		Standards: []string{"FSBP AutoScaling.2", "FSBP ELB.13"},
		check: func(g *graph.Graph) []violation {
			asgs := g.ByType(awsASG)
			if len(asgs) == 0 {
				return none("no Auto Scaling group: run the fleet in one, over subnets in at least two zones")
			}
			var out []violation
			for _, asg := range asgs {
				zones := awsSubnetZones(g, asg.List("vpcZoneIdentifiers"))
				zones = zoneSet(append(zones, strs(asg.Get("availabilityZones"))...))
				if len(zones) < 2 {
					out = append(out, fail(asg, "Auto Scaling group %s spans %d zone(s) %v: give vpcZoneIdentifiers subnets in at least two availability zones (stayup:zones >= 2)", asg.Name, len(zones), zones))
				}
			}
			for _, lb := range g.ByType(awsLB) {
				if zones := zoneSet(awsSubnetZones(g, lb.List("subnets"))); len(zones) < 2 {
					out = append(out, fail(lb, "load balancer %s spans %d zone(s) %v: give it subnets in at least two availability zones", lb.Name, len(zones), zones))
				}
			}
			return out
		},
	},
	{
		ID: "aws-ha-min-size", Cloud: "aws", Category: Availability, Severity: High,
		Title: "The Auto Scaling group never runs fewer than two instances",
		check: func(g *graph.Graph) []violation {
			var out []violation
			for _, asg := range g.ByType(awsASG) {
				if n, ok := asg.Int("minSize"); !ok || n < 2 {
					out = append(out, fail(asg, "Auto Scaling group %s has minSize %v: set it to 2 or more (stayup:minSize), so losing one instance never empties the service", asg.Name, asg.Get("minSize")))
				}
			}
			return out
		},
	},
	{
		ID: "aws-ha-lb-health-check", Cloud: "aws", Category: Availability, Severity: High,
		Title: "The fleet is registered in a target group whose health check probes the readiness path",
		check: func(g *graph.Graph) []violation {
			var out []violation
			for _, asg := range g.ByType(awsASG) {
				tgs := asg.List("targetGroupArns")
				if len(tgs) == 0 {
					out = append(out, fail(asg, "Auto Scaling group %s is in no target group: set targetGroupArns to the load balancer's target group", asg.Name))
				}
				for _, arn := range tgs {
					tg := g.Ref(arn)
					if tg == nil || tg.Type != awsTargetGroup {
						out = append(out, fail(asg, "Auto Scaling group %s names target group %v, which is not in the stack: register the fleet in the load balancer's target group", asg.Name, arn))
						continue
					}
					if on, ok := tg.Bool("healthCheck.enabled"); ok && !on {
						out = append(out, fail(tg, "target group %s has its health check disabled: set healthCheck.enabled = true", tg.Name))
					} else if p := tg.Str("healthCheck.protocol"); (p == "" || strings.HasPrefix(p, "HTTP")) && tg.Str("healthCheck.path") == "" {
						out = append(out, fail(tg, "target group %s checks no path: set healthCheck.path to the readiness path (stayup:readyPath)", tg.Name))
					}
				}
			}
			return out
		},
	},
	{
		ID: "aws-ha-boot-order", Cloud: "aws", Category: Availability, Severity: Medium,
		Title: "The Auto Scaling group is created after the listeners that attach its target group and the log group its instances write to",
		check: func(g *graph.Graph) []violation {
			var out []violation
			for _, asg := range g.ByType(awsASG) {
				for _, arn := range asg.List("targetGroupArns") {
					tg := refType(g, arn, awsTargetGroup)
					for _, l := range g.ByType(awsListener) {
						if tg == nil || !awsListenerUses(g, l, tg) {
							continue
						}
						if !slices.Contains(asg.Dependencies, l.URN) {
							out = append(out, fail(asg, "Auto Scaling group %s may start before listener %s attaches its target group, and its instances register where no health check runs: add the listener to the group's dependsOn", asg.Name, l.Name))
						}
					}
				}
				for _, lg := range awsInstanceLogGroups(g) {
					if !slices.Contains(asg.Dependencies, lg.URN) {
						out = append(out, fail(asg, "Auto Scaling group %s may start before log group %s exists, and the awslogs driver in non-blocking mode can hang the container's exit without it: add the log group to the group's dependsOn", asg.Name, lg.Name))
					}
				}
			}
			return out
		},
	},
	{
		ID: "aws-ha-autohealing", Cloud: "aws", Category: Availability, Severity: High,
		Title:     "The Auto Scaling group replaces instances the load balancer finds unhealthy, after a boot grace period",
		Standards: []string{"FSBP AutoScaling.1"},
		check: func(g *graph.Graph) []violation {
			var out []violation
			for _, asg := range g.ByType(awsASG) {
				if asg.Str("healthCheckType") != "ELB" {
					out = append(out, fail(asg, "Auto Scaling group %s uses health check type %q: set healthCheckType = \"ELB\" so instances failing the load balancer's check are replaced", asg.Name, asg.Str("healthCheckType")))
				}
				if n, ok := asg.Int("healthCheckGracePeriod"); !ok || n <= 0 {
					out = append(out, fail(asg, "Auto Scaling group %s has no health check grace period: set healthCheckGracePeriod to the boot time, or booting instances are replaced in a loop", asg.Name))
				}
			}
			return out
		},
	},
	{
		ID: "aws-ha-rolling-update", Cloud: "aws", Category: Availability, Severity: High,
		Title: "Template changes roll out by instance refresh at 100% minimum healthy, without the refresh's auto rollback (rollout owns it), from a pinned template version",
		check: func(g *graph.Graph) []violation {
			var out []violation
			for _, asg := range g.ByType(awsASG) {
				pref := "instanceRefresh.preferences."
				if asg.Get("instanceRefresh") == nil {
					out = append(out, fail(asg, "Auto Scaling group %s has no instanceRefresh: add a Rolling instance refresh so template changes replace instances without downtime", asg.Name))
					continue
				}
				if n, ok := asg.Int(pref + "minHealthyPercentage"); !ok || n < 100 {
					out = append(out, fail(asg, "Auto Scaling group %s refreshes with minHealthyPercentage %v: set it to 100 (and maxHealthyPercentage above 100) so no capacity is taken away during a rollout", asg.Name, asg.Get(pref+"minHealthyPercentage")))
				}
				// The provider moves the group to the new template version
				// before it starts the refresh, so the refresh's rollback
				// relaunches the new version, and its desired configuration
				// makes AWS refuse the update that would restore the old one.
				if on, _ := asg.Bool(pref + "autoRollback"); on {
					out = append(out, fail(asg, "Auto Scaling group %s refreshes with autoRollback: the provider updates the group to the new template version before the refresh starts, so that rollback relaunches the new version and blocks the group update that would restore the old one; set instanceRefresh.preferences.autoRollback = false and let stayup rollout roll back", asg.Name))
				}
				if _, ok := asg.Int("launchTemplate.version"); !ok && asg.Get("launchTemplate") != nil {
					out = append(out, fail(asg, "Auto Scaling group %s uses launch template version %q: pin the template's latest version number (instance refresh rollback refuses $Latest and $Default)", asg.Name, asg.Str("launchTemplate.version")))
				}
			}
			return out
		},
	},
	{
		ID: "aws-exposure-public-entry", Cloud: "aws", Category: Exposure, Severity: High,
		Title: "The only internet-facing resource is the load balancer in front of the fleet (NAT addresses carry egress only)",
		check: func(g *graph.Graph) []violation {
			var out []violation
			fleetTGs := map[*graph.Resource]bool{}
			for _, asg := range g.ByType(awsASG) {
				for _, arn := range asg.List("targetGroupArns") {
					fleetTGs[g.Ref(arn)] = true
				}
			}
			for _, lb := range g.ByType(awsLB) {
				if internal, _ := lb.Bool("internal"); internal {
					continue
				}
				v := fail(lb, "load balancer %s is internet-facing", lb.Name)
				if awsFrontsFleet(g, lb, fleetTGs) {
					v = waive(v, "the service is internet-facing: this load balancer is its one public entry, and the other exposure rules keep everything behind it private")
				} else {
					v.msg += " but fronts no fleet: set internal = true or remove it"
				}
				out = append(out, v)
			}
			nat := map[string]bool{}
			for _, n := range g.ByType("aws:ec2/natGateway:NatGateway") {
				if e := g.Ref(n.Str("allocationId")); e != nil {
					nat[e.URN] = true
				}
			}
			for _, eip := range g.ByType("aws:ec2/eip:Eip") {
				if !nat[eip.URN] {
					out = append(out, fail(eip, "Elastic IP %s is not a NAT gateway's: remove it; only the load balancer may be reachable from the internet", eip.Name))
				}
			}
			return out
		},
	},
	{
		ID: "aws-exposure-app-from-lb", Cloud: "aws", Category: Exposure, Severity: Critical,
		Title:     "The instances admit traffic only from the load balancer's security group",
		Standards: []string{"FSBP EC2.18"},
		check: func(g *graph.Graph) []violation {
			lbSGs := map[string]bool{}
			for _, lb := range g.ByType(awsLB) {
				for _, sg := range strs(lb.Get("securityGroups")) {
					lbSGs[sg] = true
				}
			}
			instanceSGs := map[string]bool{}
			for _, lt := range g.ByType(awsLaunchTemplate) {
				for _, sg := range append(strs(lt.Get("vpcSecurityGroupIds")), strs(lt.Get("networkInterfaces.0.securityGroups"))...) {
					instanceSGs[sg] = true
				}
			}
			var out []violation
			for _, rule := range awsSGRules(g) {
				if rule.egress || !instanceSGs[rule.sg] {
					continue
				}
				if len(rule.cidrs) > 0 || !lbSGs[rule.peer] {
					from := strings.Join(rule.cidrs, ", ")
					if from == "" {
						from = "security group " + rule.peer
					}
					out = append(out, fail(rule.r, "%s lets %s reach the instances on %s: admit the app port only from the load balancer's security group (referencedSecurityGroupId)", rule.r.Name, from, rule.ports))
				}
			}
			return out
		},
	},
	{
		ID: "aws-exposure-admin-ports", Cloud: "aws", Category: Exposure, Severity: Critical,
		Title:     "No security group admits SSH (22) or RDP (3389) from the internet",
		Standards: []string{"FSBP EC2.13", "FSBP EC2.53", "FSBP EC2.54", "CKV_AWS_24", "CKV_AWS_25"},
		check: func(g *graph.Graph) []violation {
			var out []violation
			for _, rule := range awsSGRules(g) {
				if rule.egress {
					continue
				}
				for _, c := range rule.cidrs {
					if port := coversAdmin([]portRange{rule.ports}); isOpen(c) && port != 0 {
						out = append(out, fail(rule.r, "%s admits %s from %s, which includes %d: remove it; reach instances through SSM Session Manager (stayup:sessionManager)", rule.r.Name, rule.ports, c, port))
						break
					}
				}
			}
			return out
		},
	},
	{
		ID: "aws-exposure-no-public-ip", Cloud: "aws", Category: Exposure, Severity: High,
		Title:     "Instances get no public IP and live in subnets without a route to the internet gateway",
		Standards: []string{"FSBP EC2.9", "FSBP EC2.15", "FSBP EC2.25", "CKV_AWS_88", "CKV_AWS_130"},
		check: func(g *graph.Graph) []violation {
			var out []violation
			for _, lt := range g.ByType(awsLaunchTemplate) {
				for i := range lt.List("networkInterfaces") {
					if on, _ := lt.Bool(fmt.Sprintf("networkInterfaces.%d.associatePublicIpAddress", i)); on {
						out = append(out, fail(lt, "launch template %s gives instances a public IP: set networkInterfaces.%d.associatePublicIpAddress = false", lt.Name, i))
					}
				}
			}
			igws := map[string]bool{}
			for _, igw := range g.ByType("aws:ec2/internetGateway:InternetGateway") {
				igws[igw.URN] = true
			}
			for _, asg := range g.ByType(awsASG) {
				for _, id := range asg.List("vpcZoneIdentifiers") {
					subnet := g.Ref(id)
					if subnet == nil {
						continue
					}
					if on, _ := subnet.Bool("mapPublicIpOnLaunch"); on {
						out = append(out, fail(subnet, "subnet %s gives launched instances a public IP: set mapPublicIpOnLaunch = false", subnet.Name))
					}
					for _, rt := range awsRouteTables(g, subnet) {
						for _, route := range maps(rt.Get("routes")) {
							if gw := g.Ref(route["gatewayId"]); gw != nil && igws[gw.URN] {
								out = append(out, fail(rt, "the fleet's subnet %s routes %v to internet gateway %s: run the fleet in private subnets that reach out through NAT", subnet.Name, route["cidrBlock"], gw.Name))
							}
						}
					}
				}
			}
			return out
		},
	},
	{
		ID: "aws-exposure-egress", Cloud: "aws", Category: Exposure, Severity: Medium,
		Title: "Security group egress names its ports: no rule allows every protocol or a port range out",
		check: func(g *graph.Graph) []violation {
			var out []violation
			for _, rule := range awsSGRules(g) {
				if !rule.egress {
					continue
				}
				if rule.ports.all || rule.ports.from != rule.ports.to {
					to := strings.Join(rule.cidrs, ", ")
					if to == "" {
						to = "security group " + rule.peer
					}
					out = append(out, fail(rule.r, "%s allows %s out to %s: allow only the ports the instances use (443 for image pulls and logs)", rule.r.Name, rule.ports, to))
				}
			}
			return out
		},
	},
	{
		ID: "aws-exposure-default-sg", Cloud: "aws", Category: Exposure, Severity: Medium,
		Title:     "Each VPC's default security group is managed and allows nothing",
		Standards: []string{"FSBP EC2.2", "CKV2_AWS_12"},
		check: func(g *graph.Graph) []violation {
			var out []violation
			for _, vpc := range g.ByType(awsVPC) {
				var managed bool
				for _, d := range g.ByType("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup") {
					if refsTo(g, d.Get("vpcId"), vpc) {
						managed = true
						if len(d.List("ingress")) > 0 || len(d.List("egress")) > 0 {
							out = append(out, fail(d, "the default security group of VPC %s has rules: remove its ingress and egress", vpc.Name))
						}
					}
				}
				if !managed {
					out = append(out, fail(vpc, "VPC %s leaves its default security group as AWS creates it (all traffic within the group, all out): manage it with an aws.ec2.DefaultSecurityGroup without rules", vpc.Name))
				}
			}
			return out
		},
	},
	{
		ID: "aws-identity-no-wildcard-actions", Cloud: "aws", Category: Identity, Severity: Critical,
		Title:     "No IAM policy allows a wildcard action or uses NotAction",
		Standards: []string{"FSBP IAM.1", "FSBP IAM.21", "CKV_AWS_62", "CKV_AWS_63"},
		check: func(g *graph.Graph) []violation {
			var out []violation
			for _, p := range awsPolicies(g) {
				for _, st := range p.statements {
					if st.Effect != "Allow" {
						continue
					}
					if st.NotAction != nil {
						out = append(out, fail(p.r, "%s allows NotAction %v, which grants everything else: list the actions it needs", p.r.Name, st.NotAction))
					}
					for _, a := range strs(st.Action) {
						if strings.Contains(a, "*") {
							out = append(out, fail(p.r, "%s allows the wildcard action %s: list the actions it needs", p.r.Name, a))
						}
					}
				}
			}
			return out
		},
	},
	{
		ID: "aws-identity-scoped-resources", Cloud: "aws", Category: Identity, Severity: High,
		Title:     "IAM policies name their resources; \"*\" only for actions AWS cannot scope",
		Standards: []string{"CKV_AWS_355"},
		check: func(g *graph.Graph) []violation {
			var out []violation
			for _, p := range awsPolicies(g) {
				for _, st := range p.statements {
					if st.Effect != "Allow" || !slices.Contains(strs(st.Resource), "*") {
						continue
					}
					for _, a := range strs(st.Action) {
						if !slices.Contains(awsUnscopable, a) {
							out = append(out, fail(p.r, "%s allows %s on every resource (\"*\"): name the resources, e.g. the log group's ARN", p.r.Name, a))
						}
					}
				}
			}
			return out
		},
	},
	{
		ID: "aws-identity-service-trust", Cloud: "aws", Category: Identity, Severity: High,
		Title: "A role an AWS service assumes for the stack (e.g. VPC Flow Logs) names the source account and the source ARN (the confused-deputy guard)",
		check: func(g *graph.Graph) []violation {
			var out []violation
			for _, role := range g.ByType(awsRole) {
				for _, st := range awsDocument(role.Get("assumeRolePolicy")) {
					principal, _ := st.Principal.(map[string]any)
					services := strs(principal["Service"])
					// EC2 assumes a role only for an instance launched with
					// its profile, which takes iam:PassRole: no deputy.
					if st.Effect != "Allow" || len(services) == 0 || slices.Equal(services, []string{"ec2.amazonaws.com"}) {
						continue
					}
					for _, key := range []string{"aws:SourceAccount", "aws:SourceArn"} {
						if !awsConditionNames(st.Condition, key) {
							out = append(out, fail(role, "role %s may be assumed by %v on behalf of anyone's resources: add the condition %s (the stack's account, and its own resources' ARN pattern)", role.Name, services, key))
						}
					}
				}
			}
			return out
		},
	},
	{
		ID: "aws-identity-instance-role", Cloud: "aws", Category: Identity, Severity: High,
		Title: "Instances run as their own role, assumable by EC2 only, with no managed policies attached",
		check: func(g *graph.Graph) []violation {
			var out []violation
			for _, lt := range g.ByType(awsLaunchTemplate) {
				profile := awsProfile(g, lt)
				if profile == nil {
					out = append(out, fail(lt, "launch template %s gives instances no instance profile of the stack: give them their own role through iamInstanceProfile", lt.Name))
					continue
				}
				role := refType(g, profile.Get("role"), awsRole)
				if role == nil {
					out = append(out, fail(profile, "instance profile %s holds no role of the stack: give it the instances' own role", profile.Name))
					continue
				}
				doc := awsDocument(role.Get("assumeRolePolicy"))
				for _, st := range doc {
					principal, _ := st.Principal.(map[string]any)
					if services := strs(principal["Service"]); len(principal) != 1 || !slices.Equal(services, []string{"ec2.amazonaws.com"}) {
						out = append(out, fail(role, "role %s may be assumed by %v: let only ec2.amazonaws.com assume the instance role", role.Name, st.Principal))
					}
				}
				for _, typ := range []string{"aws:iam/rolePolicyAttachment:RolePolicyAttachment", "aws:iam/policyAttachment:PolicyAttachment"} {
					for _, a := range g.ByType(typ) {
						if refType(g, a.Get("role"), awsRole) == role || slices.ContainsFunc(strs(a.Get("roles")), func(s string) bool { return refType(g, s, awsRole) == role }) {
							out = append(out, fail(a, "%s attaches %s to the instance role: write out the few actions the instances need as an inline policy instead", a.Name, a.Str("policyArn")))
						}
					}
				}
			}
			return out
		},
	},
	{
		ID: "aws-host-imdsv2", Cloud: "aws", Category: Host, Severity: High,
		Title:     "Instances require IMDSv2 tokens, with a hop limit of 1 so containers cannot reach the metadata service",
		Standards: []string{"FSBP EC2.8", "CKV_AWS_79", "CKV_AWS_341"},
		check: func(g *graph.Graph) []violation {
			var out []violation
			for _, lt := range g.ByType(awsLaunchTemplate) {
				if lt.Str("metadataOptions.httpTokens") != "required" {
					out = append(out, fail(lt, "launch template %s leaves IMDSv1 on: set metadataOptions.httpTokens = \"required\"", lt.Name))
				}
				if n, ok := lt.Int("metadataOptions.httpPutResponseHopLimit"); ok && n > 1 {
					out = append(out, fail(lt, "launch template %s has metadata hop limit %d: set metadataOptions.httpPutResponseHopLimit = 1", lt.Name, n))
				}
			}
			return out
		},
	},
	{
		ID: "aws-host-encrypted-disks", Cloud: "aws", Category: Host, Severity: High,
		Title:     "Every EBS volume the launch template defines is encrypted",
		Standards: []string{"FSBP EC2.3", "CKV_AWS_8"},
		check: func(g *graph.Graph) []violation {
			var out []violation
			for _, lt := range g.ByType(awsLaunchTemplate) {
				mappings := maps(lt.Get("blockDeviceMappings"))
				if len(mappings) == 0 {
					out = append(out, fail(lt, "launch template %s leaves the root volume's encryption to the account default: add a blockDeviceMapping with ebs.encrypted = true", lt.Name))
				}
				for _, m := range mappings {
					if !truthy(graph.Lookup(m, "ebs.encrypted")) {
						out = append(out, fail(lt, "launch template %s defines unencrypted volume %v: set ebs.encrypted = true", lt.Name, m["deviceName"]))
					}
				}
			}
			return out
		},
	},
	{
		ID: "aws-host-no-ssh-key", Cloud: "aws", Category: Host, Severity: Medium,
		Title: "Instances get no SSH key pair: shells go through SSM Session Manager",
		check: func(g *graph.Graph) []violation {
			var out []violation
			for _, lt := range g.ByType(awsLaunchTemplate) {
				if k := lt.Str("keyName"); k != "" {
					out = append(out, fail(lt, "launch template %s installs key pair %s: remove keyName and use SSM Session Manager (stayup:sessionManager)", lt.Name, k))
				}
			}
			return out
		},
	},
	{
		ID: "aws-transport-https", Cloud: "aws", Category: Transport, Severity: High,
		Title:     "Plain HTTP only redirects to HTTPS; serving HTTP is waived only while no certificate is configured",
		Standards: []string{"FSBP ELB.1", "CKV2_AWS_20", "CKV_AWS_2"},
		check: func(g *graph.Graph) []violation {
			var out []violation
			for _, l := range g.ByType(awsListener) {
				if l.Str("protocol") != "HTTP" || awsRedirectsToHTTPS(l) {
					continue
				}
				lb := g.Ref(l.Str("loadBalancerArn"))
				if lb != nil {
					if internal, _ := lb.Bool("internal"); internal {
						continue
					}
				}
				v := fail(l, "listener %s serves plain HTTP", l.Name)
				if awsHasHTTPS(g, lb) {
					v.msg += " although the load balancer has a certificate: make its default action a redirect to HTTPS (HTTP_301)"
				} else {
					v = waive(v, "no certificate is configured, so the service is HTTP only, as plan says: set stayup:tlsCertificate to serve HTTPS and redirect HTTP")
				}
				out = append(out, v)
			}
			return out
		},
	},
	{
		ID: "aws-transport-tls-policy", Cloud: "aws", Category: Transport, Severity: High,
		Title:     "HTTPS listeners use a TLS 1.2+ forward-secret security policy",
		Standards: []string{"CKV_AWS_103"},
		check: func(g *graph.Graph) []violation {
			var out []violation
			for _, l := range g.ByType(awsListener) {
				if p := l.Str("protocol"); p != "HTTPS" && p != "TLS" {
					continue
				}
				policy := l.Str("sslPolicy")
				if !slices.ContainsFunc(awsModernTLS, func(prefix string) bool { return strings.HasPrefix(policy, prefix) }) {
					out = append(out, fail(l, "listener %s uses TLS policy %q, which admits old protocols or ciphers: set sslPolicy to ELBSecurityPolicy-TLS13-1-2-2021-06", l.Name, policy))
				}
			}
			return out
		},
	},
	{
		ID: "aws-transport-header-hygiene", Cloud: "aws", Category: Transport, Severity: Medium,
		Title:     "The ALB drops invalid headers and mitigates HTTP desync",
		Standards: []string{"FSBP ELB.4", "FSBP ELB.12", "CKV_AWS_131"},
		check: func(g *graph.Graph) []violation {
			var out []violation
			for _, lb := range g.ByType(awsLB) {
				if t := lb.Str("loadBalancerType"); t != "" && t != "application" {
					continue
				}
				if on, _ := lb.Bool("dropInvalidHeaderFields"); !on {
					out = append(out, fail(lb, "load balancer %s passes invalid headers to the app: set dropInvalidHeaderFields = true", lb.Name))
				}
				if m := lb.Str("desyncMitigationMode"); m != "defensive" && m != "strictest" {
					out = append(out, fail(lb, "load balancer %s has desync mitigation %q: set desyncMitigationMode = \"defensive\" or \"strictest\"", lb.Name, m))
				}
			}
			return out
		},
	},
	{
		ID: "aws-logging-flow", Cloud: "aws", Category: Logging, Severity: Medium,
		Title:     "Every VPC has flow logs of all traffic",
		Standards: []string{"FSBP EC2.6", "CKV2_AWS_11"},
		check: func(g *graph.Graph) []violation {
			var out []violation
			for _, vpc := range g.ByType(awsVPC) {
				var logged bool
				for _, fl := range g.ByType("aws:ec2/flowLog:FlowLog") {
					if refsTo(g, fl.Get("vpcId"), vpc) && fl.Str("trafficType") == "ALL" {
						logged = true
					}
				}
				if !logged {
					out = append(out, fail(vpc, "VPC %s has no flow log of ALL traffic: add an aws.ec2.FlowLog with trafficType ALL to a log group with retention", vpc.Name))
				}
			}
			return out
		},
	},
	{
		ID: "aws-logging-retention", Cloud: "aws", Category: Logging, Severity: Low,
		Title:     "Every CloudWatch log group sets its retention",
		Standards: []string{"CKV_AWS_66"},
		check: func(g *graph.Graph) []violation {
			var out []violation
			for _, lg := range g.ByType(awsLogGroup) {
				if n, ok := lg.Int("retentionInDays"); !ok || n <= 0 {
					out = append(out, fail(lg, "log group %s keeps logs forever: set retentionInDays (stayup:logRetentionDays)", lg.Name))
				}
			}
			return out
		},
	},
	{
		ID: "aws-logging-instance", Cloud: "aws", Category: Logging, Severity: Medium,
		Title: "The instances ship their logs to a log group of the stack that they may write to",
		check: func(g *graph.Graph) []violation {
			if len(awsInstanceLogGroups(g)) > 0 {
				return nil
			}
			return none("no log group of the stack receives the instances' logs: create one with retention and let the instance role put log events in it")
		},
	},
	{
		ID: "aws-logging-lb-access", Cloud: "aws", Category: Logging, Severity: Medium,
		Title:     "The load balancer writes access logs",
		Standards: []string{"FSBP ELB.5", "CKV_AWS_91"},
		check: func(g *graph.Graph) []violation {
			var out []violation
			for _, lb := range g.ByType(awsLB) {
				if on, _ := lb.Bool("accessLogs.enabled"); !on || lb.Str("accessLogs.bucket") == "" {
					out = append(out, fail(lb, "load balancer %s writes no access logs: set accessLogs {bucket, enabled: true} to an S3 bucket with a lifecycle (retention) rule", lb.Name))
				}
			}
			return out
		},
	},
}

// awsConditionNames says whether a condition block tests key, whatever
// the operator (StringEquals, ArnLike, ...), with a value that is not "*".
func awsConditionNames(cond map[string]map[string]any, key string) bool {
	for _, tests := range cond {
		for k, v := range tests {
			if strings.EqualFold(k, key) && len(strs(v)) > 0 && !slices.Contains(strs(v), "*") {
				return true
			}
		}
	}
	return false
}

// awsListenerUses says whether a listener's default actions forward to
// the target group.
func awsListenerUses(g *graph.Graph, l *graph.Resource, tg *graph.Resource) bool {
	for _, a := range l.List("defaultActions") {
		if refsTo(g, graph.Lookup(a, "targetGroupArn"), tg) {
			return true
		}
		groups, _ := graph.Lookup(a, "forward.targetGroups").([]any)
		for _, fwd := range groups {
			if refsTo(g, graph.Lookup(fwd, "arn"), tg) {
				return true
			}
		}
	}
	return false
}

// awsInstanceLogGroups are the log groups the instance roles may put
// events in: the ones the instances' log driver writes to.
func awsInstanceLogGroups(g *graph.Graph) []*graph.Resource {
	roles := awsInstanceRoles(g)
	var out []*graph.Resource
	for _, lg := range g.ByType(awsLogGroup) {
		name := lg.Str("name")
		if name == "" {
			name = lg.ID
		}
		for _, p := range awsPolicies(g) {
			if !roles[refType(g, p.r.Get("role"), awsRole)] {
				continue
			}
			for _, st := range p.statements {
				if st.Effect == "Allow" && slices.Contains(strs(st.Action), "logs:PutLogEvents") &&
					slices.ContainsFunc(strs(st.Resource), func(arn string) bool { return strings.HasSuffix(arn, ":log-group:"+name) }) &&
					!slices.Contains(out, lg) {
					out = append(out, lg)
				}
			}
		}
	}
	return out
}

// awsInstanceRoles are the roles the launch templates' instance profiles hold.
func awsInstanceRoles(g *graph.Graph) map[*graph.Resource]bool {
	out := map[*graph.Resource]bool{}
	for _, lt := range g.ByType(awsLaunchTemplate) {
		if profile := awsProfile(g, lt); profile != nil {
			if r := refType(g, profile.Get("role"), awsRole); r != nil {
				out[r] = true
			}
		}
	}
	return out
}

func awsSubnetZones(g *graph.Graph, ids []any) []string {
	var zones []string
	for _, id := range ids {
		if s := g.Ref(id); s != nil && s.Type == awsSubnet {
			zones = append(zones, s.Str("availabilityZone"))
		}
	}
	return zones
}

// awsRouteTables are the route tables associated with a subnet.
func awsRouteTables(g *graph.Graph, subnet *graph.Resource) []*graph.Resource {
	var out []*graph.Resource
	for _, a := range g.ByType("aws:ec2/routeTableAssociation:RouteTableAssociation") {
		if refsTo(g, a.Get("subnetId"), subnet) {
			if rt := g.Ref(a.Get("routeTableId")); rt != nil {
				out = append(out, rt)
			}
		}
	}
	return out
}

func awsFrontsFleet(g *graph.Graph, lb *graph.Resource, fleetTGs map[*graph.Resource]bool) bool {
	for _, l := range g.ByType(awsListener) {
		if !refsTo(g, l.Get("loadBalancerArn"), lb) {
			continue
		}
		for _, a := range maps(l.Get("defaultActions")) {
			if tg := g.Ref(a["targetGroupArn"]); tg != nil && fleetTGs[tg] {
				return true
			}
		}
	}
	return false
}

func awsRedirectsToHTTPS(l *graph.Resource) bool {
	actions := maps(l.Get("defaultActions"))
	return len(actions) > 0 && actions[0]["type"] == "redirect" && str(actions[0], "redirect.protocol") == "HTTPS"
}

func awsHasHTTPS(g *graph.Graph, lb *graph.Resource) bool {
	for _, l := range g.ByType(awsListener) {
		if refsTo(g, l.Get("loadBalancerArn"), lb) && (l.Str("protocol") == "HTTPS" || l.Str("certificateArn") != "") {
			return true
		}
	}
	return false
}

// sgRule is one security group rule, whichever of the provider's three
// ways wrote it.
type sgRule struct {
	r      *graph.Resource
	sg     string // the group the rule belongs to
	egress bool
	cidrs  []string
	peer   string // the security group it admits or reaches
	ports  portRange
}

func awsPorts(proto any, from, to any) portRange {
	p := fmt.Sprint(proto)
	f, okF := num(from)
	t, okT := num(to)
	if p == "-1" || p == "all" || !okF || !okT || f < 0 || (f == 0 && t == 0) || (f == 0 && t == 65535) {
		return portRange{all: true}
	}
	return portRange{from: f, to: t}
}

func awsSGRules(g *graph.Graph) []sgRule {
	var out []sgRule
	for _, typ := range []string{"aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"} {
		for _, r := range g.ByType(typ) {
			out = append(out, sgRule{
				r: r, sg: r.Str("securityGroupId"), egress: strings.Contains(typ, "Egress"),
				cidrs: append(strs(r.Get("cidrIpv4")), strs(r.Get("cidrIpv6"))...),
				peer:  r.Str("referencedSecurityGroupId"),
				ports: awsPorts(r.Get("ipProtocol"), r.Get("fromPort"), r.Get("toPort")),
			})
		}
	}
	for _, r := range g.ByType("aws:ec2/securityGroupRule:SecurityGroupRule") {
		out = append(out, sgRule{
			r: r, sg: r.Str("securityGroupId"), egress: r.Str("type") == "egress",
			cidrs: append(strs(r.Get("cidrBlocks")), strs(r.Get("ipv6CidrBlocks"))...),
			peer:  r.Str("sourceSecurityGroupId"),
			ports: awsPorts(r.Get("protocol"), r.Get("fromPort"), r.Get("toPort")),
		})
	}
	for _, typ := range []string{"aws:ec2/securityGroup:SecurityGroup", "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"} {
		for _, sg := range g.ByType(typ) {
			for _, dir := range []string{"ingress", "egress"} {
				for _, in := range maps(sg.Get(dir)) {
					peers := strs(in["securityGroups"])
					peer := ""
					if len(peers) > 0 {
						peer = peers[0]
					}
					out = append(out, sgRule{
						r: sg, sg: sg.ID, egress: dir == "egress",
						cidrs: append(strs(in["cidrBlocks"]), strs(in["ipv6CidrBlocks"])...),
						peer:  peer,
						ports: awsPorts(in["protocol"], in["fromPort"], in["toPort"]),
					})
				}
			}
		}
	}
	return out
}

// statement is one IAM policy statement.
type statement struct {
	Effect    string
	Action    any
	NotAction any
	Resource  any
	Principal any
	Condition map[string]map[string]any
}

type awsPolicy struct {
	r          *graph.Resource
	statements []statement
}

// awsDocument reads a policy document, written as JSON text or as an object.
func awsDocument(v any) []statement {
	var text []byte
	switch t := v.(type) {
	case string:
		text = []byte(t)
	case nil:
		return nil
	default:
		text, _ = json.Marshal(t)
	}
	var doc struct {
		Statement json.RawMessage
	}
	if json.Unmarshal(text, &doc) != nil {
		return nil
	}
	var many []statement
	if json.Unmarshal(doc.Statement, &many) == nil {
		return many
	}
	var one statement
	if json.Unmarshal(doc.Statement, &one) == nil {
		return []statement{one}
	}
	return nil
}

func awsPolicies(g *graph.Graph) []awsPolicy {
	var out []awsPolicy
	for _, typ := range []string{"aws:iam/rolePolicy:RolePolicy", "aws:iam/policy:Policy", "aws:iam/userPolicy:UserPolicy", "aws:iam/groupPolicy:GroupPolicy"} {
		for _, r := range g.ByType(typ) {
			out = append(out, awsPolicy{r: r, statements: awsDocument(r.Get("policy"))})
		}
	}
	return out
}
