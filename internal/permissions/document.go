package permissions

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"stayup/infra/spec"
)

// Document is what `stayup permissions` prints: the actions, the
// cloud's own document for them, and how to apply it.
type Document struct {
	Cloud   spec.Cloud `json:"cloud"`
	For     Purpose    `json:"for"`
	Actions []string   `json:"actions"`

	// AWS: an IAM policy document.
	AWSPolicy *AWSPolicy `json:"awsPolicy,omitempty"`

	// GCP: a custom role in gcloud's YAML shape, the APIs the project must
	// enable, and the condition that limits which roles the holder may grant.
	GCPRole           *GCPRole          `json:"gcpRole,omitempty"`
	GCPAPIs           []string          `json:"gcpApis,omitempty"`
	GCPGrantCondition string            `json:"gcpGrantCondition,omitempty"`
	GCPNotInRole      map[string]string `json:"gcpNotInRole,omitempty"`

	// Azure: a custom role definition, and the condition its assignment
	// needs so that its holder may assign only the roles the program assigns.
	AzureRole            *AzureRole `json:"azureRole,omitempty"`
	AzureAssignCondition string     `json:"azureAssignCondition,omitempty"`

	// Apply are the commands that put the document in place.
	Apply []string `json:"apply"`
	Notes []string `json:"notes"`
}

// AWSPolicy is an IAM policy document.
type AWSPolicy struct {
	Version   string      `json:"Version"`
	Statement []Statement `json:"Statement"`
}

// Statement is one IAM policy statement.
type Statement struct {
	Sid       string         `json:"Sid"`
	Effect    string         `json:"Effect"`
	Action    []string       `json:"Action"`
	Resource  []string       `json:"Resource"`
	Condition map[string]any `json:"Condition,omitempty"`
}

// GCPRole is a custom role as `gcloud iam roles create --file` reads it.
type GCPRole struct {
	Title               string   `json:"title" yaml:"title"`
	Description         string   `json:"description" yaml:"description"`
	Stage               string   `json:"stage" yaml:"stage"`
	IncludedPermissions []string `json:"includedPermissions" yaml:"includedPermissions"`
}

// AzureRole is a custom role definition as `az role definition create` reads it.
type AzureRole struct {
	Name             string   `json:"Name"`
	IsCustom         bool     `json:"IsCustom"`
	Description      string   `json:"Description"`
	Actions          []string `json:"Actions"`
	NotActions       []string `json:"NotActions"`
	DataActions      []string `json:"DataActions"`
	NotDataActions   []string `json:"NotDataActions"`
	AssignableScopes []string `json:"AssignableScopes"`
}

// Generate builds the document for what the program registers and calls.
func Generate(p Program, purpose Purpose) (*Document, error) {
	actions, err := Actions(p, purpose)
	if err != nil {
		return nil, err
	}
	d := &Document{Cloud: p.Cloud, For: purpose, Actions: actions, Apply: []string{}, Notes: []string{}}
	switch p.Cloud {
	case spec.AWS:
		d.awsDocument()
	case spec.GCP:
		d.gcpDocument(p)
	case spec.Azure:
		d.azureDocument(p)
	default:
		return nil, fmt.Errorf("no permissions for cloud %q", p.Cloud)
	}
	return d, nil
}

func (d *Document) awsDocument() {
	left := slices.Clone(d.Actions)
	var stmts []Statement
	for _, s := range awsScopes {
		var in []string
		left = slices.DeleteFunc(left, func(a string) bool {
			if slices.Contains(s.Actions, a) || slices.ContainsFunc(s.Prefixes, func(p string) bool { return strings.HasPrefix(a, p) }) {
				in = append(in, a)
				return true
			}
			return false
		})
		if len(in) > 0 {
			stmts = append(stmts, Statement{Sid: s.Sid, Effect: "Allow", Action: in, Resource: s.Resources, Condition: s.Condition})
		}
	}
	if len(left) > 0 {
		stmts = append(stmts, Statement{Sid: "IdsNotKnownBeforeCreation", Effect: "Allow", Action: left, Resource: []string{"*"}})
	}
	d.AWSPolicy = &AWSPolicy{Version: "2012-10-17", Statement: stmts}
	name := "stayup-" + string(d.For)
	d.Apply = []string{
		fmt.Sprintf("stayup permissions --cloud aws --for %s > %s.json", d.For, name),
		fmt.Sprintf("aws iam create-policy --policy-name %s --policy-document file://%s.json", name, name),
		fmt.Sprintf("aws iam attach-user-policy --user-name USER --policy-arn arn:aws:iam::ACCOUNT:policy/%s   # or attach-role-policy --role-name ROLE", name),
	}
	d.Notes = append(d.Notes, awsWhyStar)
	if d.For == Operate {
		d.Notes = append(d.Notes, "Operate acts on the stack's Auto Scaling group, its instances and its target group, whose names Pulumi generates; scope them further with a condition on the stayup:stack tag if the account holds other groups.")
	}
}

