package probe

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Fault modes a test server can be switched into.
const (
	modeOK int32 = iota
	modeHang
	modeReset
	mode502
	modeCloseAfterResponse
	modeDropReused
)

// faultServer is a real HTTP server on loopback that fails on purpose.
type faultServer struct {
	t       *testing.T
	addr    string
	srv     *http.Server
	mode    atomic.Int32
	slow    atomic.Int64 // nanoseconds every OK response waits
	version atomic.Value // string for the X-Version header
	dropped atomic.Int64 // connections closed by the server mid-request
	closed  atomic.Int64 // connections closed by the server after a response

	mu sync.Mutex
	ln net.Listener
}

type connCounter struct{}

func newFaultServer(t *testing.T) *faultServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &faultServer{t: t, addr: ln.Addr().String(), ln: ln}
	f.version.Store("v1")
	f.srv = &http.Server{
		Handler: http.HandlerFunc(f.serve),
		ConnContext: func(ctx context.Context, _ net.Conn) context.Context {
			return context.WithValue(ctx, connCounter{}, new(atomic.Int32))
		},
	}
	go f.srv.Serve(ln)
	t.Cleanup(func() { f.srv.Close() })
	return f
}

func (f *faultServer) url() string { return "http://" + f.addr + "/" }

func (f *faultServer) serve(w http.ResponseWriter, r *http.Request) {
	n := r.Context().Value(connCounter{}).(*atomic.Int32).Add(1)
	switch f.mode.Load() {
	case modeHang:
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
		return
	case modeReset:
		c := hijack(w)
		c.(*net.TCPConn).SetLinger(0) // close with RST, not FIN
		c.Close()
		return
	case mode502:
		w.WriteHeader(http.StatusBadGateway)
		return
	case modeCloseAfterResponse:
		// A keep-alive response (no "Connection: close"), then the server
		// closes the idle connection, as a draining target may.
		c := hijack(w)
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Version: %s\r\n\r\nok", f.version.Load())
		f.closed.Add(1)
		c.Close()
		return
	case modeDropReused:
		if n > 1 {
			// The request arrived on a reused connection: close it
			// without answering, which Go's transport retries silently.
			f.dropped.Add(1)
			hijack(w).Close()
			return
		}
	}
	if d := f.slow.Load(); d > 0 {
		time.Sleep(time.Duration(d))
	}
	w.Header().Set("X-Version", f.version.Load().(string))
	fmt.Fprint(w, "ok from the app")
}

func hijack(w http.ResponseWriter) net.Conn {
	c, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		panic(err)
	}
	return c
}

// injected is when a fault was switched on and off.
type injected struct{ start, end time.Time }

// inject switches the server into mode after a delay, and back after d.
func (f *faultServer) inject(mode int32, after, d time.Duration) <-chan injected {
	ch := make(chan injected, 1)
	go func() {
		time.Sleep(after)
		f.mode.Store(mode)
		start := time.Now()
		time.Sleep(d)
		f.mode.Store(modeOK)
		ch <- injected{start, time.Now()}
	}()
	return ch
}

// closeListener closes the listening socket (connection refused) after a
// delay and listens again on the same port d later. Accepted connections
// stay open, as they do on a target whose process is restarting.
func (f *faultServer) closeListener(after, d time.Duration) <-chan injected {
	ch := make(chan injected, 1)
	go func() {
		time.Sleep(after)
		f.mu.Lock()
		f.ln.Close()
		start := time.Now()
		time.Sleep(d)
		ln, err := net.Listen("tcp", f.addr)
		end := time.Now()
		if err != nil {
			f.t.Errorf("listen again on %s: %v", f.addr, err)
			f.mu.Unlock()
			close(ch)
			return
		}
		f.ln = ln
		f.mu.Unlock()
		go f.srv.Serve(ln)
		ch <- injected{start, end}
	}()
	return ch
}

