//go:build unix

package main

import (
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"stayup/internal/probe"
)

// The drain, end to end, on the real binary: build it, start it, put it
// under load from the probe, send SIGTERM, and check what a load balancer
// relies on. A real load balancer stops sending once readiness has failed
// twice (10 s of the 15 s drain); the test stands in for it by stopping the
// probe shortly before the drain ends.
func TestDrainUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the app for a few seconds")
	}
	const (
		drain           = 2 * time.Second
		shutdownTimeout = 3 * time.Second
		// lbStops is when the stand-in load balancer stops sending: before
		// the drain ends, as the real ones do (10 s into 15 s).
		lbStops = drain - 300*time.Millisecond
		rate    = 50 // per second per probe client: 100 requests/s in all
	)
	bin := buildApp(t, "1.2.3-test")
	proc := startApp(t, bin, map[string]string{
		"DRAIN": drain.String(), "SHUTDOWN_TIMEOUT": shutdownTimeout.String(),
		"ZONE": "test-zone-a", "INSTANCE_ID": "i-test",
	})
	base := proc.url

	// Under load before the signal, so connections are open and in use.
	var mu sync.Mutex
	var lastOK time.Time
	var failed []probe.Result
	p, err := probe.Start(context.Background(), base+"/",
		probe.Rate(rate), probe.Timeout(time.Second), probe.Header(headerVersion),
		probe.OnResult(func(r probe.Result) {
			mu.Lock()
			defer mu.Unlock()
			if !r.OK() {
				failed = append(failed, r)
			} else if r.Scheduled.After(lastOK) {
				lastOK = r.Scheduled
			}
		}))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)

	// Readiness, polled over a kept-alive connection like a health checker.
	checker := &http.Client{Timeout: time.Second}
	if got := status(t, checker, base+"/readyz"); got != 200 {
		t.Fatalf("/readyz before SIGTERM: %d, want 200", got)
	}
	sigterm := time.Now()
	if err := proc.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var notReady time.Duration
	for {
		if status(t, checker, base+"/readyz") == http.StatusServiceUnavailable {
			notReady = time.Since(sigterm)
			break
		}
		if time.Since(sigterm) > drain {
			t.Fatal("/readyz never turned 503 during the drain")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if notReady > 250*time.Millisecond {
		t.Errorf("/readyz turned 503 %v after SIGTERM, want at once", notReady)
	}
	if got := status(t, checker, base+"/healthz"); got != 200 {
		t.Errorf("/healthz while draining: %d, want 200 (draining is not dead)", got)
	}

	time.Sleep(time.Until(sigterm.Add(lbStops)))
	sum := p.Stop()

	// / still answers on a new connection right up to the drain's end.
	late := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	time.Sleep(time.Until(sigterm.Add(drain - 100*time.Millisecond)))
	if got := status(t, late, base+"/"); got != 200 {
		t.Errorf("GET / %v into the %v drain: %d, want 200", time.Since(sigterm).Round(time.Millisecond), drain, got)
	}

	code, exited := proc.wait(t, drain+shutdownTimeout+2*time.Second)
	exitAfter := exited.Sub(sigterm)
	if code != 0 {
		t.Errorf("exit code %d, want 0; log:\n%s", code, proc.log.String())
	}
	if exitAfter < drain {
		t.Errorf("exited %v after SIGTERM, before the %v drain ended", exitAfter, drain)
	}
	if exitAfter > drain+shutdownTimeout {
		t.Errorf("exited %v after SIGTERM, after its deadline (drain %v + shutdown %v)", exitAfter, drain, shutdownTimeout)
	}
	if _, err := net.DialTimeout("tcp", proc.addr, time.Second); err == nil {
		t.Errorf("%s still accepts connections after the process exited", proc.addr)
	}

	mu.Lock()
	defer mu.Unlock()
	for _, r := range failed {
		t.Errorf("request %d (%s) scheduled %v after SIGTERM failed: %s", r.Seq, r.Client, r.Scheduled.Sub(sigterm).Round(time.Millisecond), r.Err)
	}
	if sum.Failures != 0 || sum.Retries != 0 {
		t.Errorf("probe: %d failures, %d silent retries; want none", sum.Failures, sum.Retries)
	}
	if d := lastOK.Sub(sigterm); d < lbStops-100*time.Millisecond {
		t.Errorf("the last successful request was scheduled %v after SIGTERM, want / served until the probe stopped (%v)", d, lbStops)
	}
	var versions []string
	if sum.Header != nil {
		for _, v := range sum.Header.Values {
			versions = append(versions, fmt.Sprintf("%q x%d", v.Value, v.Count))
		}
	}
	if sum.Header == nil || len(sum.Header.Values) != 1 || sum.Header.Values[0].Value != "1.2.3-test" {
		t.Errorf("%s values %v, want only the built-in version 1.2.3-test", headerVersion, versions)
	}
	t.Logf("probe: %d requests (%d/s on each of %v), %d failures, %d retries, %d reused connections, p99 %v; "+
		"readiness 503 after %v; probe stopped %v after SIGTERM; exit %d after %v (drain %v, deadline %v); %s %v",
		sum.Requests, rate, sum.Clients, sum.Failures, sum.Retries, sum.ByClient[probe.KeepAlive].Reused, sum.Latency.P99,
		notReady.Round(time.Millisecond), lbStops, code, exitAfter.Round(time.Millisecond), drain, drain+shutdownTimeout,
		headerVersion, versions)
}

// An idle process drains for the whole period too, then exits 0 at once.
func TestDrainWithoutLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the app")
	}
	const drain = 500 * time.Millisecond
	proc := startApp(t, buildApp(t, "idle"), map[string]string{"DRAIN": drain.String(), "SHUTDOWN_TIMEOUT": "1s"})
	sigterm := time.Now()
	if err := proc.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	code, exited := proc.wait(t, 5*time.Second)
	if took := exited.Sub(sigterm); code != 0 || took < drain || took > drain+time.Second {
		t.Errorf("exit %d after %v, want 0 between %v and %v; log:\n%s", code, took, drain, drain+time.Second, proc.log.String())
	}
}

