package graph

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// Program is a Pulumi program that returns its stack outputs instead of
// exporting them itself, so a mocked run can record them.
type Program func(ctx *pulumi.Context) (pulumi.Map, error)

// Record runs program under Pulumi mocks with the given stack config and
// returns every resource it registered. Nothing leaves the process: the
// mocks answer resource registrations and data-source calls (zones, images,
// account ids) with realistic values for the configured region.
func Record(project, stack string, config map[string]string, program Program) (*Graph, error) {
	m := newMocks(project, stack, config)
	var (
		mu      sync.Mutex
		outputs map[string]any
	)
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		out, err := program(ctx)
		if err != nil {
			return err
		}
		for k, v := range out {
			ctx.Export(k, v)
		}
		out.ToMapOutput().ApplyT(func(v map[string]any) map[string]any {
			mu.Lock()
			defer mu.Unlock()
			outputs = v
			return v
		})
		return nil
	}, pulumi.WithMocks(project, stack, m), func(info *pulumi.RunInfo) {
		info.Config = config
	})
	if err != nil {
		return nil, err
	}
	g := &Graph{Resources: m.resources, Outputs: plain(resource.NewPropertyValue(outputs)).(map[string]any), Invokes: m.invoked()}
	if g.Outputs == nil {
		g.Outputs = map[string]any{}
	}
	g.Sort()
	return g, nil
}

// Config keys the mocks read besides the stack's own, for tests of what
// the platform answers: MockDownZones lists zones the mocked region
// reports DOWN (or not available) at that moment; MockImageRelease, when
// set, makes the newest OS image lookups answer another, newer release.
const (
	MockDownZones    = "mock:downZones"
	MockImageRelease = "mock:imageRelease"
)

// up is names without the zones MockDownZones reports down.
func (m *mocks) up(names []string) []string {
	down := strings.Split(m.config[MockDownZones], ",")
	var out []string
	for _, n := range names {
		if !slices.Contains(down, n) {
			out = append(out, n)
		}
	}
	return out
}

// mocks records registrations; the engine calls it from several goroutines.
type mocks struct {
	project, stack string
	config         map[string]string

	mu        sync.Mutex
	resources []*Resource
	invokes   map[string]bool
}

func newMocks(project, stack string, config map[string]string) *mocks {
	return &mocks{project: project, stack: stack, config: config}
}

func (m *mocks) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	rpc := args.RegisterRPC
	if rpc == nil {
		return "", nil, fmt.Errorf("%s %s: reading existing resources is not supported in a plan", args.TypeToken, args.Name)
	}
	parent := rpc.GetParent()
	urn := newURN(m.project, m.stack, parent, args.TypeToken, args.Name)
	if resource.URN(parent).QualifiedType() == resource.RootStackType {
		parent = ""
	}
	id, computed := "", map[string]any{}
	if args.Custom {
		id, computed = m.physical(args.TypeToken, args.Name, args.Inputs)
	}
	inputs, _ := plain(resource.NewObjectProperty(args.Inputs)).(map[string]any)
	if inputs == nil {
		inputs = map[string]any{}
	}
	outputs := make(map[string]any, len(inputs)+len(computed))
	for k, v := range inputs {
		outputs[k] = v
	}
	for k, v := range computed {
		outputs[k] = v
	}
	deps := append([]string{}, rpc.GetDependencies()...)
	sort.Strings(deps)

	m.mu.Lock()
	m.resources = append(m.resources, &Resource{
		URN: urn, ID: id, Type: args.TypeToken, Name: args.Name, Parent: parent,
		Dependencies: deps, Inputs: inputs, Outputs: outputs,
		IgnoreChanges: rpc.GetIgnoreChanges(), RetainOnDelete: rpc.GetRetainOnDelete(),
		Aliases: m.aliasURNs(rpc.GetAliases(), rpc.GetParent(), args.TypeToken, args.Name),
	})
	m.mu.Unlock()

	state := args.Inputs.Copy()
	for k, v := range computed {
		state[resource.PropertyKey(k)] = resource.NewPropertyValue(v)
	}
	return id, state, nil
}

