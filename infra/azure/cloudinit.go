package azure

import (
	_ "embed"
	"strings"
	"text/template"
	"time"

	"stayup/infra/spec"
)

//go:embed cloud-init.yaml.tmpl
var cloudInitTemplate string

var cloudInitTmpl = template.Must(template.New("cloud-init").Option("missingkey=error").Parse(cloudInitTemplate))

// CloudInit renders the cloud-config that runs the service's container.
func CloudInit(s spec.Spec) (string, error) {
	return spec.RenderBoot(cloudInitTmpl, s, map[string]any{
		"Registry":      acrRegistry(s.Image),
		"GatewaySubnet": gatewayCIDR,
		"DrainWait":     int(DrainWait.Seconds()),
	})
}

// DrainWait is how long the scheduled-events watcher refuses the gateway's
// new connections before it stops the container: longer than the gateway
// needs to take the VM out of rotation (probe interval x unhealthy
// threshold, 10 s, plus a probe's timeout, 3 s), plus the watcher's own
// poll (5 s: an event naming several VMs starts for all of them when the
// first approves, and the others began their drain up to a poll later),
// plus 5 s for the gateway's instances, which probe each on their own.
// 23 s fits the shortest notice an event gives (Preempt: 30 s).
var DrainWait = spec.HealthCheckInterval*time.Duration(spec.UnhealthyThreshold) + spec.HealthCheckTimeout + watcherPoll + gatewayMargin

const (
	// watcherPoll is how often the watcher reads the scheduled events.
	watcherPoll   = 5 * time.Second
	gatewayMargin = 5 * time.Second
)

// acrRegistry is the registry host of an image in Azure Container
// Registry, or empty.
func acrRegistry(image string) string {
	host, _, ok := strings.Cut(image, "/")
	if ok && strings.HasSuffix(host, ".azurecr.io") {
		return host
	}
	return ""
}
