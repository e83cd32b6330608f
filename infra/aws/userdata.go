package aws

import (
	"bytes"
	_ "embed"
	"text/template"

	"stayup/infra/spec"
)

//go:embed userdata.sh.tmpl
var userDataTemplate string

var userDataTmpl = template.Must(template.New("userdata").Option("missingkey=error").Parse(userDataTemplate))

// UserData renders the boot script that runs the service's container.
func UserData(s spec.Spec, logGroup string) (string, error) {
	data := map[string]any{
		"Image":           s.Image,
		"Port":            s.Port,
		"Region":          s.Region,
		"LogGroup":        logGroup,
		"StopTimeout":     int(spec.ContainerStopTimeout.Seconds()),
		"UnitStopTimeout": int(spec.SystemdStopTimeout.Seconds()),
		"Registry":        "",
		"RegistryRegion":  "",
	}
	if repo, ok := parseECR(s.Image); ok {
		data["Registry"], data["RegistryRegion"] = repo.Registry(), repo.Region
	}
	var b bytes.Buffer
	if err := userDataTmpl.Execute(&b, data); err != nil {
		return "", err
	}
	return b.String(), nil
}