func (d *Document) gcpDocument(p Program) {
	var perms []string
	notIn := map[string]string{}
	for _, a := range d.Actions {
		if grant, ok := gcpNotSupported[a]; ok {
			notIn[a] = grant
			continue
		}
		perms = append(perms, a)
	}
	title := map[Purpose]string{Deploy: "stayup deployer", Operate: "stayup operator"}[d.For]
	d.GCPRole = &GCPRole{
		Title:               title,
		Description:         fmt.Sprintf("Generated by stayup permissions --cloud gcp --for %s", d.For),
		Stage:               "GA",
		IncludedPermissions: perms,
	}
	if len(notIn) > 0 {
		d.GCPNotInRole = notIn
	}
	apis := map[string]bool{}
	for _, a := range d.Actions {
		for prefix, api := range gcpAPIs {
			if strings.HasPrefix(a, prefix) {
				apis[api] = true
			}
		}
	}
	for _, role := range p.GCPRoles {
		if d.For != Deploy {
			break
		}
		if api, ok := gcpRoleAPIs[role]; ok {
			apis[api] = true
		}
	}
	d.GCPAPIs = slices.Sorted(maps.Keys(apis))
	roleID := map[Purpose]string{Deploy: "stayupDeployer", Operate: "stayupOperator"}[d.For]
	name := "stayup-" + string(d.For)
	d.Apply = []string{
		"gcloud services enable " + strings.Join(d.GCPAPIs, " ") + " --project PROJECT",
		fmt.Sprintf("stayup permissions --cloud gcp --for %s > %s.yaml", d.For, name),
		fmt.Sprintf("gcloud iam roles create %s --project PROJECT --file %s.yaml", roleID, name),
	}
	binding := fmt.Sprintf("gcloud projects add-iam-policy-binding PROJECT --member user:YOU@example.com --role projects/PROJECT/roles/%s", roleID)
	if d.For == Deploy && len(p.GCPRoles) > 0 {
		quoted := make([]string, len(p.GCPRoles))
		for i, r := range p.GCPRoles {
			quoted[i] = "'" + r + "'"
		}
		d.GCPGrantCondition = fmt.Sprintf("api.getAttribute('iam.googleapis.com/modifiedGrantsByRole', []).hasOnly([%s])", strings.Join(quoted, ", "))
		binding += fmt.Sprintf(` --condition="expression=%s,title=stayup-grants-only"`, d.GCPGrantCondition)
		d.Notes = append(d.Notes,
			"resourcemanager.projects.setIamPolicy could grant any role: the binding's condition limits the grants its holder may make to the roles the program grants the instances (IAM Conditions, modifiedGrantsByRole).")
	}
	d.Apply = append(d.Apply, binding)
	d.Notes = append(d.Notes,
		"No permission is a wildcard (custom roles take none).",
		"The instances' boot image is read from Google's public image project, which grants compute.images.* to all authenticated users.")
	for perm, grant := range notIn {
		d.Notes = append(d.Notes, fmt.Sprintf("%s cannot be in a custom role: grant %s", perm, grant))
	}
}

