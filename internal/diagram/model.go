// Package diagram draws a stack's resource graph as a logical architecture
// diagram: what a request goes through and who may talk to whom, not the
// raw dependency graph, which is unreadable at fifty resources.
//
// Like inframap, each cloud has a table saying which resource types become
// nodes (load balancer, fleet, NAT, log sink, identity, registry), which
// become labelled edges (security group and firewall rules, IAM grants) and
// which are folded into a label or left out. The tables build one
// cloud-neutral Model; Mermaid, DOT and D2 (rendered to SVG in-process)
// draw that one model, so the three formats and the clouds look alike.
package diagram

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"stayup/internal/graph"
)

// Kind is what a node is, in words every cloud shares. It decides the
// node's shape and colour in every format.
type Kind string

// The node kinds, in the order a request meets them.
const (
	Internet     Kind = "internet"     // users and the rest of the internet
	LoadBalancer Kind = "loadbalancer" // the public entry point
	Fleet        Kind = "fleet"        // the instances, one node per zone
	NAT          Kind = "nat"          // the instances' way out
	Identity     Kind = "identity"     // what the instances run as
	LogSink      Kind = "logs"         // where logs and metrics go
	Registry     Kind = "registry"     // where the image comes from
)

var kindOrder = []Kind{Internet, LoadBalancer, Fleet, NAT, Identity, LogSink, Registry}

// Level is a cluster's place in the nesting cloud > region > network >
// zone/subnet. AWS subnets sit in a zone; GCP subnets span the region and
// hold the zones: the clusters follow what each cloud really does.
type Level string

// The cluster levels.
const (
	CloudLevel   Level = "cloud"
	RegionLevel  Level = "region"
	NetworkLevel Level = "network"
	ZoneLevel    Level = "zone"
	SubnetLevel  Level = "subnet"
)

// EdgeKind is what an edge means.
type EdgeKind string

// The edge kinds.
const (
	Request EdgeKind = "request" // a client's request on its way to the app
	Egress  EdgeKind = "egress"  // connections the instances open
	Grant   EdgeKind = "grant"   // an identity's permission on a resource
)

// Cluster is a box around nodes: a cloud, region, network, zone or subnet.
type Cluster struct {
	ID     string `json:"id"`
	Parent string `json:"parent,omitempty"`
	Level  Level  `json:"level"`
	Label  string `json:"label"`
	// Notes are facts about the box as a whole, such as a default-deny rule.
	Notes []string `json:"notes,omitempty"`
}

// Node is one box of the picture.
type Node struct {
	ID      string   `json:"id"`
	Kind    Kind     `json:"kind"`
	Cluster string   `json:"cluster,omitempty"`
	Label   string   `json:"label"`
	Detail  []string `json:"detail,omitempty"`
	// Zone is where a fleet node's instances run, as the cloud names it.
	Zone string `json:"zone,omitempty"`
}

// Edge is one arrow. Its label is built from the facts the tables found
// (ports, peers, actions), so a config change shows in the picture.
type Edge struct {
	From  string   `json:"from"`
	To    string   `json:"to"`
	Kind  EdgeKind `json:"kind"`
	Label string   `json:"label"`

	ports, peers, notes []string
}

// Model is a logical architecture diagram, independent of the format.
type Model struct {
	Title    string     `json:"title"`
	Clusters []*Cluster `json:"clusters"`
	Nodes    []*Node    `json:"nodes"`
	Edges    []*Edge    `json:"edges"`
	// Unclassified lists resource types no table knows: they are left out
	// of the picture, and a test keeps the list empty for the program.
	Unclassified []string `json:"unclassified,omitempty"`
}

// Build turns a stack's resource graph into the logical model of its
// cloud. A cloud without a table is an error.
func Build(cloud string, g *graph.Graph) (*Model, error) {
	t, ok := tables[cloud]
	if !ok {
		return nil, fmt.Errorf("%s: %w", cloud, ErrNoTable)
	}
	b := newBuilder(g)
	t.run(b)
	return b.finish(), nil
}

// Clouds lists the clouds that have a table.
func Clouds() []string {
	var out []string
	for c := range tables {
		out = append(out, c)
	}
	slices.Sort(out)
	return out
}

// builder accumulates the model while the table's passes run.
type builder struct {
	g *graph.Graph
	m *Model

	clusters map[string]*Cluster
	nodes    map[string]*Node
	edges    map[string]*Edge
	// nodesOf maps a resource's URN to the nodes drawn for it (a fleet is
	// drawn once per zone), and aliases maps a reference string (an ARN,
	// a registry host) to a node no resource stands for.
	nodesOf map[string][]string
	aliases map[string]string
	// clusterOf maps a reference (a subnet id, a zone) to its cluster.
	clusterOf map[string]string
	// via maps a cluster to its egress hop (a NAT's reference).
	via map[string]string
	// subnets describes a subnet drawn as a line on its boxes.
	subnets map[string]string
}

