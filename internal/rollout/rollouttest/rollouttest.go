// Package rollouttest is a cloud for rollout's tests: a fleet of real
// HTTP servers on loopback behind a small reverse proxy (the load
// balancer), rolled one at a time with surge by a fake group that plays
// one cloud's rolling mechanism, and an in-memory stack whose up hands the
// image to it. Each server answers with X-Stayup-Version: <image>.
package rollouttest

import (
	"context"
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
)

// Cloud is the simulated group and its load balancer.
type Cloud struct {
	t     testing.TB
	name  string
	step  time.Duration
	URL   string
	Bad   map[string]Behaviour
	mu    sync.Mutex
	insts []*server
	seq   int
	rr    int
	gen   int
	// the group's rolling state
	target     string
	status     string
	inProgress bool
	desired    int
}

type server struct {
	id, image string
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
func New(t testing.TB, cloud, image string, n int, step time.Duration) *Cloud {
	c := &Cloud{t: t, name: cloud, step: step, Bad: map[string]Behaviour{}, target: image, desired: n, status: c0(cloud)}
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
		s := c.launch(image)
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

// launch starts a server for image and adds it to the group, pending.
func (c *Cloud) launch(image string) *server {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		c.t.Fatal(err)
	}
	c.mu.Lock()
	bad := c.Bad[image] == NeverHealthy
	c.seq++
	s := &server{id: fmt.Sprintf("i-%d", c.seq), image: image, state: fleet.Pending, health: fleet.Initial, launched: time.Now()}
	c.insts = append(c.insts, s)
	c.mu.Unlock()
	s.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-Stayup-Version", image)
		if bad {
			w.WriteHeader(http.StatusServiceUnavailable)
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
// is superseded.
func (c *Cloud) RollTo(image string) {
	c.mu.Lock()
	if image == c.target && !c.inProgress && c.reachedLocked() {
		c.mu.Unlock()
		return
	}
	c.gen++
	gen := c.gen
	prev := c.target
	c.target, c.inProgress, c.status = image, true, progressWord(c.name)
	c.mu.Unlock()
	go c.roll(gen, prev, image)
}

func (c *Cloud) current(gen int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen == gen
}

func (c *Cloud) roll(gen int, prev, image string) {
	time.Sleep(c.step)
	for c.current(gen) {
		c.mu.Lock()
		var old *server
		for _, s := range c.insts {
			if s.image != image {
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
		if !serving {
			// not serving: replace without surge
			c.remove(old)
			old.srv.Close()
			continue
		}
		n := c.launch(image)
		healthy := false
		for k := 0; k < 20 && c.current(gen); k++ {
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
			// GCP and AWS keep trying until superseded.
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
		c.inProgress, c.status = false, c0(c.name)
	}
	c.mu.Unlock()
}

func (c *Cloud) reachedLocked() bool {
	for _, s := range c.insts {
		if s.image != c.target {
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
		out = append(out, fleet.Instance{ID: s.id, Zone: fmt.Sprintf("zone-%d", i%3), State: s.state, Health: s.health, Revision: s.image, Launched: s.launched})
	}
	return out, nil
}

func (c *Cloud) Capacity(context.Context) (fleet.Capacity, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return fleet.Capacity{Desired: c.desired, Min: 2, Max: 9}, nil
}

func (c *Cloud) Kill(context.Context, string, fleet.KillMode) error {
	return fmt.Errorf("the rollout sim does not kill")
}

func (c *Cloud) Rollout(context.Context) (fleet.Rollout, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	on := 0
	for _, s := range c.insts {
		if s.image == c.target {
			on++
		}
	}
	pct := -1
	if len(c.insts) > 0 {
		pct = 100 * on / len(c.insts)
	}
	return fleet.Rollout{InProgress: c.inProgress, Status: c.status, Percent: pct, Target: c.target, Reached: c.reachedLocked()}, nil
}

func (c *Cloud) Settings(context.Context) (fleet.Settings, error) { return fleet.Settings{}, nil }

// Stack is an in-memory stack: config, outputs, and an up that hands the
// image to the cloud.
type Stack struct {
	mu      sync.Mutex
	Cloud   *Cloud
	config  map[string]string
	Calls   []string
	UpErr   error
	applied string
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
	s.Cloud.RollTo(img)
	return out, nil
}

func (s *Stack) Refresh(context.Context) error {
	s.call("refresh")
	return nil
}
