// Package permissions generates the least-privilege documents for the
// identity that deploys a stack (up, preview, destroy) and the one that
// operates it (status, chaos, rollout): from the program itself, run under
// mocks for every configuration the spec allows, and from the calls
// stayup's own packages make. Each cloud has one table mapping a resource
// type, a data-source lookup or an SDK call to its actions, with their
// sources; a type or call the table does not cover is an error, not a
// silent gap.
package permissions

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"stayup/infra/spec"
	"stayup/internal/graph"
	"stayup/internal/plan"
)

// Purpose says which identity a document is for.
type Purpose string

// The two identities.
const (
	Deploy  Purpose = "deploy"  // up, preview, destroy (and doctor, which up runs)
	Operate Purpose = "operate" // status, chaos, rollout
)

// ParsePurpose reads --for.
func ParsePurpose(s string) (Purpose, error) {
	switch Purpose(s) {
	case Deploy, Operate:
		return Purpose(s), nil
	}
	return "", fmt.Errorf("%q is not deploy or operate", s)
}

// Variants are the configurations, on top of each cloud's example stack,
// that together make the program register every resource type and call
// every lookup it can: every optional feature the spec allows is on in
// one of them.
func Variants(cloud spec.Cloud) []map[string]string {
	switch cloud {
	case spec.AWS:
		return []map[string]string{
			{},
			{
				"stayup:tlsCertificate":     "arn:aws:acm:eu-west-1:123456789012:certificate/0a1b2c3d-0000-4000-8000-000000000000",
				"stayup:domain":             "app.example.com",
				"stayup:allowedCidrs":       `["0.0.0.0/0","::/0"]`,
				"stayup:image":              "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:1.0",
				"stayup:sessionManager":     "true",
				"stayup:deletionProtection": "true",
			},
			{"stayup:natGateways": "single", "stayup:zones": "2", "stayup:baseImage": "ami-0123456789abcdef0", "stayup:zoneNames": "eu-west-1a,eu-west-1b"},
		}
	case spec.GCP:
		return []map[string]string{
			{},
			{
				"stayup:domain":       "app.example.com",
				"stayup:sshFromIap":   "true",
				"stayup:allowedCidrs": `["0.0.0.0/0","::/0"]`,
				"stayup:image":        "europe-docker.pkg.dev/stayup-example/apps/app:1.0",
			},
			// An image outside Google's registries: egress through Cloud NAT.
			{"stayup:tlsCertificate": "projects/stayup-example/global/sslCertificates/app", "stayup:image": "ghcr.io/stayup-example/app:1.0",
				"stayup:baseImage": "projects/cos-cloud/global/images/cos-stable-113-18244-85-49", "stayup:zoneNames": "europe-west1-b,europe-west1-c,europe-west1-d"},
		}
	case spec.Azure:
		return []map[string]string{
			{},
			{
				"stayup:image":            "stayupacr.azurecr.io/app:1.0",
				"stayup:registryId":       "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/registry/providers/Microsoft.ContainerRegistry/registries/stayupacr",
				"stayup:tlsCertificate":   "https://stayupvault.vault.azure.net/secrets/app",
				"stayup:tlsIdentity":      "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/tls/providers/Microsoft.ManagedIdentity/userAssignedIdentities/gateway",
				"stayup:domain":           "app.example.com",
				"stayup:encryptionAtHost": "false",
			},
		}
	}
	return nil
}

// Program is what the program registers and calls, over one or more configs.
type Program struct {
	Cloud   spec.Cloud
	Types   []string // resource types, components left out
	Invokes []string // data-source tokens
	// GCPRoles are the project roles the program grants (IAMMember's role).
	GCPRoles []string
	// AzureRoles are the role definition ids (GUIDs) the program assigns.
	AzureRoles []string
}

// Collect runs the program under mocks for each config (overrides on top
// of the cloud's example stack under root) and gathers what it registered.
func Collect(root string, cloud spec.Cloud, overrides []map[string]string) (Program, error) {
	var graphs []*graph.Graph
	for _, o := range overrides {
		stack, cfg, err := plan.Source{Root: root, Cloud: string(cloud), Overrides: o}.Config()
		if err != nil {
			return Program{}, err
		}
		res, err := plan.Run(stack, cfg)
		if err != nil {
			return Program{}, fmt.Errorf("run the %s program with %v: %w", cloud, o, err)
		}
		graphs = append(graphs, res.Graph)
	}
	return FromGraphs(cloud, graphs...), nil
}

