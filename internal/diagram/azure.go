package diagram

import (
	"fmt"
	"strings"

	"stayup/internal/graph"
)

// azureTable says what each Azure resource type becomes.
var azureTable = table{
	setup: azureSetup,
	types: map[string]entry{
		"azure-native:network:VirtualNetwork": cluster(azureVNet),
		"azure-native:network:Subnet":         cluster(azureSubnet),

		"azure-native:network:ApplicationGateway":     node(azureGateway),
		"azure-native:compute:VirtualMachineScaleSet": node(azureScaleSet),
		"azure-native:network:LoadBalancer":           node(azureEgress),
		"azure-native:operationalinsights:Workspace":  node(azureWorkspace),

		"azure-native:network:NetworkSecurityGroup": edge(azureNSG),
		"azure-native:authorization:RoleAssignment": edge(azureRoleAssignment),
		"azure-native:insights:DiagnosticSetting":   edge(azureDiagnostics),
		"azure-native:network:FlowLog":              edge(azureFlowLog),
		// Flow logs' storage is where they rest, said on the network's box;
		// the Network Watcher (when the stack creates the region's) is
		// what writes them, not a hop.
		"azure-native:storage:StorageAccount": fold(),
		"azure-native:network:NetworkWatcher": fold(),

		// The resource group is where everything is billed and deleted
		// together, not a hop; the addresses are on their boxes, autoscale
		// on the fleet's.
		"azure-native:resources:ResourceGroup":   fold(),
		"azure-native:network:PublicIPAddress":   fold(),
		"azure-native:insights:AutoscaleSetting": fold(),
	},
	finish: azureFinish,
}

const (
	azureCloud  = "azure"
	azureRegion = "azure_region"
)

func azureSetup(b *builder) {
	b.cluster(azureCloud, "", CloudLevel, "Azure")
	b.cluster(azureRegion, azureCloud, RegionLevel, regionOf(b.g))
	setupCommon(b)
	image, _ := b.g.Outputs["image"].(string)
	if host, _ := imageParts(image); strings.HasSuffix(host, ".azurecr.io") {
		registryNode(b, "Container Registry", azureCloud)
		return
	}
	registryNode(b, "Image registry", "")
}

func azureVNet(b *builder, r *graph.Resource) {
	if b.clusterOf[azureName(r)] != "" {
		return
	}
	c := b.cluster(slug("vnet", r.Name), azureRegion, NetworkLevel, "VNet "+strings.Join(strs(r.Get("addressSpace.addressPrefixes")), ", "))
	b.clusterOf[azureName(r)] = c.ID
	b.clusterOf[r.ID] = c.ID
}

// azureName is a resource's name as others refer to it.
func azureName(r *graph.Resource) string {
	if n, ok := r.Outputs["name"].(string); ok && n != "" {
		return n
	}
	return r.ID[strings.LastIndex(r.ID, "/")+1:]
}

// azureSubnet draws a subnet inside its VNet; it spans the region's zones.
func azureSubnet(b *builder, r *graph.Resource) {
	for _, v := range b.g.ByType("azure-native:network:VirtualNetwork") {
		if azureName(v) == r.Str("virtualNetworkName") {
			azureVNet(b, v)
		}
	}
	vnet := b.clusterOf[r.Str("virtualNetworkName")]
	if vnet == "" {
		return
	}
	c := b.cluster(slug("subnet", r.Name), vnet, SubnetLevel, "subnet "+r.Str("addressPrefix"))
	b.clusterOf[r.ID] = c.ID
	b.clusterOf["cidr:"+r.Str("addressPrefix")] = c.ID
	if nsg := r.Str("networkSecurityGroup.id"); nsg != "" {
		b.clusterOf["nsg:"+nsg] = c.ID
	}
}

// azureGateway draws Application Gateway in its subnet: zones, listeners,
// the probe and draining are on its box.
func azureGateway(b *builder, r *graph.Resource) {
	where := azureRegion
	if c := b.clusterOf[r.Str("gatewayIPConfigurations.0.subnet.id")]; c != "" {
		where = c
	}
	var listeners []string
	for _, l := range r.List("httpListeners") {
		listeners = append(listeners, strings.ToUpper(fmt.Sprint(graph.Lookup(l, "protocol"))))
	}
	detail := []string{"zones " + strings.Join(strs(r.Get("zones")), ", ") + " · " + strings.Join(listeners, ", ")}
	interval, _ := r.Int("probes.0.interval")
	drain, _ := r.Int("backendHttpSettingsCollection.0.connectionDraining.drainTimeoutInSec")
	detail = append(detail, fmt.Sprintf("checks GET %s every %ds", r.Str("probes.0.path"), interval), fmt.Sprintf("drains %ds", drain))
	n := b.node(Node{ID: "lb", Kind: LoadBalancer, Cluster: where, Label: "Application Gateway v2", Detail: detail})
	b.drawn(r, n.ID)
	b.aliases[r.ID] = n.ID
}

