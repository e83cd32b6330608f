package diagram_test

import (
	"strings"
	"testing"
	"time"

	"stayup/internal/diagram"
	"stayup/internal/fleet"
)

func TestAddInstancesWritesEachZonesInstances(t *testing.T) {
	for _, tc := range []struct {
		cloud string
		zones [3]string // how the fleet package names the three zones
	}{
		{"aws", [3]string{"eu-west-1a", "eu-west-1b", "eu-west-1c"}},
		{"gcp", [3]string{"europe-west1-b", "europe-west1-c", "europe-west1-d"}},
		{"azure", [3]string{"1", "2", "westeurope-3"}},
	} {
		t.Run(tc.cloud, func(t *testing.T) {
			m := build(t, tc.cloud, nil)
			now := time.Now()
			m.AddInstances([]fleet.Instance{
				{ID: "vm-a1", Zone: tc.zones[0], Health: fleet.Healthy, Revision: "rev-7", Launched: now},
				{ID: "vm-a2", Zone: tc.zones[0], Health: fleet.Unhealthy, Revision: "rev-6", Launched: now},
				{ID: "vm-b1", Zone: tc.zones[1], Health: fleet.Healthy, Revision: "rev-7", Launched: now},
				{ID: "vm-x1", Zone: "elsewhere-9z", Health: fleet.Initial, Launched: now},
			})
			boxes := nodesOf(m, diagram.Fleet)
			text := map[string]string{}
			for _, n := range boxes {
				text[n.Zone] = strings.Join(n.Detail, "\n")
			}
			first := text[boxes[0].Zone]
			for _, want := range []string{"vm-a1 healthy · rev-7", "vm-a2 unhealthy · rev-6", "vm-x1 initial (elsewhere-9z)"} {
				if !strings.Contains(first+text[zoneOf(boxes, tc.zones[0])], want) {
					t.Errorf("zone boxes lack %q:\n%v", want, text)
				}
			}
			var all string
			for _, s := range text {
				all += s + "\n"
			}
			for _, want := range []string{"live: 3 instance(s), 1 healthy", "live: 1 instance(s), 1 healthy", "vm-b1 healthy", "live: 0 instance(s), 0 healthy"} {
				if !strings.Contains(all, want) {
					t.Errorf("zone boxes lack %q:\n%s", want, all)
				}
			}
		})
	}
}

// zoneOf returns the box zone a fleet zone name falls in.
func zoneOf(boxes []*diagram.Node, zone string) string {
	for _, n := range boxes {
		if strings.HasSuffix(zone, n.Zone) {
			return n.Zone
		}
	}
	return ""
}

func TestAddInstancesListsAFewAndCountsTheRest(t *testing.T) {
	m := build(t, "aws", nil)
	var list []fleet.Instance
	for _, id := range []string{"i-1", "i-2", "i-3", "i-4", "i-5", "i-6"} {
		list = append(list, fleet.Instance{ID: id, Zone: "eu-west-1a", Health: fleet.Healthy})
	}
	m.AddInstances(list)
	for _, n := range nodesOf(m, diagram.Fleet) {
		if n.Zone != "eu-west-1a" {
			continue
		}
		got := strings.Join(n.Detail, "\n")
		if !strings.Contains(got, "live: 6 instance(s), 6 healthy") || !strings.Contains(got, "… 2 more") || strings.Contains(got, "i-5") {
			t.Errorf("box lists:\n%s", got)
		}
	}
}
