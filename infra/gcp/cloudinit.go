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
// Besides the app unit it installs a DOCKER-USER rule that keeps containers
// off the metadata server (tokens, instance attributes), in a unit the app
// unit requires and that docker's restarts re-run.
//
// Assumed, to check on a live run: COS's iptables drives the same backend
// (legacy or nftables) as its dockerd, so the rule lands in the DOCKER-USER
// chain Docker jumps to from FORWARD; and a container needs nothing of the
// metadata server but DNS on port 53.
func CloudInit(s spec.Spec) (string, error) {
	registry := ""
	// The credential helper for any Google registry host, whatever the
	// project: docker then pulls with the instance's service account, which
	// a private repository in another project can grant reader to, and a
	// public one accepts as it accepts anyone.
	if img, ok := parseGoogleImage(s.Image); ok {
		registry = img.Host
	}
	return spec.RenderBoot(cloudInitTmpl, s, map[string]any{"Registry": registry})
}
