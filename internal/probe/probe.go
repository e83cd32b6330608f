// Package probe measures whether an HTTP endpoint stays up: it sends
// requests on a fixed open-loop schedule over two clients at once (one
// keeping connections alive, one opening a new connection per request) and
// reports the failure windows, the longest gap between successes, latency,
// and what served the traffic.
//
// It replaces the seed's downtime script (curl every 0.5 s, stop at the first
// failure). The chaos and rollout commands run it alongside what they do;
// "stayup probe" is a thin command on top.
package probe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Client names one of the probe's HTTP clients.
type Client string

const (
	// KeepAlive reuses connections, as browsers and most API clients do. It
	// is the client that sees in-flight requests dropped by a target that
	// closes connections while draining.
	KeepAlive Client = "keepalive"
	// NewConn opens a new connection (and resolves the name again) for every
	// request, so each one may land on a different load balancer node or,
	// behind an L4 balancer, a different backend.
	NewConn Client = "newconn"
)

// Defaults for the options.
const (
	DefaultRate    = 20 // requests per second per client
	DefaultTimeout = time.Second
	// QueryParam is added to every request with a unique value so no cache
	// between the probe and the app can answer for it.
	QueryParam = "stayup-probe"
	// maxExpectBody bounds how much of a body is searched for --expect.
	maxExpectBody = 1 << 20
)

type config struct {
	interval        time.Duration
	timeout         time.Duration
	duration        time.Duration
	untilFailure    bool
	expect          string
	header          string
	pattern         *regexp.Regexp
	followRedirects bool
	allowFailures   int
	clients         []Client
	onResult        func(Result)
}

// Option configures a probe.
type Option func(*config) error

// Rate sets how many requests per second each client sends. The default is
// DefaultRate.
func Rate(perSecond float64) Option {
	return func(c *config) error {
		if !(perSecond > 0) || perSecond > 1e6 {
			return fmt.Errorf("rate %v: must be more than 0 and at most 1000000 requests per second", perSecond)
		}
		c.interval = time.Duration(float64(time.Second) / perSecond)
		return nil
	}
}

// Interval sets the time between two scheduled requests of a client; it is
// the other way to say Rate.
func Interval(d time.Duration) Option {
	return func(c *config) error {
		if d < time.Microsecond {
			return fmt.Errorf("interval %v: must be at least 1µs", d)
		}
		c.interval = d
		return nil
	}
}

// Timeout bounds each request, from sending it to reading the whole body.
func Timeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("timeout %v: must be positive", d)
		}
		c.timeout = d
		return nil
	}
}

// Duration stops scheduling requests after d; zero (the default) runs until
// Stop, the context's end, or the first failure with UntilFailure.
func Duration(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return fmt.Errorf("duration %v: must not be negative", d)
		}
		c.duration = d
		return nil
	}
}

// UntilFailure stops scheduling at the first failure, as the seed's script
// does. Requests already in flight still complete and are counted.
func UntilFailure() Option {
	return func(c *config) error { c.untilFailure = true; return nil }
}

// Expect makes a response whose body does not contain text a failure.
func Expect(text string) Option {
	return func(c *config) error { c.expect = text; return nil }
}

// Header records the named response header of every response (for example
// the app's version), so the summary shows how its mix changed over time.
func Header(name string) Option {
	return func(c *config) error { c.header = http.CanonicalHeaderKey(name); return nil }
}

// BodyPattern reads the recorded value from the body when the Header's
// header is absent (or no Header is set): the first capture group of the
// regular expression expr, searched in the body's first MiB. Images that
// print their version instead of sending a header (Google's hello-app
// writes "Version: 1.0.0") then still show which version served.
func BodyPattern(expr string) Option {
	return func(c *config) error {
		re, err := CompileBodyPattern(expr)
		c.pattern = re
		return err
	}
}

// CompileBodyPattern checks a BodyPattern: a regular expression with a
// capture group around the value. Empty is none (nil, nil).
func CompileBodyPattern(expr string) (*regexp.Regexp, error) {
	if expr == "" {
		return nil, nil
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, fmt.Errorf("body pattern %q: %w", expr, err)
	}
	if re.NumSubexp() < 1 {
		return nil, fmt.Errorf("body pattern %q: needs a capture group around the value, e.g. %q", expr, `Version: (\S+)`)
	}
	return re, nil
}