func newBuilder(g *graph.Graph) *builder {
	return &builder{
		g: g, m: &Model{},
		clusters: map[string]*Cluster{}, nodes: map[string]*Node{}, edges: map[string]*Edge{},
		nodesOf: map[string][]string{}, aliases: map[string]string{}, clusterOf: map[string]string{}, via: map[string]string{}, subnets: map[string]string{},
	}
}

// cluster returns the cluster with that id, creating it on first use.
func (b *builder) cluster(id, parent string, level Level, label string) *Cluster {
	if c, ok := b.clusters[id]; ok {
		return c
	}
	c := &Cluster{ID: id, Parent: parent, Level: level, Label: label}
	b.clusters[id] = c
	b.m.Clusters = append(b.m.Clusters, c)
	return c
}

// node adds a node, or returns the one already drawn under that id.
func (b *builder) node(n Node) *Node {
	if old, ok := b.nodes[n.ID]; ok {
		return old
	}
	p := &n
	b.nodes[n.ID] = p
	b.m.Nodes = append(b.m.Nodes, p)
	return p
}

// drawn records that resource r is drawn as node id.
func (b *builder) drawn(r *graph.Resource, id string) {
	if !slices.Contains(b.nodesOf[r.URN], id) {
		b.nodesOf[r.URN] = append(b.nodesOf[r.URN], id)
	}
}

// nodesFor resolves a reference (an id, ARN or self link another input
// holds, or an alias) to the nodes drawn for what it names.
func (b *builder) nodesFor(ref any) []string {
	if s, ok := ref.(string); ok {
		if id, ok := b.aliases[s]; ok {
			return []string{id}
		}
	}
	if r := b.g.Ref(ref); r != nil {
		return b.nodesOf[r.URN]
	}
	return nil
}

// refTo resolves a reference to a resource of one type. Plain names are
// ambiguous (an AWS role and its instance profile share theirs), so the
// caller says which type it means.
func (b *builder) refTo(v any, typ string) *graph.Resource {
	return b.g.RefOf(v, typ)
}

// nodesOfRef is nodesFor for a reference to a resource of one type.
func (b *builder) nodesOfRef(v any, typ string) []string {
	if r := b.refTo(v, typ); r != nil {
		return b.nodesOf[r.URN]
	}
	return nil
}

// edge returns the edge of that kind between two nodes, creating it; the
// facts several resources contribute (two rules, a target group's port)
// merge into one arrow.
func (b *builder) edge(from, to string, kind EdgeKind) *Edge {
	key := from + "\x00" + to + "\x00" + string(kind)
	if e, ok := b.edges[key]; ok {
		return e
	}
	e := &Edge{From: from, To: to, Kind: kind}
	b.edges[key] = e
	b.m.Edges = append(b.m.Edges, e)
	return e
}

func addUnique(list []string, items ...string) []string {
	for _, s := range items {
		if s != "" && !slices.Contains(list, s) {
			list = append(list, s)
		}
	}
	return list
}

// port adds a port such as "8080/tcp" to the edge.
func (e *Edge) port(p ...string) *Edge { e.ports = addUnique(e.ports, p...); return e }

// peer adds where the traffic comes from (a request) or goes to (egress).
func (e *Edge) peer(p ...string) *Edge { e.peers = addUnique(e.peers, p...); return e }

// note adds a free line, such as the actions a grant allows.
func (e *Edge) note(n ...string) *Edge { e.notes = addUnique(e.notes, n...); return e }

// label writes the edge's facts as one short text: "80/tcp from
// 0.0.0.0/0", "443/tcp to 0.0.0.0/0", then the notes, one per line.
func (e *Edge) label() string {
	var lines []string
	if len(e.ports) > 0 || len(e.peers) > 0 {
		// In port order, whatever order the rules were listed in.
		ports := slices.Clone(e.ports)
		slices.SortStableFunc(ports, func(a, b string) int { return cmp.Compare(portNumber(a), portNumber(b)) })
		s := strings.Join(ports, ", ")
		if len(e.peers) > 0 {
			word := "from"
			if e.Kind == Egress {
				word = "to"
			}
			s = strings.TrimSpace(s + " " + word + " " + strings.Join(e.peers, ", "))
		}
		lines = append(lines, s)
	}
	lines = append(lines, e.notes...)
	return strings.Join(lines, "\n")
}

// portNumber reads the number a port text starts with ("443/tcp").
func portNumber(p string) int {
	n := 0
	for _, r := range p {
		if r < '0' || r > '9' {
			break
		}
		n = n*10 + int(r-'0')
	}
	return n
}

