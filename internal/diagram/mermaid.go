package diagram

import (
	"fmt"
	"slices"
	"strings"
)

// Mermaid draws the model as a Mermaid flowchart, which GitHub renders
// in Markdown (the README embeds the AWS one).
func (m *Model) Mermaid() string {
	var w strings.Builder
	if m.Title != "" {
		fmt.Fprintf(&w, "---\ntitle: %s\n---\n", m.Title)
	}
	w.WriteString("flowchart TB\n")
	var walk func(parent, indent string)
	walk = func(parent, indent string) {
		for _, n := range m.nodesIn(parent) {
			l := looks[n.Kind]
			fmt.Fprintf(&w, "%s%s%s\"%s\"%s\n", indent, n.ID, l.mermaidOpen, mermaidLines(append([]string{"<b>" + mermaidText(n.Label) + "</b>"}, escapeAll(mermaidText, n.Detail)...)), l.mermaidClose)
		}
		for _, c := range m.children(parent) {
			fmt.Fprintf(&w, "%ssubgraph %s[\"%s\"]\n", indent, c.ID, mermaidText(clusterTitle(c)))
			walk(c.ID, indent+"  ")
			fmt.Fprintf(&w, "%send\n", indent)
		}
	}
	walk("", "  ")

	arrows := map[EdgeKind]string{Request: "==>", Egress: "-->", Grant: "-.->"}
	links := map[EdgeKind][]string{}
	for i, e := range m.Edges {
		label := ""
		if e.Label != "" {
			label = "|\"" + mermaidLines(escapeAll(mermaidText, strings.Split(e.Label, "\n"))) + "\"|"
		}
		fmt.Fprintf(&w, "  %s %s%s %s\n", e.From, arrows[e.Kind], label, e.To)
		links[e.Kind] = append(links[e.Kind], fmt.Sprint(i))
	}

	for _, k := range kindOrder {
		var ids []string
		for _, n := range m.Nodes {
			if n.Kind == k {
				ids = append(ids, n.ID)
			}
		}
		if len(ids) == 0 {
			continue
		}
		l := looks[k]
		fmt.Fprintf(&w, "  classDef %s fill:%s,stroke:%s,color:#111827\n", k, l.fill, l.stroke)
		fmt.Fprintf(&w, "  class %s %s\n", strings.Join(ids, ","), k)
	}
	for _, c := range m.Clusters {
		b := boxLooks[c.Level]
		dash := ""
		if b.dashed {
			dash = ",stroke-dasharray:5 4"
		}
		fmt.Fprintf(&w, "  style %s fill:%s,stroke:%s,color:#111827%s\n", c.ID, b.fill, b.stroke, dash)
	}
	for _, k := range []EdgeKind{Request, Egress, Grant} {
		if ids := links[k]; len(ids) > 0 {
			l := lineLooks[k]
			fmt.Fprintf(&w, "  linkStyle %s stroke:%s,stroke-width:%dpx\n", strings.Join(ids, ","), l.color, l.width)
		}
	}
	return w.String()
}

func mermaidLines(lines []string) string { return strings.Join(lines, "<br/>") }

// mermaidText escapes what would end a quoted Mermaid label or be read
// as HTML.
func mermaidText(s string) string {
	return strings.NewReplacer(`"`, "#quot;", "<", "#lt;", ">", "#gt;").Replace(s)
}

func escapeAll(f func(string) string, in []string) []string {
	out := slices.Clone(in)
	for i, s := range out {
		out[i] = f(s)
	}
	return out
}
