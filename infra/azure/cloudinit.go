package azure

import (
	_ "embed"
	"strings"
	"text/template"

	"stayup/infra/spec"
)

//go:embed cloud-init.yaml.tmpl
var cloudInitTemplate string

var cloudInitTmpl = template.Must(template.New("cloud-init").Option("missingkey=error").Parse(cloudInitTemplate))

// CloudInit renders the cloud-config that runs the service's container.
func CloudInit(s spec.Spec) (string, error) {
	return spec.RenderBoot(cloudInitTmpl, s, map[string]any{"Registry": acrRegistry(s.Image)})
}

// acrRegistry is the registry host of an image in Azure Container
// Registry, or empty.
func acrRegistry(image string) string {
	host, _, ok := strings.Cut(image, "/")
	if ok && strings.HasSuffix(host, ".azurecr.io") {
		return host
	}
	return ""
}
