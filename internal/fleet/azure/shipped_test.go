package azure

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v7"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/monitor/armmonitor"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v7"

	"stayup/internal/fleet"
)

// The fakes below play the stack as stacks/Pulumi.azure.yaml ships it, with
// the platform moving underneath: the scale set adds and removes VMs as its
// capacity changes, new VMs boot, and Azure autoscale evaluates the setting
// infra/azure/fleet.go creates.
//
// Assumed, to check on a live run (the documentation leaves these open):
//   - ARM rejects a profile whose default is below its minimum, so a hold
//     raises both (the fake does not enforce it either way);
//   - deleting a scale set VM lowers sku.capacity as soon as the delete is
//     accepted, while the VM waits for its Terminate event;
//   - `systemctl daemon-reload` applies the crash script's Restart=no to the
//     running unit (the script checks it and exits 3 when systemd restarts
//     the container anyway);
//   - the repair grace starts again after the Run Command's state change
//     ("Automatic instance repairs for Azure Virtual Machine Scale Sets",
//     Grace period, names PUT, PATCH and POST on the scale set only).

// The shipped autoscale rules: out above cpuTarget+10, in below
// cpuTarget-20 (infra/azure/fleet.go with stayup:cpuTarget 60).
const (
	shippedOut = 70
	shippedIn  = 40
	idleCPU    = 2 // percent: the demo app with nobody calling it
)

// shippedFake is the fleet at its shipped capacity: min = desired = 3,
// max 9, one VM serving in each of zones 1, 2 and 3, automatic repairs
// running, the fleet idle. A new VM turns healthy in the gateway after
// bootReads backend health answers (a negative count: never).
func shippedFake(bootReads int) (*fakeAzure, *model) {
	f := newFake()
	f.vms, f.views, f.ips, f.health, f.other = nil, map[string]*armcompute.VirtualMachineScaleSetVMInstanceView{}, map[string]string{},
		map[string]armnetwork.ApplicationGatewayBackendHealthServerHealth{}, nil
	m := &model{f: f, cpu: idleCPU, bootReads: bootReads, boot: map[string]int{}}
	for i, zone := range []string{"1", "2", "3"} {
		m.add(strconv.Itoa(i), zone, t0.Add(time.Duration(i)*time.Minute), true)
	}
	f.scaleSet.SKU.Capacity = ptr[int64](3)
	f.scalers = [][]*armmonitor.AutoscaleSettingResource{{shippedSetting()}}
	f.onUpdate = m.resized
	f.onDelete = m.deleting
	f.onList = m.evaluate
	f.onHealth = m.tick
	return f, m
}

// shippedSetting is the autoscale setting as infra/azure/fleet.go
// declares it for the shipped stack.
func shippedSetting() *armmonitor.AutoscaleSettingResource {
	cpu := func(op armmonitor.ComparisonOperationType, threshold float64, dir armmonitor.ScaleDirection, cooldown string) *armmonitor.ScaleRule {
		return &armmonitor.ScaleRule{
			MetricTrigger: &armmonitor.MetricTrigger{
				MetricName: ptr("Percentage CPU"), MetricResourceURI: ptr(ssID), Operator: ptr(op), Threshold: ptr(threshold),
				Statistic: ptr(armmonitor.MetricStatisticTypeAverage), TimeAggregation: ptr(armmonitor.TimeAggregationTypeAverage),
				TimeGrain: ptr("PT1M"), TimeWindow: ptr("PT5M"),
			},
			ScaleAction: &armmonitor.ScaleAction{Direction: ptr(dir), Type: ptr(armmonitor.ScaleTypeChangeCount), Value: ptr("1"), Cooldown: ptr(cooldown)},
		}
	}
	return &armmonitor.AutoscaleSettingResource{
		Name: ptr("stayup-fleet-a1b2"), Location: ptr("westeurope"), Tags: map[string]*string{"stayup:stack": ptr("azure")},
		Properties: &armmonitor.AutoscaleSetting{
			Enabled: ptr(true), TargetResourceURI: ptr(ssID),
			Profiles: []*armmonitor.AutoscaleProfile{{
				Name:     ptr("cpu"),
				Capacity: &armmonitor.ScaleCapacity{Minimum: ptr("3"), Maximum: ptr("9"), Default: ptr("3")},
				Rules: []*armmonitor.ScaleRule{
					cpu(armmonitor.ComparisonOperationTypeGreaterThan, shippedOut, armmonitor.ScaleDirectionIncrease, "PT5M"),
					cpu(armmonitor.ComparisonOperationTypeLessThan, shippedIn, armmonitor.ScaleDirectionDecrease, "PT10M"),
				},
			}},
		},
	}
}

