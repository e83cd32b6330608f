// Package rollouttest is a cloud for rollout's tests: a fleet of real
// HTTP servers on loopback behind a small reverse proxy (the load
// balancer), rolled one at a time with surge by a fake group that plays
// one cloud's rolling mechanism, and an in-memory stack whose up hands the
// image to it. Each server answers with X-Stayup-Version: <image>, or,
// with HelloApp set, as Google's hello-app does: no header, the version in
// the body.
//
// On "aws" it plays an instance refresh at MinHealthyPercentage 100 (sources
// in the comments where each rule is played): a replacement that does not
// pass the health check within the grace is terminated and launched again;
// with AutoRollback the refresh carries a desired configuration, rolls back
// after a failed replacement and relaunches the new image for ever (the
// provider already moved the group to it), and while such a refresh is
// active the group refuses an up. Fleet() adds the refresh's cancel.
//
// On "gcp" it plays a regional managed instance group with a PROACTIVE
// update policy (Compute Engine guide, "Automatically apply VM
// configuration updates in a MIG", and "Checking the status of managed
// instance groups"): every up that changes the image is a new instance
// template, and the group targets it at once; while any instance is not on
// the target, or any action is under way, the group is not stable and the
// version target is not reached ("updating"); a new target mid-roll
// supersedes the old one, and every instance not on it is replaced,
// including those on the template the roll started from (a rollback is a
// full roll to a new template with the old image). Replacements come one
// at a time here rather than one per zone. Replaced templates stay
// (retained on delete) until CleanupRevisions deletes those no instance
// uses. With Stack.ProviderWaits, up behaves as the provider's
// waitForInstances (UPDATED) does: it returns only once the group is
// stable on its target, or at ProviderTimeout.
package rollouttest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"

	"stayup/internal/fleet"
)

// Behaviour is how an image misbehaves while the group rolls to it.
type Behaviour int

const (
	// Good: the new servers get healthy, the old ones are drained.
	Good Behaviour = iota
	// Abrupt: the group stops each old server while the load balancer
	// still sends it traffic, so requests are dropped.
	Abrupt
	// NeverHealthy: the image's servers answer 503, forever. The group
	// keeps waiting (GCP, AWS), or on Azure rolls back by itself and
	// reports Faulted.
	NeverHealthy
	// ServesErrors: the image passes its health checks (/readyz answers
	// 200) but answers every other request with 500: only clients see it.
	ServesErrors
	// InPlace (azure): max surge finds no quota for the batches, so the
	// scale set upgrades the VMs in place instead ("During the MaxSurge
	// rolling upgrade processes, Azure performs a quota check before each
	// new batch. If that quota check fails, the upgrade will default to a
	// non-MaxSurge upgrade and be upgraded in place": Rolling upgrades with
	// MaxSurge on Virtual Machine Scale Sets, Considerations). An in-place
	// model update does not run customData again (it runs at first boot
	// only), so each VM reports the latest model while its old container
	// goes on serving the old image. The upgrade ends Completed.
	InPlace
)

// ErrActiveDesiredConfiguration is AWS's answer to a group update while an
// instance refresh with a desired configuration is active: a
// ValidationError (HTTP 400) with this message (Auto Scaling user guide,
// "How an instance refresh works", Limitations: Update restriction; the
// provider prints it as "ValidationError: ... status code: 400").
var ErrActiveDesiredConfiguration = errors.New("updating Auto Scaling Group: ValidationError: An active instance refresh with a desired configuration exists. All configuration options derived from the desired configuration are not available for update while the instance refresh is active.")

// RollbackReason is the status reason the simulated refresh gives when it
// rolls back. Assumed, to check on a live run: the exact wording AWS uses.
const RollbackReason = "The instance refresh failed because new instances did not pass health checks; rolling back"