// FollowRedirects follows up to 10 redirects and judges the final response;
// without it a 3xx is a failure, because a load balancer that redirects is
// not serving the app.
func FollowRedirects() Option {
	return func(c *config) error { c.followRedirects = true; return nil }
}

// AllowFailures sets how many failures still give the verdict "pass".
func AllowFailures(n int) Option {
	return func(c *config) error {
		if n < 0 {
			return fmt.Errorf("allowed failures %d: must not be negative", n)
		}
		c.allowFailures = n
		return nil
	}
}

// Clients chooses which clients run; the default is both, KeepAlive and
// NewConn, each at the full rate.
func Clients(cs ...Client) Option {
	return func(c *config) error {
		if len(cs) == 0 {
			return errors.New("clients: name at least one")
		}
		for _, cl := range cs {
			if cl != KeepAlive && cl != NewConn {
				return fmt.Errorf("client %q: must be %q or %q", cl, KeepAlive, NewConn)
			}
		}
		c.clients = cs
		return nil
	}
}

// OnResult calls f with every result as it completes, in completion order
// (not schedule order), from one goroutine. f must return quickly: while it
// runs, results queue up (the schedule is not delayed).
func OnResult(f func(Result)) Option {
	return func(c *config) error { c.onResult = f; return nil }
}

// Result is the outcome of one request.
type Result struct {
	Seq    uint64
	Client Client
	// Scheduled is when the schedule said to send the request; failure
	// windows are placed at these times, not at when a request timed out.
	Scheduled time.Time
	// Sent is when it was actually handed to the client.
	Sent time.Time
	// Late marks a request the probe itself sent more than one interval
	// after its scheduled time (the probe was starved of CPU, not the target).
	Late    bool
	Latency time.Duration
	// Status is the HTTP status, 0 when there was no response.
	Status int
	// Err says why the request failed: empty on success.
	Err string
	// HeaderValue is the value of the header chosen with Header or, when
	// the response has none, the value BodyPattern found in the body.
	HeaderValue string
	// FromBody is set when HeaderValue came from the body.
	FromBody bool
	// Reused is set when the request went out on a kept-alive connection.
	Reused bool
	// Retries counts the times Go's transport silently sent the request
	// again on another connection because the one it used broke before the
	// response; the retry itself can land on a reused connection that
	// breaks too.
	Retries int
}

// OK reports whether the request succeeded.
func (r Result) OK() bool { return r.Err == "" }

// Probe is a running probe.
type Probe struct {
	cfg     config
	target  *url.URL
	header  http.Header
	clients map[Client]*http.Client
	metrics *Metrics

	in      chan Result
	jobs    chan job
	workers sync.WaitGroup

	stopOnce sync.Once
	stopCh   chan struct{}
	reason   string // why scheduling stopped; written before stopCh closes or by the scheduler
	reasonMu sync.Mutex

	done    chan struct{}
	summary Summary
}

// Start validates the options and starts probing rawURL. The probe stops
// scheduling when ctx ends, after the Duration, at the first failure with
// UntilFailure, or on Stop; requests in flight then run to completion or
// timeout, so no request is counted as failed because the probe stopped.
func Start(ctx context.Context, rawURL string, opts ...Option) (*Probe, error) {
	cfg := config{
		interval: time.Second / DefaultRate,
		timeout:  DefaultTimeout,
		clients:  []Client{KeepAlive, NewConn},
	}
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("probe %q: %w", rawURL, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("probe %q: want an http:// or https:// URL with a host", rawURL)
	}
	p := &Probe{
		cfg:    cfg,
		target: u,
		header: http.Header{
			"Cache-Control": {"no-cache"},
			"Pragma":        {"no-cache"},
			"User-Agent":    {"stayup-probe"},
		},
		clients: map[Client]*http.Client{},
		in:      make(chan Result, 1024),
		jobs:    make(chan job),
		stopCh:  make(chan struct{}),
		done:    make(chan struct{}),
	}
	for _, c := range cfg.clients {
		p.clients[c] = newHTTPClient(c, cfg)
	}
	p.metrics = newMetrics(rawURL, cfg, time.Now())
	go p.collect()
	go p.schedule(ctx)
	return p, nil
}

