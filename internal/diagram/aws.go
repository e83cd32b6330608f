package diagram

import (
	"fmt"
	"regexp"
	"strings"

	"stayup/internal/graph"
)

// awsTable says what each AWS resource type becomes.
var awsTable = table{
	setup: awsSetup,
	types: map[string]entry{
		"aws:ec2/vpc:Vpc":       cluster(awsVPC),
		"aws:ec2/subnet:Subnet": cluster(awsSubnet),

		"aws:lb/loadBalancer:LoadBalancer": node(awsLoadBalancer),
		"aws:autoscaling/group:Group":      node(awsGroup),
		"aws:ec2/natGateway:NatGateway":    node(awsNAT),
		"aws:cloudwatch/logGroup:LogGroup": node(awsLogGroup),
		"aws:iam/role:Role":                node(awsRole),
		"aws:s3/bucketV2:BucketV2":         {node: awsLogBucket, edge: awsLogWriters},

		"aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": edge(awsIngressRule),
		"aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule":   edge(awsEgressRule),
		"aws:lb/targetGroup:TargetGroup":                            edge(awsTargetGroup),
		"aws:iam/instanceProfile:InstanceProfile":                   edge(awsInstanceProfile),
		"aws:iam/rolePolicy:RolePolicy":                             edge(awsRolePolicy),

		// The listeners' ports and the target group's check are on the
		// load balancer; the launch template's machine and the scaling
		// policy's target on the fleet; the flow log and the emptied
		// default group on the VPC.
		"aws:lb/listener:Listener":                          fold(),
		"aws:ec2/launchTemplate:LaunchTemplate":             fold(),
		"aws:autoscaling/policy:Policy":                     fold(),
		"aws:ec2/flowLog:FlowLog":                           fold(),
		"aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": fold(),
		// A security group is drawn as the arrows its rules allow.
		"aws:ec2/securityGroup:SecurityGroup": fold(),
		// Routing: subnets say public or private, NATs carry the egress.
		"aws:ec2/routeTable:RouteTable":                       fold(),
		"aws:ec2/routeTableAssociation:RouteTableAssociation": fold(),
		"aws:ec2/internetGateway:InternetGateway":             fold(),
		"aws:ec2/eip:Eip":                                     fold(),
		// The log bucket's settings are its box's lines.
		"aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock":                                     fold(),
		"aws:s3/bucketOwnershipControls:BucketOwnershipControls":                                     fold(),
		"aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2": fold(),
		"aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2":                       fold(),
		"aws:s3/bucketPolicy:BucketPolicy":                                                           fold(),
	},
	finish: awsFinish,
}

const awsRoleType = "aws:iam/role:Role"

const (
	awsCloud  = "aws"
	awsRegion = "aws_region"
)

func awsSetup(b *builder) {
	b.cluster(awsCloud, "", CloudLevel, "AWS")
	b.cluster(awsRegion, awsCloud, RegionLevel, regionOf(b.g))
	setupCommon(b)
	image, _ := b.g.Outputs["image"].(string)
	if repo := ecrRE.FindStringSubmatch(image); repo != nil {
		// The image lives in ECR: the registry is inside AWS, and the
		// role's grant on the repository points at it.
		where := awsCloud
		if repo[2] == regionOf(b.g) {
			where = awsRegion
		}
		registryNode(b, "ECR repository", where)
		b.aliases[fmt.Sprintf("arn:aws:ecr:%s:%s:repository/%s", repo[2], repo[1], repo[3])] = "registry"
		return
	}
	registryNode(b, "Image registry", "")
}

var ecrRE = regexp.MustCompile(`^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com/([^:@]+)`)

func awsVPC(b *builder, r *graph.Resource) {
	if b.clusterOf[r.ID] != "" {
		return // drawn already, for a subnet listed before it
	}
	c := b.cluster(slug("vpc", r.Name), awsRegion, NetworkLevel, "VPC "+r.Str("cidrBlock"))
	b.clusterOf[r.ID] = c.ID
	for _, fl := range b.g.ByType("aws:ec2/flowLog:FlowLog") {
		if fl.Str("vpcId") == r.ID {
			c.Notes = append(c.Notes, fmt.Sprintf("flow logs: %s traffic", strings.ToLower(fl.Str("trafficType"))))
		}
	}
	for _, d := range b.g.ByType("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup") {
		if d.Str("vpcId") == r.ID && d.Get("ingress") == nil && d.Get("egress") == nil {
			c.Notes = append(c.Notes, "default security group: no rules")
		}
	}
}