// Cloud is the simulated group and its load balancer.
type Cloud struct {
	t    testing.TB
	name string
	step time.Duration
	URL  string
	Bad  map[string]Behaviour
	// HelloApp makes the servers answer as hello-app does: no version
	// header, "Version: <image>" in the body.
	HelloApp bool
	// AutoRollback (aws) starts refreshes with a desired configuration, as
	// the provider does when the refresh's auto rollback is on.
	AutoRollback bool
	// Health is what Settings reports; GraceSteps is how many steps a
	// replacement has to pass its check before the group gives up on it
	// (default 20).
	Health     fleet.Settings
	GraceSteps int
	mu         sync.Mutex
	insts      []*server
	seq        int
	rr         int
	gen        int
	// the group's rolling state: target is the revision rolled to (on
	// gcp an instance template, elsewhere the image), image its image
	target      string
	image       string
	templates   []string // gcp: the templates that exist, oldest first
	made        int
	retargets   []time.Time
	status      string
	reason      string
	started     time.Time
	inProgress  bool
	withDesired bool // the active refresh carries a desired configuration
	desired     int
	// counts of what the group did, for tests
	cancels, refused, terminatedUnhealthy int
	launched                              map[string]int
}

type server struct {
	// rev is the revision the group reports for the server: the one it
	// was launched from, or the target after an in-place upgrade, when it
	// differs from the image the server runs.
	id, image string
	rev       string
	srv       *http.Server
	url       *url.URL
	state     fleet.State
	health    fleet.Health
	launched  time.Time
}

type ctxKey struct{}

// New starts n servers running image behind a proxy; step paces the
// group (boot, health checks, drain). cloud is "aws", "gcp" or "azure":
// it chooses the status words and what a failed rollout does.
func New(t testing.TB, cloud, image string, n int, step time.Duration, opts ...func(*Cloud)) *Cloud {
	c := &Cloud{t: t, name: cloud, step: step, Bad: map[string]Behaviour{}, target: image, image: image, desired: n, status: c0(cloud)}
	if cloud == "gcp" {
		c.target = c.newTemplateLocked()
	}
	for _, o := range opts {
		o(c)
	}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(r.In.Context().Value(ctxKey{}).(*url.URL)) },
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, _ error) {
			w.WriteHeader(http.StatusBadGateway)
		},
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		var in []*server
		for _, s := range c.insts {
			if s.health == fleet.Healthy {
				in = append(in, s)
			}
		}
		var to *url.URL
		if len(in) > 0 {
			c.rr++
			to = in[c.rr%len(in)].url
		}
		c.mu.Unlock()
		if to == nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, to)))
	})}
	go srv.Serve(ln)
	c.URL = "http://" + ln.Addr().String() + "/"
	for range n {
		s := c.launch(image, c.target)
		s.state, s.health = fleet.Running, fleet.Healthy
	}
	t.Cleanup(func() {
		c.mu.Lock()
		c.gen++
		list := c.insts
		c.mu.Unlock()
		srv.Close()
		for _, s := range list {
			s.srv.Close()
		}
	})
	return c
}

func c0(cloud string) string {
	switch cloud {
	case "aws":
		return "Successful"
	case "azure":
		return "Completed"
	}
	return "stable"
}

func progressWord(cloud string) string {
	switch cloud {
	case "aws":
		return "InProgress"
	case "azure":
		return "RollingForward"
	}
	return "updating"
}

// HelloApp is an option of New: every server, the first ones too, answers
// as hello-app does.
func HelloApp(c *Cloud) { c.HelloApp = true }

func (c *Cloud) newTemplateLocked() string {
	c.made++
	name := fmt.Sprintf("tpl-%d", c.made)
	c.templates = append(c.templates, name)
	return name
}

// launch starts a server for image from revision rev and adds it to the
// group, pending.
func (c *Cloud) launch(image, rev string) *server {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		c.t.Fatal(err)
	}
	c.mu.Lock()
	bad := c.Bad[image] == NeverHealthy
	errs := c.Bad[image] == ServesErrors
	c.seq++
	s := &server{id: fmt.Sprintf("i-%d", c.seq), image: image, rev: rev, state: fleet.Pending, health: fleet.Initial, launched: time.Now()}
	c.insts = append(c.insts, s)
	if c.launched == nil {
		c.launched = map[string]int{}
	}
	c.launched[image]++
	c.mu.Unlock()
	hello := c.HelloApp
	s.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !hello {
			w.Header().Set("X-Stayup-Version", image)
		}
		if bad {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		if errs && r.URL.Path != "/readyz" {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		if hello {
			// kubernetes-engine-samples quickstarts/hello-app/main.go
			fmt.Fprintf(w, "Hello, world!\nVersion: %s\nHostname: %s\n", image, s.id)
			return
		}
		fmt.Fprintf(w, "hello from %s (%s)\n", s.id, image)
	})}
	s.url = &url.URL{Scheme: "http", Host: ln.Addr().String()}
	go s.srv.Serve(ln)
	return s
}