// azureScaleSet draws the scale set once in each of its zones, inside the
// subnet its instances use; autoscale's bounds are on the boxes.
func azureScaleSet(b *builder, r *graph.Resource) {
	vm := "virtualMachineProfile.networkProfile.networkInterfaceConfigurations.0.ipConfigurations.0."
	where := azureRegion
	if c := b.clusterOf[r.Str(vm+"subnet.id")]; c != "" {
		where = c
	}
	ip := "no public IP"
	if r.Get(vm+"publicIPAddressConfiguration") != nil {
		ip = "PUBLIC IP"
	}
	first := []string{r.Str("sku.name") + " · " + ip}
	for _, a := range b.g.ByType("azure-native:insights:AutoscaleSetting") {
		if a.Str("targetResourceUri") != r.ID {
			continue
		}
		size := fmt.Sprintf("scales %s-%s on CPU", a.Str("profiles.0.capacity.minimum"), a.Str("profiles.0.capacity.maximum"))
		first = append(first, size)
	}
	// A scale set without an identity (a public image) has no node for it:
	// nothing on its VMs can get a token.
	if r.Str("identity.type") != "" {
		first = append(first, "runs as its managed identity")
		identity := b.node(Node{ID: slug("identity", r.Name), Kind: Identity, Cluster: azureCloud, Label: "Managed identity", Detail: []string{"system-assigned to " + azureName(r)}})
		if principal, ok := graph.Lookup(r.Outputs["identity"], "principalId").(string); ok {
			b.aliases[principal] = identity.ID
		}
	}
	for _, zone := range strs(r.Get("zones")) {
		z := b.cluster(slug("zone", where, zone), where, ZoneLevel, "zone "+zone)
		n := b.node(Node{ID: slug("fleet", zone), Kind: Fleet, Cluster: z.ID, Zone: zone, Label: "App instances", Detail: first})
		b.drawn(r, n.ID)
	}
	// The gateway's pool and the egress pool the instances join.
	for _, pool := range r.List(vm + "loadBalancerBackendAddressPools") {
		id := fmt.Sprint(graph.Lookup(pool, "id"))
		lbID := id[:max(strings.Index(id, "/backendAddressPools/"), 0)]
		if lbID != "" {
			b.via[where] = lbID
		}
	}
}

// azureEgress draws the outbound-only load balancer as the instances' way out.
func azureEgress(b *builder, r *graph.Resource) {
	if len(r.List("outboundRules")) == 0 {
		return
	}
	n := b.node(Node{ID: slug("egress", r.Name), Kind: NAT, Cluster: azureRegion, Label: "Outbound rules", Detail: []string{"Standard load balancer", "zone-redundant address"}})
	b.drawn(r, n.ID)
	b.aliases[r.ID] = n.ID
}

// azureWorkspace draws the Log Analytics workspace logs are sent to.
func azureWorkspace(b *builder, r *graph.Resource) {
	days, _ := r.Int("retentionInDays")
	n := b.node(Node{ID: slug("logs", r.Name), Kind: LogSink, Cluster: azureRegion, Label: "Log Analytics", Detail: []string{fmt.Sprintf("kept %d days", days)}})
	b.drawn(r, n.ID)
	b.aliases[r.ID] = n.ID
}

// azureDiagnostics draws a resource sending its logs to a workspace.
func azureDiagnostics(b *builder, r *graph.Resource) {
	for _, from := range b.nodesFor(r.Str("resourceUri")) {
		for _, to := range b.nodesFor(r.Str("workspaceId")) {
			b.edge(from, to, Egress).note("access logs")
		}
	}
}

// azureFlowLog says on the network's box that its flows are logged.
func azureFlowLog(b *builder, r *graph.Resource) {
	if c := b.clusters[b.clusterOf[r.Str("targetResourceId")]]; c != nil {
		note := "flow logs"
		if days, ok := r.Int("retentionPolicy.days"); ok {
			note += fmt.Sprintf(" kept %d days", days)
		}
		c.Notes = append(c.Notes, note)
	}
}

