package stackops

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"stayup/infra/spec"
	"stayup/internal/graph"
)

// The config keys that pin what a deployed fleet runs on. An up resolves
// them once, on a stack's first deploy, and stayup keeps them in the
// stack's file, so a later up (a config change, a rollout, its rollback)
// never moves the fleet to a new OS or to other zones behind the user's
// back.
const (
	BaseImageKey = "stayup:baseImage"
	ZoneNamesKey = "stayup:zoneNames"
	// HTTPSRedirectKey is the HTTPS cutover's phase on GCP with a
	// Google-managed certificate: false while it provisions (HTTP serves),
	// true once it is ACTIVE (HTTP redirects). Seeded from what a deployed
	// stack does, set by stayup up when it sees the certificate ACTIVE.
	HTTPSRedirectKey = "stayup:httpsRedirect"
)

// Pins are what a stack runs on: its OS image, in the form
// stayup:baseImage takes, and its zones in the order the program used
// them (subnets and their address ranges follow that order).
type Pins struct {
	BaseImage string
	Zones     []string
}

// ZoneText is the zones as stayup:zoneNames holds them.
func (p Pins) ZoneText() string { return strings.Join(p.Zones, ",") }

// Where each cloud's deployed state holds the OS image, for stacks
// deployed before the program exported it: the resource type and the
// input path, as the program set it (so pinning it is no change).
var imageInState = map[string]struct{ typ, path string }{
	"aws":   {"aws:ec2/launchTemplate:LaunchTemplate", "imageId"},
	"gcp":   {"gcp:compute/instanceTemplate:InstanceTemplate", "disks.0.sourceImage"},
	"azure": {"azure-native:compute:VirtualMachineScaleSet", "virtualMachineProfile.storageProfile.imageReference.version"},
}

// DeployedPins reads what a deployed stack runs on: the baseImage and
// zones outputs, and for a stack deployed before there was a baseImage
// output, the image its launch template, instance template or scale set
// model names in the state. Empty fields: not deployed, or not found.
func DeployedPins(cloud string, outputs map[string]any, export json.RawMessage) (Pins, error) {
	var p Pins
	p.BaseImage, _ = outputs["baseImage"].(string)
	if zs, ok := outputs["zones"].([]any); ok {
		for _, z := range zs {
			if s, ok := z.(string); ok && s != "" {
				p.Zones = append(p.Zones, s)
			}
		}
	}
	where, ok := imageInState[cloud]
	if p.BaseImage != "" || !ok || len(export) == 0 {
		return p, nil
	}
	g, err := graph.FromExport(export)
	if err != nil {
		return p, fmt.Errorf("read the deployed state: %w", err)
	}
	var images []string
	for _, r := range g.ByType(where.typ) {
		if v := r.Str(where.path); v != "" && !slices.Contains(images, v) {
			images = append(images, v)
		}
	}
	if cloud == "gcp" {
		for i := range images {
			images[i] = spec.GCPImagePath(images[i])
		}
		images = slices.Compact(images)
	}
	switch len(images) {
	case 0:
	case 1:
		p.BaseImage = images[0]
	default:
		// Two templates in the state: an up stopped between creating the
		// new one and deleting the old. Which one the group runs is not in
		// the state's inputs; let the next up resolve and say so.
		return p, fmt.Errorf("the deployed state names %d OS images (%s): set %s to the one the fleet runs", len(images), strings.Join(images, ", "), BaseImageKey)
	}
	return p, nil
}

// PinChange is one pin written to the stack's config, and why.
type PinChange struct {
	Key, Value, Why string
}

func (c PinChange) String() string { return fmt.Sprintf("set %s = %s (%s)", c.Key, c.Value, c.Why) }