// model is the platform behind a shippedFake.
type model struct {
	f         *fakeAzure
	cpu       float64 // the fleet's average CPU, percent
	bootReads int
	boot      map[string]int // new VM -> backend health answers until it is Up
	next      int
	actions   []string // what the autoscale engine did
}

// add creates a VM (f.mu held, or before the fake is shared).
func (m *model) add(id, zone string, created time.Time, serving bool) {
	f := m.f
	v := vm(id, zone, "Creating", true, created)
	ip := fmt.Sprintf("10.0.1.%d", 10+m.next)
	m.next++
	f.vms = append(f.vms, v)
	f.ips[id] = ip
	if serving {
		v.Properties.ProvisioningState = ptr("Succeeded")
		f.views[id] = view("running", "healthy")
		f.health[ip] = up
		return
	}
	f.views[id] = view("starting", "initializing")
	f.health[ip] = unknown
	m.boot[id] = m.bootReads
}

// remove takes a VM out of the scale set (f.mu held).
func (m *model) remove(id string) {
	f := m.f
	f.vms = slices.DeleteFunc(f.vms, func(v *armcompute.VirtualMachineScaleSetVM) bool { return deref(v.InstanceID) == id })
	delete(f.health, f.ips[id])
	delete(f.ips, id)
	delete(f.views, id)
	delete(m.boot, id)
}

// active are the VMs not being deleted (f.mu held).
func (m *model) active() []*armcompute.VirtualMachineScaleSetVM {
	return slices.DeleteFunc(slices.Clone(m.f.vms), func(v *armcompute.VirtualMachineScaleSetVM) bool {
		return deref(v.Properties.ProvisioningState) == "Deleting"
	})
}

// resize makes the scale set hold n VMs (f.mu held). A new VM goes to the
// zone with the fewest (zoneBalance); a scale-in follows the default
// scale-in policy of a Uniform scale set: balance the zones, then delete
// the VM with the highest instance id ("Use custom scale-in policies with
// Azure Virtual Machine Scale Sets", Default scale-in policy).
func (m *model) resize(n int) {
	f := m.f
	f.scaleSet.SKU.Capacity = ptr(int64(n))
	for len(m.active()) < n {
		id := 0
		for _, v := range f.vms {
			id = max(id, atoi(deref(v.InstanceID))+1)
		}
		m.add(strconv.Itoa(id), m.zoneWith(func(a, b int) bool { return a < b }), t0.Add(time.Hour+time.Duration(id)*time.Minute), false)
	}
	for len(m.active()) > n {
		zone := m.zoneWith(func(a, b int) bool { return a > b })
		var victim string
		for _, v := range m.active() {
			if *v.Zones[0] == zone && (victim == "" || atoi(deref(v.InstanceID)) > atoi(victim)) {
				victim = deref(v.InstanceID)
			}
		}
		m.remove(victim)
	}
}

// zoneWith is the zone whose active VM count wins better (ties: the lowest).
func (m *model) zoneWith(better func(a, b int) bool) string {
	count := map[string]int{"1": 0, "2": 0, "3": 0}
	for _, v := range m.active() {
		count[*v.Zones[0]]++
	}
	best := ""
	for _, z := range []string{"1", "2", "3"} {
		if best == "" || better(count[z], count[best]) {
			best = z
		}
	}
	return best
}

// resized plays a capacity update on the scale set.
func (m *model) resized(n int64) {
	m.f.mu.Lock()
	defer m.f.mu.Unlock()
	m.resize(int(n))
}

