// Package graph is the resource graph that plan, check and diagram share:
// every resource's type, name, URN, parent, dependencies and inputs, whether
// it was recorded from the program under mocks or read from a deployed stack.
package graph

import (
	"sort"
	"strconv"
	"strings"
)

// Resource is one node of the graph.
type Resource struct {
	URN          string         `json:"urn"`
	ID           string         `json:"id"`
	Type         string         `json:"type"`
	Name         string         `json:"name"`
	Parent       string         `json:"parent"`
	Dependencies []string       `json:"dependencies"`
	Inputs       map[string]any `json:"inputs"`
	// IgnoreChanges lists inputs Pulumi leaves alone after creation (a
	// plan knows them; a stack export does not record them).
	IgnoreChanges []string `json:"ignoreChanges,omitempty"`
	// RetainOnDelete: Pulumi forgets the resource instead of deleting it
	// (a plan knows it; what is left behind is someone's to clean up).
	RetainOnDelete bool `json:"retainOnDelete,omitempty"`
	// Aliases are the URNs the resource was known by before (a plan knows
	// them): a state entry under one of them is this resource, kept, not
	// replaced.
	Aliases []string `json:"-"`
	// Outputs are the resource's state (inputs plus what the provider
	// computed, such as ARNs); references between resources resolve
	// through them.
	Outputs map[string]any `json:"-"`
}

// Graph is a stack's resources and its outputs.
type Graph struct {
	Resources []*Resource    `json:"resources"`
	Outputs   map[string]any `json:"outputs"`
	// Invokes are the data-source functions the program called (sorted,
	// each once), such as aws:index/getAvailabilityZones: they are cloud
	// calls too, and the deployer's permissions must cover them. Only a
	// mocked run records them; a stack export does not hold them.
	Invokes []string `json:"-"`
}

// Sort orders resources by URN so that output is stable between runs.
func (g *Graph) Sort() {
	sort.Slice(g.Resources, func(i, j int) bool { return g.Resources[i].URN < g.Resources[j].URN })
}

// ByType returns the resources of one type token.
func (g *Graph) ByType(typ string) []*Resource {
	var out []*Resource
	for _, r := range g.Resources {
		if r.Type == typ {
			out = append(out, r)
		}
	}
	return out
}

// ByURN returns the resource with that URN, or nil.
func (g *Graph) ByURN(urn string) *Resource {
	for _, r := range g.Resources {
		if r.URN == urn {
			return r
		}
	}
	return nil
}

// refOutputs are the outputs other resources refer to a resource by,
// besides its ID: AWS ARNs, GCP self links, a managed instance group's
// instance group, a service account's email.
var refOutputs = []string{"arn", "selfLink", "selfLinkUnique", "instanceGroup", "email"}

// Ref resolves a value another resource's input holds (an ID, an ARN, a
// self link) to the resource it names, or nil when it names none in the graph.
func (g *Graph) Ref(v any) *Resource {
	s, ok := v.(string)
	if !ok || s == "" {
		return nil
	}
	for _, r := range g.Resources {
		if r.ID == s {
			return r
		}
	}
	for _, key := range refOutputs {
		for _, r := range g.Resources {
			if out, _ := r.Outputs[key].(string); out == s {
				return r
			}
		}
	}
	return nil
}

// RefOf is Ref restricted to one type, for ids that several resources
// share (an S3 bucket and its settings all go by the bucket's name).
func (g *Graph) RefOf(v any, typ string) *Resource {
	s, ok := v.(string)
	if !ok || s == "" {
		return nil
	}
	for _, r := range g.ByType(typ) {
		if r.ID == s {
			return r
		}
		for _, key := range refOutputs {
			if out, _ := r.Outputs[key].(string); out == s {
				return r
			}
		}
	}
	return nil
}

// Children returns the resources whose parent is urn.
func (g *Graph) Children(urn string) []*Resource {
	var out []*Resource
	for _, r := range g.Resources {
		if r.Parent == urn {
			out = append(out, r)
		}
	}
	return out
}

// Get walks a dotted path ("healthCheck.path", "networkInterfaces.0.subnetId")
// through the resource's inputs; it returns nil where the path leads nowhere.
func (r *Resource) Get(path string) any {
	return Lookup(r.Inputs, path)
}

// Str is Get for a string; empty when absent or not a string.
func (r *Resource) Str(path string) string {
	s, _ := r.Get(path).(string)
	return s
}

// Int is Get for a number, which may also be written as a string ("1" for
// a launch template version); ok is false when absent or not a number.
func (r *Resource) Int(path string) (int, bool) {
	switch v := r.Get(path).(type) {
	case float64:
		return int(v), true
	case int:
		return v, true
	case string:
		n, err := strconv.Atoi(v)
		return n, err == nil
	}
	return 0, false
}

// Bool is Get for a boolean, which providers also write as "true"/"false".
func (r *Resource) Bool(path string) (value, ok bool) {
	switch v := r.Get(path).(type) {
	case bool:
		return v, true
	case string:
		b, err := strconv.ParseBool(v)
		return b, err == nil
	}
	return false, false
}

// List is Get for a list; nil when absent or not a list.
func (r *Resource) List(path string) []any {
	l, _ := r.Get(path).([]any)
	return l
}

// Lookup walks a dotted path through nested maps and lists.
func Lookup(v any, path string) any {
	if path == "" {
		return v
	}
	for _, part := range strings.Split(path, ".") {
		switch node := v.(type) {
		case map[string]any:
			v = node[part]
		case []any:
			i, err := strconv.Atoi(part)
			if err != nil || i < 0 || i >= len(node) {
				return nil
			}
			v = node[i]
		default:
			return nil
		}
	}
	return v
}