// FromGraphs gathers what the graphs hold.
func FromGraphs(cloud spec.Cloud, graphs ...*graph.Graph) Program {
	types, invokes, gcpRoles, azureRoles := map[string]bool{}, map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, g := range graphs {
		for _, r := range g.Resources {
			if strings.HasPrefix(r.Type, "stayup:") {
				continue // components are not cloud resources
			}
			types[r.Type] = true
			switch r.Type {
			case "gcp:projects/iAMMember:IAMMember":
				if role, _ := r.Inputs["role"].(string); role != "" {
					gcpRoles[role] = true
				}
			case "azure-native:authorization:RoleAssignment":
				if id, _ := r.Inputs["roleDefinitionId"].(string); id != "" {
					azureRoles[id[strings.LastIndex(id, "/")+1:]] = true
				}
			}
		}
		for _, tok := range g.Invokes {
			invokes[tok] = true
		}
	}
	return Program{
		Cloud: cloud, Types: slices.Sorted(maps.Keys(types)), Invokes: slices.Sorted(maps.Keys(invokes)),
		GCPRoles: slices.Sorted(maps.Keys(gcpRoles)), AzureRoles: slices.Sorted(maps.Keys(azureRoles)),
	}
}

// table is one cloud's mapping.
type table struct {
	resources, invokes map[string][]string
	stayup, operate    []string
}

func tableOf(cloud spec.Cloud) table {
	switch cloud {
	case spec.AWS:
		return table{awsResources, awsInvokes, awsStayup, awsOperate}
	case spec.GCP:
		return table{gcpResources, gcpInvokes, gcpStayup, gcpOperate}
	case spec.Azure:
		return table{azureResources, azureInvokes, azureStayup, azureOperate}
	}
	return table{}
}

// UncoveredError names what the program registers or calls that the
// cloud's table does not map to actions.
type UncoveredError struct {
	Cloud   spec.Cloud
	Missing []string
}

func (e *UncoveredError) Error() string {
	return fmt.Sprintf("the %s permissions table does not cover %s: add them to internal/permissions/%s.go with their actions and sources",
		e.Cloud, strings.Join(e.Missing, ", "), e.Cloud)
}

// Actions returns the sorted actions a purpose needs for what the program
// registers and calls.
func Actions(p Program, purpose Purpose) ([]string, error) {
	t := tableOf(p.Cloud)
	set := map[string]bool{}
	add := func(actions []string) {
		for _, a := range actions {
			set[a] = true
		}
	}
	if purpose == Operate {
		add(t.operate)
		return slices.Sorted(maps.Keys(set)), nil
	}
	var missing []string
	for _, typ := range p.Types {
		actions, ok := t.resources[typ]
		if !ok {
			missing = append(missing, typ)
		}
		add(actions)
	}
	for _, tok := range p.Invokes {
		actions, ok := t.invokes[tok]
		if !ok {
			missing = append(missing, tok)
		}
		add(actions)
	}
	if len(missing) > 0 {
		return nil, &UncoveredError{Cloud: p.Cloud, Missing: missing}
	}
	add(t.stayup)
	// up waits for the fleet to serve and restores a setting a crashed
	// chaos run held, and destroy cleans up GCP's retained templates, all
	// with the deployer's credentials: so the deployer may read the fleet
	// as status does.
	for _, a := range t.operate {
		if fleetRead(p.Cloud, a) {
			set[a] = true
		}
	}
	return slices.Sorted(maps.Keys(set)), nil
}

// fleetRead reports whether an operate action only reads (or, for the
// Azure gateway's backend health, asks for a report).
func fleetRead(cloud spec.Cloud, action string) bool {
	switch cloud {
	case spec.AWS:
		_, verb, _ := strings.Cut(action, ":")
		return strings.HasPrefix(verb, "Describe") || strings.HasPrefix(verb, "Get") || strings.HasPrefix(verb, "List")
	case spec.GCP:
		return strings.HasSuffix(action, ".get") || strings.HasSuffix(action, ".list")
	case spec.Azure:
		return strings.HasSuffix(action, "/read") || strings.HasSuffix(action, "/backendhealth/action")
	}
	return false
}