// finish labels the edges and puts everything in a stable order, so the
// same graph always gives the same bytes (the committed diagrams and the
// golden files depend on it).
func (b *builder) finish() *Model {
	m := b.m
	for _, e := range m.Edges {
		e.Label = strings.Join(wrap(strings.Split(e.label(), "\n")), "\n")
	}
	for _, n := range m.Nodes {
		n.Detail = wrap(n.Detail)
	}
	depth := func(c *Cluster) int {
		d := 0
		for p := c.Parent; p != ""; p = b.clusters[p].Parent {
			d++
		}
		return d
	}
	slices.SortStableFunc(m.Clusters, func(x, y *Cluster) int {
		return cmp.Or(cmp.Compare(depth(x), depth(y)), cmp.Compare(x.Parent, y.Parent), cmp.Compare(x.ID, y.ID))
	})
	slices.SortStableFunc(m.Nodes, func(x, y *Node) int {
		return cmp.Or(cmp.Compare(slices.Index(kindOrder, x.Kind), slices.Index(kindOrder, y.Kind)), cmp.Compare(x.ID, y.ID))
	})
	slices.SortStableFunc(m.Edges, func(x, y *Edge) int {
		return cmp.Or(cmp.Compare(x.From, y.From), cmp.Compare(x.To, y.To), cmp.Compare(x.Kind, y.Kind))
	})
	// A fan of arrows between one node and each zone's copy of another
	// ("8080/tcp from the LB only" to every zone, "image pull" from every
	// NAT) says the same thing on each arrow: one label says it once, so
	// no pile of identical labels forms where the arrows meet. Fanning
	// in, the middle arrow keeps it (it runs straight); fanning out, the
	// first does (the middle one crosses the boxes' titles).
	perZone := func(id string) bool { k := b.nodes[id].Kind; return k == Fleet || k == NAT }
	groups := map[string][]*Edge{}
	var keys []string
	for _, e := range m.Edges {
		var key string
		switch {
		case perZone(e.From) && b.nodes[e.To].Kind != Fleet:
			key = "in\x00" + e.To
		case b.nodes[e.To].Kind == Fleet && !perZone(e.From):
			key = "out\x00" + e.From
		default:
			continue
		}
		key += "\x00" + string(e.Kind) + "\x00" + e.Label
		if groups[key] == nil {
			keys = append(keys, key)
		}
		groups[key] = append(groups[key], e)
	}
	for _, key := range keys {
		keep := 0
		if strings.HasPrefix(key, "in") {
			keep = len(groups[key]) / 2
		}
		for i, e := range groups[key] {
			if i != keep {
				e.Label = ""
			}
		}
	}
	slices.Sort(m.Unclassified)
	m.Unclassified = slices.Compact(m.Unclassified)
	return m
}

// wrapAt is the longest line a label keeps: longer lines made boxes and
// arrows so wide the picture no longer fit a page.
const wrapAt = 38

// wrap breaks long lines after a comma or at a space.
func wrap(lines []string) []string {
	var out []string
	for _, line := range lines {
		for len(line) > wrapAt {
			cut := strings.LastIndex(line[:wrapAt], ", ")
			if cut >= 0 {
				cut++ // keep the comma on the first line
			} else if cut = strings.LastIndex(line[:wrapAt], " "); cut < 0 {
				break
			}
			out = append(out, line[:cut])
			line = strings.TrimSpace(line[cut:])
		}
		out = append(out, line)
	}
	return out
}

// children returns the clusters directly inside parent ("" for the top).
func (m *Model) children(parent string) []*Cluster {
	var out []*Cluster
	for _, c := range m.Clusters {
		if c.Parent == parent {
			out = append(out, c)
		}
	}
	return out
}

// nodesIn returns the nodes directly inside cluster ("" for the top).
func (m *Model) nodesIn(cluster string) []*Node {
	var out []*Node
	for _, n := range m.Nodes {
		if n.Cluster == cluster {
			out = append(out, n)
		}
	}
	return out
}

// clusterByID returns the cluster with that id, or nil.
func (m *Model) clusterByID(id string) *Cluster {
	for _, c := range m.Clusters {
		if c.ID == id {
			return c
		}
	}
	return nil
}

// slug turns a name into an identifier every format accepts.
func slug(parts ...string) string {
	var sb strings.Builder
	for i, p := range parts {
		if i > 0 {
			sb.WriteByte('_')
		}
		for _, r := range strings.ToLower(p) {
			switch {
			case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
				sb.WriteRune(r)
			default:
				sb.WriteByte('_')
			}
		}
	}
	return sb.String()
}
