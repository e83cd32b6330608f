package diagram

import (
	"fmt"
	"slices"
	"strings"

	"stayup/internal/graph"
)

// gcpTable says what each Google Cloud resource type becomes.
var gcpTable = table{
	setup: gcpSetup,
	types: map[string]entry{
		"gcp:compute/network:Network":       cluster(gcpNetwork),
		"gcp:compute/subnetwork:Subnetwork": cluster(gcpSubnetwork),

		"gcp:compute/backendService:BackendService":                         {node: gcpBackendService, edge: gcpBackends},
		"gcp:compute/regionInstanceGroupManager:RegionInstanceGroupManager": node(gcpGroup),
		"gcp:compute/routerNat:RouterNat":                                   node(gcpNAT),
		"gcp:dns/managedZone:ManagedZone":                                   node(gcpPrivateZone),
		"gcp:serviceaccount/account:Account":                                node(gcpAccount),

		"gcp:compute/globalForwardingRule:GlobalForwardingRule":        edge(gcpForwardingRule),
		"gcp:compute/securityPolicy:SecurityPolicy":                    edge(gcpSecurityPolicy),
		"gcp:compute/firewall:Firewall":                                edge(gcpFirewall),
		"gcp:compute/instanceTemplate:InstanceTemplate":                edge(gcpTemplate),
		"gcp:projects/iAMMember:IAMMember":                             edge(gcpProjectMember),
		"gcp:artifactregistry/repositoryIamMember:RepositoryIamMember": edge(gcpRepositoryMember),

		// The front end's pieces are one load balancer: the address,
		// ports, TLS and checks are on its box; the autoscaler's numbers
		// and the autohealing check on the fleet's.
		"gcp:compute/globalAddress:GlobalAddress":                 fold(),
		"gcp:compute/targetHttpProxy:TargetHttpProxy":             fold(),
		"gcp:compute/targetHttpsProxy:TargetHttpsProxy":           fold(),
		"gcp:compute/uRLMap:URLMap":                               fold(),
		"gcp:compute/sSLPolicy:SSLPolicy":                         fold(),
		"gcp:compute/managedSslCertificate:ManagedSslCertificate": fold(),
		"gcp:compute/healthCheck:HealthCheck":                     fold(),
		"gcp:compute/regionAutoscaler:RegionAutoscaler":           fold(),
		// Cloud NAT's router is how it is attached, not a hop of its own.
		"gcp:compute/router:Router": fold(),
		// The private zones' records are what the hop's box says.
		"gcp:dns/recordSet:RecordSet": fold(),
	},
	finish: gcpFinish,
}

const (
	gcpCloud  = "gcp"
	gcpRegion = "gcp_region"
)

func gcpSetup(b *builder) {
	project := gcpProject(b.g)
	label := "Google Cloud"
	if project != "" {
		label += " · project " + project
	}
	b.cluster(gcpCloud, "", CloudLevel, label)
	b.cluster(gcpRegion, gcpCloud, RegionLevel, regionOf(b.g))
	setupCommon(b)
	image, _ := b.g.Outputs["image"].(string)
	host, _ := imageParts(image)
	// An Artifact Registry repository in this project is inside the
	// cloud, and the account's reader grant points at it.
	if strings.HasSuffix(host, "-docker.pkg.dev") && project != "" && strings.HasPrefix(strings.TrimPrefix(image, host+"/"), project+"/") {
		registryNode(b, "Artifact Registry", gcpCloud)
		return
	}
	registryNode(b, "Image registry", "")
}

// gcpProject is the project most resources name.
func gcpProject(g *graph.Graph) string {
	if p, ok := graph.Lookup(g.Outputs, "fleet.project").(string); ok {
		return p
	}
	for _, r := range g.Resources {
		if p := r.Str("project"); p != "" {
			return p
		}
	}
	return ""
}

func gcpNetwork(b *builder, r *graph.Resource) {
	if b.clusterOf[r.ID] != "" {
		return // drawn already, for a subnet listed before it
	}
	c := b.cluster(slug("vpc", r.Name), gcpRegion, NetworkLevel, "VPC "+gcpName(r))
	b.clusterOf[r.ID] = c.ID
}

// gcpName is a resource's name, the last part of its id.
func gcpName(r *graph.Resource) string {
	if n := r.Str("name"); n != "" {
		return n
	}
	return r.ID[strings.LastIndex(r.ID, "/")+1:]
}

