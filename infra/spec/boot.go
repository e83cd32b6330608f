package spec

import (
	"bytes"
	"maps"
	"text/template"
)

// RenderBoot renders a boot script (user data, cloud-init) from what every
// cloud's script needs — the image, the port and the stop timeouts of the
// drain chain — plus the cloud's own values.
func RenderBoot(tmpl *template.Template, s Spec, extra map[string]any) (string, error) {
	data := map[string]any{
		"Image":           s.Image,
		"Port":            s.Port,
		"StopTimeout":     int(ContainerStopTimeout.Seconds()),
		"UnitStopTimeout": int(SystemdStopTimeout.Seconds()),
	}
	maps.Copy(data, extra)
	var b bytes.Buffer
	if err := tmpl.Execute(&b, data); err != nil {
		return "", err
	}
	return b.String(), nil
}