// deleting plays an accepted VM delete: the VM is Deleting while it
// approves its Terminate event, and the capacity is one lower at once.
func (m *model) deleting(id string) {
	f := m.f
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, v := range f.vms {
		if deref(v.InstanceID) == id {
			v.Properties.ProvisioningState = ptr("Deleting")
		}
	}
	f.scaleSet.SKU.Capacity = ptr(int64(len(m.active())))
}

// tick plays the time one backend health answer takes: booting VMs come
// closer to serving.
func (m *model) tick() {
	f := m.f
	f.mu.Lock()
	defer f.mu.Unlock()
	for id, left := range m.boot {
		if left < 0 {
			continue
		}
		if left--; left > 0 {
			m.boot[id] = left
			continue
		}
		delete(m.boot, id)
		f.views[id] = view("running", "healthy")
		f.health[f.ips[id]] = up
		for _, v := range f.vms {
			if deref(v.InstanceID) == id {
				v.Properties.ProvisioningState = ptr("Succeeded")
			}
		}
	}
}

// evaluate plays one run of the autoscale engine, which Azure runs every
// 30 to 60 seconds; the fake runs it before each listing of the VMs, about
// as often as the fleet looks. From "Understand autoscale settings"
// (Autoscale evaluation) and "Best practices for autoscale":
//   - a capacity outside the profile's minimum and maximum is set back
//     inside them ("Manual scaling is reset by autoscale min and max");
//   - else a scale-out rule that holds adds its count;
//   - else, when every scale-in rule holds, it removes its count unless the
//     estimated load after the scale-in (average x n / (n-1)) would trigger
//     a scale-out rule at once ("flapping").
//
// Cooldowns are left out: a manual capacity change starts none, and one
// scale action is all a test needs to see. VMs being deleted are gone by
// the next run.
func (m *model) evaluate() {
	f := m.f
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, v := range slices.Clone(f.vms) {
		if deref(v.Properties.ProvisioningState) == "Deleting" {
			m.remove(deref(v.InstanceID))
		}
	}
	var s *armmonitor.AutoscaleSettingResource
	for _, page := range f.scalers {
		for _, r := range page {
			if deref(r.Properties.Enabled) && strings.EqualFold(deref(r.Properties.TargetResourceURI), ssID) {
				s = r
			}
		}
	}
	if s == nil {
		return
	}
	p := s.Properties.Profiles[0]
	lo, hi := atoi(deref(p.Capacity.Minimum)), atoi(deref(p.Capacity.Maximum))
	n := int(deref(f.scaleSet.SKU.Capacity))
	holds := func(dir armmonitor.ScaleDirection, load float64) (any, all bool) {
		all = true
		for _, r := range p.Rules {
			if deref(r.ScaleAction.Direction) != dir {
				continue
			}
			t := r.MetricTrigger
			ok := (deref(t.Operator) == armmonitor.ComparisonOperationTypeGreaterThan && load > deref(t.Threshold)) ||
				(deref(t.Operator) == armmonitor.ComparisonOperationTypeLessThan && load < deref(t.Threshold))
			any, all = any || ok, all && ok
		}
		return any, all
	}
	target := n
	switch out, _ := holds(armmonitor.ScaleDirectionIncrease, m.cpu); {
	case n < lo:
		target = lo
	case n > hi:
		target = hi
	case out:
		target = min(n+1, hi)
	case n > lo:
		if _, in := holds(armmonitor.ScaleDirectionDecrease, m.cpu); in {
			if flap, _ := holds(armmonitor.ScaleDirectionIncrease, m.cpu*float64(n)/float64(n-1)); !flap {
				target = n - 1
			}
		}
	}
	if target != n {
		m.actions = append(m.actions, fmt.Sprintf("%d->%d", n, target))
		m.resize(target)
	}
}

func (m *model) ids() string {
	m.f.mu.Lock()
	defer m.f.mu.Unlock()
	var ids []string
	for _, v := range m.f.vms {
		ids = append(ids, deref(v.InstanceID))
	}
	return strings.Join(ids, ",")
}

