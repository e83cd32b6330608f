package stackops

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/blang/semver"
)

// AbortGrace is how long the CLI has to stop after a second interrupt
// before it is killed.
const AbortGrace = 30 * time.Second

// minVersion is the oldest CLI whose engine events the SDK reads over gRPC.
var minVersion = semver.MustParse("3.206.0")

// ErrNoCLI is returned when the Pulumi CLI cannot be found.
var ErrNoCLI = errors.New("the pulumi command is not on PATH: install the Pulumi CLI " +
	"(https://www.pulumi.com/docs/install/), or build the pinned one with tools/build-pulumi.sh " +
	"and put tools/bin on PATH")

// cliCommand runs the Pulumi CLI for the Automation API (it implements
// auto.PulumiCommand). It replaces the SDK's runner because that one
// interrupts the CLI when the context ends and kills it 10 s later, which
// can cut a cloud operation short and leave it pending in the state. Here
// the context ending interrupts the CLI once, and the CLI gets as long as
// its cloud operations need to cancel gracefully; only abort stops it now.
type cliCommand struct {
	bin     string
	version semver.Version
	abort   <-chan struct{}
	grace   time.Duration // AbortGrace; shorter in tests
}

// newCLI finds the CLI (bin, or "pulumi" on PATH) and reads its version.
func newCLI(ctx context.Context, bin string, abort <-chan struct{}) (*cliCommand, error) {
	if bin == "" {
		bin = "pulumi"
	}
	path, err := exec.LookPath(bin)
	if err != nil {
		return nil, ErrNoCLI
	}
	if path, err = filepath.Abs(path); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, "version")
	cmd.Env = append(os.Environ(), "PULUMI_SKIP_UPDATE_CHECK=true")
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("run %s version: %w", path, err)
	}
	raw := strings.TrimSpace(string(out))
	v, err := semver.ParseTolerant(raw)
	if err != nil || v.LT(minVersion) {
		return nil, fmt.Errorf("the Pulumi CLI at %s reports version %q; stayup needs %s or later "+
			"(a CLI built from source needs its version stamped: see tools/build-pulumi.sh)", path, raw, minVersion)
	}
	if abort == nil {
		abort = make(chan struct{})
	}
	return &cliCommand{bin: path, version: v, abort: abort, grace: AbortGrace}, nil
}

func (c *cliCommand) Version() semver.Version { return c.version }

// Run runs one CLI command. The CLI runs in its own process group, so a
// Ctrl-C at the terminal reaches stayup alone and stayup decides what the
// CLI gets: ctx ending sends one SIGINT (the CLI cancels gracefully and
// waits for in-flight operations), abort a second one (the CLI stops at
// once), and AbortGrace after that the group is killed.
func (c *cliCommand) Run(ctx context.Context, workdir string, stdin io.Reader,
	outs, errs []io.Writer, env []string, args ...string,
) (string, string, int, error) {
	if !slices.Contains(args, "--non-interactive") {
		args = append([]string{"--non-interactive"}, args...)
	}
	cmd := exec.Command(c.bin, args...)
	cmd.Dir = workdir
	cmd.Env = append(os.Environ(), env...)
	cmd.Env = append(cmd.Env,
		"PULUMI_AUTOMATION_API=true",
		"PULUMI_SKIP_UPDATE_CHECK=true",
		// Plugins built beside the CLI are found first.
		"PATH="+filepath.Dir(c.bin)+string(os.PathListSeparator)+os.Getenv("PATH"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout = io.MultiWriter(append(outs, &stdout)...)
	cmd.Stderr = io.MultiWriter(append(errs, &stderr)...)
	cmd.Stdin = stdin
	ownProcessGroup(cmd)

	if err := cmd.Start(); err != nil {
		return "", "", -1, fmt.Errorf("start %s: %w", c.bin, err)
	}
	exited := make(chan struct{})
	go c.watch(ctx, cmd.Process, exited)
	err := cmd.Wait()
	close(exited)

	code := -2
	var exit *exec.ExitError
	switch {
	case err == nil:
		code = 0
	case errors.As(err, &exit):
		code = exit.ExitCode()
	}
	return stdout.String(), stderr.String(), code, err
}

// watch escalates from a graceful cancel to a kill as described on Run.
func (c *cliCommand) watch(ctx context.Context, p *os.Process, exited <-chan struct{}) {
	select {
	case <-exited:
		return
	case <-ctx.Done():
	case <-c.abort:
	}
	_ = p.Signal(os.Interrupt)
	select {
	case <-exited:
		return
	case <-c.abort:
	}
	// Pulumi's second Ctrl-C: stop without waiting for operations.
	_ = p.Signal(os.Interrupt)
	select {
	case <-exited:
	case <-time.After(c.grace):
		killGroup(p)
	}
}