// awsSubnet draws the subnet's zone. The subnet itself is a line on the
// boxes in it (a nested box per subnet put every arrow across its title):
// public when its route table sends 0.0.0.0/0 to the internet gateway,
// private when to a NAT, which becomes the egress hop of what runs in it.
func awsSubnet(b *builder, r *graph.Resource) {
	if v := b.g.Ref(r.Str("vpcId")); v != nil {
		awsVPC(b, v)
	}
	vpc := b.clusterOf[r.Str("vpcId")]
	if vpc == "" {
		return
	}
	zone := r.Str("availabilityZone")
	z := b.cluster(slug("zone", zone), vpc, ZoneLevel, zone)
	kind, nat := "subnet", ""
	for _, a := range b.g.ByType("aws:ec2/routeTableAssociation:RouteTableAssociation") {
		if a.Str("subnetId") != r.ID {
			continue
		}
		if rt := b.g.Ref(a.Str("routeTableId")); rt != nil {
			for _, route := range rt.List("routes") {
				if gw := b.g.Ref(graph.Lookup(route, "gatewayId")); gw != nil && gw.Type == "aws:ec2/internetGateway:InternetGateway" {
					kind = "public subnet"
				}
				if id, ok := graph.Lookup(route, "natGatewayId").(string); ok && id != "" {
					kind, nat = "private subnet", id
				}
			}
		}
	}
	b.clusterOf[r.ID] = z.ID
	b.subnets[r.ID] = kind + " " + r.Str("cidrBlock")
	if nat != "" {
		b.via[z.ID] = nat
	}
}

func awsLoadBalancer(b *builder, r *graph.Resource) {
	where := awsRegion
	if subnets := strs(r.Get("subnets")); len(subnets) > 0 {
		if s := b.g.Ref(subnets[0]); s != nil && b.clusterOf[s.Str("vpcId")] != "" {
			where = b.clusterOf[s.Str("vpcId")]
		}
	}
	label := "Load Balancer"
	switch r.Str("loadBalancerType") {
	case "application":
		label = "Application Load Balancer"
	case "network":
		label = "Network Load Balancer"
	}
	var front []string
	for _, l := range b.g.ByType("aws:lb/listener:Listener") {
		if l.Str("loadBalancerArn") != r.ID {
			continue
		}
		port, _ := l.Int("port")
		s := fmt.Sprintf("%s :%d", l.Str("protocol"), port)
		if l.Str("defaultActions.0.type") == "redirect" {
			s += " → " + l.Str("defaultActions.0.redirect.protocol")
		}
		front = append(front, s)
	}
	if internal, _ := r.Bool("internal"); !internal {
		front = append(front, "public")
	}
	detail := []string{strings.Join(front, " · ")}
	for _, tg := range b.g.ByType("aws:lb/targetGroup:TargetGroup") {
		if awsForwardsTo(b, r, tg) {
			interval, _ := tg.Int("healthCheck.interval")
			drain, _ := tg.Int("deregistrationDelay")
			detail = append(detail, fmt.Sprintf("checks GET %s every %ds", tg.Str("healthCheck.path"), interval), fmt.Sprintf("drains %ds", drain))
		}
	}
	n := b.node(Node{ID: "lb", Kind: LoadBalancer, Cluster: where, Label: label, Detail: detail})
	b.drawn(r, n.ID)
}

// awsForwardsTo reports whether a listener of lb forwards to tg.
func awsForwardsTo(b *builder, lb, tg *graph.Resource) bool {
	for _, l := range b.g.ByType("aws:lb/listener:Listener") {
		if l.Str("loadBalancerArn") == lb.ID && l.Str("defaultActions.0.targetGroupArn") == tg.ID {
			return true
		}
	}
	return false
}

// awsGroup draws the Auto Scaling group once in each of its subnets.
func awsGroup(b *builder, r *graph.Resource) {
	subnets := strs(r.Get("vpcZoneIdentifiers"))
	var first []string
	if lt := b.g.Ref(r.Str("launchTemplate.id")); lt != nil {
		ip := "no public IP"
		if public, _ := lt.Bool("networkInterfaces.0.associatePublicIpAddress"); public {
			ip = "PUBLIC IP"
		}
		first = append(first, lt.Str("instanceType"), ip)
	}
	// The size is the autoscaler's to choose between min and max; the
	// desired capacity is only where it starts.
	minSize, _ := r.Int("minSize")
	maxSize, _ := r.Int("maxSize")
	size := fmt.Sprintf("scales %d-%d", minSize, maxSize)
	for _, p := range b.g.ByType("aws:autoscaling/policy:Policy") {
		if p.Str("autoscalingGroupName") == r.ID {
			if v, ok := p.Int("targetTrackingConfiguration.targetValue"); ok {
				size += fmt.Sprintf(" at CPU %d%%", v)
			}
		}
	}
	for _, id := range subnets {
		s := b.g.Ref(id)
		if s == nil || b.clusterOf[id] == "" {
			continue
		}
		n := b.node(Node{
			ID: slug("fleet", s.Str("availabilityZone")), Kind: Fleet, Cluster: b.clusterOf[id], Zone: s.Str("availabilityZone"),
			Label: "App instances", Detail: []string{b.subnets[id], strings.Join(first, " · "), size},
		})
		b.drawn(r, n.ID)
	}
}