func run(t *testing.T, url string, opts ...Option) Summary {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := Run(ctx, url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func near(a, b, tol time.Duration) bool { return a-b <= tol && b-a <= tol }

// sendDelay records how late the probe handed requests to its clients:
// on a starved machine a request scheduled inside an outage can go out
// after it, and rightly succeed.
type sendDelay struct {
	mu  sync.Mutex
	max time.Duration
}

func (d *sendDelay) option() Option {
	return OnResult(func(r Result) {
		d.mu.Lock()
		defer d.mu.Unlock()
		d.max = max(d.max, r.Sent.Sub(r.Scheduled))
	})
}

func (d *sendDelay) get() time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.max
}

// checkWindow asserts exactly one failure window, matching the injected
// one within one interval at both ends, plus however late the probe itself
// sent requests (zero on an idle machine).
func checkWindow(t *testing.T, s Summary, inj injected, late time.Duration) Window {
	t.Helper()
	if len(s.Windows) != 1 {
		t.Fatalf("windows = %+v, want exactly one around %s → %s", s.Windows, clock(inj.start), clock(inj.end))
	}
	w := s.Windows[0]
	tol := s.Interval + late
	if d := w.Start.Sub(inj.start); !near(d, 0, tol) {
		t.Errorf("window starts %v from the injected start, want within one interval (%v) and the probe's own delay (%v)", d, s.Interval, late)
	}
	if d := w.End.Sub(inj.end); !near(d, 0, tol) {
		t.Errorf("window ends %v from the injected end, want within one interval (%v) and the probe's own delay (%v)", d, s.Interval, late)
	}
	if w.Failures != s.Failures {
		t.Errorf("window holds %d failures, summary counts %d", w.Failures, s.Failures)
	}
	return w
}

// The injected faults: each must give one window where it was injected,
// and nothing else.
func TestFaultWindows(t *testing.T) {
	t.Parallel()
	const (
		rate    = 100 // interval 10ms
		timeout = 200 * time.Millisecond
		after   = 250 * time.Millisecond
		outage  = 150 * time.Millisecond
	)
	tests := []struct {
		name    string
		inject  func(f *faultServer) <-chan injected
		errors  []string // the only failure reasons allowed
		clients []Client // clients that must have failed
	}{
		{
			name:   "listener closed",
			inject: func(f *faultServer) <-chan injected { return f.closeListener(after, outage) },
			// A connection still in the accept queue when the listener
			// closes is reset by the kernel: that happened too.
			errors:  []string{"connection refused", "connection reset"},
			clients: []Client{NewConn}, // kept-alive connections stay up
		},
		{
			name:    "handler hangs past the timeout",
			inject:  func(f *faultServer) <-chan injected { return f.inject(modeHang, after, outage) },
			errors:  []string{"timeout"},
			clients: []Client{KeepAlive, NewConn},
		},
		{
			name:    "connection resets",
			inject:  func(f *faultServer) <-chan injected { return f.inject(modeReset, after, outage) },
			errors:  []string{"connection reset"},
			clients: []Client{KeepAlive, NewConn},
		},
		{
			name:    "burst of 502s",
			inject:  func(f *faultServer) <-chan injected { return f.inject(mode502, after, outage) },
			errors:  []string{"status 502"},
			clients: []Client{KeepAlive, NewConn},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFaultServer(t)
			ch := tt.inject(f)
			var late sendDelay
			s := run(t, f.url(), Rate(rate), Timeout(timeout), Duration(after+outage+300*time.Millisecond), late.option())
			inj, ok := <-ch
			if !ok {
				t.FailNow()
			}
			w := checkWindow(t, s, inj, late.get())
			for reason := range s.Errors {
				if !contains(tt.errors, reason) {
					t.Errorf("failure reason %q, want only %q (errors %v)", reason, tt.errors, s.Errors)
				}
			}
			for _, c := range tt.clients {
				if !contains(w.Clients, c) {
					t.Errorf("window clients %v, want %s among them", w.Clients, c)
				}
			}
			// Only an outage every client sees leaves a gap between successes.
			if len(tt.clients) == len(s.Clients) && s.LongestGap.Duration() < outage-s.Interval-late.get() {
				t.Errorf("longest gap %v, want at least the outage %v less one interval", s.LongestGap.Duration(), outage)
			}
			if s.Verdict != "fail" {
				t.Errorf("verdict %q with %d failures and none allowed", s.Verdict, s.Failures)
			}
		})
	}
}

func contains[T comparable](xs []T, x T) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// A 502 is counted once as a status and once as the failure reason, and
// every 502 is a failure.
func TestStatusCounts(t *testing.T) {
	t.Parallel()
	f := newFaultServer(t)
	f.mode.Store(mode502)
	s := run(t, f.url(), Rate(50), Duration(200*time.Millisecond))
	if s.Failures == 0 || s.Statuses[502] != s.Failures || s.Errors["status 502"] != s.Failures || s.Requests != s.Failures {
		t.Errorf("requests %d, failures %d, statuses %v, errors %v: want every request a counted 502",
			s.Requests, s.Failures, s.Statuses, s.Errors)
	}
}