// gcpSubnetwork draws a regional subnet inside its network; the zones the
// fleet uses go inside it.
func gcpSubnetwork(b *builder, r *graph.Resource) {
	if n := b.g.Ref(r.Str("network")); n != nil {
		gcpNetwork(b, n)
	}
	network := b.clusterOf[r.Str("network")]
	if network == "" {
		return
	}
	c := b.cluster(slug("subnet", r.Name), network, SubnetLevel, "subnet "+r.Str("ipCidrRange"))
	if on, _ := r.Bool("privateIpGoogleAccess"); on {
		c.Notes = append(c.Notes, "Private Google Access")
	}
	b.clusterOf[r.ID] = c.ID
	if sl, ok := r.Outputs["selfLink"].(string); ok {
		b.clusterOf[sl] = c.ID
	}
}

// gcpBackendService draws the global load balancer: its box carries the
// address, the forwarding rules' ports and the readiness check.
func gcpBackendService(b *builder, r *graph.Resource) {
	var front []string
	for _, fr := range b.g.ByType("gcp:compute/globalForwardingRule:GlobalForwardingRule") {
		proto := "HTTP"
		proxy := b.g.Ref(fr.Str("target"))
		if proxy != nil && proxy.Type == "gcp:compute/targetHttpsProxy:TargetHttpsProxy" {
			proto = "HTTPS"
		}
		s := fmt.Sprintf("%s :%s", proto, fr.Str("portRange"))
		if proxy != nil {
			if m := b.g.Ref(proxy.Str("urlMap")); m != nil && m.Get("defaultUrlRedirect.httpsRedirect") == true {
				s += " → HTTPS"
			}
		}
		front = append(front, s)
	}
	slices.Sort(front)
	detail := []string{"global · " + strings.Join(front, " · ")}
	if hc := b.g.Ref(r.Str("healthChecks")); hc != nil {
		interval, _ := hc.Int("checkIntervalSec")
		drain, _ := r.Int("connectionDrainingTimeoutSec")
		detail = append(detail, fmt.Sprintf("checks GET %s every %ds", hc.Str("httpHealthCheck.requestPath"), interval), fmt.Sprintf("drains %ds", drain))
	}
	n := b.node(Node{ID: "lb", Kind: LoadBalancer, Cluster: gcpCloud, Label: "Application Load Balancer", Detail: detail})
	b.drawn(r, n.ID)
}

// gcpBackends draws the load balancer sending to the fleet's instance
// groups on the named port the backend service uses.
func gcpBackends(b *builder, r *graph.Resource) {
	for _, backend := range r.List("backends") {
		group := graph.Lookup(backend, "group")
		mig := b.g.Ref(group)
		if mig == nil {
			continue
		}
		var port string
		for _, np := range mig.List("namedPorts") {
			if graph.Lookup(np, "name") == r.Str("portName") {
				if p, ok := graph.Lookup(np, "port").(float64); ok {
					port = portText("tcp", int(p), int(p))
				}
			}
		}
		for _, lb := range b.nodesOf[r.URN] {
			for _, f := range b.nodesOf[mig.URN] {
				b.edge(lb, f, Request).port(port)
			}
		}
	}
}

// gcpGroup draws the regional managed instance group once in each zone,
// inside the subnet its template uses.
func gcpGroup(b *builder, r *graph.Resource) {
	where := gcpRegion
	var first []string
	if t := b.g.Ref(r.Str("versions.0.instanceTemplate")); t != nil {
		if c := b.clusterOf[t.Str("networkInterfaces.0.subnetwork")]; c != "" {
			where = c
		}
		ip := "no external IP"
		if len(t.List("networkInterfaces.0.accessConfigs")) > 0 {
			ip = "EXTERNAL IP"
		}
		first = append(first, t.Str("machineType"), ip)
	}
	zones := strs(r.Get("distributionPolicyZones"))
	size := ""
	for _, a := range b.g.ByType("gcp:compute/regionAutoscaler:RegionAutoscaler") {
		if a.Str("target") != r.ID {
			continue
		}
		lo, _ := a.Int("autoscalingPolicy.minReplicas")
		hi, _ := a.Int("autoscalingPolicy.maxReplicas")
		size = fmt.Sprintf("scales %d-%d", lo, hi)
		if v, ok := a.Get("autoscalingPolicy.cpuUtilization.target").(float64); ok {
			size += fmt.Sprintf(" at CPU %.0f%%", v*100)
		}
	}
	for _, zone := range zones {
		z := b.cluster(slug("zone", zone), where, ZoneLevel, zone)
		n := b.node(Node{
			ID: slug("fleet", zone), Kind: Fleet, Cluster: z.ID, Zone: zone,
			Label: "App instances", Detail: []string{strings.Join(first, " · "), size},
		})
		b.drawn(r, n.ID)
	}
}

