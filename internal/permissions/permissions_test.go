package permissions

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"stayup/infra/spec"
)

const root = "../.."

var (
	collectOnce sync.Once
	collected   map[spec.Cloud]Program
	collectErr  error
)

// programs runs every cloud's program over its variants once per test binary.
func programs(t *testing.T) map[spec.Cloud]Program {
	t.Helper()
	collectOnce.Do(func() {
		collected = map[spec.Cloud]Program{}
		for _, c := range spec.Clouds {
			p, err := Collect(root, c, Variants(c))
			if err != nil {
				collectErr = err
				return
			}
			collected[c] = p
		}
	})
	if collectErr != nil {
		t.Fatal(collectErr)
	}
	return collected
}

// TestTablesCoverEveryResourceTypeAndLookup fails when the program, in any
// configuration the variants reach, registers a type or calls a lookup the
// cloud's table has no actions for.
func TestTablesCoverEveryResourceTypeAndLookup(t *testing.T) {
	for c, p := range programs(t) {
		if _, err := Actions(p, Deploy); err != nil {
			t.Errorf("%s: %v", c, err)
		}
	}
}

// TestTablesHoldNothingTheProgramDoesNotUse keeps the tables honest the
// other way: an entry no variant reaches is either stale or a variant is missing.
func TestTablesHoldNothingTheProgramDoesNotUse(t *testing.T) {
	for c, p := range programs(t) {
		tb := tableOf(c)
		for typ := range tb.resources {
			if !slices.Contains(p.Types, typ) {
				t.Errorf("%s table maps %s, which no variant registers", c, typ)
			}
		}
		for tok := range tb.invokes {
			if !slices.Contains(p.Invokes, tok) {
				t.Errorf("%s table maps lookup %s, which no variant calls", c, tok)
			}
		}
	}
}

// keysWithoutNewResources are config keys that change settings of
// resources every config has, not which types or lookups exist.
var keysWithoutNewResources = []string{
	"cloud", "port", "readyPath", "healthPath", "minSize", "maxSize", "desiredSize", "instanceType",
	"cpuTarget", "logRetentionDays", "sshPublicKey",
	// The pinned watcher replaces the one the program would create: a
	// type fewer, none new.
	"networkWatcher",
	// The redirect is one more URL map, a type every HTTPS config has.
	"httpsRedirect",
}

// TestVariantsSetEveryOptionalKey fails when the spec gains a key that no
// variant sets, so that a feature behind it cannot add a resource type the
// coverage test never sees.
func TestVariantsSetEveryOptionalKey(t *testing.T) {
	set := map[string]bool{}
	for _, c := range spec.Clouds {
		for _, v := range Variants(c) {
			for k := range v {
				set[strings.TrimPrefix(k, "stayup:")] = true
			}
		}
	}
	for _, k := range spec.Keys {
		if !set[k] && !slices.Contains(keysWithoutNewResources, k) {
			t.Errorf("no variant sets stayup:%s: add one to Variants (or to keysWithoutNewResources if it adds no resource type)", k)
		}
	}
}

// actionRE finds the permission names stayup's own code declares in its
// string literals (permission errors, act* constants).
var actionRE = map[spec.Cloud]*regexp.Regexp{
	spec.AWS:   regexp.MustCompile(`\b(?:ec2|autoscaling|elasticloadbalancing|iam|sts|servicequotas|ssm|s3|logs):[A-Z][A-Za-z]+\b`),
	spec.GCP:   regexp.MustCompile(`\b(?:compute|iam|resourcemanager|serviceusage|artifactregistry)\.[a-z][A-Za-z]*\.[a-z][A-Za-z]*\b`),
	spec.Azure: regexp.MustCompile(`\bMicrosoft\.[A-Za-z]+/[A-Za-z/]+/(?:read|write|delete|action)\b`),
}

