package graph

import (
	"os"
	"reflect"
	"testing"
)

// testdata/export.json is a real engine's export (written by
// internal/stackops's TestStackLifecycle with STAYUP_UPDATE_EXPORT=1): a
// service component with a fleet child and a secret output.
func TestFromExportOfTheRealEngine(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("testdata/export.json")
	if err != nil {
		t.Fatal(err)
	}
	g, err := FromExport(data)
	if err != nil {
		t.Fatal(err)
	}
	const (
		svcURN   = "urn:pulumi:dev::stayup::stayup:test:Service::stayup"
		fleetURN = "urn:pulumi:dev::stayup::stayup:test:Service$stayup:test:Fleet::stayup-fleet"
	)
	if len(g.Resources) != 2 {
		t.Fatalf("%d resources, want the service and the fleet: %+v", len(g.Resources), g.Resources)
	}
	svc, fleet := g.ByURN(svcURN), g.ByURN(fleetURN)
	if svc == nil || fleet == nil {
		t.Fatalf("no service or fleet: %+v", g.Resources)
	}
	if svc.Parent != "" || svc.Name != "stayup" || svc.Type != "stayup:test:Service" {
		t.Errorf("service %+v: want a top-level stayup:test:Service named stayup", svc)
	}
	if fleet.Parent != svcURN || fleet.Name != "stayup-fleet" || !reflect.DeepEqual(g.Children(svcURN), []*Resource{fleet}) {
		t.Errorf("fleet %+v: want it under the service", fleet)
	}
	if fleet.Outputs["size"] != "3" {
		t.Errorf("fleet outputs %v, want size 3", fleet.Outputs)
	}
	want := map[string]any{"url": "http://hello.example.test/", "token": SecretPlaceholder}
	if !reflect.DeepEqual(g.Outputs, want) {
		t.Errorf("outputs %v, want %v", g.Outputs, want)
	}
}

func TestFromExport(t *testing.T) {
	t.Parallel()
	const stack = `{"urn":"urn:pulumi:s::p::pulumi:pulumi:Stack::p-s","type":"pulumi:pulumi:Stack","outputs":{"url":"u"}}`
	for _, tc := range []struct {
		name      string
		export    string
		wantURNs  []string
		wantError bool
	}{
		{"default providers and pending deletes are left out", `{"version":3,"deployment":{"resources":[` + stack + `,
			{"urn":"urn:pulumi:s::p::pulumi:providers:aws::default_6_83_4","type":"pulumi:providers:aws","custom":true,"id":"x"},
			{"urn":"urn:pulumi:s::p::pulumi:providers:aws::eu","type":"pulumi:providers:aws","custom":true,"id":"y"},
			{"urn":"urn:pulumi:s::p::aws:ec2/vpc:Vpc::v","type":"aws:ec2/vpc:Vpc","custom":true,"id":"vpc-old","delete":true},
			{"urn":"urn:pulumi:s::p::aws:ec2/vpc:Vpc::v","type":"aws:ec2/vpc:Vpc","custom":true,"id":"vpc-new","inputs":{"cidrBlock":"10.0.0.0/16"}}]}}`,
			[]string{"urn:pulumi:s::p::aws:ec2/vpc:Vpc::v", "urn:pulumi:s::p::pulumi:providers:aws::eu"}, false},
		{"an empty stack", `{"version":3,"deployment":{}}`, nil, false},
		{"an old format", `{"version":1,"deployment":{}}`, nil, true},
		{"not JSON", `{`, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g, err := FromExport([]byte(tc.export))
			if (err != nil) != tc.wantError {
				t.Fatalf("FromExport: %v, want error %v", err, tc.wantError)
			}
			if err != nil {
				return
			}
			var urns []string
			for _, r := range g.Resources {
				urns = append(urns, r.URN)
			}
			if !reflect.DeepEqual(urns, tc.wantURNs) {
				t.Errorf("resources %v, want %v", urns, tc.wantURNs)
			}
			if vpc := g.ByType("aws:ec2/vpc:Vpc"); len(vpc) == 1 && (vpc[0].ID != "vpc-new" || vpc[0].Str("cidrBlock") != "10.0.0.0/16" || g.Ref("vpc-new") != vpc[0]) {
				t.Errorf("vpc %+v: want the live one, its inputs, and found by its id", vpc[0])
			}
		})
	}
}

func TestUnsecret(t *testing.T) {
	t.Parallel()
	sig := "4dabf18193072939515e22adb298388d"
	in := map[string]any{
		"hidden": map[string]any{sig: secretSig, "ciphertext": "v1:abc"},
		"shown":  map[string]any{sig: secretSig, "plaintext": `{"a":[1,"b"]}`},
		"list":   []any{map[string]any{sig: secretSig, "ciphertext": "v1:x"}, "plain"},
	}
	want := map[string]any{
		"hidden": SecretPlaceholder,
		"shown":  map[string]any{"a": []any{1.0, "b"}},
		"list":   []any{SecretPlaceholder, "plain"},
	}
	if got := unsecret(in); !reflect.DeepEqual(got, want) {
		t.Errorf("unsecret = %v, want %v", got, want)
	}
}