// Slow responses under the timeout are successes, with their latency.
func TestSlowIsNotFailure(t *testing.T) {
	t.Parallel()
	f := newFaultServer(t)
	const slow = 100 * time.Millisecond
	f.slow.Store(int64(slow))
	s := run(t, f.url(), Rate(50), Timeout(250*time.Millisecond), Duration(400*time.Millisecond))
	if s.Failures != 0 || len(s.Windows) != 0 {
		t.Errorf("failures %d, windows %v, errors %v: slow responses under the timeout must not fail", s.Failures, s.Windows, s.Errors)
	}
	if s.Latency.P50 < slow {
		t.Errorf("p50 latency %v, want at least the server's %v", s.Latency.P50, slow)
	}
	// Open loop: requests went out on schedule while earlier ones were
	// still waiting, so the count is rate × duration, not duration / latency.
	if want := 2 * 20; s.Requests < want-4 {
		t.Errorf("requests %d, want about %d: the schedule must not wait for slow responses", s.Requests, want)
	}
}

// A keep-alive connection the server closes after a response is not a
// failure, and the probe counts no more retries than closes happened.
func TestKeepAliveClosedBetweenRequests(t *testing.T) {
	t.Parallel()
	f := newFaultServer(t)
	f.mode.Store(modeCloseAfterResponse)
	s := run(t, f.url(), Rate(100), Duration(300*time.Millisecond))
	if s.Failures != 0 {
		t.Errorf("failures %d (%v): a connection closed between requests is not an outage", s.Failures, s.Errors)
	}
	if closed := f.closed.Load(); int64(s.Retries) > closed {
		t.Errorf("retries %d, but the server closed only %d connections", s.Retries, closed)
	}
}

// A reused connection closed with a request on it makes Go's transport
// retry silently on a new connection: the probe counts every such retry,
// exactly, and no failure.
func TestTransportRetryCounted(t *testing.T) {
	t.Parallel()
	f := newFaultServer(t)
	f.mode.Store(modeDropReused)
	s := run(t, f.url(), Rate(100), Duration(300*time.Millisecond))
	dropped := f.dropped.Load()
	if dropped == 0 {
		t.Fatal("the server dropped no request: the test did not exercise a retry")
	}
	if int64(s.Retries) != dropped || int64(s.ByClient[KeepAlive].Retries) != dropped {
		t.Errorf("retries %d (keepalive %d), server dropped %d requests", s.Retries, s.ByClient[KeepAlive].Retries, dropped)
	}
	if s.Failures != 0 {
		t.Errorf("failures %d (%v): the retries succeeded", s.Failures, s.Errors)
	}
}

// UntilFailure stops at the first failure, like the seed's script.
func TestUntilFailure(t *testing.T) {
	t.Parallel()
	f := newFaultServer(t)
	f.inject(mode502, 150*time.Millisecond, 5*time.Second)
	s := run(t, f.url(), Interval(20*time.Millisecond), Timeout(time.Second), UntilFailure(), Duration(5*time.Second))
	if s.Stopped != "first failure" || s.Failures == 0 {
		t.Errorf("stopped %q with %d failures, want stopped at the first failure", s.Stopped, s.Failures)
	}
	if d := s.End.Sub(s.Start); d > 2*time.Second {
		t.Errorf("ran %v after the failure at 150ms", d)
	}
}

// Ending the context stops the schedule, and requests in flight complete:
// none is counted as failed because the probe stopped.
func TestCancelDoesNotFailInFlight(t *testing.T) {
	t.Parallel()
	f := newFaultServer(t)
	f.slow.Store(int64(150 * time.Millisecond))
	ctx, cancel := context.WithCancel(context.Background())
	p, err := Start(ctx, f.url(), Rate(50), Timeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	cancel()
	select {
	case <-p.Done():
	case <-time.After(3 * time.Second):
		t.Fatal("probe did not finish after its context ended")
	}
	s := p.Stop()
	if s.Stopped != "canceled" || s.Failures != 0 || s.Requests == 0 {
		t.Errorf("stopped %q, requests %d, failures %d (%v): want canceled without failures", s.Stopped, s.Requests, s.Failures, s.Errors)
	}
}

// Stop returns the summary while results stream to the callback.
func TestStopAndStream(t *testing.T) {
	t.Parallel()
	f := newFaultServer(t)
	var mu sync.Mutex
	var got int
	p, err := Start(context.Background(), f.url(), Rate(100), OnResult(func(Result) { mu.Lock(); got++; mu.Unlock() }))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(150 * time.Millisecond)
	if snap := p.Snapshot(); snap.Down {
		t.Errorf("snapshot says down: %+v", snap)
	}
	s := p.Stop()
	mu.Lock()
	defer mu.Unlock()
	if s.Stopped != "stopped" || got != s.Requests || s.Requests == 0 {
		t.Errorf("stopped %q, %d results streamed, %d in the summary", s.Stopped, got, s.Requests)
	}
	if s2 := p.Stop(); s2.Requests != s.Requests {
		t.Errorf("second Stop gave %d requests, first %d", s2.Requests, s.Requests)
	}
}

func TestJudging(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mux.HandleFunc("/app", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "version v2") })
	mux.Handle("/old", http.RedirectHandler("/app", http.StatusFound))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	base := "http://" + ln.Addr().String()

	tests := []struct {
		name   string
		path   string
		opts   []Option
		reason string // "" for success
	}{
		{"plain success", "/app", nil, ""},
		{"expected text present", "/app?x=1", []Option{Expect("v2")}, ""},
		{"expected text absent", "/app", []Option{Expect("v3")}, errBody.Error()},
		{"redirect fails by default", "/old", nil, "status 302"},
		{"redirect followed", "/old", []Option{FollowRedirects()}, ""},
		{"not found", "/nope", nil, "status 404"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opts := append([]Option{Rate(50), Duration(100 * time.Millisecond)}, tt.opts...)
			s := run(t, base+tt.path, opts...)
			if s.Requests == 0 {
				t.Fatal("no requests")
			}
			if tt.reason == "" && s.Failures != 0 {
				t.Errorf("failures %v, want none", s.Errors)
			}
			if s.Retries != 0 {
				t.Errorf("retries %d: following a redirect is not a retry", s.Retries)
			}
			if tt.reason != "" && s.Errors[tt.reason] != s.Requests {
				t.Errorf("errors %v, want every one of %d requests to fail with %q", s.Errors, s.Requests, tt.reason)
			}
		})
	}
}

