package stackops

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// An export with the resources that name the OS image, as `pulumi stack
// export` prints them (inputs as the program set them).
func exportOf(t *testing.T, resources ...map[string]any) json.RawMessage {
	t.Helper()
	all := []map[string]any{{"urn": "urn:pulumi:s::stayup::pulumi:pulumi:Stack::stayup-s", "type": "pulumi:pulumi:Stack"}}
	for i, r := range resources {
		r["urn"] = "urn:pulumi:s::stayup::" + r["type"].(string) + "::r" + string(rune('0'+i))
		r["custom"] = true
		all = append(all, r)
	}
	b, err := json.Marshal(map[string]any{"version": 3, "deployment": map[string]any{"resources": all}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A stack deployed before stayup pinned: the image comes from what its
// state says the fleet boots, in the form the state holds it, and the
// zones from its zones output, in order.
func TestDeployedPins(t *testing.T) {
	t.Parallel()
	zones := map[string]any{"zones": []any{"europe-west1-c", "europe-west1-b", "europe-west1-d"}}
	// The state of a stack deployed before stayup pinned: the image lookup's
	// beta self-link, as the program passed it.
	link := "https://www.googleapis.com/compute/beta/projects/cos-cloud/global/images/cos-stable-113-18244-85-49"
	rel := "projects/cos-cloud/global/images/cos-stable-113-18244-85-49"
	for _, tc := range []struct {
		cloud   string
		outputs map[string]any
		export  json.RawMessage
		want    Pins
		err     string
	}{
		{"aws", map[string]any{"zones": []any{"eu-west-1a", "eu-west-1b"}}, exportOf(t,
			map[string]any{"type": "aws:ec2/launchTemplate:LaunchTemplate", "inputs": map[string]any{"imageId": "ami-0123456789abcdef0"}}),
			Pins{"ami-0123456789abcdef0", []string{"eu-west-1a", "eu-west-1b"}}, ""},
		{"gcp", zones, exportOf(t,
			map[string]any{"type": "gcp:compute/instanceTemplate:InstanceTemplate", "inputs": map[string]any{"disks": []any{map[string]any{"sourceImage": link}}}}),
			Pins{rel, []string{"europe-west1-c", "europe-west1-b", "europe-west1-d"}}, ""},
		{"azure", map[string]any{"zones": []any{"1", "2", "3"}}, exportOf(t,
			map[string]any{"type": "azure-native:compute:VirtualMachineScaleSet", "inputs": map[string]any{"virtualMachineProfile": map[string]any{"storageProfile": map[string]any{"imageReference": map[string]any{"version": "latest"}}}}}),
			Pins{"latest", []string{"1", "2", "3"}}, ""},
		// The output wins: no export needed.
		{"aws", map[string]any{"baseImage": "ami-0aaaaaaaaaaaaaaaa"}, nil, Pins{BaseImage: "ami-0aaaaaaaaaaaaaaaa"}, ""},
		{"gcp", zones, exportOf(t,
			map[string]any{"type": "gcp:compute/instanceTemplate:InstanceTemplate", "inputs": map[string]any{"disks": []any{map[string]any{"sourceImage": link}}}},
			map[string]any{"type": "gcp:compute/instanceTemplate:InstanceTemplate", "inputs": map[string]any{"disks": []any{map[string]any{"sourceImage": link + "-new"}}}}),
			Pins{Zones: []string{"europe-west1-c", "europe-west1-b", "europe-west1-d"}}, "names 2 OS images"},
	} {
		got, err := DeployedPins(tc.cloud, tc.outputs, tc.export)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: %v, want an error saying %q", tc.cloud, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %+v, %v; want %+v", tc.cloud, got, err, tc.want)
		}
	}
}

func TestZoneChangeRefused(t *testing.T) {
	t.Parallel()
	deployed := []string{"europe-west1-b", "europe-west1-c", "europe-west1-d"}
	if err := ZoneChange("gcp", deployed, deployed); err != nil {
		t.Errorf("unchanged zones: %v", err)
	}
	if err := ZoneChange("gcp", nil, deployed); err != nil {
		t.Errorf("not deployed: %v", err)
	}
	err := ZoneChange("gcp", deployed, []string{"europe-west1-b", "europe-west1-c"})
	if err == nil || !strings.Contains(err.Error(), "new, empty one") || !strings.Contains(err.Error(), "set stayup:zoneNames back to europe-west1-b,europe-west1-c,europe-west1-d") {
		t.Errorf("a zone dropped on GCP: %v, want a refusal with the reason and the way back", err)
	}
}

func TestNewerVersion(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"24.04.202409120", "24.04.202408290", true},
		{"24.04.202408290", "24.04.202409120", false},
		{"24.04.202409120", "", true},
		{"24.10.1", "24.04.202409120", true},
		{"24.04.202409120", "24.04.202409120", false},
	} {
		if got := newerVersion(tc.a, tc.b); got != tc.want {
			t.Errorf("newerVersion(%q, %q) = %v", tc.a, tc.b, got)
		}
	}
}

// A stack deployed before the HTTPS phase existed already redirects: the
// seed keeps it so; one deployed since says so in its fleet output.
func TestDeployedRedirect(t *testing.T) {
	t.Parallel()
	redirecting := exportOf(t,
		map[string]any{"type": "gcp:compute/uRLMap:URLMap", "inputs": map[string]any{"defaultService": "be"}},
		map[string]any{"type": "gcp:compute/uRLMap:URLMap", "inputs": map[string]any{"defaultUrlRedirect": map[string]any{"httpsRedirect": true}}})
	serving := exportOf(t, map[string]any{"type": "gcp:compute/uRLMap:URLMap", "inputs": map[string]any{"defaultService": "be"}})
	for _, tc := range []struct {
		name    string
		outputs map[string]any
		export  json.RawMessage
		want    bool
	}{
		{"old stack that redirects", map[string]any{"fleet": map[string]any{}}, redirecting, true},
		{"old stack that serves", map[string]any{"fleet": map[string]any{}}, serving, false},
		{"output says", map[string]any{"fleet": map[string]any{"httpsRedirect": true}}, nil, true},
		{"output wins over the state", map[string]any{"fleet": map[string]any{"httpsRedirect": false}}, redirecting, false},
	} {
		got, err := DeployedRedirect(tc.outputs, tc.export)
		if err != nil || got != tc.want {
			t.Errorf("%s: %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}
}