// storedHold reads the setting's hold tag as the fake stores it.
func storedHold(t *testing.T, f *fakeAzure) (min string, h *hold) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.setting("stayup-fleet-a1b2")
	min = deref(r.Properties.Profiles[0].Capacity.Minimum)
	if v := r.Tags[holdTag]; v != nil {
		h = &hold{}
		if err := json.Unmarshal([]byte(*v), h); err != nil {
			t.Fatalf("hold tag %q: %v", *v, err)
		}
	}
	if r.Tags["stayup:stack"] == nil {
		t.Errorf("the stack's own tags were lost: %v", r.Tags)
	}
	return min, h
}

func TestFakeAutoscaleScalesAnIdleSurgeIn(t *testing.T) {
	t.Parallel()
	f, m := shippedFake(1)
	fl := newFleet(f)
	// What a graceful kill did before it held the minimum: one VM more,
	// and autoscale's next run on the idle fleet takes the newest away.
	if err := fl.setCapacity(ctxT(t), f.scaleSet.SKU, 4); err != nil {
		t.Fatal(err)
	}
	if got, want := m.ids(), "0,1,2,3"; got != want {
		t.Fatalf("after the scale-out VMs %s, want %s", got, want)
	}
	m.evaluate()
	if got, want := m.ids(), "0,1,2"; got != want {
		t.Errorf("after autoscale ran on the idle fleet VMs %s, want %s (the surge VM scaled in)", got, want)
	}
	// With the minimum at 4 it stays; below it autoscale scales out.
	f.setting("stayup-fleet-a1b2").Properties.Profiles[0].Capacity.Minimum = ptr("4")
	m.evaluate()
	if got, want := m.ids(), "0,1,2,3"; got != want {
		t.Errorf("capacity 3 under a minimum of 4: VMs %s, want %s", got, want)
	}
	m.evaluate()
	if got, want := strings.Join(m.actions, " "), "4->3 3->4"; got != want {
		t.Errorf("autoscale actions %q, want %q", got, want)
	}
	// A busy fleet keeps the VM: scaling in would push it over the
	// scale-out threshold (flapping).
	f.setting("stayup-fleet-a1b2").Properties.Profiles[0].Capacity.Minimum = ptr("3")
	m.cpu = 38 // below the scale-in threshold, but 38 x 4 / 3 = 50.7 is not above 70: it scales in
	m.evaluate()
	m.cpu = 65 // not below 40: no scale-in
	m.evaluate()
	if got, want := strings.Join(m.actions, " "), "4->3 3->4 4->3"; got != want {
		t.Errorf("autoscale actions %q, want %q", got, want)
	}
}

func TestKillGracefulAtShippedCapacityHoldsTheMinimum(t *testing.T) {
	t.Parallel()
	f, m := shippedFake(3)
	fl := newFleet(f)
	fl.now = func() time.Time { return t0 }
	if err := fl.Kill(ctxT(t), "stayup-fleet_1", fleet.Graceful); err != nil {
		t.Fatalf("graceful kill on an idle fleet at min = desired = 3: %v", err)
	}
	if len(f.puts) != 2 {
		t.Fatalf("autoscale writes %q, want the hold and its release", f.puts)
	}
	// The hold and its record go in one write: a crash right after it
	// still leaves what to restore.
	hold, release := f.puts[0], f.puts[1]
	until := t0.Add(fl.surgeWait + holdMargin).Format(time.RFC3339)
	for _, want := range []string{"min=4 ", `"held":4`, `"until":"` + until + `"`, `"cpu":{"min":"3","default":"3"}`} {
		if !strings.Contains(hold, want) {
			t.Errorf("hold write %q lacks %q", hold, want)
		}
	}
	if release != "autoscale.put min=3" {
		t.Errorf("release write %q, want the minimum back at 3 and no hold tag", release)
	}
	// hold -> capacity up -> new VM serving -> release -> delete.
	calls := strings.Join(f.calls, " ")
	held := strings.Index(calls, "autoscale.put")
	raised := strings.Index(calls, "scaleSets.update 4")
	released := strings.LastIndex(calls, "autoscale.put")
	deleted := strings.Index(calls, "vms.delete 1")
	if !(held >= 0 && held < raised && raised < released && released < deleted) {
		t.Errorf("calls %s: want hold, raise, release, delete in that order", calls)
	}
	if min, h := storedHold(t, f); min != "3" || h != nil {
		t.Errorf("after the kill the minimum is %s with hold %+v, want 3 and no hold", min, h)
	}
	if len(m.actions) != 0 {
		t.Errorf("autoscale acted %v during the kill: the hold should have kept it still", m.actions)
	}
	m.evaluate() // the victim's deletion completes
	if got, want := m.ids(), "0,2,3"; got != want {
		t.Errorf("VMs %s, want %s (victim 1 replaced by 3)", got, want)
	}
	if c, err := fl.Capacity(ctxT(t)); err != nil || c != (fleet.Capacity{Desired: 3, Min: 3, Max: 9}) {
		t.Errorf("capacity after the kill %+v (%v), want desired 3, min 3, max 9", c, err)
	}
}

