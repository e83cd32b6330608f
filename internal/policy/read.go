package policy

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"stayup/internal/graph"
)

// What the rules read from the graph, written once so each rule states
// only its requirement.

// openSources are the address prefixes that mean "anyone on the internet".
var openSources = []string{"0.0.0.0/0", "::/0", "*", "internet", "any"}

func isOpen(src string) bool {
	return slices.Contains(openSources, strings.ToLower(strings.TrimSpace(src)))
}

// adminPorts are the remote administration ports (SSH, RDP).
var adminPorts = []int{22, 3389}

// strs turns a list input (or a single string) into strings.
func strs(v any) []string {
	switch t := v.(type) {
	case string:
		if t == "" {
			return nil
		}
		return []string{t}
	case []any:
		var out []string
		for _, e := range t {
			if s, ok := e.(string); ok && s != "" {
				out = append(out, s)
			} else if e != nil {
				out = append(out, fmt.Sprint(e))
			}
		}
		return out
	}
	return nil
}

// num reads a number written as a number or a string.
func num(v any) (int, bool) {
	switch t := v.(type) {
	case float64:
		return int(t), true
	case int:
		return t, true
	case string:
		n, err := strconv.Atoi(strings.TrimSpace(t))
		return n, err == nil
	}
	return 0, false
}

// truthy reads a boolean written as a boolean or a string ("TRUE").
func truthy(v any) bool {
	switch t := v.(type) {
	case bool:
		return t
	case string:
		b, _ := strconv.ParseBool(strings.ToLower(t))
		return b
	}
	return false
}

// maps returns the list input's elements that are objects.
func maps(v any) []map[string]any {
	l, _ := v.([]any)
	var out []map[string]any
	for _, e := range l {
		if m, ok := e.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

func str(v any, path string) string {
	s, _ := graph.Lookup(v, path).(string)
	return s
}

// portRange is an inclusive range of ports; all covers every port.
type portRange struct {
	from, to int
	all      bool
}

func (p portRange) covers(port int) bool { return p.all || (p.from <= port && port <= p.to) }

func (p portRange) String() string {
	switch {
	case p.all:
		return "all ports"
	case p.from == p.to:
		return fmt.Sprintf("port %d", p.from)
	}
	return fmt.Sprintf("ports %d-%d", p.from, p.to)
}

// parsePorts reads "22", "80-443" or "*".
func parsePorts(s string) portRange {
	s = strings.TrimSpace(s)
	if s == "" || s == "*" {
		return portRange{all: true}
	}
	lo, hi, found := strings.Cut(s, "-")
	from, err1 := strconv.Atoi(lo)
	to := from
	var err2 error
	if found {
		to, err2 = strconv.Atoi(hi)
	}
	if err1 != nil || err2 != nil {
		return portRange{all: true}
	}
	return portRange{from: from, to: to}
}

// coversAdmin returns the admin port a range opens, or 0.
func coversAdmin(ranges []portRange) int {
	for _, p := range ranges {
		for _, port := range adminPorts {
			if p.covers(port) {
				return port
			}
		}
	}
	return 0
}

// zoneSet counts distinct zones.
func zoneSet(zones []string) []string {
	var out []string
	for _, z := range zones {
		if z != "" && !slices.Contains(out, z) {
			out = append(out, z)
		}
	}
	slices.Sort(out)
	return out
}

// refsTo says whether value names resource r (by ID or a reference output).
func refsTo(g *graph.Graph, value any, r *graph.Resource) bool {
	return r != nil && g.Ref(value) == r
}

// none reports a missing resource on the rule's behalf: no resource to
// name, so the finding carries no URN.
func none(format string, args ...any) []violation {
	return []violation{fail(nil, format, args...)}
}

// refType resolves a reference like graph.Ref, among resources of one
// type only: AWS names an IAM role, its instance profile and its inline
// policy alike, so an untyped lookup may find the wrong one.
func refType(g *graph.Graph, v any, typ string) *graph.Resource {
	s, ok := v.(string)
	if !ok || s == "" {
		return nil
	}
	rs := g.ByType(typ)
	for _, r := range rs {
		if r.ID == s {
			return r
		}
	}
	for _, r := range rs {
		for _, key := range []string{"arn", "selfLink", "selfLinkUnique", "instanceGroup", "email", "name"} {
			if out, _ := r.Outputs[key].(string); out == s {
				return r
			}
		}
	}
	return nil
}