func (c *Cloud) remove(s *server) {
	c.mu.Lock()
	for i, x := range c.insts {
		if x == s {
			c.insts = append(c.insts[:i], c.insts[i+1:]...)
			break
		}
	}
	c.mu.Unlock()
}

// ready checks a server the way the load balancer's health check does.
func ready(s *server) bool {
	cl := http.Client{Timeout: time.Second}
	resp, err := cl.Get(s.url.String() + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// RollTo is what the cloud does when up changes the group's image: roll
// every instance to it, one at a time with surge. A roll already running
// is superseded (the provider cancels a running refresh before it starts
// another), except on AWS while the refresh has a desired configuration:
// then the group update is refused.
func (c *Cloud) RollTo(image string) error {
	c.mu.Lock()
	if c.name == "aws" && c.inProgress && c.withDesired {
		c.refused++
		c.mu.Unlock()
		return ErrActiveDesiredConfiguration
	}
	if image == c.image && (c.name == "gcp" || !c.inProgress && c.reachedLocked()) {
		// the same image: no new template, nothing for the group to do
		// (on gcp a roll under way goes on)
		c.mu.Unlock()
		return nil
	}
	c.gen++
	gen := c.gen
	prev := c.target
	rev := image
	if c.name == "gcp" {
		rev = c.newTemplateLocked()
	}
	c.target, c.image, c.inProgress, c.status, c.reason, c.started = rev, image, true, progressWord(c.name), "", time.Now()
	c.retargets = append(c.retargets, c.started)
	c.withDesired = c.name == "aws" && c.AutoRollback
	c.mu.Unlock()
	go c.roll(gen, prev, image, rev)
	return nil
}

// Retargets are the times the group's target changed (each up that
// changed the image).
func (c *Cloud) Retargets() []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Time(nil), c.retargets...)
}

// Launched counts the servers launched for image since New.
func (c *Cloud) Launched(image string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.launched[image]
}

// Templates are the gcp group's instance templates that still exist.
func (c *Cloud) Templates() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.templates...)
}

// Counts says how often the group cancelled a refresh, refused an update,
// and terminated a replacement that never passed its check.
func (c *Cloud) Counts() (cancels, refused, terminatedUnhealthy int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cancels, c.refused, c.terminatedUnhealthy
}

func (c *Cloud) current(gen int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen == gen
}

func (c *Cloud) roll(gen int, prev, image, rev string) {
	time.Sleep(c.step)
	for c.current(gen) {
		c.mu.Lock()
		var old *server
		for _, s := range c.insts {
			if s.rev != rev {
				old = s
				break
			}
		}
		mode := c.Bad[image]
		serving := old != nil && old.health == fleet.Healthy
		c.mu.Unlock()
		if old == nil {
			break
		}
		if mode == InPlace && c.name == "azure" {
			time.Sleep(c.step)
			c.mu.Lock()
			old.rev = rev
			c.mu.Unlock()
			continue
		}
		if !serving {
			// not serving: replace without surge
			c.remove(old)
			old.srv.Close()
			continue
		}
		n := c.launch(image, rev)
		healthy := false
		grace := c.GraceSteps
		if grace <= 0 {
			grace = 20
		}
		for k := 0; k < grace && c.current(gen); k++ {
			time.Sleep(c.step)
			c.mu.Lock()
			n.state = fleet.Running
			c.mu.Unlock()
			if ready(n) {
				healthy = true
				break
			}
		}
		if !healthy {
			if !c.current(gen) {
				return
			}
			if c.name == "azure" {
				// Rollback on policy breach: the failed instance goes,
				// the old ones stay, the upgrade is Faulted.
				c.remove(n)
				n.srv.Close()
				c.mu.Lock()
				c.inProgress, c.status = false, "Faulted"
				c.mu.Unlock()
				return
			}
			if c.name == "aws" {
				c.mu.Lock()
				withDesired := c.withDesired
				c.mu.Unlock()
				if !withDesired {
					// Health check type ELB: after the grace the group
					// terminates the failing replacement and launches
					// another; the refresh stays InProgress ("If the new
					// instances don't pass their health checks, Amazon EC2
					// Auto Scaling terminates and replaces them", user
					// guide, "How an instance refresh works").
					c.mu.Lock()
					n.state, n.health = fleet.Stopping, fleet.Unhealthy
					c.mu.Unlock()
					time.Sleep(c.step)
					c.remove(n)
					n.srv.Close()
					c.mu.Lock()
					c.terminatedUnhealthy++
					c.mu.Unlock()
					continue
				}
				// Auto rollback: the refresh rolls back to the group's
				// configuration, which the provider already set to the new
				// version, so it relaunches the new image for ever.
				c.mu.Lock()
				if c.gen == gen {
					c.status, c.reason = "RollbackInProgress", RollbackReason
				}
				c.mu.Unlock()
			}
			// GCP keeps trying until superseded; so does a perpetual AWS
			// rollback.
			for c.current(gen) {
				time.Sleep(c.step)
			}
			return
		}
		c.mu.Lock()
		n.health = fleet.Healthy
		c.mu.Unlock()
		time.Sleep(c.step)
		if mode == Abrupt {
			old.srv.Close() // still in the load balancer: requests fail
			time.Sleep(3 * c.step)
			c.remove(old)
			continue
		}
		c.mu.Lock()
		old.health, old.state = fleet.Draining, fleet.Stopping
		c.mu.Unlock()
		time.Sleep(c.step)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		old.srv.Shutdown(ctx)
		cancel()
		c.remove(old)
	}
	c.mu.Lock()
	if c.gen == gen {
		c.inProgress, c.status, c.withDesired = false, c0(c.name), false
	}
	c.mu.Unlock()
}

