package azure_test

import (
	"fmt"
	"testing"
	"time"

	"stayup/infra/azure"
	"stayup/internal/graph"
	"stayup/internal/testkit"
)

// The platform a rolling upgrade batch meets while its new VM boots, as
// the sources say:
//   - the Application Health extension 1.x (applicationhealth-extension-linux
//     v1.0.7, main/cmds.go) probes every intervalInSeconds from its start and
//     reports no state until one probe passes (Healthy at once) or
//     numberOfProbes probes in a row fail (Unhealthy); binary health has no
//     Initializing state ("Use Application Health extension with Virtual
//     Machine Scale Sets", Binary versus Rich Health States);
//   - the rolling upgrade checks the upgraded instances after each batch and
//     stops when more than maxUnhealthyUpgradedInstancePercent of them are
//     unhealthy (REST API reference, RollingUpgradePolicy): at 0, one is
//     enough.
//
// Assumed, to check on a live run:
//   - the rolling upgrade of a model change waits for an upgraded instance
//     to turn healthy as long as an automatic OS image upgrade does (up to 5
//     minutes, azure.RollingUpgradeWait), and counts a VM the extension has
//     not judged yet as still upgrading, not as unhealthy;
//   - the extension starts probing about when cloud-init starts installing
//     packages, so the boot it sees is the package index update, the Docker
//     install, the image pull and the container start (azure.BootBudget).

// extensionReport plays the 1.x handler for a VM whose app first answers
// 200 boot after the extension started: the state it reports first, and when.
func extensionReport(boot, interval time.Duration, probes int) (string, time.Duration) {
	failed := 0
	for at := time.Duration(0); ; at += interval {
		if at >= boot {
			return "Healthy", at
		}
		if failed++; failed == probes {
			return "Unhealthy", at
		}
	}
}

// breaches says whether a batch whose VM boots in boot breaks a policy
// with maxUnhealthyUpgradedInstancePercent 0.
func breaches(boot, interval time.Duration, probes int) (bool, string) {
	state, at := extensionReport(boot, interval, probes)
	switch {
	case state == "Unhealthy":
		return true, fmt.Sprintf("the extension reports Unhealthy after %v, before the app answers at %v", at, boot)
	case at > azure.RollingUpgradeWait:
		return true, fmt.Sprintf("Healthy only after %v, past the upgrade's %v wait", at, azure.RollingUpgradeWait)
	}
	return false, fmt.Sprintf("Healthy after %v", at)
}

// With the shipped extension settings a batch whose VM boots within the
// budget never reads Unhealthy before it serves, so it does not breach
// the policy and roll the rollout back; one that boots past the tolerance
// does, which a bad image's VMs (never healthy) always do.
func TestBootingVMsDoNotBreachTheRollingPolicy(t *testing.T) {
	t.Parallel()
	vmss := testkit.Only(t, plan(t), vmssType)
	ext := vmss.List(vm + "extensionProfile.extensions")[0]
	if v := graph.Lookup(ext, "typeHandlerVersion"); v != "1.0" {
		t.Fatalf("health extension %v: this model is of the 1.x handler", v)
	}
	if g := graph.Lookup(ext, "settings.gracePeriod"); g != nil {
		t.Errorf("gracePeriod %v on the 1.x handler: its schema rejects unknown settings, the extension would fail", g)
	}
	interval := time.Duration(graph.Lookup(ext, "settings.intervalInSeconds").(float64)) * time.Second
	probes := int(graph.Lookup(ext, "settings.numberOfProbes").(float64))
	if tol := interval * time.Duration(probes); tol < azure.BootBudget || tol >= azure.RollingUpgradeWait {
		t.Errorf("the extension judges a booting VM after %v x %d = %v: want at least the %v boot budget and under the upgrade's %v wait",
			interval, probes, tol, azure.BootBudget, azure.RollingUpgradeWait)
	}
	for _, tc := range []struct {
		boot time.Duration
		want bool
	}{
		{30 * time.Second, false},
		{2 * time.Minute, false},
		{azure.BootBudget, false},
		{interval*time.Duration(probes) + time.Second, true},
	} {
		if got, why := breaches(tc.boot, interval, probes); got != tc.want {
			t.Errorf("a VM booting in %v: breach %v (%s), want %v", tc.boot, got, why, tc.want)
		}
	}
}