// SeedPins fills the pins the stack's config lacks from what is deployed,
// before an up: a stack deployed by a stayup that did not pin keeps what it
// runs instead of moving to the newest image or to the zones a region
// reports up today. A stack never deployed gets nothing here: its first up
// resolves them, and StorePins keeps what it resolved. It never overwrites
// a pin the config has: that is the user's.
func (s *Stack) SeedPins(ctx context.Context, cloud string) ([]PinChange, error) {
	cfg, err := s.Config(ctx)
	if err != nil {
		return nil, err
	}
	_, hasImage := cfg[BaseImageKey]
	_, hasZones := cfg[ZoneNamesKey]
	_, hasRedirect := cfg[HTTPSRedirectKey]
	phased := cloud == "gcp" && cfg[spec.Key("domain")].Value != "" && cfg[spec.Key("tlsCertificate")].Value == ""
	needRedirect := phased && !hasRedirect
	if hasImage && hasZones && !needRedirect {
		return nil, nil
	}
	out, err := s.Outputs(ctx)
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, nil
	}
	var export json.RawMessage
	fo, _ := out["fleet"].(map[string]any)
	_, redirectOut := fo["httpsRedirect"].(bool)
	if (!hasImage && out["baseImage"] == nil) || (needRedirect && !redirectOut) {
		if export, err = s.Export(ctx); err != nil {
			return nil, err
		}
	}
	p, err := DeployedPins(cloud, out, export)
	if err != nil {
		return nil, err
	}
	set, err := s.setPins(ctx, p, !hasImage, !hasZones, "what the deployed fleet runs")
	if err != nil || !needRedirect {
		return set, err
	}
	redirect, err := DeployedRedirect(out, export)
	if err != nil {
		return set, err
	}
	// A stack deployed before the phase existed redirects already: it
	// keeps doing so, rather than serving HTTP again behind the user's back.
	v := fmt.Sprint(redirect)
	if err := s.SetConfig(ctx, HTTPSRedirectKey, v, false); err != nil {
		return set, err
	}
	return append(set, PinChange{HTTPSRedirectKey, v, "what the deployed load balancer does with HTTP"}), nil
}

// DeployedRedirect says whether a deployed GCP stack's HTTP redirects to
// HTTPS: its fleet output's httpsRedirect, or, for a stack deployed before
// that output, whether its state has a URL map that redirects.
func DeployedRedirect(outputs map[string]any, export json.RawMessage) (bool, error) {
	fo, _ := outputs["fleet"].(map[string]any)
	if b, ok := fo["httpsRedirect"].(bool); ok {
		return b, nil
	}
	if len(export) == 0 {
		return false, nil
	}
	g, err := graph.FromExport(export)
	if err != nil {
		return false, fmt.Errorf("read the deployed state: %w", err)
	}
	for _, m := range g.ByType("gcp:compute/uRLMap:URLMap") {
		if b, _ := m.Bool("defaultUrlRedirect.httpsRedirect"); b {
			return true, nil
		}
	}
	return false, nil
}

// StorePins keeps what an up resolved: the outputs' baseImage and zones,
// where the config has none, and the baseImage where the program had to
// re-resolve a pin that could not boot the stack (its output then differs
// from the config, and the program said why).
func (s *Stack) StorePins(ctx context.Context, cloud string, outputs map[string]any) ([]PinChange, error) {
	cfg, err := s.Config(ctx)
	if err != nil {
		return nil, err
	}
	p, err := DeployedPins(cloud, outputs, nil)
	if err != nil {
		return nil, err
	}
	image := cfg[BaseImageKey].Value
	_, hasZones := cfg[ZoneNamesKey]
	why := "resolved by this up"
	if image != "" && p.BaseImage != "" && image != p.BaseImage {
		why = "re-resolved by this up: the pinned " + image + " could not boot the stack"
	}
	return s.setPins(ctx, p, p.BaseImage != image, !hasZones, why)
}

func (s *Stack) setPins(ctx context.Context, p Pins, image, zones bool, why string) ([]PinChange, error) {
	var set []PinChange
	if image && p.BaseImage != "" {
		if err := s.SetConfig(ctx, BaseImageKey, p.BaseImage, false); err != nil {
			return set, err
		}
		set = append(set, PinChange{BaseImageKey, p.BaseImage, why})
	}
	if zones && len(p.Zones) > 0 {
		if err := s.SetConfig(ctx, ZoneNamesKey, p.ZoneText(), false); err != nil {
			return set, err
		}
		set = append(set, PinChange{ZoneNamesKey, p.ZoneText(), why})
	}
	return set, nil
}

// ZoneChange reports a change of the pinned zones on a deployed stack,
// which stayup refuses: on GCP the group's zones cannot change in place
// (the provider replaces the group: a new, empty one, an outage), and on
// AWS and Azure moving instances between zones is a migration to plan, not
// a side effect of an up. The error says what to do instead.
func ZoneChange(cloud string, deployed []string, pinned []string) error {
	if len(deployed) == 0 || len(pinned) == 0 || slices.Equal(deployed, pinned) {
		return nil
	}
	why := map[string]string{
		"gcp":   "a regional managed instance group cannot change its zones in place: the provider would replace it with a new, empty one, an outage",
		"aws":   "new zones mean new subnets, and the group would move instances between them",
		"azure": "a scale set can gain zones but never lose one",
	}
	return fmt.Errorf("%s pins %s, but the stack runs in %s; stayup does not move a running fleet between zones as a side effect of an up (%s). "+
		"To move it, deploy a second stack over the new zones, move traffic to it, then destroy this one; to keep this one, set %s back to %s",
		ZoneNamesKey, strings.Join(pinned, ","), strings.Join(deployed, ","), why[cloud], ZoneNamesKey, strings.Join(deployed, ","))
}