func (d *Document) azureDocument(p Program) {
	name := map[Purpose]string{Deploy: "stayup deployer", Operate: "stayup operator"}[d.For]
	d.AzureRole = &AzureRole{
		Name:             name,
		IsCustom:         true,
		Description:      fmt.Sprintf("Generated by stayup permissions --cloud azure --for %s", d.For),
		Actions:          d.Actions,
		NotActions:       []string{},
		DataActions:      []string{},
		NotDataActions:   []string{},
		AssignableScopes: []string{"/subscriptions/SUBSCRIPTION_ID"},
	}
	file := "stayup-" + string(d.For)
	d.Apply = []string{
		fmt.Sprintf("stayup permissions --cloud azure --for %s > %s.json   # set AssignableScopes to your subscription", d.For, file),
		fmt.Sprintf("az role definition create --role-definition @%s.json", file),
	}
	assign := fmt.Sprintf(`az role assignment create --assignee YOU@example.com --role "%s" --scope /subscriptions/SUBSCRIPTION_ID`, name)
	roles := append(slices.Clone(p.AzureRoles), azureAssignableRoles...)
	if d.For == Deploy && slices.Contains(d.Actions, "Microsoft.Authorization/roleAssignments/write") {
		d.AzureAssignCondition = azureAssignCondition(roles)
		assign += fmt.Sprintf(` --condition "%s" --condition-version 2.0`, d.AzureAssignCondition)
		d.Notes = append(d.Notes,
			"A role definition cannot limit which roles its holder may assign: the assignment's condition does (Azure ABAC, \"Delegate Azure role assignment management to others with conditions\"). Without it, Microsoft.Authorization/roleAssignments/write lets the holder grant itself Owner.")
	}
	d.Apply = append(d.Apply, assign)
	d.Notes = append(d.Notes, "No action is a wildcard.")
}

// azureAssignCondition limits role assignment writes and deletes to the
// given role definitions.
func azureAssignCondition(roles []string) string {
	ids := strings.Join(roles, ", ")
	return fmt.Sprintf("((!(ActionMatches{'Microsoft.Authorization/roleAssignments/write'})) OR "+
		"(@Request[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {%s})) AND "+
		"((!(ActionMatches{'Microsoft.Authorization/roleAssignments/delete'})) OR "+
		"(@Resource[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {%s}))", ids, ids)
}

// Body is the document itself, as the cloud's tools read it: the IAM
// policy JSON, the custom role YAML, the Azure role definition JSON.
func (d *Document) Body() string {
	switch {
	case d.AWSPolicy != nil:
		return indentJSON(d.AWSPolicy)
	case d.AzureRole != nil:
		return indentJSON(d.AzureRole)
	case d.GCPRole != nil:
		var b strings.Builder
		fmt.Fprintf(&b, "title: %s\ndescription: %s\nstage: %s\nincludedPermissions:\n", d.GCPRole.Title, d.GCPRole.Description, d.GCPRole.Stage)
		for _, p := range d.GCPRole.IncludedPermissions {
			fmt.Fprintf(&b, "- %s\n", p)
		}
		return b.String()
	}
	return ""
}

// WriteHelp writes how to apply the document and the notes, for a person.
func (d *Document) WriteHelp(w io.Writer) {
	if d.AzureAssignCondition != "" {
		fmt.Fprintf(w, "Assignment condition (the role alone does not limit which roles its holder may assign):\n  %s\n\n", d.AzureAssignCondition)
	}
	if d.GCPGrantCondition != "" {
		fmt.Fprintf(w, "Binding condition (limits the roles its holder may grant):\n  %s\n\n", d.GCPGrantCondition)
	}
	fmt.Fprintln(w, "Apply:")
	for _, c := range d.Apply {
		fmt.Fprintf(w, "  %s\n", c)
	}
	if len(d.Notes) > 0 {
		fmt.Fprintln(w, "\nNotes:")
		for _, n := range d.Notes {
			fmt.Fprintf(w, "  - %s\n", n)
		}
	}
}

// Markdown renders the document for docs/runbook.md.
func (d *Document) Markdown() string {
	var b bytes.Buffer
	lang := "json"
	if d.GCPRole != nil {
		lang = "yaml"
	}
	fmt.Fprintf(&b, "```%s\n%s", lang, d.Body())
	if !strings.HasSuffix(d.Body(), "\n") {
		b.WriteString("\n")
	}
	b.WriteString("```\n\n")
	var help strings.Builder
	d.WriteHelp(&help)
	fmt.Fprintf(&b, "```\n%s```\n", help.String())
	return b.String()
}

func indentJSON(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	return b.String()
}
