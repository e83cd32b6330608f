package gcp

import (
	_ "embed"
	"text/template"

	"stayup/infra/spec"
)

//go:embed cloud-init.yaml.tmpl
var cloudInitTemplate string

var cloudInitTmpl = template.Must(template.New("cloud-init").Option("missingkey=error").Parse(cloudInitTemplate))

// CloudInit renders the cloud-config that runs the service's container.
func CloudInit(s spec.Spec) (string, error) {
	registry := ""
	// Credentials only for this project's own registry, where the service
	// account was granted reader; public images need none.
	if repo, ok := parseArtifactRegistry(s.Image); ok && repo.Project == s.Project {
		registry = repo.Registry()
	}
	return spec.RenderBoot(cloudInitTmpl, s, map[string]any{"Registry": registry})
}
