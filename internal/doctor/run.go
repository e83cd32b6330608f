package doctor

import (
	"context"
	"fmt"
	"os"

	"stayup/infra/spec"
	"stayup/internal/permissions"
	"stayup/internal/plan"
	"stayup/internal/stackops"
)

// Opener opens the checker for a stack's cloud; tests return fakes.
type Opener func(ctx context.Context, s spec.Spec, cfg map[string]string, doc *permissions.Document) (Checker, func(), error)

// Run checks the account for a stack: its config (as the engine gets it)
// gives the spec and, through the program under mocks, the deploy
// document; outputs, when the stack is deployed, what it already holds.
func Run(ctx context.Context, stack string, cfg map[string]string, outputs map[string]any, open Opener) (*Report, error) {
	res, err := plan.Run(stack, cfg)
	if err != nil {
		return nil, err
	}
	s := res.Spec
	doc, err := permissions.Generate(permissions.FromGraphs(s.Cloud, res.Graph), permissions.Deploy)
	if err != nil {
		return nil, err
	}
	r := &Report{Stack: stack, Cloud: string(s.Cloud), Region: s.Region, Checks: []Check{}}
	own := Own{}
	if fo, ok := outputs["fleet"].(map[string]any); ok {
		own = Own{Deployed: true, Fleet: fo}
	}
	if open == nil {
		open = OpenReal
	}
	checker, closeFn, err := open(ctx, s, cfg, doc)
	if err != nil {
		r.add(Check{Name: "credentials", Status: Fail, Detail: oneLine(err), Fix: "sign in to " + string(s.Cloud) + " with the identity that deploys, then run doctor again"})
		return r, nil
	}
	defer closeFn()
	need := Need{Spec: s, Actions: doc.Actions, APIs: doc.GCPAPIs, Peak: PeakInstances(s)}
	checker.Check(ctx, need, own, r)
	return r, nil
}

// OpenReal opens the cloud's SDK clients with the default credentials.
func OpenReal(ctx context.Context, s spec.Spec, cfg map[string]string, doc *permissions.Document) (Checker, func(), error) {
	switch s.Cloud {
	case spec.AWS:
		var stmts []SimStatement
		for _, st := range doc.AWSPolicy.Statement {
			sim := SimStatement{Actions: st.Action, Resources: st.Resource, Context: map[string]string{}}
			for _, cond := range st.Condition {
				for k, v := range cond.(map[string]any) {
					if vs, ok := v.([]string); ok && len(vs) > 0 {
						sim.Context[k] = vs[0]
					}
				}
			}
			stmts = append(stmts, sim)
		}
		a, err := NewAWS(ctx, s.Region, stmts)
		return a, func() {}, err
	case spec.GCP:
		return NewGCP(ctx)
	case spec.Azure:
		sub := stackops.AzureSubscription(ctx, cfg, os.Getenv)
		if sub == "" {
			return nil, nil, fmt.Errorf("cannot tell which Azure subscription this deploys to: set azure-native:subscriptionId or ARM_SUBSCRIPTION_ID, or az login")
		}
		a, err := NewAzure(sub, stackops.AzureFeatures(cfg))
		return a, func() {}, err
	}
	return nil, nil, fmt.Errorf("no checks for cloud %q", s.Cloud)
}