// Fleet is the group as rollout sees it: on "aws" with the refresh's
// cancel (fleet.Canceller), on "gcp" with the cleanup of retained
// templates (fleet.RevisionCleaner), elsewhere the group as it is.
func (c *Cloud) Fleet() fleet.Fleet {
	switch c.name {
	case "aws":
		return awsGroup{c}
	case "gcp":
		return gcpGroup{c}
	}
	return c
}

type gcpGroup struct{ *simCloud }

// CleanupRevisions deletes the templates older than the target that no
// instance runs; Compute refuses to delete one in use (see fleet/gcp).
func (g gcpGroup) CleanupRevisions(context.Context) (fleet.Cleanup, error) {
	c := g.simCloud
	c.mu.Lock()
	defer c.mu.Unlock()
	used := map[string]bool{}
	for _, s := range c.insts {
		used[s.rev] = true
	}
	var out fleet.Cleanup
	var keep []string
	older := true
	for _, t := range c.templates {
		switch {
		case t == c.target:
			older = false
			keep = append(keep, t)
		case !older:
			out.Skipped = append(out.Skipped, t)
			keep = append(keep, t)
		case used[t]:
			out.InUse = append(out.InUse, t)
			keep = append(keep, t)
		default:
			out.Deleted = append(out.Deleted, t)
		}
	}
	c.templates = keep
	return out, nil
}

// simCloud names the embedded field apart from the Cloud method.
type simCloud = Cloud

type awsGroup struct{ *simCloud }

// CancelRollout plays CancelInstanceRefresh: the active refresh (or its
// rollback) shows Cancelling while the launch under way finishes, then
// Cancelled; the instances it launched stay (a cancel "does not roll back
// any changes that it made", API reference). Nothing to cancel
// (ActiveInstanceRefreshNotFound) is no error.
func (a awsGroup) CancelRollout(context.Context) error {
	c := a.simCloud
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.inProgress || c.status == "Cancelling" {
		return nil
	}
	c.cancels++
	c.gen++
	gen := c.gen
	c.status, c.reason = "Cancelling", ""
	go func() {
		time.Sleep(2 * c.step)
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.gen == gen {
			c.status, c.inProgress, c.withDesired = "Cancelled", false, false
		}
	}()
	return nil
}

func (c *Cloud) reachedLocked() bool {
	for _, s := range c.insts {
		if s.rev != c.target {
			return false
		}
	}
	return true
}

// Images lists the images of the instances in service.
func (c *Cloud) Images() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, s := range c.insts {
		if s.health == fleet.Healthy {
			out = append(out, s.image)
		}
	}
	sort.Strings(out)
	return out
}

// The fleet.Fleet view of the group.

func (c *Cloud) Cloud() string { return c.name }
func (c *Cloud) Name() string  { return "sim-group" }

