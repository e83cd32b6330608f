package graph

import (
	"encoding/json"
	"fmt"
	"strings"
)

// secretSig marks a secret value in a stack export (Pulumi's
// resource.SecretSig); an export without --show-secrets holds only its
// ciphertext.
const secretSig = "1b47061264138c4ac30d75fd1eb44270"

// SecretPlaceholder stands for a secret value read from an export, which
// is never decrypted.
const SecretPlaceholder = "[secret]"

// FromExport reads a stack export (`pulumi stack export`, or
// stackops.Stack.Export) into the graph a mocked plan produces, so the
// compliance rules and the diagram work on a deployed stack: the stack
// resource's outputs become the graph's outputs, children of the stack
// have no parent, and default providers and resources awaiting deletion
// (the old half of a replacement) are left out, as a plan has neither.
func FromExport(data []byte) (*Graph, error) {
	var export struct {
		Version    int `json:"version"`
		Deployment struct {
			Resources []struct {
				URN          string         `json:"urn"`
				ID           string         `json:"id"`
				Type         string         `json:"type"`
				Parent       string         `json:"parent"`
				Dependencies []string       `json:"dependencies"`
				Inputs       map[string]any `json:"inputs"`
				Outputs      map[string]any `json:"outputs"`
				Delete       bool           `json:"delete"`
				// RetainOnDelete is written to the state by the up that
				// registered the resource with the option.
				RetainOnDelete bool `json:"retainOnDelete"`
			} `json:"resources"`
		} `json:"deployment"`
	}
	if err := json.Unmarshal(data, &export); err != nil {
		return nil, fmt.Errorf("read the stack export: %w", err)
	}
	if export.Version < 3 {
		return nil, fmt.Errorf("read the stack export: deployment version %d; want 3 or later (export it with a current Pulumi CLI)", export.Version)
	}
	g := &Graph{Outputs: map[string]any{}}
	roots := map[string]bool{}
	for _, r := range export.Deployment.Resources {
		switch {
		case r.Type == "pulumi:pulumi:Stack":
			roots[r.URN] = true
			if o, ok := unsecret(r.Outputs).(map[string]any); ok {
				g.Outputs = o
			}
			continue
		case r.Delete, isDefaultProvider(r.Type, r.URN):
			continue
		}
		res := &Resource{
			URN:          r.URN,
			ID:           r.ID,
			Type:         r.Type,
			Name:         urnName(r.URN),
			Parent:       r.Parent,
			Dependencies: append([]string{}, r.Dependencies...),
			Inputs:       map[string]any{},
			Outputs:      map[string]any{},

			RetainOnDelete: r.RetainOnDelete,
		}
		if in, ok := unsecret(r.Inputs).(map[string]any); ok {
			res.Inputs = in
		}
		if out, ok := unsecret(r.Outputs).(map[string]any); ok {
			res.Outputs = out
		}
		g.Resources = append(g.Resources, res)
	}
	for _, r := range g.Resources {
		if roots[r.Parent] {
			r.Parent = ""
		}
	}
	g.Sort()
	return g, nil
}

func isDefaultProvider(typ, urn string) bool {
	return strings.HasPrefix(typ, "pulumi:providers:") && strings.HasPrefix(urnName(urn), "default")
}

// urnName is the name part of a URN: what follows its last "::".
func urnName(urn string) string {
	if i := strings.LastIndex(urn, "::"); i >= 0 {
		return urn[i+2:]
	}
	return urn
}

// unsecret replaces secret values with SecretPlaceholder; a plaintext
// secret (an export with --show-secrets) keeps its value.
func unsecret(v any) any {
	switch t := v.(type) {
	case map[string]any:
		if t["4dabf18193072939515e22adb298388d"] == secretSig {
			if p, ok := t["plaintext"].(string); ok {
				var val any
				if json.Unmarshal([]byte(p), &val) == nil {
					return unsecret(val)
				}
			}
			return SecretPlaceholder
		}
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = unsecret(e)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = unsecret(e)
		}
		return out
	}
	return v
}
