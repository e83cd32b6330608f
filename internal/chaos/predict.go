package chaos

import (
	"fmt"
	"time"

	"stayup/internal/fleet"
)

// Prediction is what the deployed settings say the experiment should show,
// printed beside what it did show.
type Prediction struct {
	// Detect is how long the load balancer should take to stop sending the
	// victim traffic: interval x unhealthy threshold for an abrupt kill, at
	// once for a graceful one (the group deregisters it, then drains).
	Detect time.Duration
	// Rejoin is how long a booted replacement takes to pass the load
	// balancer's check: interval x healthy threshold.
	Rejoin time.Duration
	// Recover is the bound the settings put on the whole heal: noticing,
	// draining, the boot the group allows (its grace), and rejoining. A
	// replacement that boots faster than the grace recovers sooner.
	Recover time.Duration
	// Basis says where each figure comes from, one line each.
	Basis []string
}

func predict(cloud string, mode fleet.KillMode, s fleet.Settings) Prediction {
	var p Prediction
	line := func(format string, args ...any) { p.Basis = append(p.Basis, fmt.Sprintf(format, args...)) }
	out := s.CheckInterval * time.Duration(s.UnhealthyThreshold)
	p.Rejoin = s.CheckInterval * time.Duration(s.HealthyThreshold)
	notice := time.Duration(0)
	switch {
	case mode == fleet.Graceful:
		line("graceful: the group takes the instance out of the load balancer at once and drains it for %v; clients should see no failures", s.Drain)
		notice = s.Drain
	case cloud == "azure":
		p.Detect = out
		line("the gateway probes every %v and takes an instance out after %d failures: %v", s.CheckInterval, s.UnhealthyThreshold, out)
		line("automatic repairs replace an instance reported unhealthy after their grace period: %v", s.Grace)
		notice = s.Grace
	default:
		p.Detect = out
		line("the load balancer checks every %v and takes an instance out after %d failures: %v (clients may fail until then)", s.CheckInterval, s.UnhealthyThreshold, out)
		if cloud == "gcp" {
			line("the instance group recreates a deleted VM as soon as it sees it gone")
		} else {
			line("the Auto Scaling group replaces a terminated instance on its next health check (not a setting: typically under a minute)")
		}
	}
	if s.HealInterval > 0 {
		line("autohealing condemns an instance failing its liveness check after %v x %d = %v (not needed when the VM is deleted)", s.HealInterval, s.HealThreshold, s.HealInterval*time.Duration(s.HealThreshold))
	}
	line("a replacement may take up to the grace period to boot: %v", s.Grace)
	line("it rejoins after %d passing checks every %v: %v", s.HealthyThreshold, s.CheckInterval, p.Rejoin)
	p.Recover = notice + s.Grace + p.Rejoin
	line("so the fleet should be whole within %v of the kill", p.Recover)
	return p
}
