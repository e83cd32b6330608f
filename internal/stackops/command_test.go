package stackops

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fakeCLI writes a stand-in for the Pulumi CLI: `version` prints version;
// anything else runs until interrupted, then takes cancelSteps tenths of a
// second to cancel gracefully (exit 2), or stops at a second interrupt
// (exit 3). With cancelSteps < 0 it ignores interrupts altogether.
func fakeCLI(t *testing.T, version string, cancelSteps int) string {
	t.Helper()
	script := `#!/bin/sh
for a in "$@"; do [ "$a" = version ] && { echo "` + version + `"; exit 0; }; done
echo started
steps=` + strconv.Itoa(cancelSteps) + `
if [ "$steps" -lt 0 ]; then trap '' INT; else
trap 'if [ -n "$first" ]; then echo stopped; exit 3; fi; first=1; echo cancelling' INT
fi
i=0
while :; do
  sleep 0.1
  if [ -n "$first" ]; then i=$((i+1)); [ "$i" -ge "$steps" ] && { echo cancelled; exit 2; }; fi
done
`
	path := filepath.Join(t.TempDir(), "pulumi")
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestNewCLI(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, version string
		missing       bool
		want          string
	}{
		{name: "stamped", version: "v3.274.1"},
		{name: "missing", missing: true, want: ErrNoCLI.Error()},
		{name: "unstamped", version: "", want: "tools/build-pulumi.sh"},
		{name: "too old", version: "v3.100.0", want: "needs 3.206.0 or later"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			bin := filepath.Join(t.TempDir(), "none")
			if !tc.missing {
				bin = fakeCLI(t, tc.version, 0)
			}
			c, err := newCLI(context.Background(), bin, nil)
			if tc.want == "" {
				if err != nil || c.Version().String() != strings.TrimPrefix(tc.version, "v") {
					t.Errorf("newCLI: %v, %v", c, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("newCLI: %v, want an error saying %q", err, tc.want)
			}
			if tc.missing && !errors.Is(err, ErrNoCLI) {
				t.Errorf("newCLI of a missing CLI: %v, want ErrNoCLI", err)
			}
		})
	}
}

// The first interrupt gives the CLI as long as it needs to cancel
// gracefully: longer than the 10 s after which the SDK's own runner kills
// it. A second one stops it at once; one it ignores is killed after grace.
func TestCLIInterrupts(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		cancelSteps int  // tenths of a second the fake takes to cancel
		abort       bool // send the second interrupt
		wantOut     string
		wantCode    int
		minTime     time.Duration
		maxTime     time.Duration
	}{
		{name: "graceful cancel outlives 10 s", cancelSteps: 115, wantOut: "cancelled", wantCode: 2, minTime: 11 * time.Second, maxTime: 20 * time.Second},
		{name: "second interrupt stops it", cancelSteps: 600, abort: true, wantOut: "stopped", wantCode: 3, maxTime: 5 * time.Second},
		{name: "ignored interrupts end in a kill", cancelSteps: -1, abort: true, wantCode: -1, minTime: time.Second, maxTime: 6 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			abort := make(chan struct{})
			c, err := newCLI(context.Background(), fakeCLI(t, "v3.274.1", tc.cancelSteps), abort)
			if err != nil {
				t.Fatal(err)
			}
			c.grace = time.Second
			ctx, cancel := context.WithCancel(context.Background())
			go func() {
				time.Sleep(300 * time.Millisecond)
				cancel()
				if tc.abort {
					time.Sleep(300 * time.Millisecond)
					close(abort)
				}
			}()
			start := time.Now()
			stdout, _, code, _ := c.Run(ctx, t.TempDir(), nil, nil, nil, nil, "up")
			took := time.Since(start)
			if !strings.Contains(stdout, tc.wantOut) || code != tc.wantCode {
				t.Errorf("exit %d, stdout %q; want %d and %q", code, stdout, tc.wantCode, tc.wantOut)
			}
			if took < tc.minTime || took > tc.maxTime {
				t.Errorf("took %v, want between %v and %v", took, tc.minTime, tc.maxTime)
			}
		})
	}
}
