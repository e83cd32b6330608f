package diagram

import (
	"fmt"
	"sort"
	"strings"

	"stayup/internal/fleet"
)

// maxListed is how many instances a zone's box lists by name; more would
// stretch the box past reading.
const maxListed = 4

// AddInstances writes what only a deployed stack knows onto the fleet's
// boxes: each zone's instances with the load balancer's view of them and
// what they were launched from. Instances in a zone the picture does not
// draw are listed on the first box, so none goes unseen.
func (m *Model) AddInstances(list []fleet.Instance) {
	var boxes []*Node
	byZone := map[string]*Node{}
	for _, n := range m.Nodes {
		if n.Kind == Fleet {
			boxes = append(boxes, n)
			byZone[zoneKey(n.Zone)] = n
		}
	}
	if len(boxes) == 0 {
		return
	}
	per := map[*Node][]fleet.Instance{}
	for _, in := range list {
		box := byZone[zoneKey(in.Zone)]
		if box == nil {
			box = boxes[0]
		}
		per[box] = append(per[box], in)
	}
	for _, box := range boxes {
		ins := per[box]
		sort.Slice(ins, func(i, j int) bool { return ins[i].ID < ins[j].ID })
		healthy := 0
		for _, in := range ins {
			if in.Health == fleet.Healthy {
				healthy++
			}
		}
		box.Detail = append(box.Detail, fmt.Sprintf("live: %d instance(s), %d healthy", len(ins), healthy))
		for i, in := range ins {
			if i == maxListed {
				box.Detail = append(box.Detail, fmt.Sprintf("… %d more", len(ins)-maxListed))
				break
			}
			line := fmt.Sprintf("%s %s", shortID(in.ID), in.Health)
			if in.Zone != "" && zoneKey(in.Zone) != zoneKey(box.Zone) {
				line += " (" + in.Zone + ")"
			}
			if in.Revision != "" {
				line += " · " + shorten(in.Revision, 24)
			}
			box.Detail = append(box.Detail, line)
		}
	}
	m.Title = strings.TrimSpace(m.Title + " (live)")
}

// zoneKey compares zones across the names clouds give them: Azure says
// "1" for the zone the picture labels "1", and "westeurope-1" in places.
func zoneKey(z string) string {
	if i := strings.LastIndex(z, "-"); i >= 0 && len(z)-i <= 2 {
		return z[i+1:]
	}
	return z
}

// shortID keeps the end of a long id (a GCP or Azure resource path).
func shortID(id string) string {
	if i := strings.LastIndex(id, "/"); i >= 0 {
		id = id[i+1:]
	}
	return shorten(id, 22)
}
