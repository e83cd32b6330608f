package azure

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v7"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/monitor/armmonitor"

	"stayup/internal/fleet"
)

// A graceful kill raises the scale set's capacity by one, but autoscale
// owns the capacity: on an idle fleet its scale-in rule is true at once and
// it takes the extra VM away again, down to its minimum. So the kill holds
// the minimum of the autoscale setting at capacity+1 until the extra VM
// serves. Pulumi never sees that change, so the hold is written down on the
// setting itself, in the same update: the tag holdTag records each held
// profile's original bounds and when the hold is stale. A run that dies
// (a crash, a kill -9, a lost laptop) leaves the tag; RestoreStaleHolds,
// which chaos, status and up call, puts back every expired one.

// holdTag is the autoscale setting's tag that records a hold.
const holdTag = "stayup-hold"

// holdMargin is added to the kill's own bound (surgeWait) to make the
// hold's expiry: it covers what the kill does before and after its wait
// (a fleet read and a setting write each way, each retried under
// throttling), so a hold is never taken for stale while its kill runs.
const holdMargin = 5 * time.Minute

// hold is the tag's value (JSON; ARM tag values hold 256 characters).
type hold struct {
	// Held is the minimum the kill set.
	Held int `json:"held"`
	// Until is when the hold is stale: the kill that took it is over.
	Until time.Time `json:"until"`
	// Profiles are the original bounds of each profile the hold raised,
	// by profile name.
	Profiles map[string]heldBounds `json:"profiles"`
}

type heldBounds struct {
	Min     string `json:"min"`
	Default string `json:"default"`
}

// readHold reads the setting's hold tag; ok is false when there is none.
func readHold(r *armmonitor.AutoscaleSettingResource) (h hold, ok bool, err error) {
	v := r.Tags[holdTag]
	if v == nil {
		return hold{}, false, nil
	}
	if err := json.Unmarshal([]byte(*v), &h); err != nil || h.Until.IsZero() {
		return hold{}, true, fmt.Errorf("tag %s=%q is not a hold stayup wrote", holdTag, *v)
	}
	return h, true, nil
}

func (f *Fleet) getSetting(ctx context.Context, name string) (armmonitor.AutoscaleSettingResource, error) {
	var r armmonitor.AutoscaleSettingResource
	err := f.call(ctx, actAutoscaleRead, func() error {
		res, err := f.c.Autoscale.Get(ctx, f.out.ResourceGroup, name, nil)
		r = res.AutoscaleSettingResource
		return err
	})
	if err != nil {
		return r, err
	}
	if r.Properties == nil {
		return r, fmt.Errorf("autoscale setting %s has no properties", name)
	}
	if r.Tags == nil {
		r.Tags = map[string]*string{}
	}
	return r, nil
}

// putSetting writes the whole setting back (a PUT: the patch's semantics
// for profiles and tags are not documented beyond "update").
func (f *Fleet) putSetting(ctx context.Context, name string, r armmonitor.AutoscaleSettingResource) error {
	return f.call(ctx, actAutoscaleWrite, func() error {
		_, err := f.c.Autoscale.CreateOrUpdate(ctx, f.out.ResourceGroup, name, r, nil)
		return err
	})
}

// holdMinimum raises the minimum (and the default, which may not be below
// it) of each profile of the autoscale setting that scales the scale set
// to n, recording the originals in holdTag, and returns release, which
// puts them back. release runs once, on a context of its own that outlives
// ctx by a minute, so a cancelled kill (Ctrl-C) still restores. Without an
// enabled setting nothing scales the set in: there is nothing to hold.
func (f *Fleet) holdMinimum(ctx context.Context, ss armcompute.VirtualMachineScaleSet, n int) (release func(), err error) {
	noop := func() {}
	found, err := f.autoscaleSetting(ctx, ss)
	if err != nil || found == nil {
		return noop, err
	}
	name := deref(found.Name)
	r, err := f.getSetting(ctx, name)
	if err != nil {
		return noop, fmt.Errorf("read autoscale setting %s before holding its minimum: %w", name, err)
	}
	if h, ok, err := readHold(&r); err != nil {
		return noop, fmt.Errorf("%w: autoscale setting %s: %w; remove the tag and check the minimum by hand", fleet.ErrRefused, name, err)
	} else if ok {
		if f.now().Before(h.Until) {
			return noop, fmt.Errorf("%w: another graceful kill holds the minimum of autoscale setting %s at %d until %s",
				fleet.ErrRefused, name, h.Held, h.Until.Format(time.RFC3339))
		}
		if _, err := f.releaseHold(ctx, name); err != nil {
			return noop, err
		}
		if r, err = f.getSetting(ctx, name); err != nil {
			return noop, fmt.Errorf("read autoscale setting %s before holding its minimum: %w", name, err)
		}
	}
	h := hold{Held: n, Until: f.now().Add(f.surgeWait + holdMargin).UTC().Truncate(time.Second), Profiles: map[string]heldBounds{}}
	for _, p := range r.Properties.Profiles {
		if p == nil || p.Capacity == nil {
			continue
		}
		c := p.Capacity
		lo, hi := atoi(deref(c.Minimum)), atoi(deref(c.Maximum))
		if lo >= n {
			continue
		}
		if hi < n {
			return noop, fmt.Errorf("%w: a graceful kill needs one VM more than the %d running, and profile %q of autoscale setting %s allows at most %d",
				fleet.ErrRefused, n-1, deref(p.Name), name, hi)
		}
		h.Profiles[deref(p.Name)] = heldBounds{Min: deref(c.Minimum), Default: deref(c.Default)}
		c.Minimum = ptr(strconv.Itoa(n))
		if atoi(deref(c.Default)) < n {
			c.Default = ptr(strconv.Itoa(n))
		}
	}
	if len(h.Profiles) == 0 {
		return noop, nil
	}
	tag, _ := json.Marshal(h)
	if len(tag) > 256 {
		return noop, fmt.Errorf("hold the autoscale minimum of %s at %d: the record of %d profiles does not fit in a tag", name, n, len(h.Profiles))
	}
	r.Tags[holdTag] = ptr(string(tag))
	if err := f.putSetting(ctx, name, r); err != nil {
		return noop, fmt.Errorf("hold the autoscale minimum of %s at %d: %w", name, n, err)
	}
	slog.Debug("held the autoscale minimum for a graceful kill", "setting", name, "min", n, "until", h.Until)
	done := false
	return func() {
		if done {
			return
		}
		done = true
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if _, err := f.releaseHold(rctx, name); err != nil {
			slog.Warn("could not restore the autoscale minimum after a graceful kill; stayup status or up restores it once the hold expires",
				"setting", name, "expires", h.Until.Format(time.RFC3339), "err", err)
		}
	}, nil
}

