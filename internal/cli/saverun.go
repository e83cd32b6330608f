package cli

import (
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"time"

	"stayup/internal/runs"
)

// reportsDir is where a command keeps its run: the stack's directory
// under .stayup/reports, or "" with --no-save.
func reportsDir(root, stack string, noSave bool) string {
	if noSave {
		return ""
	}
	return runs.StackDir(root, stack)
}

// runSaver keeps one run's report in the project while it runs: the file
// is created when the run starts, replaced at each checkpoint and at the
// end. A nil saver saves nothing. Saving never stops a run: a failed write
// is said once on stderr and the run goes on.
type runSaver struct {
	mu     sync.Mutex
	f      *runs.File
	w      io.Writer
	shown  string // the path as printed
	failed bool
}

// startSave creates the run's file in dir with its first content and
// says where it is; dir "" saves nothing.
func startSave(dir, root, kind string, start time.Time, first any, w io.Writer) *runSaver {
	if dir == "" {
		return nil
	}
	f, err := runs.Create(dir, kind, start, first)
	if err != nil {
		fmt.Fprintf(w, "stayup: not saving this run: %v\n", err)
		return nil
	}
	shown := f.Path
	if rel, err := filepath.Rel(root, f.Path); err == nil && root != "" {
		shown = rel
	}
	fmt.Fprintf(w, "saving the run to %s\n", shown)
	return &runSaver{f: f, w: w, shown: shown}
}

func (s *runSaver) checkpoint(v any) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.f.Write(v); err != nil && !s.failed {
		s.failed = true
		fmt.Fprintf(s.w, "stayup: %v (the run goes on)\n", err)
	}
}

// finish writes the final report and prints where it is.
func (s *runSaver) finish(v any) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.f.Write(v); err != nil {
		fmt.Fprintf(s.w, "stayup: %v\n", err)
		return
	}
	fmt.Fprintf(s.w, "saved %s (stayup report --stack ... charts it)\n", s.shown)
}