func TestKillGracefulRestoresTheMinimumOnEveryWayOut(t *testing.T) {
	t.Parallel()
	check := func(t *testing.T, f *fakeAzure) {
		t.Helper()
		if min, h := storedHold(t, f); min != "3" || h != nil {
			t.Errorf("minimum %s, hold %+v: want 3 and no hold", min, h)
		}
		if got := strings.Join(f.deleted, ","); strings.Contains(got, "1") {
			t.Errorf("deleted %q: the victim must be left alone", got)
		}
	}
	t.Run("the new VM never serves", func(t *testing.T) {
		t.Parallel()
		f, _ := shippedFake(-1)
		err := newFleet(f).WithWait(time.Millisecond, 50*time.Millisecond).Kill(ctxT(t), "stayup-fleet_1", fleet.Graceful)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err %v, want the wait's deadline", err)
		}
		check(t, f)
		if got := strings.Join(f.deleted, ","); got != "3" {
			t.Errorf("deleted %q, want the extra VM 3", got)
		}
	})
	t.Run("interrupted while waiting", func(t *testing.T) {
		t.Parallel()
		f, m := shippedFake(-1)
		ctx, cancel := context.WithCancel(ctxT(t))
		answers := 0
		f.onHealth = func() { // Ctrl-C once the wait has begun
			m.tick()
			if answers++; answers == 3 {
				cancel()
			}
		}
		err := newFleet(f).Kill(ctx, "stayup-fleet_1", fleet.Graceful)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err %v, want the cancellation", err)
		}
		// The fake's autoscale API refuses a cancelled context, as the
		// SDK does: the release had a context of its own.
		check(t, f)
	})
	t.Run("the capacity cannot be raised", func(t *testing.T) {
		t.Parallel()
		f, _ := shippedFake(1)
		f.errs["scaleSets.update 4"] = []error{apiError(409, "OperationNotAllowed")}
		if err := newFleet(f).Kill(ctxT(t), "stayup-fleet_1", fleet.Graceful); err == nil {
			t.Fatal("kill succeeded though the capacity could not be raised")
		}
		check(t, f)
	})
}

func TestKillGracefulRefusesWhileAnotherHoldsTheMinimum(t *testing.T) {
	t.Parallel()
	f, _ := shippedFake(1)
	setHold(f, "4", t0.Add(10*time.Minute))
	fl := newFleet(f)
	fl.now = func() time.Time { return t0 }
	if err := fl.CheckKill(ctxT(t), fleet.Graceful); !errors.Is(err, fleet.ErrRefused) || !strings.Contains(err.Error(), "another graceful kill") {
		t.Errorf("check: %v, want a refusal naming the other kill (a dry run shows it)", err)
	}
	err := fl.Kill(ctxT(t), "stayup-fleet_1", fleet.Graceful)
	if !errors.Is(err, fleet.ErrRefused) || !strings.Contains(err.Error(), "another graceful kill") {
		t.Fatalf("err %v, want a refusal naming the other kill", err)
	}
	fl.now = func() time.Time { return t0.Add(11 * time.Minute) }
	if err := fl.CheckKill(ctxT(t), fleet.Graceful); err != nil {
		t.Errorf("check once the hold expired: %v, want none (the kill restores it first)", err)
	}
	if len(f.updates) != 0 || len(f.puts) != 0 {
		t.Errorf("capacity %v and setting writes %v: a refused kill changes nothing", f.updates, f.puts)
	}
}

