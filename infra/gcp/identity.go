package gcp

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/artifactregistry"
	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/projects"
	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/serviceaccount"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"stayup/infra/spec"
)

// instanceRoles are all the project roles the instances hold: writing
// their container's logs, which COS's logging agent ships from journald.
// No metric writer: the monitoring agent stays off, since the autoscaler's
// CPU utilisation is measured by Compute Engine from outside the VM, so
// nothing on the instance writes metrics.
var instanceRoles = []string{"roles/logging.logWriter"}

// Identity is the instances' own service account (never the default
// compute account, which holds Editor) and its grants.
type Identity struct {
	pulumi.ResourceState

	Account *serviceaccount.Account
}

func newIdentity(ctx *pulumi.Context, name string, s spec.Spec, opts ...pulumi.ResourceOption) (*Identity, error) {
	id := &Identity{}
	if err := ctx.RegisterComponentResource("stayup:gcp:Identity", name, id, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(id)

	var err error
	id.Account, err = serviceaccount.NewAccount(ctx, name, &serviceaccount.AccountArgs{
		Project:     pulumi.String(s.Project),
		AccountId:   pulumi.String(accountID(ctx)),
		DisplayName: pulumi.String(fmt.Sprintf("stayup instances (%s)", ctx.Stack())),
		Description: pulumi.String("runs the stayup containers: writes their logs, pulls its own image"),
	}, parent)
	if err != nil {
		return nil, err
	}
	member := pulumi.Sprintf("serviceAccount:%s", id.Account.Email)
	for _, role := range instanceRoles {
		if _, err := projects.NewIAMMember(ctx, fmt.Sprintf("%s-%s", name, roleSuffix(role)), &projects.IAMMemberArgs{
			Project: pulumi.String(s.Project),
			Role:    pulumi.String(role),
			Member:  member,
		}, parent, pulumi.Aliases([]pulumi.Alias{{Name: pulumi.String(fmt.Sprintf("%s-%s", name, oldRoleSuffix(role)))}})); err != nil {
			return nil, err
		}
	}
	// Reader on the one repository the image lives in, when it is in this
	// project's Artifact Registry (gcr.io included); a public image needs
	// no grant, and another project's repository is not the stack's to
	// grant on (PullNotes says what to run).
	if repo, ok := parseGoogleImage(s.Image); ok && repo.grantsPull(s) {
		if _, err := artifactregistry.NewRepositoryIamMember(ctx, name+"-pull", &artifactregistry.RepositoryIamMemberArgs{
			Project:    pulumi.String(repo.Project),
			Location:   pulumi.String(repo.Location),
			Repository: pulumi.String(repo.Repository),
			Role:       pulumi.String("roles/artifactregistry.reader"),
			Member:     member,
		}, parent); err != nil {
			return nil, err
		}
	}
	return id, ctx.RegisterResourceOutputs(id, pulumi.Map{"email": id.Account.Email})
}

// accountID is the service account's id: 6-30 characters, per stack.
func accountID(ctx *pulumi.Context) string {
	return resourceName("stayup-"+ctx.Stack(), 30)
}

var roleSuffixRE = regexp.MustCompile(`[^a-z0-9]+`)

// roleSuffix names a grant's resource after its role, whole:
// roles/logging.logWriter gives logging-logwriter.
func roleSuffix(role string) string {
	return roleSuffixRE.ReplaceAllString(strings.ToLower(strings.TrimPrefix(role, "roles/")), "-")
}

// oldRoleSuffix is the name earlier versions gave a grant, which dropped
// the role's capitals (logging-log-riter); the grant keeps its place in a
// deployed stack's state under it, through an alias, instead of being
// removed and granted again.
func oldRoleSuffix(role string) string {
	return roleSuffixRE.ReplaceAllString(strings.TrimPrefix(role, "roles/"), "-")
}

// arRepo is an image in Artifact Registry.
type arRepo struct {
	Location, Project, Repository string
}

var arRE = regexp.MustCompile(`^([a-z0-9-]+)-docker\.pkg\.dev/([a-z][a-z0-9-]{4,28}[a-z0-9])/([a-z0-9._-]+)/`)

func parseArtifactRegistry(image string) (arRepo, bool) {
	m := arRE.FindStringSubmatch(image)
	if m == nil {
		return arRepo{}, false
	}
	return arRepo{Location: m[1], Project: m[2], Repository: m[3]}, true
}

// Registry is the host docker authenticates to.
func (r arRepo) Registry() string { return r.Location + "-docker.pkg.dev" }