// azureNSG draws a security group's allow rules as arrows into the subnet
// it guards, and its deny-all as a note on the subnet's box.
func azureNSG(b *builder, r *graph.Resource) {
	subnet := b.clusterOf["nsg:"+r.ID]
	for _, rule := range r.List("securityRules") {
		m, _ := rule.(map[string]any)
		if m == nil {
			continue
		}
		if m["direction"] == "Outbound" {
			azureEgressRule(b, subnet, m)
			continue
		}
		src := fmt.Sprint(m["sourceAddressPrefix"])
		if m["access"] == "Deny" {
			if c := b.clusters[subnet]; c != nil && src == "*" {
				c.Notes = append(c.Notes, "other inbound denied")
			}
			continue
		}
		var ports []string
		for _, p := range append(strs(m["destinationPortRange"]), strs(m["destinationPortRanges"])...) {
			ports = append(ports, p+"/tcp")
		}
		targets := b.nodesIn(subnet)
		switch {
		case src == "GatewayManager" || src == "AzureLoadBalancer":
			// The platform's own control traffic: required, not a client.
		case b.clusterOf["cidr:"+src] != "":
			// From another subnet: the nodes in it.
			for _, from := range b.nodesIn(b.clusterOf["cidr:"+src]) {
				for _, to := range targets {
					b.edge(from, to, Request).port(ports...).peer(membersText(b, []string{from}))
				}
			}
		default:
			for _, to := range targets {
				b.edge("users", to, Request).port(ports...).peer(rangesText([]string{src}))
			}
		}
	}
}

// azureEgressRule draws an outbound allow rule as the instances' arrow to
// their way out, labelled with its ports; a deny becomes a note.
func azureEgressRule(b *builder, subnet string, m map[string]any) {
	if m["access"] == "Deny" {
		if c := b.clusters[subnet]; c != nil && fmt.Sprint(m["destinationAddressPrefix"]) == "*" {
			c.Notes = append(c.Notes, "other outbound denied")
		}
		return
	}
	var ports []string
	for _, p := range append(strs(m["destinationPortRange"]), strs(m["destinationPortRanges"])...) {
		ports = append(ports, p+"/tcp")
	}
	for _, from := range b.nodesIn(subnet) {
		for _, nat := range b.nodesFor(b.viaFor(b.nodes[from])) {
			b.edge(from, nat, Egress).port(ports...).peer("the internet")
		}
	}
}

// nodesIn lists the nodes in a cluster and the clusters inside it.
func (b *builder) nodesIn(cluster string) []string {
	if cluster == "" {
		return nil
	}
	var out []string
	for _, n := range b.m.Nodes {
		for c := n.Cluster; c != ""; c = b.clusters[c].Parent {
			if c == cluster {
				out = append(out, n.ID)
				break
			}
		}
	}
	return out
}

// azureRoleAssignment draws a role grant from the identity to its scope.
func azureRoleAssignment(b *builder, r *graph.Resource) {
	role := "role " + r.Str("roleDefinitionId")[strings.LastIndex(r.Str("roleDefinitionId"), "/")+1:]
	if strings.HasSuffix(r.Str("roleDefinitionId"), "7f951dda-4ed3-4680-a7ca-43fe172d538d") {
		role = "AcrPull"
	}
	target := "registry"
	if !strings.Contains(strings.ToLower(r.Str("scope")), "/microsoft.containerregistry/") {
		return
	}
	for _, from := range b.nodesFor(r.Str("principalId")) {
		b.edge(from, target, Grant).note(role + " on this registry only")
	}
}

// azureFinish draws the instances' way out through the outbound rules and
// the image pull.
func azureFinish(b *builder) {
	for _, id := range b.nodesOfKind(Identity) {
		granted := false
		for _, e := range b.m.Edges {
			granted = granted || (e.From == id && e.Kind == Grant)
		}
		if !granted {
			b.nodes[id].Detail = append(b.nodes[id].Detail, "holds no role")
		}
	}
	for _, id := range b.nodesOfKind(Fleet) {
		for _, nat := range b.nodesFor(b.viaFor(b.nodes[id])) {
			limited := false
			for _, e := range b.m.Edges {
				limited = limited || (e.From == id && e.To == nat)
			}
			if !limited {
				b.edge(id, nat, Egress).note("all egress (no outbound rule)")
			}
			b.edge(nat, "registry", Egress).note("image pull")
		}
	}
}