// gcpNAT draws Cloud NAT in the network, as the egress hop of the
// subnets it serves.
func gcpNAT(b *builder, r *graph.Resource) {
	where := gcpRegion
	var served []string
	for _, s := range r.List("subnetworks") {
		if c := b.clusterOf[fmt.Sprint(graph.Lookup(s, "name"))]; c != "" {
			served = append(served, c)
			where = b.clusters[c].Parent
		}
	}
	n := b.node(Node{ID: slug("nat", r.Name), Kind: NAT, Cluster: where, Label: "Cloud NAT", Detail: []string{"regional"}})
	b.drawn(r, n.ID)
	for _, c := range served {
		b.via[c] = r.ID
	}
}

// gcpPrivateZone draws the googleapis.com private zone as the instances'
// way out when there is no NAT: Private Google Access to
// private.googleapis.com, for the subnets of the network it is bound to.
// The registry zones are part of the same hop.
func gcpPrivateZone(b *builder, r *graph.Resource) {
	if r.Str("dnsName") != "googleapis.com." {
		return
	}
	network := r.Str("privateVisibilityConfig.networks.0.networkUrl")
	where := gcpRegion
	if c := b.clusterOf[network]; c != "" {
		where = c
	}
	var domains []string
	for _, z := range b.g.ByType("gcp:dns/managedZone:ManagedZone") {
		domains = append(domains, strings.TrimSuffix(z.Str("dnsName"), "."))
	}
	n := b.node(Node{ID: "pga", Kind: NAT, Cluster: where, Label: "Private Google Access",
		Detail: []string{"private.googleapis.com · no internet route", "private DNS: " + strings.Join(domains, ", ")}})
	b.drawn(r, n.ID)
	for _, sn := range b.g.ByType("gcp:compute/subnetwork:Subnetwork") {
		if c := b.clusterOf[sn.ID]; c != "" && sn.Str("network") == network {
			b.via[c] = r.ID
		}
	}
}

func gcpAccount(b *builder, r *graph.Resource) {
	email, _ := r.Outputs["email"].(string)
	if email == "" {
		email = fmt.Sprintf("%s@%s.iam.gserviceaccount.com", r.Str("accountId"), r.Str("project"))
	}
	n := b.node(Node{ID: slug("sa", r.Name), Kind: Identity, Cluster: gcpCloud, Label: "Service account", Detail: []string{r.Str("accountId")}})
	b.drawn(r, n.ID)
	b.aliases["serviceAccount:"+email] = n.ID
	b.aliases[email] = n.ID
}

// gcpForwardingRule draws the users reaching the load balancer on the
// rule's port; who the users may be is Cloud Armor's (or anyone).
func gcpForwardingRule(b *builder, r *graph.Resource) {
	proto := strings.ToLower(r.Str("ipProtocol"))
	if proto == "" {
		proto = "tcp"
	}
	for _, lb := range b.nodesOfKind(LoadBalancer) {
		e := b.edge("users", lb, Request).port(r.Str("portRange") + "/" + proto)
		if len(b.g.ByType("gcp:compute/securityPolicy:SecurityPolicy")) == 0 {
			e.peer("0.0.0.0/0")
		}
	}
}

// gcpSecurityPolicy puts Cloud Armor's allowed ranges on the users' arrow.
func gcpSecurityPolicy(b *builder, r *graph.Resource) {
	var allowed []string
	for _, rule := range r.List("rules") {
		if graph.Lookup(rule, "action") == "allow" {
			allowed = append(allowed, strs(graph.Lookup(rule, "match.config.srcIpRanges"))...)
		}
	}
	for _, be := range b.g.ByType("gcp:compute/backendService:BackendService") {
		if be.Str("securityPolicy") != r.ID {
			continue
		}
		for _, lb := range b.nodesOf[be.URN] {
			b.edge("users", lb, Request).peer(allowed...).note("Cloud Armor denies the rest")
		}
	}
}

// gcpTargets returns the fleet nodes a firewall rule applies to: those
// whose template carries one of its target tags, or all without tags.
func gcpTargets(b *builder, fw *graph.Resource) []string {
	tags := strs(fw.Get("targetTags"))
	var out []string
	for _, mig := range b.g.ByType("gcp:compute/regionInstanceGroupManager:RegionInstanceGroupManager") {
		t := b.g.Ref(mig.Str("versions.0.instanceTemplate"))
		if t == nil {
			continue
		}
		match := len(tags) == 0
		for _, tag := range strs(t.Get("tags")) {
			match = match || slices.Contains(tags, tag)
		}
		if match {
			out = addUnique(out, b.nodesOf[mig.URN]...)
		}
	}
	return out
}

