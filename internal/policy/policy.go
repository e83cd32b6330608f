// Package policy is stayup's compliance rules: checks over the resource
// graph that make the service's high availability and least privilege
// verifiable offline. The rules read resource types, inputs and the
// references between resources only, so the same rules judge a mocked
// plan and a deployed stack's export.
package policy

import (
	"fmt"
	"slices"
	"strings"

	"stayup/internal/graph"
)

// Severity ranks a finding: critical > high > medium > low.
type Severity string

// The severities, most severe first.
const (
	Critical Severity = "critical"
	High     Severity = "high"
	Medium   Severity = "medium"
	Low      Severity = "low"
)

// Severities lists every severity, most severe first.
var Severities = []Severity{Critical, High, Medium, Low}

func (s Severity) rank() int {
	if i := slices.Index(Severities, s); i >= 0 {
		return len(Severities) - i
	}
	return 0
}

// AtLeast says whether s is as severe as min or more.
func (s Severity) AtLeast(min Severity) bool { return s.rank() >= min.rank() }

// ParseSeverity reads a severity name, as --fail-on takes it.
func ParseSeverity(s string) (Severity, error) {
	sev := Severity(strings.ToLower(strings.TrimSpace(s)))
	if sev.rank() == 0 {
		return "", fmt.Errorf("severity %q: want critical, high, medium or low", s)
	}
	return sev, nil
}

// Category groups rules by the property they protect.
type Category string

// The categories, in the order the docs list them.
const (
	Availability Category = "availability"
	Exposure     Category = "exposure"
	Identity     Category = "identity"
	Host         Category = "host"
	Transport    Category = "transport"
	Logging      Category = "logging"
)

// Categories lists every category in the order the docs list them.
var Categories = []Category{Availability, Exposure, Identity, Host, Transport, Logging}

// Finding is one rule's verdict on one resource, as `plan --json` and
// `check --json` print it. A waived finding is a deliberate exception
// (the service is internet-facing): it is printed with its reason, never
// dropped, and never fails a check.
type Finding struct {
	Rule      string   `json:"rule"`
	Severity  Severity `json:"severity"`
	URN       string   `json:"urn"`
	Message   string   `json:"message"`
	Standards []string `json:"standards"`
	Waived    string   `json:"waived,omitempty"`
}

// Rule is one compliance rule for one cloud.
type Rule struct {
	ID       string
	Cloud    string
	Category Category
	Severity Severity
	// Title says what the rule requires, in one line.
	Title string
	// Standards are the public controls the rule maps to: AWS Foundational
	// Security Best Practices ("FSBP EC2.8"), CIS benchmark items ("CIS
	// GCP 4.8"), Checkov ids ("CKV_AWS_79").
	Standards []string

	check func(g *graph.Graph) []violation
}

// violation is what a rule's check reports: the resource, what to change,
// and the reason when the violation is an accepted exception.
type violation struct {
	r      *graph.Resource
	msg    string
	waived string
}

func fail(r *graph.Resource, format string, args ...any) violation {
	return violation{r: r, msg: fmt.Sprintf(format, args...)}
}

func waive(v violation, reason string) violation {
	v.waived = reason
	return v
}

// Rules returns every rule, ordered by cloud, category and id.
func Rules() []Rule {
	var out []Rule
	out = append(out, awsRules...)
	out = append(out, gcpRules...)
	out = append(out, azureRules...)
	slices.SortStableFunc(out, func(a, b Rule) int {
		if c := strings.Compare(a.Cloud, b.Cloud); c != 0 {
			return c
		}
		if c := slices.Index(Categories, a.Category) - slices.Index(Categories, b.Category); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

// Clouds are the clouds rules exist for, as the type tokens' packages name them.
var cloudPackages = map[string]string{"aws": "aws", "gcp": "gcp", "azure-native": "azure"}

// CloudOf says which cloud a graph deploys to, from its resources' types;
// empty when it has none of the three.
func CloudOf(g *graph.Graph) string {
	for _, r := range g.Resources {
		pkg, _, _ := strings.Cut(r.Type, ":")
		if c, ok := cloudPackages[pkg]; ok {
			return c
		}
	}
	return ""
}

// Check runs every rule for the graph's cloud and returns the findings,
// most severe first, waived ones included.
func Check(g *graph.Graph) []Finding {
	cloud := CloudOf(g)
	out := []Finding{}
	for _, rule := range Rules() {
		if rule.Cloud != cloud {
			continue
		}
		for _, v := range rule.check(g) {
			f := Finding{
				Rule: rule.ID, Severity: rule.Severity, Message: v.msg,
				Standards: append([]string{}, rule.Standards...), Waived: v.waived,
			}
			if v.r != nil {
				f.URN = v.r.URN
			}
			out = append(out, f)
		}
	}
	slices.SortStableFunc(out, func(a, b Finding) int {
		if c := b.Severity.rank() - a.Severity.rank(); c != 0 {
			return c
		}
		if c := strings.Compare(a.Rule, b.Rule); c != 0 {
			return c
		}
		return strings.Compare(a.URN, b.URN)
	})
	return out
}

// Blocking returns the unwaived findings at or above failOn.
func Blocking(findings []Finding, failOn Severity) []Finding {
	var out []Finding
	for _, f := range findings {
		if f.Waived == "" && f.Severity.AtLeast(failOn) {
			out = append(out, f)
		}
	}
	return out
}

// GateError is what Gate returns when findings block a deployment.
type GateError struct {
	FailOn   Severity
	Findings []Finding
}

func (e *GateError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d compliance finding(s) at or above %s:", len(e.Findings), e.FailOn)
	for _, f := range e.Findings {
		fmt.Fprintf(&b, "\n  [%s] %s: %s", f.Severity, f.Rule, f.Message)
	}
	return b.String()
}

// Gate checks a graph and returns a *GateError naming every unwaived
// finding at or above failOn, or nil: what `up` runs before deploying.
func Gate(g *graph.Graph, failOn Severity) error {
	if blocking := Blocking(Check(g), failOn); len(blocking) > 0 {
		return &GateError{FailOn: failOn, Findings: blocking}
	}
	return nil
}