// setHold leaves the setting as a graceful kill that died would: the
// minimum and default at held, the tag recording 3.
func setHold(f *fakeAzure, held string, until time.Time) {
	r := f.setting("stayup-fleet-a1b2")
	r.Properties.Profiles[0].Capacity.Minimum = ptr(held)
	r.Properties.Profiles[0].Capacity.Default = ptr(held)
	tag, _ := json.Marshal(hold{Held: atoi(held), Until: until, Profiles: map[string]heldBounds{"cpu": {Min: "3", Default: "3"}}})
	r.Tags[holdTag] = ptr(string(tag))
}

func TestRestoreStaleHolds(t *testing.T) {
	t.Parallel()
	t.Run("expired: restored", func(t *testing.T) {
		t.Parallel()
		f, _ := shippedFake(1)
		setHold(f, "4", t0.Add(-time.Minute))
		fl := newFleet(f)
		fl.now = func() time.Time { return t0 }
		lines, err := fl.RestoreStaleHolds(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		if len(lines) != 1 || !strings.Contains(lines[0], "restored the minimum of autoscale setting stayup-fleet-a1b2 to 3") ||
			!strings.Contains(lines[0], "did not finish") {
			t.Errorf("lines %q, want one saying the minimum went back to 3", lines)
		}
		if min, h := storedHold(t, f); min != "3" || h != nil {
			t.Errorf("minimum %s, hold %+v: want 3 and no hold", min, h)
		}
		if d := deref(f.setting("stayup-fleet-a1b2").Properties.Profiles[0].Capacity.Default); d != "3" {
			t.Errorf("default %s, want 3 back", d)
		}
	})
	t.Run("not expired: left alone, reported", func(t *testing.T) {
		t.Parallel()
		f, _ := shippedFake(1)
		setHold(f, "4", t0.Add(time.Minute))
		fl := newFleet(f)
		fl.now = func() time.Time { return t0 }
		lines, err := fl.RestoreStaleHolds(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		if len(lines) != 1 || !strings.Contains(lines[0], "left alone") || !strings.Contains(lines[0], "at 4 until") {
			t.Errorf("lines %q, want one saying the hold is left alone", lines)
		}
		if min, h := storedHold(t, f); min != "4" || h == nil || len(f.puts) != 0 {
			t.Errorf("minimum %s, hold %+v, writes %v: a running kill's hold must be left as it is", min, h, f.puts)
		}
	})
	t.Run("changed since: only the tag goes", func(t *testing.T) {
		t.Parallel()
		f, _ := shippedFake(1)
		setHold(f, "4", t0.Add(-time.Minute))
		f.setting("stayup-fleet-a1b2").Properties.Profiles[0].Capacity.Minimum = ptr("5")
		fl := newFleet(f)
		fl.now = func() time.Time { return t0 }
		lines, err := fl.RestoreStaleHolds(ctxT(t))
		if err != nil || len(lines) != 1 || !strings.Contains(lines[0], `left profile "cpu" (now 5), changed since the hold`) {
			t.Errorf("lines %q (%v), want one saying the changed minimum was left", lines, err)
		}
		if min, h := storedHold(t, f); min != "5" || h != nil {
			t.Errorf("minimum %s, hold %+v: want 5 kept and no hold", min, h)
		}
	})
	t.Run("no hold, or a tag not ours", func(t *testing.T) {
		t.Parallel()
		f, _ := shippedFake(1)
		fl := newFleet(f)
		if lines, err := fl.RestoreStaleHolds(ctxT(t)); err != nil || len(lines) != 0 {
			t.Errorf("without a hold: lines %q, err %v, want neither", lines, err)
		}
		f.setting("stayup-fleet-a1b2").Tags[holdTag] = ptr("min=3")
		lines, err := fl.RestoreStaleHolds(ctxT(t))
		if err != nil || len(lines) != 1 || !strings.Contains(lines[0], "by hand") {
			t.Errorf("unreadable tag: lines %q, err %v, want one line asking for a person", lines, err)
		}
		if len(f.puts) != 0 {
			t.Errorf("writes %v: nothing is changed on a guess", f.puts)
		}
	})
}
