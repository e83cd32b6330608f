package chaos

import (
	"fmt"
	"time"

	"stayup/internal/fleet"
)

// Prediction is what the deployed settings say the experiment should show,
// printed beside what it did show, and the watch's default deadline.
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
	// Timeout is how long chaos watches by default: Recover with a margin.
	Timeout time.Duration
	// Basis says where each figure comes from, one line each.
	Basis []string
}

// What the platforms do that no setting says and no documentation bounds.
// Assumed, to check on a live run; each report prints the measured figure
// beside the prediction, so one run settles them.
const (
	// AWS: how soon the Auto Scaling group's periodic health check sees a
	// terminated instance and starts its replacement.
	assumedASGNotice = time.Minute
	// AWS: how long a new instance takes from launch to InService, which
	// is when the health check grace period starts.
	assumedEC2Launch = time.Minute
	// GCP: how long the managed instance group takes to delete and create
	// a VM it recreates (autohealing, recreateInstances).
	assumedMIGRecreate = time.Minute
	// Azure: how long automatic repairs take to delete a VM and provision
	// its replacement, before the new VM boots.
	assumedRepairProvision = 2 * time.Minute
)

// timeoutMargin is added to the predicted bound: a quarter of it for what
// the bound leaves out (API latency, a poll every 5 s, a retried boot
// step), and two minutes for an image pull slower than the grace allowed.
func timeoutMargin(recover time.Duration) time.Duration {
	return recover/4 + 2*time.Minute
}

// ceil10 rounds up to ten seconds: a deadline a person reads.
func ceil10(d time.Duration) time.Duration {
	const step = 10 * time.Second
	return (d + step - 1) / step * step
}

func predict(cloud string, mode fleet.KillMode, s fleet.Settings) Prediction {
	var p Prediction
	line := func(format string, args ...any) { p.Basis = append(p.Basis, fmt.Sprintf(format, args...)) }
	out := s.CheckInterval * time.Duration(s.UnhealthyThreshold)
	heal := s.HealInterval * time.Duration(s.HealThreshold)
	p.Rejoin = s.CheckInterval * time.Duration(s.HealthyThreshold)
	before := time.Duration(0) // from the kill to the replacement's launch
	switch {
	case mode == fleet.Graceful:
		line("graceful: the group takes the instance out of the load balancer at once and drains it for %v; clients should see no failures", s.Drain)
		before = s.Drain
		switch cloud {
		case "gcp":
			line("the instance group then deletes and recreates the VM under its name (assumed at most %v)", assumedMIGRecreate)
			before += assumedMIGRecreate
		case "azure":
			line("on Azure the extra VM boots first and the victim is deleted once it serves, then drains: the same sum in another order")
		}
	case cloud == "azure":
		p.Detect = out
		line("the gateway probes every %v and takes the VM out after %d failures: %v (clients may fail until then)", s.CheckInterval, s.UnhealthyThreshold, out)
		line("the Application Health extension reports it unhealthy after %v x %d = %v", s.HealInterval, s.HealThreshold, heal)
		line("automatic repairs wait their grace of %v (assumed to start again at the Run Command's state change; the health verdict comes within it) and then replace the VM (assumed at most %v to provision)", s.Grace, assumedRepairProvision)
		before = max(heal, s.Grace) + assumedRepairProvision
	case cloud == "gcp":
		p.Detect = out
		line("the VM is hard-reset: no guest shutdown; it stays RUNNING under its name and boots again")
		line("the load balancer checks every %v and takes it out after %d failures: %v (clients may fail until then)", s.CheckInterval, s.UnhealthyThreshold, out)
		line("if its boot outlasts autohealing's %v x %d = %v (the initial delay covers only new and recreated VMs), the group recreates it (assumed at most %v): the bound below is that longer path", s.HealInterval, s.HealThreshold, heal, assumedMIGRecreate)
		before = heal + assumedMIGRecreate
	default:
		p.Detect = out
		line("the instance is terminated without an OS shutdown; the load balancer checks every %v and takes it out after %d failures: %v (clients may fail until then)", s.CheckInterval, s.UnhealthyThreshold, out)
		line("the Auto Scaling group replaces a terminated instance once its health check sees it (assumed at most %v: not a setting), and the new instance is InService, when its grace starts, within an assumed %v", assumedASGNotice, assumedEC2Launch)
		before = assumedASGNotice + assumedEC2Launch
	}
	line("a replacement may take up to the grace period to boot: %v", s.Grace)
	line("it rejoins after %d passing checks every %v: %v", s.HealthyThreshold, s.CheckInterval, p.Rejoin)
	p.Recover = before + s.Grace + p.Rejoin
	line("so the fleet should be whole within %v of the kill", p.Recover)
	p.Timeout = ceil10(p.Recover + timeoutMargin(p.Recover))
	line("chaos watches for up to %v: that bound, a quarter more, and two minutes for a slow image pull", p.Timeout)
	return p
}
