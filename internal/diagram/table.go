package diagram

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"stayup/internal/graph"
)

// entry is one row of a cloud's table: what a resource type becomes. A
// type with no function is folded: its facts appear in another's label (a
// listener's port on the load balancer's box), or it is plumbing a reader
// does not need (route table associations). A type can be a node and
// draw edges too (a backend service is the load balancer and its arrows
// to the fleet).
type entry struct {
	cluster func(b *builder, r *graph.Resource) // a box around others: network, subnet
	node    func(b *builder, r *graph.Resource) // a box
	edge    func(b *builder, r *graph.Resource) // arrows, or facts on arrows: rules, grants
}

func fold() entry                                     { return entry{} }
func cluster(f func(*builder, *graph.Resource)) entry { return entry{cluster: f} }
func node(f func(*builder, *graph.Resource)) entry    { return entry{node: f} }
func edge(f func(*builder, *graph.Resource)) entry    { return entry{edge: f} }

// table is one cloud's mapping from resource types to the picture.
type table struct {
	// setup draws what no single resource stands for: the cloud and
	// region boxes, the users, the image's registry.
	setup func(b *builder)
	types map[string]entry
	// finish adds what needs every node and edge in place, such as the
	// image pull's path.
	finish func(b *builder)
}

// tables holds every cloud's table.
var tables = map[string]table{
	"aws":   awsTable,
	"gcp":   gcpTable,
	"azure": azureTable,
}

// lookup finds a type's entry. stayup's own components are folded: the
// tree they form is the program's, and their children are what is drawn.
func (t table) lookup(typ string) (entry, bool) {
	if e, ok := t.types[typ]; ok {
		return e, true
	}
	if strings.HasPrefix(typ, "stayup:") || strings.HasPrefix(typ, "pulumi:") {
		return fold(), true
	}
	return entry{}, false
}

// run builds the model in passes, so that nodes find their clusters and
// edges find their nodes whatever order the graph lists resources in.
func (t table) run(b *builder) {
	if t.setup != nil {
		t.setup(b)
	}
	for _, r := range b.g.Resources {
		if _, ok := t.lookup(r.Type); !ok {
			b.m.Unclassified = append(b.m.Unclassified, r.Type)
		}
	}
	passes := []func(entry) func(*builder, *graph.Resource){
		func(e entry) func(*builder, *graph.Resource) { return e.cluster },
		func(e entry) func(*builder, *graph.Resource) { return e.node },
		func(e entry) func(*builder, *graph.Resource) { return e.edge },
	}
	for _, pass := range passes {
		for _, r := range b.g.Resources {
			if e, ok := t.lookup(r.Type); ok && pass(e) != nil {
				pass(e)(b, r)
			}
		}
	}
	if t.finish != nil {
		t.finish(b)
	}
}

// Helpers the tables share.

// strs reads a list of strings (or one string) from an input.
func strs(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, e := range v {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// portText writes a port range the way people say it: "8080/tcp",
// "8000-8100/tcp", "all traffic".
func portText(proto string, from, to int) string {
	proto = strings.ToLower(proto)
	switch {
	case proto == "-1" || proto == "all":
		return "all traffic"
	case from == to:
		return fmt.Sprintf("%d/%s", from, proto)
	default:
		return fmt.Sprintf("%d-%d/%s", from, to, proto)
	}
}

// regionOf reads the stack's region from its outputs.
func regionOf(g *graph.Graph) string {
	if s, ok := g.Outputs["region"].(string); ok && s != "" {
		return s
	}
	return "region"
}

// setupCommon draws the users at the top and the image's registry.
func setupCommon(b *builder) {
	b.node(Node{ID: "users", Kind: Internet, Label: "Users", Detail: []string{"the internet"}})
}

// imageParts splits an image reference into its registry host and the
// rest; a reference without a host is on Docker Hub.
func imageParts(image string) (host, path string) {
	first, rest, ok := strings.Cut(image, "/")
	if ok && (strings.ContainsAny(first, ".:") || first == "localhost") {
		return first, rest
	}
	return "docker.io", image
}

// registryNode draws where the image comes from, in cluster (empty: a
// registry outside the cloud).
func registryNode(b *builder, label, cluster string) *Node {
	image, _ := b.g.Outputs["image"].(string)
	host, path := imageParts(image)
	detail := []string{host}
	if path != "" {
		detail = append(detail, shorten(path, 40))
	}
	return b.node(Node{ID: "registry", Kind: Registry, Cluster: cluster, Label: label, Detail: detail})
}

// shorten keeps a long text's end, where the distinguishing part is.
func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n+1:]
}