// Run probes until ctx ends, the Duration passes or (with UntilFailure) the
// first failure, and returns the summary.
func Run(ctx context.Context, rawURL string, opts ...Option) (Summary, error) {
	p, err := Start(ctx, rawURL, opts...)
	if err != nil {
		return Summary{}, err
	}
	<-p.done
	return p.summary, nil
}

// Stop stops scheduling, waits for the requests in flight (at most one
// timeout) and returns the summary. It may be called more than once.
func (p *Probe) Stop() Summary {
	p.stop("stopped")
	<-p.done
	return p.summary
}

// Done is closed when the probe has finished and its summary is ready.
func (p *Probe) Done() <-chan struct{} { return p.done }

// Snapshot returns the figures so far, for a live view.
func (p *Probe) Snapshot() Snapshot { return p.metrics.Snapshot() }

func (p *Probe) stop(reason string) {
	p.stopOnce.Do(func() {
		p.reasonMu.Lock()
		p.reason = reason
		p.reasonMu.Unlock()
		close(p.stopCh)
	})
}

func newHTTPClient(c Client, cfg config) *http.Client {
	dialer := &net.Dialer{Timeout: cfg.timeout, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		// Like curl, honour HTTP(S)_PROXY; loopback is never proxied.
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         dialer.DialContext,
		TLSHandshakeTimeout: cfg.timeout,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		// No ResponseHeaderTimeout: the client's Timeout already bounds the
		// whole request, and one timer per request is enough.
	}
	if c == NewConn {
		tr.DisableKeepAlives = true
		dialer.KeepAlive = -1
	}
	hc := &http.Client{Transport: tr, Timeout: cfg.timeout}
	if !cfg.followRedirects {
		hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	return hc
}

// schedule sends requests on a fixed open-loop schedule: tick i is due at
// start + i*interval whatever happened to earlier requests, so one hanging
// request cannot hide an outage (no coordinated omission).
func (p *Probe) schedule(ctx context.Context) {
	defer func() {
		close(p.jobs)
		p.workers.Wait()
		close(p.in)
	}()
	start := p.metrics.start
	interval := p.cfg.interval
	var end time.Time
	if p.cfg.duration > 0 {
		end = start.Add(p.cfg.duration)
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	var seq uint64
	for tick := int64(0); ; tick++ {
		at := start.Add(time.Duration(tick) * interval)
		if !end.IsZero() && !at.Before(end) {
			p.stop("duration")
			return
		}
		if wait := time.Until(at); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-p.stopCh:
				return
			case <-ctx.Done():
				p.stop("canceled")
				return
			}
		} else {
			select {
			case <-p.stopCh:
				return
			case <-ctx.Done():
				p.stop("canceled")
				return
			default:
			}
		}
		now := time.Now()
		behind := now.Sub(at)
		if behind > p.cfg.timeout {
			// The probe could not run for longer than a request may take
			// (a suspended laptop, a stopped process): sending the missed
			// ticks now would be a burst that measures nothing. Skip them,
			// and say so.
			missed := int64(behind/interval) + 1
			p.metrics.addSkipped(int(missed) * len(p.cfg.clients))
			tick += missed - 1
			continue
		}
		for _, c := range p.cfg.clients {
			p.dispatch(job{c, seq, at})
			seq++
		}
	}
}

// connTracker sees the connections the transport used for one request. A
// new connection before any response byte came back on the previous one is
// a silent retry; after a response it is a redirect being followed.
type connTracker struct {
	conns     int
	reused    bool
	responded bool
	retries   int
}

func (t *connTracker) gotConn(info httptrace.GotConnInfo) {
	if t.conns == 0 {
		t.reused = info.Reused
	} else if !t.responded {
		t.retries++
	}
	t.conns++
	t.responded = false
}

func (t *connTracker) gotFirstResponseByte() { t.responded = true }

// job is one scheduled request.
type job struct {
	client Client
	seq    uint64
	at     time.Time
}

