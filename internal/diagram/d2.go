package diagram

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"oss.terrastruct.com/d2/d2graph"
	"oss.terrastruct.com/d2/d2layouts/d2dagrelayout"
	"oss.terrastruct.com/d2/d2lib"
	"oss.terrastruct.com/d2/d2renderers/d2svg"
	"oss.terrastruct.com/d2/lib/log"
	"oss.terrastruct.com/d2/lib/textmeasure"
)

// D2 writes the model in the D2 language, which SVG lays out and draws.
func (m *Model) D2() string {
	var w strings.Builder
	w.WriteString("direction: down\n")
	if m.Title != "" {
		fmt.Fprintf(&w, "title: %s {\n  near: top-center\n  shape: text\n  style: {font-size: 20; bold: true}\n}\n", d2Quote(m.Title))
	}
	var walk func(parent, indent string)
	walk = func(parent, indent string) {
		for _, n := range m.nodesIn(parent) {
			l := looks[n.Kind]
			fmt.Fprintf(&w, "%s%s: %s {\n", indent, n.ID, d2Quote(strings.Join(append([]string{n.Label}, n.Detail...), "\n")))
			fmt.Fprintf(&w, "%s  shape: %s\n", indent, l.d2)
			fmt.Fprintf(&w, "%s  style: {fill: %q; stroke: %q; font-size: 14; font-color: \"#111827\"", indent, l.fill, l.stroke)
			if n.Kind == Fleet {
				// A stack of boxes: more than one instance may run here.
				w.WriteString("; multiple: true")
			}
			if n.Kind == LoadBalancer || n.Kind == Fleet {
				w.WriteString("; border-radius: 6")
			}
			w.WriteString("}\n")
			fmt.Fprintf(&w, "%s}\n", indent)
		}
		for _, c := range m.children(parent) {
			b := boxLooks[c.Level]
			fmt.Fprintf(&w, "%s%s: %s {\n", indent, c.ID, d2Quote(clusterTitle(c)))
			// Top left, where the arrows entering the box do not cross it.
			fmt.Fprintf(&w, "%s  label.near: top-left\n", indent)
			fmt.Fprintf(&w, "%s  style: {fill: %q; stroke: %q; font-size: 14; font-color: \"#111827\"; border-radius: 8", indent, b.fill, b.stroke)
			if b.dashed {
				w.WriteString("; stroke-dash: 4")
			}
			w.WriteString("}\n")
			walk(c.ID, indent+"  ")
			fmt.Fprintf(&w, "%s}\n", indent)
		}
	}
	walk("", "")
	for _, e := range m.Edges {
		l := lineLooks[e.Kind]
		fmt.Fprintf(&w, "%s -> %s", m.d2Path(e.From), m.d2Path(e.To))
		if e.Label != "" {
			fmt.Fprintf(&w, ": %s", d2Quote(e.Label))
		}
		fmt.Fprintf(&w, " {style: {stroke: %q; font-color: %q; stroke-width: %d; font-size: 13", l.color, l.color, l.width)
		if l.dashed {
			w.WriteString("; stroke-dash: 4")
		}
		w.WriteString("}}\n")
	}
	return w.String()
}

// d2Path is a node's full key: D2 names a nested shape by its containers.
func (m *Model) d2Path(id string) string {
	var n *Node
	for _, x := range m.Nodes {
		if x.ID == id {
			n = x
		}
	}
	if n == nil {
		return id
	}
	parts := []string{id}
	for c := m.clusterByID(n.Cluster); c != nil; c = m.clusterByID(c.Parent) {
		parts = append([]string{c.ID}, parts...)
	}
	return strings.Join(parts, ".")
}

func d2Quote(s string) string {
	s = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
	return `"` + s + `"`
}

// SVG lays the model out with D2's dagre layout and draws it, in-process:
// no browser and no external binary.
func (m *Model) SVG() ([]byte, error) {
	ruler, err := textmeasure.NewRuler()
	if err != nil {
		return nil, fmt.Errorf("d2 text measurer: %w", err)
	}
	layout := func(ctx context.Context, g *d2graph.Graph) error {
		return d2dagrelayout.Layout(ctx, g, &d2dagrelayout.ConfigurableOpts{NodeSep: 50, EdgeSep: 30})
	}
	pad, omit := int64(24), true
	renderOpts := &d2svg.RenderOpts{Pad: &pad, OmitVersion: &omit}
	engine := "dagre"
	compileOpts := &d2lib.CompileOptions{
		Layout:         &engine,
		Ruler:          ruler,
		LayoutResolver: func(string) (d2graph.LayoutGraph, error) { return layout, nil },
	}
	// D2 logs through its context; its progress notes are not ours to print.
	ctx := log.With(context.Background(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	diagram, _, err := d2lib.Compile(ctx, m.D2(), compileOpts, renderOpts)
	if err != nil {
		return nil, fmt.Errorf("d2 layout: %w", err)
	}
	out, err := d2svg.Render(diagram, renderOpts)
	if err != nil {
		return nil, fmt.Errorf("d2 render: %w", err)
	}
	return out, nil
}