// releaseHold puts back the bounds the setting's hold recorded and drops
// its tag, in one update, and says what it restored. A profile whose
// minimum is no longer the held one was changed since by someone who
// meant it, and is left as it is. Without a hold it does nothing.
func (f *Fleet) releaseHold(ctx context.Context, name string) (string, error) {
	r, err := f.getSetting(ctx, name)
	if err != nil {
		return "", fmt.Errorf("read autoscale setting %s to restore its minimum: %w", name, err)
	}
	h, ok, err := readHold(&r)
	if !ok {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("restore the autoscale minimum of %s: %w", name, err)
	}
	var restored, changed []string
	for _, p := range r.Properties.Profiles {
		if p == nil || p.Capacity == nil {
			continue
		}
		b, held := h.Profiles[deref(p.Name)]
		if !held {
			continue
		}
		if atoi(deref(p.Capacity.Minimum)) != h.Held {
			changed = append(changed, fmt.Sprintf("profile %q (now %s)", deref(p.Name), deref(p.Capacity.Minimum)))
			continue
		}
		p.Capacity.Minimum, p.Capacity.Default = ptr(b.Min), ptr(b.Default)
		restored = append(restored, b.Min)
	}
	delete(r.Tags, holdTag)
	if err := f.putSetting(ctx, name, r); err != nil {
		return "", fmt.Errorf("restore the autoscale minimum of %s: %w", name, err)
	}
	line := fmt.Sprintf("restored the minimum of autoscale setting %s to %s (held at %d for a graceful kill)",
		name, strings.Join(slices.Compact(slices.Sorted(slices.Values(restored))), "/"), h.Held)
	if len(changed) > 0 {
		line += "; left " + strings.Join(changed, ", ") + ", changed since the hold"
	}
	return line, nil
}

// RestoreStaleHolds puts back the autoscale minimum of the stack's setting
// when a graceful kill held it and its hold has expired (the run died
// before restoring it), and says so. A hold not yet expired is left alone,
// since its kill may still be running, and reported too, so that a
// minimum one above the stack's config is explained; so is a tag stayup
// cannot read, which is left for a person.
func (f *Fleet) RestoreStaleHolds(ctx context.Context) ([]string, error) {
	ss, err := f.scaleSet(ctx)
	if err != nil {
		return nil, err
	}
	settings, err := f.autoscaleSettings(ctx, ss)
	if err != nil {
		return nil, err
	}
	var lines []string
	var errs []error
	for _, r := range settings {
		name := deref(r.Name)
		h, ok, err := readHold(r)
		switch {
		case !ok:
			continue
		case err != nil:
			lines = append(lines, fmt.Sprintf("autoscale setting %s: %v; left alone: remove the tag and check the minimum by hand", name, err))
			continue
		case f.now().Before(h.Until):
			lines = append(lines, fmt.Sprintf("autoscale setting %s: a graceful kill holds the minimum at %d until %s (left alone: it may still be running)",
				name, h.Held, h.Until.Format(time.RFC3339)))
			continue
		}
		line, err := f.releaseHold(ctx, name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if line != "" {
			lines = append(lines, line+", whose run did not finish: the hold expired at "+h.Until.Format(time.RFC3339))
		}
	}
	return lines, errors.Join(errs...)
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return -1
	}
	return n
}
