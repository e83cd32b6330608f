package graph

import (
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

type testComponent struct{ pulumi.ResourceState }

// TestRecordKeepsTypesParentsDependenciesAndOutputs records a small
// program and checks what plan, check and diagram rely on.
func TestRecordKeepsTypesParentsDependenciesAndOutputs(t *testing.T) {
	t.Parallel()
	cfg := map[string]string{"aws:region": "eu-west-1", "stayup:colour": "blue"}
	g, err := Record("stayup", "dev", cfg, func(ctx *pulumi.Context) (pulumi.Map, error) {
		c := &testComponent{}
		if err := ctx.RegisterComponentResource("stayup:test:Thing", "thing", c); err != nil {
			return nil, err
		}
		colour, _ := ctx.GetConfig("stayup:colour")
		var vpc pulumi.CustomResourceState
		if err := ctx.RegisterResource("aws:ec2/vpc:Vpc", "net", pulumi.Map{
			"cidrBlock": pulumi.String("10.0.0.0/16"),
			"tags":      pulumi.StringMap{"colour": pulumi.String(colour)},
		}, &vpc, pulumi.Parent(c)); err != nil {
			return nil, err
		}
		var subnet pulumi.CustomResourceState
		if err := ctx.RegisterResource("aws:ec2/subnet:Subnet", "a", pulumi.Map{
			"vpcId":  vpc.ID(),
			"secret": pulumi.ToSecret(pulumi.String("hush")),
		}, &subnet, pulumi.Parent(c), pulumi.IgnoreChanges([]string{"tags"})); err != nil {
			return nil, err
		}
		return pulumi.Map{"vpc": vpc.ID(), "n": pulumi.Int(3), "list": pulumi.ToStringArray([]string{"x", "y"})}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Resources) != 3 {
		t.Fatalf("%d resources, want 3", len(g.Resources))
	}
	comp, vpc, subnet := g.ByType("stayup:test:Thing")[0], g.ByType("aws:ec2/vpc:Vpc")[0], g.ByType("aws:ec2/subnet:Subnet")[0]
	if comp.Parent != "" {
		t.Errorf("top-level component parent = %q, want empty", comp.Parent)
	}
	if vpc.Parent != comp.URN || subnet.Parent != comp.URN {
		t.Errorf("parents = %q, %q; want %q", vpc.Parent, subnet.Parent, comp.URN)
	}
	if want := "urn:pulumi:dev::stayup::stayup:test:Thing$aws:ec2/vpc:Vpc::net"; vpc.URN != want {
		t.Errorf("URN = %q, want %q", vpc.URN, want)
	}
	if comp.ID != "" {
		t.Errorf("a component has physical id %q", comp.ID)
	}
	if !strings.HasPrefix(vpc.ID, "vpc-") {
		t.Errorf("VPC id = %q, want a vpc- id", vpc.ID)
	}
	if got := vpc.Str("tags.colour"); got != "blue" {
		t.Errorf("config did not reach the program: tags.colour = %q", got)
	}
	if g.Ref(subnet.Str("vpcId")) != vpc {
		t.Errorf("subnet's vpcId %q does not resolve to the VPC", subnet.Str("vpcId"))
	}
	if len(subnet.Dependencies) != 1 || subnet.Dependencies[0] != vpc.URN {
		t.Errorf("subnet dependencies = %v, want the VPC", subnet.Dependencies)
	}
	if subnet.Str("secret") != "hush" {
		t.Errorf("secret input = %v, want its plain value", subnet.Get("secret"))
	}
	if len(subnet.IgnoreChanges) != 1 || subnet.IgnoreChanges[0] != "tags" {
		t.Errorf("ignoreChanges = %v", subnet.IgnoreChanges)
	}
	if g.Outputs["vpc"] != vpc.ID || g.Outputs["n"] != 3.0 {
		t.Errorf("outputs = %v", g.Outputs)
	}
	if l, _ := g.Outputs["list"].([]any); len(l) != 2 {
		t.Errorf("outputs.list = %v", g.Outputs["list"])
	}
}

func TestRecordReturnsProgramErrors(t *testing.T) {
	t.Parallel()
	_, err := Record("stayup", "dev", nil, func(ctx *pulumi.Context) (pulumi.Map, error) {
		return nil, errString("the program failed")
	})
	if err == nil || !strings.Contains(err.Error(), "the program failed") {
		t.Errorf("error = %v", err)
	}
}

type errString string

func (e errString) Error() string { return string(e) }

func TestMocksAnswerAWSLookups(t *testing.T) {
	t.Parallel()
	m := newMocks("stayup", "dev", map[string]string{"aws:region": "us-west-1"})
	out, err := m.awsCall("aws:index/getAvailabilityZones:getAvailabilityZones", nil)
	if err != nil {
		t.Fatal(err)
	}
	if names := out["names"].([]any); len(names) != 2 || names[0] != "us-west-1b" {
		t.Errorf("us-west-1 zones = %v, want its two", names)
	}
	if _, err := m.awsCall("aws:index/getUnknown:getUnknown", nil); err == nil || !strings.Contains(err.Error(), "getUnknown") {
		t.Errorf("an unanswered lookup gave %v, want an error naming it", err)
	}
}

func TestLookup(t *testing.T) {
	t.Parallel()
	v := map[string]any{"a": []any{map[string]any{"b": "c"}}, "n": 2.0, "s": "7", "t": "true"}
	r := &Resource{Inputs: v}
	for path, want := range map[string]any{"a.0.b": "c", "a.1.b": nil, "a.x": nil, "missing.deep": nil} {
		if got := Lookup(v, path); got != want {
			t.Errorf("Lookup(%q) = %v, want %v", path, got, want)
		}
	}
	if n, ok := r.Int("n"); !ok || n != 2 {
		t.Errorf("Int(n) = %d, %v", n, ok)
	}
	if n, ok := r.Int("s"); !ok || n != 7 {
		t.Errorf("Int(s) = %d, %v", n, ok)
	}
	if b, ok := r.Bool("t"); !ok || !b {
		t.Errorf("Bool(t) = %v, %v", b, ok)
	}
	if _, ok := r.Int("a"); ok {
		t.Error("Int of a list reported ok")
	}
}

func TestRecordListsTheInvokesTheProgramCalled(t *testing.T) {
	t.Parallel()
	m := newMocks("stayup", "dev", map[string]string{"aws:region": "us-west-1"})
	for _, tok := range []string{"aws:index/getRegion:getRegion", "aws:index/getCallerIdentity:getCallerIdentity", "aws:index/getRegion:getRegion"} {
		if _, err := m.Call(pulumi.MockCallArgs{Token: tok}); err != nil {
			t.Fatal(err)
		}
	}
	got, want := strings.Join(m.invoked(), ","), "aws:index/getCallerIdentity:getCallerIdentity,aws:index/getRegion:getRegion"
	if got != want {
		t.Errorf("invokes = %s, want %s (sorted, each once)", got, want)
	}
}
