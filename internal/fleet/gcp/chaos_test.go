package gcp

import (
	"context"
	"math/rand/v2"
	"net"
	"net/http"
	"testing"
	"time"

	"cloud.google.com/go/compute/apiv1/computepb"
	"google.golang.org/protobuf/proto"

	"stayup/internal/chaos"
	"stayup/internal/fleet"
	"stayup/internal/probe"
)

// migSim plays a regional managed instance group at the capacity the
// example stack ships (autoscaler min 3, max 9, target 3; one VM in each
// of three zones) through the fake Compute clients, one step per listing
// of the group. What a hard reset leads to, from the Compute docs:
//   - the VM stays RUNNING with its name and creation time throughout
//     ("Reset a VM instance");
//   - the backend service's check fails it while it boots, and passes it
//     again once the container serves;
//   - autohealing's initial delay covers only "new instances or recently
//     recreated instances" (InstanceGroupManagerAutoHealingPolicy), so a
//     reset VM that boots slower than autohealing's check is recreated:
//     the group shows RECREATING, then a VM of the same name and a new
//     creation time, CREATING, then RUNNING.
//
// Assumed, to check on a live run: how many checks a COS VM's reboot and
// container start take; bootSteps stands for it.
type migSim struct {
	f         *fakeGCP
	zones     map[string]string // name -> zone
	step      int
	resetAt   map[string]int
	bootSteps int  // listings from the reset until the app serves again
	autoheal  bool // the boot outlasts autohealing: the group recreates it
}

func newMIGSim(bootSteps int, autoheal bool) *migSim {
	f := newFake()
	f.group.TargetSize = proto.Int32(3)
	f.group.Status.IsStable = proto.Bool(true)
	f.group.Status.VersionTarget.IsReached = proto.Bool(true)
	f.scaler.AutoscalingPolicy.MinNumReplicas = proto.Int32(3)
	// Autohealing every second, condemned at the first failure: chaos
	// holds a reboot for interval x threshold before it counts it, and the
	// test should not wait the shipped 30 s.
	f.checks["live"].CheckIntervalSec, f.checks["live"].UnhealthyThreshold = proto.Int32(1), proto.Int32(1)
	s := &migSim{f: f, zones: map[string]string{
		"vm-b": "europe-west1-b", "vm-c": "europe-west1-c", "vm-d": "europe-west1-d",
	}, resetAt: map[string]int{}, bootSteps: bootSteps, autoheal: autoheal}
	f.vms = map[string]*computepb.Instance{}
	for name, zone := range s.zones {
		f.vms[name] = vm(zone, name, t0)
	}
	f.onReset = func(name string) { s.resetAt[name] = s.step }
	f.onList = s.advance
	s.render(map[string]string{}, map[string]string{})
	return s
}

// advance moves the simulated group one step and lays out what the APIs
// answer at that step.
func (s *migSim) advance() {
	s.step++
	action, health := map[string]string{}, map[string]string{}
	for name, at := range s.resetAt {
		n := s.step - at
		switch {
		case n < 1:
		case !s.autoheal && n < s.bootSteps:
			health[name] = "UNHEALTHY"
		case !s.autoheal:
			// booted: HEALTHY again, same VM
		case n < 2:
			health[name] = "UNHEALTHY"
		case n == 2:
			action[name], health[name] = "RECREATING", "UNHEALTHY"
		case n == 3:
			s.f.vms[name] = vm(s.zones[name], name, t0.Add(time.Hour+3*time.Minute))
			action[name], health[name] = "CREATING", ""
		case n < 3+s.bootSteps:
			health[name] = "UNHEALTHY"
		}
	}
	s.render(action, health)
}

func (s *migSim) render(action, health map[string]string) {
	var ms []*computepb.ManagedInstance
	s.f.health = nil
	for _, name := range []string{"vm-b", "vm-c", "vm-d"} {
		zone, a, st := s.zones[name], action[name], "RUNNING"
		if a == "" {
			a = "NONE"
		}
		if a == "CREATING" {
			st = "STAGING"
		}
		ms = append(ms, managed(zone, name, st, a, "tpl-2"))
		h, ok := health[name]
		if !ok {
			h = "HEALTHY"
		}
		if h != "" {
			s.f.health = append(s.f.health, status(zone, name, h))
		}
	}
	s.f.pages = []*computepb.RegionInstanceGroupManagersListInstancesResponse{{ManagedInstances: ms}}
}

func loopbackOK(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String() + "/"
}

func runChaos(t *testing.T, s *migSim) chaos.Report {
	t.Helper()
	e, err := chaos.Prepare(context.Background(), chaos.Options{
		Stack: "gcp", Fleet: newFleet(s.f), URL: loopbackOK(t), Count: 1, Mode: fleet.Abrupt,
		Timeout: 5 * time.Second, Poll: 5 * time.Millisecond, Baseline: 20 * time.Millisecond,
		Probe: []probe.Option{probe.Interval(10 * time.Millisecond)},
		Rand:  rand.New(rand.NewPCG(3, 3)),
	})
	if err != nil {
		t.Fatalf("at the shipped capacity (min = desired = 3, one VM per zone): %v", err)
	}
	r, err := e.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(s.f.reset) != 1 || s.f.count("groups.recreateInstances") != 0 {
		t.Errorf("reset %v, recreate calls %d: want one hard reset and nothing else", s.f.reset, s.f.count("groups.recreateInstances"))
	}
	if r.Verdict != chaos.Recovered || len(r.Victims) != 1 {
		t.Fatalf("verdict %q (%s), victims %+v; timeline %+v", r.Verdict, r.Reason, r.Victims, r.Timeline)
	}
	return r
}

// An abrupt kill on GCP is a hard reset; the VM boots again under its name
// and the load balancer takes it back: a recovery by reboot.
func TestChaosResetVictimRebootsUnderItsName(t *testing.T) {
	t.Parallel()
	s := newMIGSim(4, false)
	r := runChaos(t, s)
	v := r.Victims[0]
	if v.HealedBy != chaos.HealedRebooted || v.Replacement != "" || v.Rejoined == nil || v.Detected == nil {
		t.Errorf("victim %+v: want seen out, then rebooted and back, not replaced", v)
	}
}

// The same kill when the boot outlasts autohealing: the group recreates
// the VM under its name, and that counts as a replacement.
func TestChaosResetVictimRecreatedByAutohealing(t *testing.T) {
	t.Parallel()
	s := newMIGSim(3, true)
	r := runChaos(t, s)
	v := r.Victims[0]
	if v.HealedBy != chaos.HealedReplaced || v.Replacement != v.ID || v.Healthy == nil {
		t.Errorf("victim %+v: want replaced by a new VM of the same name", v)
	}
}
