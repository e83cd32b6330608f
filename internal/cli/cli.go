// Package cli is the stayup command line: thin cobra commands that parse
// flags into an options struct, validate it, and execute it.
package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
)

// usageError marks a mistake in how the command was called (exit code 2),
// as opposed to a failure while doing what it was asked (exit code 1).
type usageError struct{ error }

func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// exitError carries an exit code for an error already reported to the user.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// streams are where a command reads and writes; tests pass buffers.
type streams struct {
	in       io.Reader
	out, err io.Writer
}

// Main runs the command line and returns the process exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRoot(streams{in: stdin, out: stdout, err: stderr})
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.Execute()
	var exit exitError
	var usage usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exit):
		return exit.code
	case errors.As(err, &usage):
		fmt.Fprintf(stderr, "stayup: %v\n", err)
		return 2
	default:
		fmt.Fprintf(stderr, "stayup: %v\n", err)
		return 1
	}
}

func newRoot(s streams) *cobra.Command {
	root := &cobra.Command{
		Use:   "stayup",
		Short: "Deploy a highly available container service on AWS, GCP or Azure, and prove it stays up",
		Long: `stayup deploys a least-privilege, highly available, internet-facing container
service with Pulumi, and operates it.

Start offline: "stayup plan --cloud aws" shows what would be deployed.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(newPlanCmd(s))
	root.AddCommand(newCheckCmd(s))
	root.AddCommand(newProbeCmd(s))
	root.AddCommand(newDiagramCmd(s))
	root.AddCommand(newReportCmd(s))
	root.AddCommand(newUpCmd(s))
	root.AddCommand(newPreviewCmd(s))
	root.AddCommand(newDestroyCmd(s))
	root.AddCommand(newStatusCmd(s))
	root.AddCommand(newChaosCmd(s))
	root.AddCommand(newRolloutCmd(s))
	root.AddCommand(newPermissionsCmd(s))
	root.AddCommand(newDoctorCmd(s))
	return root
}

// workDir is the directory commands start looking for the project from.
func workDir() string {
	wd, err := os.Getwd()
	if err != nil {
		return "."
	}
	return wd
}

// writeJSON prints --json results: one stack's as an object, several as an
// array. A single result that failed prints nothing and exits 1, its error
// already on stderr.
func writeJSON[T any](w io.Writer, results []T, single bool) error {
	var v any = results
	if single {
		if len(results) == 0 {
			return exitError{1}
		}
		v = results[0]
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
