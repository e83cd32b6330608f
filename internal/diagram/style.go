package diagram

import (
	"fmt"
	"strings"
)

// Format is an output format.
type Format string

// The formats.
const (
	Mermaid Format = "mermaid" // GitHub renders it in Markdown
	DOT     Format = "dot"     // Graphviz
	SVG     Format = "svg"     // laid out and drawn in-process by D2
	D2      Format = "d2"      // the D2 source the SVG is drawn from
)

// Formats are the formats `stayup diagram --format` takes.
var Formats = []Format{SVG, Mermaid, DOT}

// Ext is the file extension diagrams/ uses for a format.
func (f Format) Ext() string {
	switch f {
	case Mermaid:
		return "mmd"
	default:
		return string(f)
	}
}

// Render draws the model in one format.
func Render(m *Model, f Format) ([]byte, error) {
	switch f {
	case Mermaid:
		return []byte(m.Mermaid()), nil
	case DOT:
		return []byte(m.DOT()), nil
	case D2:
		return []byte(m.D2()), nil
	case SVG:
		return m.SVG()
	}
	return nil, fmt.Errorf("unknown diagram format %q: want svg, mermaid or dot", f)
}

// One visual language for every cloud and format: a node's kind decides
// its shape and colours, an edge's kind its line, a cluster's level its box.

type look struct {
	fill, stroke string
	// shapes in each format
	mermaidOpen, mermaidClose string
	dot, d2                   string
}

var looks = map[Kind]look{
	Internet:     {"#f3f4f6", "#4b5563", "([", "])", "ellipse", "oval"},
	LoadBalancer: {"#dbeafe", "#1d4ed8", "[", "]", "box", "rectangle"},
	Fleet:        {"#dcfce7", "#15803d", "[", "]", "box", "rectangle"},
	NAT:          {"#fef3c7", "#b45309", "{{", "}}", "hexagon", "hexagon"},
	Identity:     {"#fee2e2", "#b91c1c", "[/", "/]", "parallelogram", "parallelogram"},
	LogSink:      {"#ede9fe", "#6d28d9", "[(", ")]", "cylinder", "cylinder"},
	Registry:     {"#e0f2fe", "#0369a1", "[(", ")]", "cylinder", "cylinder"},
}

type boxLook struct {
	fill, stroke string
	dashed       bool
}

var boxLooks = map[Level]boxLook{
	CloudLevel:   {"#ffffff", "#111827", false},
	RegionLevel:  {"#f9fafb", "#6b7280", false},
	NetworkLevel: {"#f0f9ff", "#0369a1", false},
	ZoneLevel:    {"#fffbeb", "#b45309", true},
	SubnetLevel:  {"#ffffff", "#9ca3af", true},
}

type lineLook struct {
	color  string
	width  int
	dashed bool
}

var lineLooks = map[EdgeKind]lineLook{
	Request: {"#1d4ed8", 2, false},
	Egress:  {"#4b5563", 1, false},
	Grant:   {"#b91c1c", 1, true},
}

// clusterTitle is a cluster's label with its notes, on one line: a
// title's second line sat centred under the first, away from its box.
func clusterTitle(c *Cluster) string {
	return strings.Join(append([]string{c.Label}, c.Notes...), " · ")
}