// declaredActions reads the non-test Go files under dir and returns every
// permission name a string literal in them holds.
func declaredActions(t *testing.T, dir string, re *regexp.Regexp) []string {
	t.Helper()
	found := map[string]bool{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if s, err := strconv.Unquote(lit.Value); err == nil {
					for _, m := range re.FindAllString(s, -1) {
						if strings.HasSuffix(m, ".googleapis.com") {
							continue // a service's name, not a permission
						}
						found[m] = true
					}
				}
			}
			return true
		})
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return slices.Sorted(maps.Keys(found))
}

// TestOperateCoversEveryCallTheFleetNames fails when internal/fleet/<cloud>
// names a permission (in a permission error or an act* constant) that the
// operate document does not grant.
func TestOperateCoversEveryCallTheFleetNames(t *testing.T) {
	for _, c := range spec.Clouds {
		declared := declaredActions(t, filepath.Join(root, "internal", "fleet", string(c)), actionRE[c])
		if len(declared) == 0 {
			t.Errorf("found no permission names in internal/fleet/%s: has the way it names them changed?", c)
		}
		grants, _ := Actions(Program{Cloud: c}, Operate)
		for _, a := range declared {
			if !slices.Contains(grants, a) {
				t.Errorf("internal/fleet/%s calls %s, which the %s operate document does not grant", c, a, c)
			}
		}
	}
}

// TestDeployCoversStayupsOwnCalls does the same for the calls doctor and
// up make with the deployer's credentials (internal/doctor, internal/stackops).
func TestDeployCoversStayupsOwnCalls(t *testing.T) {
	for _, c := range spec.Clouds {
		tb := tableOf(c)
		for _, dir := range []string{"doctor", "stackops"} {
			for _, a := range declaredActions(t, filepath.Join(root, "internal", dir), actionRE[c]) {
				if !slices.Contains(tb.stayup, a) {
					t.Errorf("internal/%s names %s, which the %s deploy document's stayup calls do not grant", dir, a, c)
				}
			}
		}
	}
}

func TestNoWildcardActions(t *testing.T) {
	for c, p := range programs(t) {
		for _, purpose := range []Purpose{Deploy, Operate} {
			actions, err := Actions(p, purpose)
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range actions {
				if strings.Contains(a, "*") {
					t.Errorf("%s %s grants the wildcard %s", c, purpose, a)
				}
			}
		}
	}
}

func TestAWSPolicyScopesWhatItCan(t *testing.T) {
	d, err := Generate(programs(t)[spec.AWS], Deploy)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]string{}
	for _, s := range d.AWSPolicy.Statement {
		for _, a := range s.Action {
			if prev, dup := seen[a]; dup {
				t.Errorf("%s is in both %s and %s", a, prev, s.Sid)
			}
			seen[a] = s.Sid
		}
	}
	for a, want := range map[string]string{
		"iam:PassRole": "PassOnlyStayupRoles", "iam:CreateRole": "OwnRolesAndProfiles",
		"s3:CreateBucket": "OwnAccessLogBucket", "logs:CreateLogGroup": "OwnLogGroups",
		"ec2:CreateVpc": "IdsNotKnownBeforeCreation",
	} {
		if got := seen[a]; got != want {
			t.Errorf("%s is in statement %q, want %q", a, got, want)
		}
	}
	// The blockers a fresh account met: the access-log bucket and chaos's abrupt kill.
	if !slices.Contains(d.Actions, "s3:PutBucketPolicy") {
		t.Error("deploy lacks s3:PutBucketPolicy, which the access-log bucket needs")
	}
	op, _ := Generate(programs(t)[spec.AWS], Operate)
	if !slices.Contains(op.Actions, "ec2:TerminateInstances") {
		t.Error("operate lacks ec2:TerminateInstances, which chaos --mode abrupt needs")
	}
}

