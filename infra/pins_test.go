package infra

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"stayup/internal/graph"
	"stayup/internal/project"
)

// What the instances boot, per cloud: the resource and the input path of
// the OS image, and the resource that holds the zones.
var pinned = map[string]struct {
	image, zones     string
	imagePath        []string
	zonesKey         string
	pin, otherRegion string
}{
	"aws": {
		image: "aws:ec2/launchTemplate:LaunchTemplate", imagePath: []string{"imageId"},
		zones: "aws:ec2/subnet:Subnet", zonesKey: "availabilityZone",
		pin: "ami-0123456789abcdef0",
	},
	"gcp": {
		image: "gcp:compute/instanceTemplate:InstanceTemplate", imagePath: []string{"disks", "0", "sourceImage"},
		zones: "gcp:compute/regionInstanceGroupManager:RegionInstanceGroupManager", zonesKey: "distributionPolicyZones",
		pin: "projects/cos-cloud/global/images/cos-stable-113-18244-85-49",
	},
	"azure": {
		image: "azure-native:compute:VirtualMachineScaleSet", imagePath: []string{"virtualMachineProfile", "storageProfile", "imageReference", "version"},
		zones: "azure-native:compute:VirtualMachineScaleSet", zonesKey: "zones",
		pin: "24.04.202409120",
	},
}

// shipped is an example stack's config as stacks/ holds it, with extra
// keys; the Azure SSH key stands in for the one up generates.
func shipped(t *testing.T, cloud string, kv ...string) map[string]string {
	t.Helper()
	root, err := project.Root(".")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := project.StackConfig(root, cloud)
	if err != nil {
		t.Fatal(err)
	}
	if cloud == "azure" {
		cfg["stayup:sshPublicKey"] = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPinsTestKey stayup"
	}
	for i := 0; i+1 < len(kv); i += 2 {
		cfg[kv[i]] = kv[i+1]
	}
	return cfg
}