func awsNAT(b *builder, r *graph.Resource) {
	where := b.clusterOf[r.Str("subnetId")]
	if where == "" {
		return
	}
	zone := ""
	if s := b.g.Ref(r.Str("subnetId")); s != nil {
		zone = s.Str("availabilityZone")
	}
	n := b.node(Node{ID: slug("nat", zone), Kind: NAT, Cluster: where, Label: "NAT gateway", Detail: []string{b.subnets[r.Str("subnetId")]}})
	b.drawn(r, n.ID)
}

func awsLogGroup(b *builder, r *graph.Resource) {
	detail := []string{r.Str("name")}
	if days, ok := r.Int("retentionInDays"); ok {
		detail = append(detail, fmt.Sprintf("kept %d days", days))
	}
	n := b.node(Node{ID: slug("logs", r.Name), Kind: LogSink, Cluster: awsRegion, Label: "CloudWatch Logs", Detail: detail})
	b.drawn(r, n.ID)
}

// awsLogBucket draws the bucket a load balancer writes its access logs
// to, with an arrow from every load balancer that does.
func awsLogBucket(b *builder, r *graph.Resource) {
	var writers []*graph.Resource
	for _, lb := range b.g.ByType("aws:lb/loadBalancer:LoadBalancer") {
		if on, _ := lb.Bool("accessLogs.enabled"); on && lb.Str("accessLogs.bucket") == r.ID {
			writers = append(writers, lb)
		}
	}
	if len(writers) == 0 {
		return
	}
	detail := []string{"S3 · private"}
	for _, l := range b.g.ByType("aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2") {
		if days, ok := l.Int("rules.0.expiration.days"); ok && l.Str("bucket") == r.ID {
			detail = append(detail, fmt.Sprintf("kept %d days", days))
		}
	}
	n := b.node(Node{ID: slug("logs", r.Name), Kind: LogSink, Cluster: awsRegion, Label: "Access logs", Detail: detail})
	b.drawn(r, n.ID)
}

// awsLogWriters draws the load balancers writing to a log bucket.
func awsLogWriters(b *builder, r *graph.Resource) {
	for _, lb := range b.g.ByType("aws:lb/loadBalancer:LoadBalancer") {
		if lb.Str("accessLogs.bucket") != r.ID {
			continue
		}
		for _, from := range b.nodesOf[lb.URN] {
			for _, to := range b.nodesOf[r.URN] {
				b.edge(from, to, Egress).note("access logs")
			}
		}
	}
}

func awsRole(b *builder, r *graph.Resource) {
	detail := []string{r.ID}
	if by := assumedBy(r.Str("assumeRolePolicy")); len(by) > 0 {
		// "ec2.amazonaws.com" reads as "ec2".
		for i, s := range by {
			by[i] = strings.TrimSuffix(s, ".amazonaws.com")
		}
		detail = append(detail, "used by "+strings.Join(by, ", "))
	}
	n := b.node(Node{ID: slug("role", r.Name), Kind: Identity, Cluster: awsCloud, Label: "IAM role", Detail: detail})
	b.drawn(r, n.ID)
}

// awsMembers returns the nodes a security group is attached to: load
// balancers directly, instances through their launch template.
func awsMembers(b *builder, sg string) []string {
	var out []string
	for _, lb := range b.g.ByType("aws:lb/loadBalancer:LoadBalancer") {
		for _, id := range strs(lb.Get("securityGroups")) {
			if id == sg {
				out = addUnique(out, b.nodesOf[lb.URN]...)
			}
		}
	}
	for _, asg := range b.g.ByType("aws:autoscaling/group:Group") {
		lt := b.g.Ref(asg.Str("launchTemplate.id"))
		if lt == nil {
			continue
		}
		for _, id := range append(strs(lt.Get("vpcSecurityGroupIds")), strs(lt.Get("networkInterfaces.0.securityGroups"))...) {
			if id == sg {
				out = addUnique(out, b.nodesOf[asg.URN]...)
			}
		}
	}
	return out
}

func awsRulePort(r *graph.Resource) string {
	from, _ := r.Int("fromPort")
	to, _ := r.Int("toPort")
	return portText(r.Str("ipProtocol"), from, to)
}

func awsRuleCIDR(r *graph.Resource) string {
	for _, k := range []string{"cidrIpv4", "cidrIpv6", "prefixListId"} {
		if s := r.Str(k); s != "" {
			return s
		}
	}
	return ""
}