func TestGCPRoleNeedsResourceManagerAndLimitsGrants(t *testing.T) {
	p := programs(t)[spec.GCP]
	d, err := Generate(p, Deploy)
	if err != nil {
		t.Fatal(err)
	}
	for _, api := range []string{"compute.googleapis.com", "iam.googleapis.com", "cloudresourcemanager.googleapis.com", "logging.googleapis.com", "artifactregistry.googleapis.com"} {
		if !slices.Contains(d.GCPAPIs, api) {
			t.Errorf("APIs %v lack %s", d.GCPAPIs, api)
		}
	}
	for _, role := range p.GCPRoles {
		if !strings.Contains(d.GCPGrantCondition, "'"+role+"'") {
			t.Errorf("grant condition %q does not name %s", d.GCPGrantCondition, role)
		}
	}
	if len(p.GCPRoles) == 0 {
		t.Error("found no roles the program grants")
	}
}

func TestGCPRoleLeavesOutWhatCustomRolesCannotHold(t *testing.T) {
	gcpNotSupported["compute.zones.list"] = "roles/compute.viewer (assumed for this test)"
	defer delete(gcpNotSupported, "compute.zones.list")
	d, err := Generate(programs(t)[spec.GCP], Deploy)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(d.GCPRole.IncludedPermissions, "compute.zones.list") {
		t.Error("the custom role holds a permission custom roles cannot")
	}
	if d.GCPNotInRole["compute.zones.list"] == "" || !strings.Contains(strings.Join(d.Notes, "\n"), "compute.zones.list cannot be in a custom role") {
		t.Errorf("what grants it instead is not said: %v %v", d.GCPNotInRole, d.Notes)
	}
}

func TestAzureAssignConditionNamesTheRolesTheProgramAssigns(t *testing.T) {
	p := programs(t)[spec.Azure]
	d, err := Generate(p, Deploy)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.AzureRoles) == 0 {
		t.Fatal("found no role assignments in the variants")
	}
	for _, id := range p.AzureRoles {
		if !strings.Contains(d.AzureAssignCondition, id) {
			t.Errorf("condition %q does not name %s", d.AzureAssignCondition, id)
		}
	}
	if !strings.Contains(strings.Join(d.Apply, "\n"), "--condition-version 2.0") {
		t.Errorf("apply %v does not show the condition on the assignment", d.Apply)
	}
	for _, a := range []string{"Microsoft.Insights/diagnosticSettings/write", "Microsoft.Network/networkWatchers/flowLogs/write"} {
		if !slices.Contains(d.Actions, a) {
			t.Errorf("deploy lacks %s", a)
		}
	}
}

func TestUncoveredTypeIsAnError(t *testing.T) {
	_, err := Actions(Program{Cloud: spec.AWS, Types: []string{"aws:rds/instance:Instance"}}, Deploy)
	if err == nil || !strings.Contains(err.Error(), "aws:rds/instance:Instance") {
		t.Errorf("err = %v, want one naming the uncovered type", err)
	}
}

// up waits for the fleet with the deployer's credentials and destroy lists
// GCP's retained templates: the deploy document reads the fleet as status
// does, and kills nothing.
func TestDeployReadsTheFleet(t *testing.T) {
	for _, tc := range []struct {
		cloud       spec.Cloud
		want, never []string
	}{
		{spec.AWS, []string{"autoscaling:DescribeAutoScalingGroups", "elasticloadbalancing:DescribeTargetHealth", "autoscaling:DescribeInstanceRefreshes"}, []string{"autoscaling:TerminateInstanceInAutoScalingGroup"}},
		{spec.GCP, []string{"compute.instances.get", "compute.backendServices.get", "compute.instanceTemplates.list"}, []string{"compute.instances.reset"}},
		{spec.Azure, []string{"Microsoft.Compute/virtualMachineScaleSets/virtualMachines/read", "Microsoft.Network/applicationGateways/backendhealth/action"}, []string{"Microsoft.Compute/virtualMachineScaleSets/virtualMachines/runCommand/action"}},
	} {
		got, err := Actions(programs(t)[tc.cloud], Deploy)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range tc.want {
			if !slices.Contains(got, a) {
				t.Errorf("%s deploy lacks %s", tc.cloud, a)
			}
		}
		for _, a := range tc.never {
			if slices.Contains(got, a) {
				t.Errorf("%s deploy holds %s, which only chaos needs", tc.cloud, a)
			}
		}
	}
}
