package main

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"stayup/infra/spec"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoadConfigDefaults(t *testing.T) {
	t.Parallel()
	c, err := loadConfig(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.port, 8080; got != want {
		t.Errorf("port = %d, want %d", got, want)
	}
	if got, want := c.version, version; got != want {
		t.Errorf("version = %q, want the built-in %q", got, want)
	}
	if got, want := c.drain, spec.AppDrain; got != want {
		t.Errorf("drain = %v, want spec.AppDrain (%v)", got, want)
	}
	if got, want := c.shutdownTimeout, 20*time.Second; got != want {
		t.Errorf("shutdown timeout = %v, want %v", got, want)
	}
}

func TestLoadConfigFromEnvironment(t *testing.T) {
	t.Parallel()
	c, err := loadConfig(env(map[string]string{
		"PORT": "9090", "VERSION": "2.0.0", "ZONE": "eu-west-1b", "INSTANCE_ID": "i-0abc",
		"DRAIN": "2s", "SHUTDOWN_TIMEOUT": "3s",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := config{port: 9090, version: "2.0.0", zone: "eu-west-1b", instanceID: "i-0abc", drain: 2 * time.Second, shutdownTimeout: 3 * time.Second}
	if c != want {
		t.Errorf("config = %+v, want %+v", c, want)
	}
}

func TestLoadConfigReportsEveryProblem(t *testing.T) {
	t.Parallel()
	_, err := loadConfig(env(map[string]string{"PORT": "80a", "DRAIN": "-1s", "SHUTDOWN_TIMEOUT": "soon"}))
	if err == nil {
		t.Fatal("no error for a bad PORT, DRAIN and SHUTDOWN_TIMEOUT")
	}
	for _, name := range []string{"PORT", "DRAIN", "SHUTDOWN_TIMEOUT"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not name %s", err, name)
		}
	}
	for _, port := range []string{"0", "65536"} {
		if _, err := loadConfig(env(map[string]string{"PORT": port})); err == nil {
			t.Errorf("PORT=%s accepted", port)
		}
	}
}

// The drain chain (infra/spec/timing.go) from the app's side: the load
// balancer notices readiness failing before the drain ends, and the drain
// plus the shutdown deadline end before the container's stop timeout.
func TestDefaultsFitTheDrainChain(t *testing.T) {
	t.Parallel()
	notice := spec.HealthCheckInterval * spec.UnhealthyThreshold
	if !(notice < spec.AppDrain) {
		t.Errorf("the LB notices in %v, not before the drain (%v) ends", notice, spec.AppDrain)
	}
	if total := spec.AppDrain + defaultShutdownTimeout; !(total < spec.ContainerStopTimeout) {
		t.Errorf("drain + shutdown = %v, not under the container stop timeout %v", total, spec.ContainerStopTimeout)
	}
	if defaultShutdownTimeout <= 0 {
		t.Errorf("shutdown timeout %v: the drain leaves no time to shut down", defaultShutdownTimeout)
	}
	// ALB's idle timeout (infra/aws/loadbalancer.go) and Google's backend
	// keep-alive: the app must outlast both.
	for _, lb := range []time.Duration{60 * time.Second, 600 * time.Second} {
		if !(idleTimeout > lb) {
			t.Errorf("idle timeout %v is not longer than a load balancer's %v", idleTimeout, lb)
		}
	}
}

func testApp() *app {
	return newApp(config{version: "1.2.3", hostname: "host-a", zone: "zone-a", instanceID: "i-1"})
}

func get(t *testing.T, h http.Handler, method, target string) *http.Response {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, target, nil))
	return rec.Result()
}

func body(t *testing.T, r *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestEndpoints(t *testing.T) {
	t.Parallel()
	a := testApp()
	h := a.routes()
	tests := []struct {
		method, target string
		status         int
		body           string
	}{
		{"GET", "/", 200, "version:  1.2.3\nhostname: host-a\nzone:     zone-a\ninstance: i-1\nstate:    serving\n"},
		{"GET", "/?stayup-probe=7", 200, "version:  1.2.3"},
		{"HEAD", "/", 200, ""},
		{"GET", "/healthz", 200, "ok\n"},
		{"GET", "/readyz", 200, "ready\n"},
		{"GET", "/nothing", 404, ""},
		{"POST", "/", 405, ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.target, func(t *testing.T) {
			r := get(t, h, tt.method, tt.target)
			if got, want := r.StatusCode, tt.status; got != want {
				t.Errorf("status = %d, want %d", got, want)
			}
			if got := body(t, r); !strings.Contains(got, tt.body) {
				t.Errorf("body = %q, want it to contain %q", got, tt.body)
			}
			for name, want := range map[string]string{headerVersion: "1.2.3", headerHostname: "host-a", headerZone: "zone-a", "Cache-Control": "no-store"} {
				if got := r.Header.Get(name); got != want {
					t.Errorf("%s = %q, want %q", name, got, want)
				}
			}
			if r.Header.Get("Connection") != "" {
				t.Errorf("Connection: %q before the drain, want keep-alive", r.Header.Get("Connection"))
			}
		})
	}
}

func TestDrainFailsReadinessOnly(t *testing.T) {
	t.Parallel()
	a := testApp()
	h := a.routes()
	a.startDrain()
	for target, want := range map[string]int{"/readyz": 503, "/healthz": 200, "/": 200} {
		r := get(t, h, "GET", target)
		if r.StatusCode != want {
			t.Errorf("GET %s while draining: status %d, want %d", target, r.StatusCode, want)
		}
		if got := r.Header.Get("Connection"); got != "close" {
			t.Errorf("GET %s while draining: Connection %q, want close", target, got)
		}
	}
	if got := body(t, get(t, h, "GET", "/")); !strings.Contains(got, "draining") {
		t.Errorf("page while draining = %q, want it to say draining", got)
	}
}

// startServe runs serve in-process on a loopback port with handler h.
func startServe(t *testing.T, cfg config, h func(*app) http.Handler) (url string, signals chan os.Signal, exit chan int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := newApp(cfg)
	signals = make(chan os.Signal, 2)
	exit = make(chan int, 1)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	go func() { exit <- serve(ln, a, h(a), signals, log) }()
	return "http://" + ln.Addr().String(), signals, exit
}

// A request in flight when the drain ends finishes before the process
// exits 0.
func TestShutdownWaitsForRequestsInFlight(t *testing.T) {
	t.Parallel()
	started := make(chan struct{})
	url, signals, exit := startServe(t, config{version: "v", drain: 100 * time.Millisecond, shutdownTimeout: 5 * time.Second},
		func(*app) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				close(started)
				time.Sleep(700 * time.Millisecond)
				_, _ = io.WriteString(w, "done")
			})
		})
	got := make(chan string, 1)
	go func() {
		resp, err := http.Get(url)
		if err != nil {
			got <- err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		got <- string(b)
	}()
	<-started
	signals <- syscall.SIGTERM
	if b := <-got; b != "done" {
		t.Errorf("request in flight at shutdown got %q, want done", b)
	}
	select {
	case code := <-exit:
		if code != 0 {
			t.Errorf("exit code %d, want 0", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("did not exit")
	}
}

// A request still running at the shutdown deadline is cut, and the exit
// code says so, at the deadline, not when the request would have ended.
func TestShutdownDeadline(t *testing.T) {
	t.Parallel()
	started := make(chan struct{})
	release := make(chan struct{})
	defer close(release)
	url, signals, exit := startServe(t, config{version: "v", drain: 0, shutdownTimeout: 300 * time.Millisecond},
		func(*app) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				close(started)
				<-release
			})
		})
	go func() {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
		}
	}()
	<-started
	sent := time.Now()
	signals <- syscall.SIGTERM
	select {
	case code := <-exit:
		if code != 1 {
			t.Errorf("exit code %d, want 1 (a request was cut)", code)
		}
		if took := time.Since(sent); took > 2*time.Second {
			t.Errorf("exited %v after SIGTERM, want about the 300ms deadline", took)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("did not exit at the shutdown deadline")
	}
}

// A second signal ends the drain at once.
func TestSecondSignalEndsDrain(t *testing.T) {
	t.Parallel()
	_, signals, exit := startServe(t, config{version: "v", drain: time.Hour, shutdownTimeout: time.Second}, (*app).routes)
	signals <- syscall.SIGTERM
	signals <- os.Interrupt
	select {
	case code := <-exit:
		if code != 0 {
			t.Errorf("exit code %d, want 0", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a second signal did not end the drain")
	}
}
