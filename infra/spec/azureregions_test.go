package spec

import (
	"errors"
	"strings"
	"testing"
)

// A region without zones is refused offline, naming the provider's key and
// the zonal regions nearest it; one the table does not know is refused
// unless the stack pins its zones; zonal ones pass.
func TestAzureRegionsWithoutZonesAreRefused(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		region, zoneNames string
		want              []string // empty: accepted
	}{
		{"westeurope", "", nil},
		{"swedencentral", "", nil},
		{"westus", "", []string{"azure-native:location", "westus", "no availability zones", "westus2 or westus3", AzureZonesAsOf}},
		{"ukwest", "", []string{"uksouth"}},
		{"ukwest", "1,2", []string{"no availability zones"}},
		{"marsnorth", "", []string{"azure-native:location", "not a region with availability zones", "stayup doctor", "stayup:zoneNames"}},
		{"marsnorth", "1,2,3", nil},
	} {
		t.Run(tc.region+"/"+tc.zoneNames, func(t *testing.T) {
			t.Parallel()
			m := map[string]string{"stayup:cloud": "azure", "azure-native:location": tc.region}
			if tc.zoneNames != "" {
				m["stayup:zoneNames"] = tc.zoneNames
			}
			_, err := Parse(MapLookup(m))
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var cerr *Error
			if !errors.As(err, &cerr) || len(cerr.Problems) != 1 || cerr.Problems[0].Key != "azure-native:location" {
				t.Fatalf("got %v, want one problem with azure-native:location", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q lacks %q", err, w)
				}
			}
		})
	}
}

// Every region the table knows without zones points only at regions it
// lists with zones.
func TestAzureNearestAreZonal(t *testing.T) {
	t.Parallel()
	for region, near := range azureNearestZonal {
		if zonal, _ := AzureRegionHasZones(region); zonal {
			t.Errorf("%s is listed both with and without zones", region)
		}
		for _, n := range near {
			if zonal, _ := AzureRegionHasZones(n); !zonal {
				t.Errorf("%s points at %s, which has no zones in the table", region, n)
			}
		}
	}
}