func build(t *testing.T, cfg map[string]string) *graph.Graph {
	t.Helper()
	g, err := graph.Record("stayup", "test", cfg, Build)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func dig(v any, path ...string) any {
	for _, p := range path {
		switch x := v.(type) {
		case map[string]any:
			v = x[p]
		case []any:
			if p != "0" || len(x) == 0 {
				return nil
			}
			v = x[0]
		default:
			return nil
		}
	}
	return v
}

func one(t *testing.T, g *graph.Graph, typ string) *graph.Resource {
	t.Helper()
	rs := g.ByType(typ)
	if len(rs) != 1 {
		t.Fatalf("%d resources of type %s, want 1", len(rs), typ)
	}
	return rs[0]
}

func zonesOf(t *testing.T, g *graph.Graph, cloud string) []string {
	t.Helper()
	p := pinned[cloud]
	var zones []string
	for _, r := range g.ByType(p.zones) {
		switch v := r.Inputs[p.zonesKey].(type) {
		case string:
			if !strings.Contains(r.Name, "public") && !slicesContains(zones, v) {
				zones = append(zones, v)
			}
		case []any:
			for _, z := range v {
				zones = append(zones, z.(string))
			}
		}
	}
	return zones
}

func slicesContains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func pinConfig(g *graph.Graph) (string, string) {
	zones, _ := json.Marshal(g.Outputs["zones"])
	img, _ := g.Outputs["baseImage"].(string)
	return img, string(zones)
}

// The second up of an unchanged stack: what the first resolved is pinned
// (as stayup up stores it), and the newest image is now another one. The
// image and the fleet's zones must not change.
func TestSecondUpKeepsTheResolvedImageAndZones(t *testing.T) {
	for _, cloud := range []string{"aws", "gcp", "azure"} {
		t.Run(cloud, func(t *testing.T) {
			p := pinned[cloud]
			first := build(t, shipped(t, cloud))
			img, zones := pinConfig(first)
			if img == "" || zones == "null" {
				t.Fatalf("outputs baseImage %q, zones %s: stayup up has nothing to pin", img, zones)
			}
			if got := dig(one(t, first, p.image).Inputs, p.imagePath...); got != img {
				t.Errorf("the fleet boots %v, the baseImage output says %q", got, img)
			}
			second := build(t, shipped(t, cloud, "stayup:baseImage", img, "stayup:zoneNames", zones,
				graph.MockImageRelease, "a newer release", graph.MockDownZones, first.Outputs["zones"].([]any)[1].(string)))
			a, b := one(t, first, p.image).Inputs, one(t, second, p.image).Inputs
			if !reflect.DeepEqual(a, b) {
				t.Errorf("the pinned second up changes %s:\nfirst  %v\nsecond %v", p.image, dig(a, p.imagePath...), dig(b, p.imagePath...))
			}
			if za, zb := zonesOf(t, first, cloud), zonesOf(t, second, cloud); !reflect.DeepEqual(za, zb) || len(za) != 3 {
				t.Errorf("zones %v, then %v with one reported down: want the same three", za, zb)
			}
			if cloud != "azure" {
				// Without the pin the newer release would have moved it.
				floating := build(t, shipped(t, cloud, graph.MockImageRelease, "a newer release"))
				if dig(one(t, floating, p.image).Inputs, p.imagePath...) == img {
					t.Fatalf("the mocks' newer release answers the same image: this test proves nothing")
				}
			}
		})
	}
}

// A GCP pin given as a self-link of any API version is kept in the
// relative form the provider's state holds.
func TestGCPSelfLinkPinIsRelative(t *testing.T) {
	for _, link := range []string{
		"https://www.googleapis.com/compute/v1/" + pinned["gcp"].pin,
		"https://www.googleapis.com/compute/beta/" + pinned["gcp"].pin,
	} {
		g := build(t, shipped(t, "gcp", "stayup:baseImage", link))
		if got := dig(one(t, g, pinned["gcp"].image).Inputs, pinned["gcp"].imagePath...); got != pinned["gcp"].pin {
			t.Errorf("%s: the template names %v, want %s", link, got, pinned["gcp"].pin)
		}
	}
}

// A pinned image is what the fleet boots, whatever the newest is, and the
// plan's outputs say so.
func TestPinnedBaseImageIsUsed(t *testing.T) {
	for _, cloud := range []string{"aws", "gcp", "azure"} {
		t.Run(cloud, func(t *testing.T) {
			p := pinned[cloud]
			g := build(t, shipped(t, cloud, "stayup:baseImage", p.pin))
			if got := dig(one(t, g, p.image).Inputs, p.imagePath...); got != p.pin {
				t.Errorf("the fleet boots %v, want the pinned %s", got, p.pin)
			}
			if got := g.Outputs["baseImage"]; got != p.pin {
				t.Errorf("output baseImage %v, want %s", got, p.pin)
			}
		})
	}
}

// An AMI is regional and of one architecture: a pin that cannot boot the
// stack (another region's, or x86 for a Graviton type) is re-resolved.
func TestUnbootableAMIPinIsReresolved(t *testing.T) {
	latest := func(kv ...string) string {
		img, _ := pinConfig(build(t, shipped(t, "aws", kv...)))
		return img
	}
	x86, arm := latest(), latest("stayup:instanceType", "t4g.small")
	if x86 == arm {
		t.Fatalf("the mocks answer one AMI for both architectures")
	}
	for _, tc := range []struct {
		name string
		kv   []string
		want string
	}{
		{"another region's AMI", []string{"stayup:baseImage", graph.MissingAMI}, x86},
		{"x86 AMI on t4g", []string{"stayup:baseImage", x86, "stayup:instanceType", "t4g.small"}, arm},
		{"arm AMI on t4g stays", []string{"stayup:baseImage", arm, "stayup:instanceType", "t4g.small"}, arm},
	} {
		if got := latest(tc.kv...); got != tc.want {
			t.Errorf("%s: boots %s, want %s", tc.name, got, tc.want)
		}
	}
}

// A zone reported DOWN during an incident must not fail or move a pinned
// stack; the same outage fails an unpinned one that asked for three zones
// of a three-zone region, which is why up pins them.
func TestZoneDownChangesNothingOnAPinnedStack(t *testing.T) {
	first := build(t, shipped(t, "gcp"))
	zones := first.Outputs["zones"].([]any)
	down := zones[0].(string)
	if _, err := graph.Record("stayup", "test", shipped(t, "gcp", graph.MockDownZones, down), Build); err == nil || !strings.Contains(err.Error(), "stayup:zones = 3") {
		t.Errorf("unpinned, three zones asked of a three-zone region with one down: %v, want the zones refused", err)
	}
	_, pinnedZones := pinConfig(first)
	g := build(t, shipped(t, "gcp", "stayup:zoneNames", pinnedZones, graph.MockDownZones, down))
	if got, want := zonesOf(t, g, "gcp"), zonesOf(t, first, "gcp"); !reflect.DeepEqual(got, want) {
		t.Errorf("zones %v with %s down, want %v", got, down, want)
	}
}
