package fleet

import (
	"time"
)

// Read is the fleet as one poll saw it while a run watched: the figures a
// chart of a heal or a rollout draws (instances in service per zone over
// time, revisions converging), kept in the run's saved report.
type Read struct {
	Time    time.Time `json:"time"`
	Desired int       `json:"desired"`
	Listed  int       `json:"listed"`
	// InService counts the instances in service per zone.
	InService map[string]int `json:"in_service"`
	// Revisions counts the listed instances per revision, and
	// InServiceRevisions those in service.
	Revisions          map[string]int `json:"revisions"`
	InServiceRevisions map[string]int `json:"in_service_revisions"`
	// Error is why the read failed; the counts are then empty.
	Error string `json:"error,omitempty"`
}

// NewRead sums up one poll of the fleet.
func NewRead(t time.Time, c Capacity, list []Instance, err error) Read {
	r := Read{Time: t, InService: map[string]int{}, Revisions: map[string]int{}, InServiceRevisions: map[string]int{}}
	if err != nil {
		r.Error = err.Error()
		return r
	}
	r.Desired, r.Listed = c.Desired, len(list)
	for _, i := range list {
		r.Revisions[i.Revision]++
		if i.InService() {
			r.InService[i.Zone]++
			r.InServiceRevisions[i.Revision]++
		}
	}
	return r
}

// Total is how many instances were in service.
func (r Read) Total() int {
	n := 0
	for _, v := range r.InService {
		n += v
	}
	return n
}
