package policy_test

import (
	"strconv"
	"strings"
	"testing"

	"stayup/internal/graph"
)

// The helpers a rule's test uses to break a real plan in one place: a
// deep copy of the graph, and edits of one resource's inputs by path.

// copyGraph deep-copies a graph, so a mutation never leaks into the
// shared plan other tests read.
func copyGraph(g *graph.Graph) *graph.Graph {
	out := &graph.Graph{Outputs: copyValue(g.Outputs).(map[string]any)}
	for _, r := range g.Resources {
		out.Resources = append(out.Resources, copyResource(r))
	}
	return out
}

func copyResource(r *graph.Resource) *graph.Resource {
	c := *r
	c.Dependencies = append([]string{}, r.Dependencies...)
	c.IgnoreChanges = append([]string{}, r.IgnoreChanges...)
	c.Inputs, _ = copyValue(r.Inputs).(map[string]any)
	c.Outputs, _ = copyValue(r.Outputs).(map[string]any)
	return &c
}

func copyValue(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = copyValue(e)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = copyValue(e)
		}
		return out
	}
	return v
}

// find returns the resource of a type with a name, failing the test when
// there is none.
func find(t *testing.T, g *graph.Graph, typ, name string) *graph.Resource {
	t.Helper()
	for _, r := range g.ByType(typ) {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("no %s named %s in the plan", typ, name)
	return nil
}

// set writes value at a dotted path of the resource's inputs, creating
// objects on the way; a number names a list element that must exist.
func set(t *testing.T, r *graph.Resource, path string, value any) {
	t.Helper()
	parts := strings.Split(path, ".")
	var node any = r.Inputs
	for i, part := range parts {
		last := i == len(parts)-1
		switch n := node.(type) {
		case map[string]any:
			if last {
				n[part] = value
				return
			}
			if n[part] == nil {
				n[part] = map[string]any{}
			}
			node = n[part]
		case []any:
			idx, err := strconv.Atoi(part)
			if err != nil || idx < 0 || idx >= len(n) {
				t.Fatalf("%s: %s is not an element of a %d-element list", path, part, len(n))
			}
			if last {
				n[idx] = value
				return
			}
			node = n[idx]
		default:
			t.Fatalf("%s: %s leads into %T", path, part, node)
		}
	}
}

// del removes the input at a dotted path (a map key).
func del(t *testing.T, r *graph.Resource, path string) {
	t.Helper()
	parent, key := "", path
	if i := strings.LastIndex(path, "."); i >= 0 {
		parent, key = path[:i], path[i+1:]
	}
	m, ok := r.Get(parent).(map[string]any)
	if parent == "" {
		m, ok = r.Inputs, true
	}
	if !ok || m[key] == nil {
		t.Fatalf("%s: nothing to delete in %s", path, r.Name)
	}
	delete(m, key)
}

// appendTo adds an element to the list at path.
func appendTo(t *testing.T, r *graph.Resource, path string, value any) {
	t.Helper()
	l, ok := r.Get(path).([]any)
	if !ok {
		t.Fatalf("%s of %s is not a list", path, r.Name)
	}
	set(t, r, path, append(l, value))
}

// drop removes a resource from the graph.
func drop(g *graph.Graph, r *graph.Resource) {
	for i, e := range g.Resources {
		if e == r {
			g.Resources = append(g.Resources[:i], g.Resources[i+1:]...)
			return
		}
	}
}

// add registers a new resource, as if the program had created it.
func add(g *graph.Graph, typ, name string, inputs map[string]any) *graph.Resource {
	r := &graph.Resource{
		URN: "urn:pulumi:test::stayup::" + typ + "::" + name, ID: name + "-id", Type: typ, Name: name,
		Inputs: inputs, Outputs: copyValue(inputs).(map[string]any),
	}
	g.Resources = append(g.Resources, r)
	return r
}

// clone adds a copy of a resource under a new name, with its own ID and
// reference outputs, so nothing that named the original names the copy.
func clone(g *graph.Graph, r *graph.Resource, name string) *graph.Resource {
	c := copyResource(r)
	c.Name = name
	c.URN = strings.TrimSuffix(r.URN, r.Name) + name
	c.ID = r.ID + "-" + name
	for _, k := range []string{"arn", "selfLink", "selfLinkUnique", "instanceGroup", "email", "name"} {
		if _, ok := c.Outputs[k].(string); ok {
			c.Outputs[k] = c.ID
		}
	}
	g.Resources = append(g.Resources, c)
	return c
}
