// Package infra is the Pulumi program: it reads the stack's config into a
// Spec and deploys it with the chosen cloud's component.
package infra

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"stayup/infra/aws"
	"stayup/infra/azure"
	"stayup/infra/gcp"
	"stayup/infra/spec"
)

// Program is what `pulumi up` runs on a stack.
func Program(ctx *pulumi.Context) error {
	// The engine hands the stack's whole config over in PULUMI_CONFIG; a
	// key stayup does not read is a typo that would otherwise be ignored.
	var cfg map[string]string
	if raw := os.Getenv(pulumi.EnvConfig); raw != "" {
		if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
			return fmt.Errorf("read the stack config: %w", err)
		}
	}
	if problems := spec.UnknownKeys(slices.Sorted(maps.Keys(cfg))); len(problems) > 0 {
		return &spec.Error{Problems: problems}
	}
	outputs, err := Build(ctx)
	if err != nil {
		return err
	}
	for k, v := range outputs {
		ctx.Export(k, v)
	}
	// A plain `pulumi up` cannot write config: say what this up resolved
	// that only stayup up pins, so the next one does not move it.
	if s, err := spec.Parse(ctx.GetConfig); err == nil {
		var unpinned []string
		if s.BaseImage == "" {
			unpinned = append(unpinned, "stayup:baseImage (the newest OS image today: the baseImage output)")
		}
		if len(s.ZoneNames) == 0 {
			unpinned = append(unpinned, "stayup:zoneNames (the zones up today: the zones output)")
		}
		if len(unpinned) > 0 {
			_ = ctx.Log.Info("not pinned, resolved by this up: "+strings.Join(unpinned, "; ")+". `stayup up` stores them in the stack's config; after a plain `pulumi up`, set them from the outputs (pulumi config set), or the next up may move the fleet to a newer image or other zones", nil)
		}
	}
	return nil
}

// Build registers the service and returns the stack outputs every cloud
// provides: url, cloud, region, zones, image, baseImage and fleet.
func Build(ctx *pulumi.Context) (pulumi.Map, error) {
	s, err := spec.Parse(ctx.GetConfig)
	if err != nil {
		return nil, err
	}
	var (
		url       pulumi.StringOutput
		zones     []string
		fleet     pulumi.Map
		baseImage string
	)
	switch s.Cloud {
	case spec.AWS:
		svc, err := aws.NewService(ctx, "stayup", s)
		if err != nil {
			return nil, err
		}
		url, zones, fleet, baseImage = svc.URL, svc.Zones, svc.Fleet, svc.BaseImage
	case spec.GCP:
		svc, err := gcp.NewService(ctx, "stayup", s)
		if err != nil {
			return nil, err
		}
		url, zones, fleet, baseImage = svc.URL, svc.Zones, svc.Fleet, svc.BaseImage
	case spec.Azure:
		svc, err := azure.NewService(ctx, "stayup", s)
		if err != nil {
			return nil, err
		}
		url, zones, fleet, baseImage = svc.URL, svc.Zones, svc.Fleet, svc.BaseImage
	default:
		return nil, fmt.Errorf("stayup:cloud = %q: no component deploys it", s.Cloud)
	}
	return pulumi.Map{
		"url":    url,
		"cloud":  pulumi.String(s.Cloud),
		"region": pulumi.String(s.Region),
		"zones":  pulumi.ToStringArray(zones),
		"image":  pulumi.String(s.Image),
		"fleet":  fleet,
		// What the instances boot and where, as stayup up pins them
		// (stayup:baseImage, stayup:zoneNames).
		"baseImage": pulumi.String(baseImage),
	}, nil
}
