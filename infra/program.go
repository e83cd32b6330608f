// Package infra is the Pulumi program: it reads the stack's config into a
// Spec and deploys it with the chosen cloud's component.
package infra

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"

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
