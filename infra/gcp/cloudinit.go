package gcp

import (
	"bytes"
	_ "embed"
	"text/template"

	"stayup/infra/spec"
)

//go:embed cloud-init.yaml.tmpl
var cloudInitTemplate string

var cloudInitTmpl = template.Must(template.New("cloud-init").Option("missingkey=error").Parse(cloudInitTemplate))

// CloudInit renders the cloud-config that runs the service's container.
func CloudInit(s spec.Spec) (string, error) {
	data := map[string]any{
		"Image":           s.Image,
		"Port":            s.Port,
		"StopTimeout":     int(spec.ContainerStopTimeout.Seconds()),
		"UnitStopTimeout": int(spec.SystemdStopTimeout.Seconds()),
		"Registry":        "",
	}
	// Credentials only for this project's own registry, where the service
	// account was granted reader; public images need none.
	if repo, ok := parseArtifactRegistry(s.Image); ok && repo.Project == s.Project {
		data["Registry"] = repo.Registry()
	}
	var b bytes.Buffer
	if err := cloudInitTmpl.Execute(&b, data); err != nil {
		return "", err
	}
	return b.String(), nil
}
