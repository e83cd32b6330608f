package infra

import (
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"stayup/internal/graph"
)

// TestProgramRefusesUnknownKeys runs the program the way the engine does,
// with the stack's config in PULUMI_CONFIG: a typo must fail `pulumi up`
// instead of being ignored.
func TestProgramRefusesUnknownKeys(t *testing.T) {
	cfg := map[string]string{"stayup:cloud": "aws", "aws:region": "eu-west-1", "stayup:minsize": "2"}
	t.Setenv(pulumi.EnvConfig, `{"stayup:cloud":"aws","aws:region":"eu-west-1","stayup:minsize":"2"}`)
	g, err := graph.Record("stayup", "dev", cfg, func(ctx *pulumi.Context) (pulumi.Map, error) {
		return pulumi.Map{}, Program(ctx)
	})
	if err == nil || !strings.Contains(err.Error(), "did you mean stayup:minSize") {
		t.Fatalf("error = %v, want the typo named", err)
	}
	if g != nil && len(g.Resources) > 0 {
		t.Errorf("%d resources registered before the config was refused", len(g.Resources))
	}
}

func TestProgramDeploysWithValidConfig(t *testing.T) {
	cfg := map[string]string{"stayup:cloud": "aws", "aws:region": "eu-west-1"}
	t.Setenv(pulumi.EnvConfig, `{"stayup:cloud":"aws","aws:region":"eu-west-1"}`)
	g, err := graph.Record("stayup", "dev", cfg, func(ctx *pulumi.Context) (pulumi.Map, error) {
		return pulumi.Map{}, Program(ctx)
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(g.ByType("stayup:aws:Service")) != 1 {
		t.Error("the AWS service was not registered")
	}
}