// gcpFirewall draws an ingress allow rule as arrows from its sources to
// the instances it targets: from the load balancer when the sources are
// Google's front ends (they, not the clients, connect), else from the
// internet. Deny rules become a note on the network's box.
func gcpFirewall(b *builder, r *graph.Resource) {
	ranges := strs(r.Get("sourceRanges"))
	if r.Str("direction") == "EGRESS" {
		ranges = strs(r.Get("destinationRanges"))
	}
	if len(r.List("denies")) > 0 {
		if c := b.clusters[b.clusterOf[r.Str("network")]]; c != nil {
			note := fmt.Sprintf("%s from %s denied", strings.ToLower(r.Str("direction")), strings.Join(ranges, ", "))
			if r.Get("logConfig") != nil {
				note += " and logged"
			}
			if p, ok := r.Int("priority"); ok && p > 1000 {
				note = "other " + note
			}
			c.Notes = append(c.Notes, note)
		}
		return
	}
	var ports []string
	for _, a := range r.List("allows") {
		proto, _ := graph.Lookup(a, "protocol").(string)
		ps := strs(graph.Lookup(a, "ports"))
		if len(ps) == 0 {
			ports = append(ports, portText(proto, 0, -1))
		}
		for _, p := range ps {
			ports = append(ports, p+"/"+proto)
		}
	}
	targets := gcpTargets(b, r)
	if r.Str("direction") == "EGRESS" {
		for _, f := range targets {
			if nats := b.nodesFor(b.viaFor(b.nodes[f])); len(nats) > 0 {
				b.edge(f, nats[0], Egress).port(ports...).peer(rangesText(ranges))
			}
		}
		return
	}
	from := []string{"users"}
	if rangesText(ranges) == "Google front ends" {
		from = b.nodesOfKind(LoadBalancer)
	}
	for _, f := range from {
		for _, t := range targets {
			b.edge(f, t, Request).port(ports...).peer(rangesText(ranges) + " only")
		}
	}
}

// gcpTemplate says on the fleet which service account the instances run as.
func gcpTemplate(b *builder, r *graph.Resource) {
	sa := b.nodesFor(r.Str("serviceAccount.email"))
	for _, mig := range b.g.ByType("gcp:compute/regionInstanceGroupManager:RegionInstanceGroupManager") {
		if t := b.g.Ref(mig.Str("versions.0.instanceTemplate")); t == nil || t.URN != r.URN {
			continue
		}
		for _, f := range b.nodesOf[mig.URN] {
			for _, s := range sa {
				runsAs(b, f, s)
			}
		}
	}
}

// gcpServices names the project-wide services a role grants on.
var gcpServices = map[string]string{
	"logging":    "Cloud Logging",
	"monitoring": "Cloud Monitoring",
}

// gcpProjectMember draws a project role binding as a grant from the
// account to the service the role is for.
func gcpProjectMember(b *builder, r *graph.Resource) {
	role := r.Str("role")
	svc, _, _ := strings.Cut(strings.TrimPrefix(role, "roles/"), ".")
	name, ok := gcpServices[svc]
	if !ok {
		name = svc
	}
	target := b.node(Node{ID: slug("svc", svc), Kind: LogSink, Cluster: gcpCloud, Label: name, Detail: []string{"project " + r.Str("project")}})
	for _, from := range b.nodesFor(r.Str("member")) {
		b.edge(from, target.ID, Grant).note(role)
	}
}

// gcpRepositoryMember draws a repository grant to the registry.
func gcpRepositoryMember(b *builder, r *graph.Resource) {
	if b.nodes["registry"] == nil {
		return
	}
	for _, from := range b.nodesFor(r.Str("member")) {
		b.edge(from, "registry", Grant).note(r.Str("role"))
	}
}

// gcpFinish draws the image pull and the instances' way out. Without an
// egress rule GCP allows all egress, which the arrow to Cloud NAT says.
// A Google-hosted registry is reached through Private Google Access when
// the subnet has it, not through NAT (and, without NAT, through the
// Private Google Access hop).
func gcpFinish(b *builder) {
	image, _ := b.g.Outputs["image"].(string)
	host, _ := imageParts(image)
	google := strings.HasSuffix(host, ".pkg.dev") || strings.HasSuffix(host, "gcr.io")
	for _, id := range b.nodesOfKind(Fleet) {
		n := b.nodes[id]
		nats := b.nodesFor(b.viaFor(n))
		hasEgress := false
		for _, e := range b.m.Edges {
			hasEgress = hasEgress || (e.From == id && e.Kind == Egress)
		}
		if len(nats) > 0 && !hasEgress {
			b.edge(id, nats[0], Egress).note("all egress (no egress rule)")
		}
		pga := false
		for c := n.Cluster; c != ""; c = b.clusters[c].Parent {
			pga = pga || slices.Contains(b.clusters[c].Notes, "Private Google Access")
		}
		switch {
		case google && len(nats) > 0 && nats[0] == "pga":
			b.edge(nats[0], "registry", Egress).note("image pull")
		case google && pga:
			b.edge(id, "registry", Egress).note("image pull via Private Google Access")
		case len(nats) > 0:
			b.edge(nats[0], "registry", Egress).note("image pull")
		}
	}
}
