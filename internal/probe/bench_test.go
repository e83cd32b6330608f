package probe

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// benchServerEnv makes the test binary an HTTP server for the benchmark:
// running the server in another process keeps its CPU time out of the
// figures, which are the client's (getrusage of this process).
const benchServerEnv = "STAYUP_PROBE_BENCH_SERVER"

func TestMain(m *testing.M) {
	if os.Getenv(benchServerEnv) == "1" {
		serveForBench()
		return
	}
	os.Exit(m.Run())
}

// serveForBench prints its loopback address and serves until stdin closes.
func serveForBench() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(ln.Addr())
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "ok from the app")
	}))
	io.Copy(io.Discard, os.Stdin)
}

func benchServer(b *testing.B) string {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), benchServerEnv+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		stdin.Close() // the server exits when its stdin closes
		cmd.Wait()
	})
	addr, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		b.Fatalf("bench server: %v", err)
	}
	return "http://" + strings.TrimSpace(addr) + "/"
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

const benchRate = 1000

// BenchmarkCPUPerRequest runs the probe and vegeta at 1000 requests/s
// against the same loopback server in another process, like for like (one
// client kept alive vs vegeta with keep-alive; new connections vs
// vegeta -keepalive=false), and reports this process's CPU time per
// request. b.N is the number of requests, so -benchtime 5000x runs 5 s each.
func BenchmarkCPUPerRequest(b *testing.B) {
	url := benchServer(b)
	for _, tc := range []struct {
		name      string
		client    Client
		keepalive bool
	}{
		{"keepalive", KeepAlive, true},
		{"newconn", NewConn, false},
	} {
		b.Run("probe/"+tc.name, func(b *testing.B) {
			measure(b, func(d time.Duration) (requests, failures, late int) {
				s, err := Run(context.Background(), url, Rate(benchRate), Clients(tc.client), Timeout(time.Second), Duration(d))
				if err != nil {
					b.Fatal(err)
				}
				return s.Requests, s.Failures, s.Late
			})
		})
		b.Run("vegeta/"+tc.name, func(b *testing.B) {
			measure(b, func(d time.Duration) (requests, failures, late int) {
				atk := vegeta.NewAttacker(vegeta.KeepAlive(tc.keepalive), vegeta.Timeout(time.Second))
				tr := vegeta.NewStaticTargeter(vegeta.Target{Method: http.MethodGet, URL: url})
				// vegeta's report aggregates every result as the probe does.
				var m vegeta.Metrics
				for res := range atk.Attack(tr, vegeta.Rate{Freq: benchRate, Per: time.Second}, d, "bench") {
					m.Add(res)
				}
				m.Close()
				return int(m.Requests), int(m.Requests) - int(float64(m.Requests)*m.Success+0.5), 0
			})
		})
	}
}

func measure(b *testing.B, attack func(time.Duration) (requests, failures, late int)) {
	d := time.Duration(b.N) * time.Second / benchRate
	before := cpuTime()
	b.ResetTimer()
	requests, failures, late := attack(d)
	b.StopTimer()
	cpu := cpuTime() - before
	if requests == 0 {
		return
	}
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(requests), "cpu-ns/req")
	b.ReportMetric(float64(requests), "requests")
	b.ReportMetric(float64(failures), "failures")
	b.ReportMetric(float64(late), "late")
}
