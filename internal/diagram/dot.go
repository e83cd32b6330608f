package diagram

import (
	"fmt"
	"strings"
)

// DOT draws the model for Graphviz (`dot -Tsvg`).
func (m *Model) DOT() string {
	var w strings.Builder
	w.WriteString("digraph stayup {\n")
	w.WriteString("  graph [rankdir=TB, compound=true, newrank=true, fontname=\"Helvetica\", fontsize=12, nodesep=0.35, ranksep=0.55, pad=0.2")
	if m.Title != "" {
		fmt.Fprintf(&w, ", label=%s, labelloc=t, fontsize=16", dotQuote(m.Title))
	}
	w.WriteString("];\n")
	w.WriteString("  node [fontname=\"Helvetica\", fontsize=11, style=\"filled\", margin=\"0.15,0.06\"];\n")
	w.WriteString("  edge [fontname=\"Helvetica\", fontsize=10];\n")
	var walk func(parent, indent string)
	walk = func(parent, indent string) {
		for _, n := range m.nodesIn(parent) {
			l := looks[n.Kind]
			style := "filled"
			if n.Kind == LoadBalancer || n.Kind == Fleet {
				style = "filled,rounded"
			}
			fmt.Fprintf(&w, "%s%s [label=<%s>, shape=%s, style=%q, fillcolor=%q, color=%q];\n",
				indent, n.ID, dotHTML(n.Label, n.Detail), l.dot, style, l.fill, l.stroke)
		}
		for _, c := range m.children(parent) {
			b := boxLooks[c.Level]
			style := "filled,rounded"
			if b.dashed {
				style = "filled,rounded,dashed"
			}
			fmt.Fprintf(&w, "%ssubgraph cluster_%s {\n", indent, c.ID)
			fmt.Fprintf(&w, "%s  label=%s; labeljust=l; style=%q; fillcolor=%q; color=%q;\n",
				indent, dotQuote(clusterTitle(c)), style, b.fill, b.stroke)
			walk(c.ID, indent+"  ")
			fmt.Fprintf(&w, "%s}\n", indent)
		}
	}
	walk("", "  ")
	for _, e := range m.Edges {
		l := lineLooks[e.Kind]
		style := "solid"
		if l.dashed {
			style = "dashed"
		}
		fmt.Fprintf(&w, "  %s -> %s [label=%s, color=%q, fontcolor=%q, penwidth=%d, style=%s];\n",
			e.From, e.To, dotQuote(e.Label), l.color, l.color, l.width, style)
	}
	w.WriteString("}\n")
	return w.String()
}

// dotQuote quotes a string for DOT, with its lines centred.
func dotQuote(s string) string {
	s = strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s)
	return `"` + strings.ReplaceAll(s, "\n", `\n`) + `"`
}

// dotHTML is a node label: the title in bold, the details below.
func dotHTML(title string, detail []string) string {
	esc := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;")
	var b strings.Builder
	b.WriteString("<b>" + esc.Replace(title) + "</b>")
	for _, d := range detail {
		b.WriteString("<br/>" + esc.Replace(d))
	}
	return b.String()
}
