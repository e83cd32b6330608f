package policy

import (
	"fmt"
	"strings"
)

// Markdown renders the rule table as docs/compliance.md: generated from
// Rules, so the docs list exactly the rules that run (a test keeps the
// file current).
func Markdown() string {
	var b strings.Builder
	rules := Rules()
	counts := map[string]int{}
	for _, r := range rules {
		counts[r.Cloud]++
	}
	b.WriteString(`# Compliance rules

<!-- Generated from internal/policy's rule table by
     go test ./internal/policy -run TestComplianceDocIsCurrent -update
     Do not edit by hand. -->

` + "`stayup check`" + ` runs these rules over the resource graph: the program's plan
under mocks by default, a deployed stack's export with ` + "`--live`" + `. ` + "`stayup plan`" + `
prints the same findings. Each rule names what to change when it fails.
A check exits non-zero when an unwaived finding is at or above ` + "`--fail-on`" + `
(default ` + "`high`" + `); severities rank critical > high > medium > low.

Standards are the public controls a rule maps to: AWS Foundational
Security Best Practices controls (FSBP), CIS benchmark items (CIS AWS/GCP/Azure
Foundations) and Checkov check ids (CKV_*). A rule without one checks a
property of this design (availability, rollouts) that those catalogues do
not cover.

## Waivers

An internet-facing service needs two exceptions. They are reported as
waived findings with their reason (` + "`\"waived\": \"reason\"`" + ` in JSON), never
hidden, and never fail a check:

- the load balancer (AWS ALB, GCP external forwarding rules, Azure
  Application Gateway address) is public: it is the service's one entry,
  and is waived only when it fronts the fleet;
- plain HTTP is served while no certificate is configured
  (` + "`stayup:tlsCertificate`" + ` / ` + "`stayup:domain`" + `); once one is, HTTP must redirect
  and the waiver no longer applies.

`)
	fmt.Fprintf(&b, "%d rules: %d for AWS, %d for GCP, %d for Azure.\n", len(rules), counts["aws"], counts["gcp"], counts["azure"])
	for _, cloud := range []string{"aws", "gcp", "azure"} {
		fmt.Fprintf(&b, "\n## %s\n", map[string]string{"aws": "AWS", "gcp": "GCP", "azure": "Azure"}[cloud])
		for _, cat := range Categories {
			var rows []Rule
			for _, r := range rules {
				if r.Cloud == cloud && r.Category == cat {
					rows = append(rows, r)
				}
			}
			if len(rows) == 0 {
				continue
			}
			fmt.Fprintf(&b, "\n### %s%s\n\n", strings.ToUpper(string(cat[:1])), cat[1:])
			b.WriteString("| Rule | Severity | Requires | Standards |\n|---|---|---|---|\n")
			for _, r := range rows {
				std := strings.Join(r.Standards, ", ")
				if std == "" {
					std = "—"
				}
				fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", r.ID, r.Severity, strings.ReplaceAll(r.Title, "|", "\\|"), std)
			}
		}
	}
	return b.String()
}
