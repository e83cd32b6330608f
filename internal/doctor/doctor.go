// Package doctor checks, read-only, whether the account the default
// credentials reach can take a stack before anything is created: who the
// credentials are, that the region and zones exist, the permissions, the
// APIs, providers and features, and the quotas at the fleet's peak (its
// maximum plus the rollout's surge), less what the stack itself already
// holds, so that a redeploy on a tight quota is not refused.
package doctor

import (
	"context"
	"fmt"
	"io"
	"strings"

	"stayup/infra/spec"
	"stayup/internal/stackops"
)

// Status is a check's outcome.
type Status string

// The outcomes. A failed check is blocking: up refuses to start.
const (
	OK   Status = "ok"
	Warn Status = "warn" // could not tell, or a risk that does not block
	Fail Status = "fail"
)

// Check is one line of the report.
type Check struct {
	Name   string `json:"name"`
	Status Status `json:"status"`
	Detail string `json:"detail"`
	// Fix says what to do when the check did not pass.
	Fix string `json:"fix,omitempty"`
}

// Report is what doctor prints.
type Report struct {
	Stack  string  `json:"stack"`
	Cloud  string  `json:"cloud"`
	Region string  `json:"region"`
	Checks []Check `json:"checks"`
	// Blocking is how many checks failed: up refuses when it is not zero.
	Blocking int `json:"blocking"`
}

func (r *Report) add(c Check) {
	r.Checks = append(r.Checks, c)
	if c.Status == Fail {
		r.Blocking++
	}
}

// Write prints one line per check, then what to do for those that did not pass.
func (r *Report) Write(w io.Writer) {
	for _, c := range r.Checks {
		fmt.Fprintf(w, "%-4s  %-22s %s\n", c.Status, c.Name, c.Detail)
		if c.Fix != "" && c.Status != OK {
			fmt.Fprintf(w, "      %-22s -> %s\n", "", c.Fix)
		}
	}
	switch r.Blocking {
	case 0:
		fmt.Fprintf(w, "stack %s: nothing blocks a deploy\n", r.Stack)
	default:
		fmt.Fprintf(w, "stack %s: %d check(s) would make up fail part-way\n", r.Stack, r.Blocking)
	}
}

// Need is what the stack needs of the account, from its spec.
type Need struct {
	Spec spec.Spec
	// Actions are the deploy document's, for the permission check.
	Actions []string
	// APIs are the GCP services the deploy document's permissions are served by.
	APIs []string
	// Peak is the most instances the fleet runs at once: the maximum size
	// plus what a rolling replacement adds on top.
	Peak int
}

// PeakInstances is the fleet's most instances at once, per cloud:
//   - AWS: instance refresh with MaxHealthyPercentage 200 may launch a full
//     second set of the current size, up to twice the maximum;
//   - GCP: maxSurge is the zone count, on top of up to the maximum;
//   - Azure: a rolling upgrade with maxSurge adds one batch (the scale
//     set's maxBatchInstancePercent, 34 as infra/azure sets it) of new
//     instances before removing old ones.
func PeakInstances(s spec.Spec) int {
	switch s.Cloud {
	case spec.AWS:
		return 2 * s.MaxSize
	case spec.GCP:
		return s.MaxSize + s.Zones
	case spec.Azure:
		return s.MaxSize + (s.MaxSize*azureMaxBatchPercent+99)/100
	}
	return s.MaxSize
}

// azureMaxBatchPercent is infra/azure's rolling upgrade batch.
const azureMaxBatchPercent = 34

// Own is what the deployed stack already holds, read from its outputs:
// quotas discount it, since a redeploy replaces rather than adds it.
type Own struct {
	Deployed bool
	Fleet    map[string]any
}

// quotaCheck builds a quota line: need units at peak, of which own are the
// stack's own already counted in used.
func quotaCheck(name, unit string, limit, used, own, need float64, fix string) Check {
	free := limit - (used - own)
	c := Check{Name: name, Detail: fmt.Sprintf("%s %g %s needed at peak; quota %g, in use %g", name, need, unit, limit, used)}
	if own > 0 {
		c.Detail += fmt.Sprintf(" (%g of them this stack's own)", own)
	}
	if need <= free {
		c.Status = OK
		return c
	}
	c.Status = Fail
	c.Fix = fix + fmt.Sprintf(" (%g more %s)", need-free, unit)
	return c
}

// failed turns a call that could not be made into a warning: doctor
// cannot tell, and says what it could not read.
func failed(name, doing string, err error, fix string) Check {
	return Check{Name: name, Status: Warn, Detail: fmt.Sprintf("could not %s: %v", doing, oneLine(err)), Fix: fix}
}

func oneLine(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}

// baseImageName is the pinned OS image's check.
const baseImageName = "base image"

// baseImageCheck says where the pinned OS image (stayup:baseImage) is in
// its lifecycle. A deprecated image still boots, so it warns, with the
// date; one that is gone fails, since every VM the fleet then creates
// (surge, repair, scale-out) fails to boot. The fix moves the pin, which
// up does before it runs these checks, so it is not refused by them.
func baseImageCheck(pin string, st stackops.ImageState, err error) Check {
	c := Check{Name: baseImageName, Fix: stackops.RefreshFix}
	switch {
	case pin == "":
		c.Status, c.Detail = OK, "not pinned yet: up resolves the newest image and pins it as "+stackops.BaseImageKey
	case err != nil:
		return failed(baseImageName, "read the pinned image "+pin, err, "check it by hand; "+stackops.RefreshFix+" moves to the newest")
	case st.Life == stackops.ImageScheduled, st.Life == stackops.ImageDeprecated:
		c.Status, c.Detail = Warn, st.Summary()
	case st.Life == stackops.ImageGone:
		c.Status, c.Detail = Fail, st.Summary()
	default:
		c.Status, c.Detail = OK, st.Summary()
	}
	return c
}

// Checker runs one cloud's checks.
type Checker interface {
	Check(ctx context.Context, need Need, own Own, r *Report)
}
