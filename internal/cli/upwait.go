package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	"stayup/internal/fleet"
	gcpfleet "stayup/internal/fleet/gcp"
	"stayup/internal/stackops"
)

// defaultUpWait bounds how long up waits, after the engine returns, for
// the fleet to serve: a first boot (image pull, the grace before health
// counts, 180 s) and a roll of three instances one zone-wave at a time fit
// well inside it.
const defaultUpWait = 15 * time.Minute

// fleetServing reads the fleet once: serving when no rolling update is in
// progress, every instance runs the group's target, and at least the
// desired size (and the autoscaler's minimum: a new GCP group starts at
// size 0 until its autoscaler raises it) is in service on it. The line
// says where it stands, for people.
func fleetServing(ctx context.Context, f fleet.Fleet) (bool, string, error) {
	ro, err := f.Rollout(ctx)
	if err != nil {
		return false, "", err
	}
	capa, err := f.Capacity(ctx)
	if err != nil {
		return false, "", err
	}
	list, err := f.Instances(ctx)
	if err != nil {
		return false, "", err
	}
	need := max(capa.Desired, capa.Min)
	on, off := 0, 0
	for _, i := range list {
		switch {
		case i.InService() && i.Revision == ro.Target:
			on++
		case i.InService():
			off++
		}
	}
	line := fmt.Sprintf("%d of %d in service on %s, %d listed", on, need, ro.Target, len(list))
	if off > 0 {
		line += fmt.Sprintf(", %d still on an older revision", off)
	}
	if ro.InProgress {
		line += fmt.Sprintf(" (%s)", ro.Status)
	}
	return !ro.InProgress && ro.Reached && off == 0 && need > 0 && on >= need, line, nil
}

// waitServing polls the fleet until it serves, the timeout passes or ctx
// ends (Ctrl-C), printing each change of where it stands.
func waitServing(ctx context.Context, f fleet.Fleet, timeout, poll time.Duration, w io.Writer) (bool, string) {
	deadline := time.Now().Add(timeout)
	last := ""
	for {
		ok, line, err := fleetServing(ctx, f)
		if err != nil {
			line = "reading the fleet: " + err.Error()
		}
		if line != last {
			fmt.Fprintf(w, "  %s fleet: %s\n", time.Now().Format("15:04:05"), line)
			last = line
		}
		if ok {
			return true, line
		}
		if !time.Now().Before(deadline) || !sleep(ctx, min(poll, time.Until(deadline))) {
			return false, line
		}
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// templateCleaner deletes a GCP stack's retained instance templates.
type templateCleaner interface {
	Cleanup(ctx context.Context, keep string) (fleet.Cleanup, error)
}

// openTemplateCleaner finds a stack's templates by the labels the program
// puts on them.
type openTemplateCleaner func(ctx context.Context, project, stack string) (templateCleaner, func() error, error)

func openRealTemplateCleaner(ctx context.Context, project, stack string) (templateCleaner, func() error, error) {
	return gcpfleet.OpenTemplateCleaner(ctx, project, gcpfleet.TemplateLabels(stack, stackops.Project))
}