// buildOnce holds one build per version: version -> *builtApp.
var buildOnce sync.Map

type builtApp struct {
	once sync.Once
	path string
	err  error
}

// buildApp builds the app as the Dockerfile does (static, version from
// -ldflags) into a temporary directory, once per version per test run.
func buildApp(t *testing.T, version string) string {
	t.Helper()
	v, _ := buildOnce.LoadOrStore(version, &builtApp{})
	b := v.(*builtApp)
	b.once.Do(func() {
		dir, err := os.MkdirTemp("", "stayup-app-")
		if err != nil {
			b.err = err
			return
		}
		b.path = filepath.Join(dir, "app")
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-X main.version="+version, "-o", b.path, ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

func TestMain(m *testing.M) {
	code := m.Run()
	buildOnce.Range(func(_, v any) bool {
		if b := v.(*builtApp); b.path != "" {
			os.RemoveAll(filepath.Dir(b.path))
		}
		return true
	})
	os.Exit(code)
}

// process is the app running as a child process.
type process struct {
	cmd  *exec.Cmd
	addr string
	url  string
	log  *syncBuffer
	done chan struct{}
	// Set before done closes: what Wait returned, and when.
	waitErr error
	end     time.Time
}

// startApp starts the binary on a free loopback port and waits until it is
// ready. A port taken between choosing and binding makes it try another.
func startApp(t *testing.T, bin string, environ map[string]string) *process {
	t.Helper()
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		p := &process{addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), log: &syncBuffer{}, done: make(chan struct{})}
		p.url = "http://" + p.addr
		p.cmd = exec.Command(bin)
		p.cmd.Env = []string{"PORT=" + strconv.Itoa(port)}
		for k, v := range environ {
			p.cmd.Env = append(p.cmd.Env, k+"="+v)
		}
		p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
		if err := p.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() {
			p.waitErr = p.cmd.Wait()
			p.end = time.Now()
			close(p.done)
		}()
		if lastErr = p.waitReady(5 * time.Second); lastErr == nil {
			t.Cleanup(func() {
				_ = p.cmd.Process.Kill()
				<-p.done
			})
			return p
		}
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	t.Fatal(lastErr)
	return nil
}

func (p *process) waitReady(timeout time.Duration) error {
	c := &http.Client{Timeout: 200 * time.Millisecond}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			return fmt.Errorf("the app exited while starting: %s", p.log.String())
		default:
		}
		if resp, err := c.Get(p.url + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("not ready after %v: %s", timeout, p.log.String())
}

// wait waits for the process to exit and returns its exit code and when.
func (p *process) wait(t *testing.T, timeout time.Duration) (int, time.Time) {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		t.Fatalf("still running %v after SIGTERM; log:\n%s", timeout, p.log.String())
	}
	var exit *exec.ExitError
	if err := p.waitErr; err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	return p.cmd.ProcessState.ExitCode(), p.end
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func status(t *testing.T, c *http.Client, url string) int {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Errorf("GET %s: %v", url, err)
		return 0
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// syncBuffer collects the child's log from two pipes at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// The binary the Dockerfile builds runs on distroless/static or scratch:
// no dynamic loader, no shared libraries.
func TestStaticBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the app")
	}
	if runtime.GOOS != "linux" {
		t.Skip("checks an ELF binary")
	}
	f, err := elf.Open(buildApp(t, "static"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("program header %v: the binary is dynamically linked", p.Type)
		}
	}
}