// dispatch hands j to an idle worker, or starts a new one when all are busy,
// so the schedule never waits for a request. Workers are reused because a
// new goroutine per request costs CPU growing its stack for the HTTP client
// each time.
func (p *Probe) dispatch(j job) {
	select {
	case p.jobs <- j:
	default:
		p.workers.Add(1)
		go p.work(j)
	}
}

func (p *Probe) work(first job) {
	defer p.workers.Done()
	p.send(first)
	for j := range p.jobs {
		p.send(j)
	}
}

func (p *Probe) send(j job) {
	sent := time.Now()
	r := Result{Seq: j.seq, Client: j.client, Scheduled: j.at, Sent: sent, Late: sent.Sub(j.at) > p.cfg.interval}
	c := j.client

	u := *p.target
	bust := QueryParam + "=" + strconv.FormatUint(j.seq, 10)
	if u.RawQuery == "" {
		u.RawQuery = bust
	} else {
		u.RawQuery += "&" + bust
	}
	var tk connTracker
	// The request's context is not the probe's: stopping the probe must not
	// cancel requests in flight and count them as failures. The client's
	// timeout bounds them.
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		GotConn:              tk.gotConn,
		GotFirstResponseByte: tk.gotFirstResponseByte,
	})
	req := (&http.Request{
		Method:     http.MethodGet,
		URL:        &u,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     p.header, // only read by the client
		Host:       u.Host,
	}).WithContext(ctx)

	resp, err := p.clients[c].Do(req)
	if err == nil {
		r.Status = resp.StatusCode
		if p.cfg.header != "" {
			r.HeaderValue = resp.Header.Get(p.cfg.header)
		}
		fromBody := r.HeaderValue == "" && p.cfg.pattern != nil
		var body []byte
		body, err = p.check(resp, fromBody)
		if fromBody {
			if m := p.cfg.pattern.FindSubmatch(body); m != nil {
				r.HeaderValue, r.FromBody = string(m[1]), true
			}
		}
		resp.Body.Close()
	}
	r.Latency = time.Since(sent)
	r.Reused = tk.reused
	r.Retries = tk.retries
	if err != nil {
		r.Err = reason(err)
	}
	p.in <- r
}

// errStatus and errBody are failures with a response.
type errStatus struct{ code int }

func (e errStatus) Error() string { return "status " + strconv.Itoa(e.code) }

var errBody = errors.New("body does not contain the expected text")

// check reads the body and judges the response; it returns the body's
// first MiB when it had to read it (--expect, or keep for BodyPattern).
func (p *Probe) check(resp *http.Response, keep bool) ([]byte, error) {
	var body []byte
	if p.cfg.expect != "" || keep {
		var err error
		body, err = io.ReadAll(io.LimitReader(resp.Body, maxExpectBody))
		if err != nil {
			return nil, err
		}
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return body, err
	}
	if p.cfg.expect != "" && resp.StatusCode/100 == 2 && !strings.Contains(string(body), p.cfg.expect) {
		return body, errBody
	}
	if resp.StatusCode/100 != 2 {
		return body, errStatus{resp.StatusCode}
	}
	return body, nil
}

// reason turns an error into a short class for counting: the same cause
// must give the same string whatever the connection's addresses were.
func reason(err error) string {
	var st errStatus
	var ne net.Error
	var oe *net.OpError
	switch {
	case errors.As(err, &st), errors.Is(err, errBody):
		return err.Error()
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed without a response"
	case errors.As(err, &oe):
		return oe.Op + ": " + oe.Err.Error()
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

// collect feeds results to the metrics and the caller's callback, one at a
// time, and finishes the summary when the last request is done.
func (p *Probe) collect() {
	for r := range p.in {
		p.metrics.Add(r)
		if p.cfg.onResult != nil {
			p.cfg.onResult(r)
		}
		if p.cfg.untilFailure && !r.OK() {
			p.stop("first failure")
		}
	}
	p.reasonMu.Lock()
	reason := p.reason
	p.reasonMu.Unlock()
	p.summary = p.metrics.summary(time.Now(), reason)
	close(p.done)
}
