package gcp

import (
	"fmt"
	"regexp"
	"strings"

	"stayup/infra/spec"
)

// googleImage is an image in one of Google's registries: an Artifact
// Registry repository (LOCATION-docker.pkg.dev/PROJECT/REPO/...) or a
// gcr.io host, which Artifact Registry now serves from repositories named
// after the host ("Transition from Container Registry": gcr.io and us.gcr.io
// in us, eu.gcr.io in europe, asia.gcr.io in asia).
type googleImage struct {
	// Host is what docker authenticates to, and what the credential helper
	// is configured for.
	Host                          string
	Location, Project, Repository string
}

var (
	gcrRE = regexp.MustCompile(`^((?:us\.|eu\.|asia\.)?gcr\.io)/([a-z][a-z0-9-]{4,28}[a-z0-9])/`)
	// gcrLocations are where each gcr.io host's repository lives.
	gcrLocations = map[string]string{"gcr.io": "us", "us.gcr.io": "us", "eu.gcr.io": "europe", "asia.gcr.io": "asia"}
)

// parseGoogleImage says whether the image is in a Google registry, and
// which repository holds it.
func parseGoogleImage(image string) (googleImage, bool) {
	if repo, ok := parseArtifactRegistry(image); ok {
		return googleImage{Host: repo.Registry(), Location: repo.Location, Project: repo.Project, Repository: repo.Repository}, true
	}
	if m := gcrRE.FindStringSubmatch(image); m != nil {
		return googleImage{Host: m[1], Location: gcrLocations[m[1]], Project: m[2], Repository: m[1]}, true
	}
	return googleImage{}, false
}

// InGoogleRegistry says whether the image is pulled from a Google registry
// (Artifact Registry or gcr.io), which the instances reach as a Google API
// through Private Google Access, so without any internet egress.
func InGoogleRegistry(image string) bool {
	host, _, _ := strings.Cut(image, "/")
	return strings.HasSuffix(host, "-docker.pkg.dev") || host == "gcr.io" || strings.HasSuffix(host, ".gcr.io")
}

// grantsPull says whether the stack grants its instances reader on the
// image's repository: only when the repository is in the stack's project,
// where the deployer may set its IAM policy.
func (g googleImage) grantsPull(s spec.Spec) bool { return g.Project == s.Project }

// PullNotes say what a deployment of s needs outside the stack for its
// instances to pull the image: reader on a repository in another project,
// which the stack cannot grant. The default image is public and needs none.
func PullNotes(s spec.Spec, serviceAccount string) []string {
	g, ok := parseGoogleImage(s.Image)
	if s.Image == spec.DefaultImage || !ok || g.grantsPull(s) {
		return nil
	}
	return []string{fmt.Sprintf("the image is in project %s, outside the stack: unless its repository is public, the instances can pull it only after "+
		"`gcloud artifacts repositories add-iam-policy-binding %s --project %s --location %s --member serviceAccount:%s --role roles/artifactregistry.reader` "+
		"(run by someone who administers that repository); without it no instance turns healthy",
		g.Project, g.Repository, g.Project, g.Location, serviceAccount)}
}

// ServiceAccountEmail is the instances' service account, as the stack
// names it (the account id is the stack's).
func ServiceAccountEmail(stack, project string) string {
	return fmt.Sprintf("%s@%s.iam.gserviceaccount.com", resourceName("stayup-"+stack, 30), project)
}