// awsIngressRule draws who may connect to a security group's members:
// from a range, the users; from another group, that group's members.
func awsIngressRule(b *builder, r *graph.Resource) {
	to := awsMembers(b, r.Str("securityGroupId"))
	port := awsRulePort(r)
	if ref := r.Str("referencedSecurityGroupId"); ref != "" {
		from := awsMembers(b, ref)
		for _, f := range from {
			for _, t := range to {
				b.edge(f, t, Request).port(port).peer(membersText(b, from))
			}
		}
		return
	}
	for _, t := range to {
		b.edge("users", t, Request).port(port).peer(awsRuleCIDR(r))
	}
}

// awsEgressRule draws where a security group's members may connect: to
// another group's members (the same arrow as that group's ingress), or
// out to a range through the subnet's NAT.
func awsEgressRule(b *builder, r *graph.Resource) {
	from := awsMembers(b, r.Str("securityGroupId"))
	port := awsRulePort(r)
	if ref := r.Str("referencedSecurityGroupId"); ref != "" {
		for _, f := range from {
			for _, t := range awsMembers(b, ref) {
				b.edge(f, t, Request).port(port)
			}
		}
		return
	}
	for _, f := range from {
		hop := "users"
		if nats := b.nodesFor(b.viaFor(b.nodes[f])); len(nats) > 0 {
			hop = nats[0]
		}
		b.edge(f, hop, Egress).port(port).peer(awsRuleCIDR(r))
	}
}

// awsTargetGroup draws the load balancer sending to the fleet on the
// target group's port.
func awsTargetGroup(b *builder, r *graph.Resource) {
	port, _ := r.Int("port")
	for _, lb := range b.g.ByType("aws:lb/loadBalancer:LoadBalancer") {
		if !awsForwardsTo(b, lb, r) {
			continue
		}
		for _, asg := range b.g.ByType("aws:autoscaling/group:Group") {
			for _, arn := range strs(asg.Get("targetGroupArns")) {
				if arn != r.ID {
					continue
				}
				for _, f := range b.nodesOf[lb.URN] {
					for _, t := range b.nodesOf[asg.URN] {
						b.edge(f, t, Request).port(portText("tcp", port, port))
					}
				}
			}
		}
	}
}

// awsInstanceProfile says on the fleet which role the instances run as.
func awsInstanceProfile(b *builder, r *graph.Resource) {
	roles := b.nodesOfRef(r.Str("role"), awsRoleType)
	for _, asg := range b.g.ByType("aws:autoscaling/group:Group") {
		lt := b.g.Ref(asg.Str("launchTemplate.id"))
		if lt == nil {
			continue
		}
		p := b.refTo(lt.Str("iamInstanceProfile.arn"), r.Type)
		if p == nil {
			p = b.refTo(lt.Str("iamInstanceProfile.name"), r.Type)
		}
		if p == nil || p.URN != r.URN {
			continue
		}
		for _, f := range b.nodesOf[asg.URN] {
			for _, role := range roles {
				runsAs(b, f, role)
			}
		}
	}
}

// awsRolePolicy draws each allowed statement as a grant from the role to
// the resource it names; what names nothing drawn (a wildcard, a service
// without a resource) is listed on the role.
func awsRolePolicy(b *builder, r *graph.Resource) {
	roles := b.nodesOfRef(r.Str("role"), awsRoleType)
	for _, st := range parsePolicy(r.Str("policy")) {
		if st.Effect != "Allow" {
			continue
		}
		actions := compactActions(strs(st.Action))
		var loose []string
		for _, res := range strs(st.Resource) {
			targets := b.nodesFor(strings.TrimSuffix(res, ":*"))
			if len(targets) == 0 {
				loose = addUnique(loose, awsShortARN(res))
				continue
			}
			for _, role := range roles {
				for _, t := range targets {
					b.edge(role, t, Grant).note(actions)
				}
			}
		}
		if len(loose) > 0 {
			for _, role := range roles {
				n := b.nodes[role]
				n.Detail = addUnique(n.Detail, fmt.Sprintf("%s on %s", actions, strings.Join(loose, ", ")))
			}
		}
	}
}

// awsShortARN drops an ARN's partition, region and account.
func awsShortARN(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 {
		return arn
	}
	return parts[5]
}

// awsFinish draws the image pull: out through each NAT the instances use.
func awsFinish(b *builder) {
	for _, e := range b.m.Edges {
		if e.Kind == Egress && b.nodes[e.From].Kind == Fleet && b.nodes[e.To].Kind == NAT {
			b.edge(e.To, "registry", Egress).note("image pull")
		}
	}
}