func (c *Cloud) Instances(context.Context) ([]fleet.Instance, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []fleet.Instance
	for i, s := range c.insts {
		out = append(out, fleet.Instance{ID: s.id, Zone: fmt.Sprintf("zone-%d", i%3), State: s.state, Health: s.health, Revision: s.rev, Launched: s.launched})
	}
	return out, nil
}

func (c *Cloud) Capacity(context.Context) (fleet.Capacity, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return fleet.Capacity{Desired: c.desired, Min: 3, Max: 9}, nil
}

func (c *Cloud) Kill(context.Context, string, fleet.KillMode) error {
	return fmt.Errorf("the rollout sim does not kill")
}

func (c *Cloud) Rollout(context.Context) (fleet.Rollout, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	on := 0
	for _, s := range c.insts {
		if s.rev == c.target {
			on++
		}
	}
	pct := -1
	if len(c.insts) > 0 {
		pct = 100 * on / len(c.insts)
	}
	return fleet.Rollout{InProgress: c.inProgress, Status: c.status, Reason: c.reason, Percent: pct, Target: c.target, Reached: c.reachedLocked(), Started: c.started}, nil
}

func (c *Cloud) Settings(context.Context) (fleet.Settings, error) { return c.Health, nil }

// Stack is an in-memory stack: config, outputs, and an up that hands the
// image to the cloud.
type Stack struct {
	mu      sync.Mutex
	Cloud   *Cloud
	config  map[string]string
	Calls   []string
	UpErr   error
	applied string
	// ProviderWaits makes up return only once the group is stable on its
	// target (the GCP provider's waitForInstances with UPDATED: isStable
	// and versionTarget.isReached, terraform-provider-google-beta
	// resource_compute_region_instance_group_manager.go), or fail at
	// ProviderTimeout (the resource's custom timeout).
	ProviderWaits   bool
	ProviderTimeout time.Duration
	// UpReturned are the times each up returned.
	UpReturned []time.Time
}

// NewStack is a deployed stack running image on c.
func NewStack(c *Cloud, image string) *Stack {
	return &Stack{Cloud: c, config: map[string]string{"stayup:cloud": c.name, "stayup:image": image}, applied: image}
}

func (s *Stack) call(v string) {
	s.mu.Lock()
	s.Calls = append(s.Calls, v)
	s.mu.Unlock()
}

// CallLog returns the calls so far.
func (s *Stack) CallLog() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.Calls...)
}

// Image is the stack's stayup:image config.
func (s *Stack) Image() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.config["stayup:image"]
}

func (s *Stack) Config(context.Context) (map[string]auto.ConfigValue, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]auto.ConfigValue{}
	for k, v := range s.config {
		out[k] = auto.ConfigValue{Value: v}
	}
	return out, nil
}

func (s *Stack) SetConfig(_ context.Context, key, value string, _ bool) error {
	s.call("set " + key + "=" + value)
	s.mu.Lock()
	s.config[key] = value
	s.mu.Unlock()
	return nil
}

func (s *Stack) outputs() map[string]any {
	return map[string]any{"url": s.Cloud.URL, "cloud": s.Cloud.name, "image": s.applied, "fleet": map[string]any{"group": "sim-group"}}
}

func (s *Stack) Outputs(context.Context) (map[string]any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.outputs(), nil
}

func (s *Stack) Up(context.Context) (map[string]any, error) {
	s.call("up")
	if s.UpErr != nil {
		return nil, s.UpErr
	}
	s.mu.Lock()
	s.applied = s.config["stayup:image"]
	img := s.applied
	out := s.outputs()
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.UpReturned = append(s.UpReturned, time.Now())
		s.mu.Unlock()
	}()
	if err := s.Cloud.RollTo(img); err != nil {
		return nil, err
	}
	if s.ProviderWaits {
		deadline := time.Now().Add(s.ProviderTimeout)
		for {
			ro, _ := s.Cloud.Rollout(context.Background())
			if !ro.InProgress && ro.Reached {
				break
			}
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("updating RegionInstanceGroupManager: timeout while waiting for state to become 'created' (last state: 'reaching version target', timeout: %v)", s.ProviderTimeout)
			}
			time.Sleep(s.Cloud.step)
		}
	}
	return out, nil
}

func (s *Stack) Refresh(context.Context) error {
	s.call("refresh")
	return nil
}