// wellKnownRanges names the source ranges a reader would not recognise.
var wellKnownRanges = []struct {
	name   string
	ranges []string
}{
	{"Google front ends", []string{"130.211.0.0/22", "35.191.0.0/16"}},
	{"IAP", []string{"35.235.240.0/20"}},
}

// rangesText names a set of source ranges: a well-known set by its name,
// anything else by the ranges themselves.
func rangesText(ranges []string) string {
	for _, k := range wellKnownRanges {
		if sameSet(k.ranges, ranges) {
			return k.name
		}
	}
	return strings.Join(ranges, ", ")
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for _, s := range a {
		if !slices.Contains(b, s) {
			return false
		}
	}
	return true
}

// isCIDR reports whether s is an address range.
func isCIDR(s string) bool {
	_, err := netip.ParsePrefix(s)
	return err == nil
}

// compactActions shortens a list of IAM actions that share a service:
// "logs:CreateLogStream, PutLogEvents".
func compactActions(actions []string) string {
	var parts []string
	prev := ""
	for _, a := range actions {
		svc, name, ok := strings.Cut(a, ":")
		if ok && svc == prev {
			parts = append(parts, name)
			continue
		}
		prev = svc
		parts = append(parts, a)
	}
	return strings.Join(parts, ", ")
}

// policyStatement is the part of an IAM policy statement the diagram reads.
type policyStatement struct {
	Effect   string
	Action   any
	Resource any
}

// parsePolicy reads an IAM policy document's statements.
func parsePolicy(doc string) []policyStatement {
	var p struct{ Statement []policyStatement }
	if json.Unmarshal([]byte(doc), &p) != nil {
		return nil
	}
	return p.Statement
}

// assumedBy reads the services an assume-role policy trusts.
func assumedBy(doc string) []string {
	var p struct {
		Statement []struct{ Principal map[string]any }
	}
	if json.Unmarshal([]byte(doc), &p) != nil {
		return nil
	}
	var out []string
	for _, s := range p.Statement {
		out = addUnique(out, strs(s.Principal["Service"])...)
	}
	return out
}

// runsAs says on a fleet node which identity it runs as. It is a line on
// the box, not an arrow: an arrow from every zone to the identity crossed
// the whole picture and said nothing about who may talk to whom, which
// the identity's own grant arrows say.
func runsAs(b *builder, fleet, identity string) {
	f, id := b.nodes[fleet], b.nodes[identity]
	if f == nil || id == nil || len(id.Detail) == 0 {
		return
	}
	f.Detail = addUnique(f.Detail, "runs as "+id.Detail[0])
}

// viaFor returns the egress hop (a NAT's reference) for a node, looking
// up through its clusters.
func (b *builder) viaFor(n *Node) string {
	for c := n.Cluster; c != ""; c = b.clusters[c].Parent {
		if ref, ok := b.via[c]; ok {
			return ref
		}
	}
	return ""
}

// nodesOfKind returns the ids of every node of one kind.
func (b *builder) nodesOfKind(k Kind) []string {
	var out []string
	for _, n := range b.m.Nodes {
		if n.Kind == k {
			out = append(out, n.ID)
		}
	}
	return out
}

// kindNames is how an edge label names the nodes a rule admits.
var kindNames = map[Kind]string{
	LoadBalancer: "the LB", Fleet: "the instances", NAT: "the NAT", Internet: "the internet",
}

// membersText names the nodes behind a security group: "the LB only".
func membersText(b *builder, ids []string) string {
	var names []string
	for _, id := range ids {
		if n := b.nodes[id]; n != nil {
			names = addUnique(names, kindNames[n.Kind])
		}
	}
	if len(names) == 0 {
		return ""
	}
	return strings.Join(names, ", ") + " only"
}
