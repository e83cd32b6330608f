package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
)

// probeServer serves 200 until fail is set, then 503; loopback only.
func probeServer(t *testing.T) (string, *atomic.Bool) {
	t.Helper()
	var fail atomic.Bool
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if fail.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("X-Version", "v1")
		fmt.Fprint(w, "hello")
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String() + "/", &fail
}

func runCLI(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = Main(args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func TestProbeCommandJSON(t *testing.T) {
	t.Parallel()
	url, _ := probeServer(t)
	code, out, errOut := runCLI("probe", "--rate", "50", "--duration", "200ms", "--header", "X-Version", "--json", url)
	if code != 0 {
		t.Fatalf("exit %d, stderr %s", code, errOut)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, out)
	}
	for _, k := range []string{"requests", "failures", "windows", "longest_gap", "latency_ms", "timeline", "verdict", "header"} {
		if _, ok := got[k]; !ok {
			t.Errorf("JSON lacks %q", k)
		}
	}
	if got["verdict"] != "pass" || got["url"] != url || got["stopped"] != "duration" {
		t.Errorf("verdict %v, url %v, stopped %v", got["verdict"], got["url"], got["stopped"])
	}
}

// Failures beyond --allow-failures exit 1 after the summary is printed.
func TestProbeCommandFailures(t *testing.T) {
	t.Parallel()
	url, fail := probeServer(t)
	fail.Store(true)
	tests := []struct {
		args []string
		code int
	}{
		{[]string{"--duration", "100ms"}, 1},
		{[]string{"--duration", "100ms", "--allow-failures", "1000"}, 0},
		{[]string{"--interval", "500ms", "--timeout", "1s", "--until-failure"}, 1},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			code, out, errOut := runCLI(append(append([]string{"probe"}, tt.args...), url)...)
			if code != tt.code {
				t.Errorf("exit %d, want %d; stderr %s", code, tt.code, errOut)
			}
			if !strings.Contains(out, "status 503") || !strings.Contains(out, "verdict:") {
				t.Errorf("summary lacks the failures or the verdict:\n%s", out)
			}
		})
	}
}

func TestProbeCommandUsage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		want string
	}{
		{nil, "give a URL or --stack"},
		{[]string{"http://127.0.0.1:1/", "--stack", "aws"}, "not both"},
		{[]string{"127.0.0.1:80"}, "http:// or https://"},
		{[]string{"--rate", "5", "--interval", "1s", "http://127.0.0.1:1/"}, "give one"},
		{[]string{"--rate", "0", "http://127.0.0.1:1/"}, "--rate"},
		{[]string{"--timeout", "0s", "http://127.0.0.1:1/"}, "--timeout"},
		{[]string{"--allow-failures", "-1", "http://127.0.0.1:1/"}, "--allow-failures"},
		{[]string{"--bogus", "http://127.0.0.1:1/"}, "unknown flag"},
	}
	for _, tt := range tests {
		code, _, errOut := runCLI(append([]string{"probe"}, tt.args...)...)
		if code != 2 || !strings.Contains(errOut, tt.want) {
			t.Errorf("probe %v: exit %d, stderr %q; want exit 2 and %q", tt.args, code, errOut, tt.want)
		}
	}
}

// --stack reads the stack's url output; stackURL is replaced, so these
// tests do not run in parallel.
func TestProbeCommandStack(t *testing.T) {
	url, _ := probeServer(t)
	old := stackURL
	t.Cleanup(func() { stackURL = old })

	var gotStack string
	stackURL = func(_ context.Context, root, stack string) (string, error) {
		gotStack = stack
		return url, nil
	}
	code, out, errOut := runCLI("probe", "--stack", "aws", "--duration", "100ms", "--no-save", "--json")
	if code != 0 || gotStack != "aws" || !strings.Contains(out, url) {
		t.Errorf("exit %d, stack %q, stdout %s, stderr %s", code, gotStack, out, errOut)
	}

	stackURL = func(context.Context, string, string) (string, error) { return "", errNoPulumi }
	code, _, errOut = runCLI("probe", "--stack", "aws", "--no-save")
	if code != 1 || !strings.Contains(errOut, "install the Pulumi CLI or pass the URL") {
		t.Errorf("without pulumi: exit %d, stderr %q", code, errOut)
	}
}

// The real lookup names the missing CLI in one clear message.
func TestPulumiStackURLWithoutPulumi(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := pulumiStackURL(context.Background(), t.TempDir(), "aws")
	if !errors.Is(err, errNoPulumi) {
		t.Errorf("err = %v, want %v", err, errNoPulumi)
	}
}