// aliasURNs resolves aliases as the engine does: a full URN as it is, a
// spec from the resource's own name, type, project, stack and parent where
// it leaves them out.
func (m *mocks) aliasURNs(aliases []*pulumirpc.Alias, parent, typ, name string) []string {
	var out []string
	for _, a := range aliases {
		if urn := a.GetUrn(); urn != "" {
			out = append(out, urn)
			continue
		}
		spec := a.GetSpec()
		if spec == nil {
			continue
		}
		project, stack, p, t, n := m.project, m.stack, parent, typ, name
		if spec.GetProject() != "" {
			project = spec.GetProject()
		}
		if spec.GetStack() != "" {
			stack = spec.GetStack()
		}
		if spec.GetType() != "" {
			t = spec.GetType()
		}
		if spec.GetName() != "" {
			n = spec.GetName()
		}
		switch {
		case spec.GetParentUrn() != "":
			p = spec.GetParentUrn()
		case spec.GetNoParent():
			p = ""
		}
		out = append(out, newURN(project, stack, p, t, n))
	}
	return out
}

func (m *mocks) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	m.mu.Lock()
	if m.invokes == nil {
		m.invokes = map[string]bool{}
	}
	m.invokes[args.Token] = true
	m.mu.Unlock()
	in, _ := plain(resource.NewObjectProperty(args.Args)).(map[string]any)
	var (
		out map[string]any
		err error
	)
	switch cloud, _, _ := strings.Cut(args.Token, ":"); cloud {
	case "aws":
		out, err = m.awsCall(args.Token, in)
	case "gcp":
		out, err = m.gcpCall(args.Token, in)
	case "azure-native":
		out, err = m.azureCall(args.Token, in)
	default:
		err = fmt.Errorf("the plan's mocks do not answer %s", args.Token)
	}
	if err != nil {
		return nil, err
	}
	return resource.NewPropertyMapFromMap(out), nil
}

// invoked lists the data-source tokens the program called, sorted.
func (m *mocks) invoked() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]string, 0, len(m.invokes))
	for tok := range m.invokes {
		out = append(out, tok)
	}
	sort.Strings(out)
	return out
}

// physical makes up the ID and computed outputs a provider would return,
// deterministic so plans and golden files are stable.
func (m *mocks) physical(typ, name string, inputs resource.PropertyMap) (string, map[string]any) {
	switch {
	case strings.HasPrefix(typ, "aws:"):
		return m.awsPhysical(typ, name, inputs)
	case strings.HasPrefix(typ, "gcp:"):
		return m.gcpPhysical(typ, name, inputs)
	case strings.HasPrefix(typ, "azure-native:"):
		return m.azurePhysical(typ, name, inputs)
	}
	return name + "-id", map[string]any{}
}

// hexID is a stable, provider-looking hexadecimal suffix for a name.
func hexID(name string, n int) string {
	sum := sha256.Sum256([]byte(name))
	return hex.EncodeToString(sum[:])[:n]
}

func newURN(project, stack, parent, typ, name string) string {
	parentType := tokens.Type("")
	if p := resource.URN(parent); p != "" && p.QualifiedType() != resource.RootStackType {
		parentType = p.QualifiedType()
	}
	return string(resource.NewURN(tokens.QName(stack), tokens.PackageName(project), parentType, tokens.Type(typ), name))
}

// plain turns a property value into JSON-shaped Go values: unknowns become
// nil, secrets their plain value, assets their text.
func plain(v resource.PropertyValue) any {
	switch {
	case v.IsNull(), v.IsComputed():
		return nil
	case v.IsOutput():
		o := v.OutputValue()
		if !o.Known {
			return nil
		}
		return plain(o.Element)
	case v.IsSecret():
		return plain(v.SecretValue().Element)
	case v.IsBool():
		return v.BoolValue()
	case v.IsNumber():
		return v.NumberValue()
	case v.IsString():
		return v.StringValue()
	case v.IsArray():
		arr := v.ArrayValue()
		out := make([]any, len(arr))
		for i, e := range arr {
			out[i] = plain(e)
		}
		return out
	case v.IsObject():
		obj := v.ObjectValue()
		out := make(map[string]any, len(obj))
		for k, e := range obj {
			out[string(k)] = plain(e)
		}
		return out
	case v.IsAsset():
		return v.AssetValue().Text
	case v.IsResourceReference():
		return string(v.ResourceReferenceValue().URN)
	}
	return nil
}
