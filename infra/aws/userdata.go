package aws

import (
	_ "embed"
	"text/template"

	"stayup/infra/spec"
)

//go:embed userdata.sh.tmpl
var userDataTemplate string

var userDataTmpl = template.Must(template.New("userdata").Option("missingkey=error").Parse(userDataTemplate))

// UserData renders the boot script that runs the service's container.
func UserData(s spec.Spec, logGroup string) (string, error) {
	extra := map[string]any{"Region": s.Region, "LogGroup": logGroup, "Registry": "", "RegistryRegion": ""}
	if repo, ok := parseECR(s.Image); ok {
		extra["Registry"], extra["RegistryRegion"] = repo.Registry(), repo.Region
	}
	return spec.RenderBoot(userDataTmpl, s, extra)
}