// The header's mix shows the switch from v1 to v2.
func TestHeaderSwitch(t *testing.T) {
	t.Parallel()
	f := newFaultServer(t)
	go func() {
		time.Sleep(150 * time.Millisecond)
		f.version.Store("v2")
	}()
	s := run(t, f.url(), Rate(50), Duration(300*time.Millisecond), Header("x-version"))
	h := s.Header
	if h == nil || h.Name != "X-Version" || len(h.Values) != 2 || h.Values[0].Value != "v1" || h.Values[1].Value != "v2" {
		t.Fatalf("header mix %+v, want X-Version v1 then v2", h)
	}
	if h.Values[0].Count+h.Values[1].Count != s.Requests {
		t.Errorf("header counts %d+%d, requests %d", h.Values[0].Count, h.Values[1].Count, s.Requests)
	}
}

// helloApp answers as Google's hello-app does (kubernetes-engine-samples
// quickstarts/hello-app/main.go): no version header, the version in the
// plain-text body.
func helloApp(version *atomic.Value) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "Hello, world!\nVersion: %s\nHostname: hello-app-7d9c\n", version.Load())
	})
}

// With no version header, the body pattern reads the version hello-app
// prints, so the mix shows the switch; a header, when sent, wins.
func TestVersionFromBody(t *testing.T) {
	t.Parallel()
	var v atomic.Value
	v.Store("1.0.0")
	srv := httptest.NewServer(helloApp(&v))
	t.Cleanup(srv.Close)
	go func() {
		time.Sleep(150 * time.Millisecond)
		v.Store("2.0.0")
	}()
	s := run(t, srv.URL, Rate(50), Duration(300*time.Millisecond), Header("X-Stayup-Version"), BodyPattern(`Version: (\S+)`))
	h := s.Header
	if h == nil || len(h.Values) != 2 || h.Values[0].Value != "1.0.0" || h.Values[1].Value != "2.0.0" {
		t.Fatalf("version mix %+v, want 1.0.0 then 2.0.0 read from the body", h)
	}
	if h.FromBody != s.Requests || h.Pattern != `Version: (\S+)` {
		t.Errorf("%d of %d values from the body (pattern %q), want all", h.FromBody, s.Requests, h.Pattern)
	}

	f := newFaultServer(t)
	s = run(t, f.url(), Rate(50), Duration(100*time.Millisecond), Header("x-version"), BodyPattern(`(hello)`))
	if h := s.Header; h == nil || len(h.Values) != 1 || h.Values[0].Value != "v1" || h.FromBody != 0 {
		t.Errorf("with the header present: %+v, want the header's v1 only", h)
	}
}

func TestStartRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url  string
		opts []Option
	}{
		{"ftp://example.com/", nil},
		{"/relative", nil},
		{"http://127.0.0.1/", []Option{Rate(0)}},
		{"http://127.0.0.1/", []Option{Timeout(0)}},
		{"http://127.0.0.1/", []Option{AllowFailures(-1)}},
		{"http://127.0.0.1/", []Option{Clients()}},
		{"http://127.0.0.1/", []Option{BodyPattern(`Version: \S+`)}},
		{"http://127.0.0.1/", []Option{BodyPattern(`(`)}},
	}
	for _, tt := range tests {
		if p, err := Start(context.Background(), tt.url, tt.opts...); err == nil {
			p.Stop()
			t.Errorf("Start(%q) with %d options: no error", tt.url, len(tt.opts))
		}
	}
}
