// Package runs keeps the reports of chaos, rollout and probe runs in the
// project, one JSON file per run, so that `stayup report` can chart them
// later. A file is replaced whole at each checkpoint (written aside, then
// renamed), so a run that is interrupted or killed leaves a readable
// report with its verdict so far, and a name is never reused, so no run
// overwrites another.
package runs

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Dir is where runs are kept, relative to the project root (git-ignored).
const Dir = ".stayup/reports"

// The kinds of run.
const (
	Chaos   = "chaos"
	Rollout = "rollout"
	Probe   = "probe"
)

// Kinds are the kinds of run kept, in the order a report shows them.
var Kinds = []string{Chaos, Rollout, Probe}

// StackDir is where a stack's runs are kept.
func StackDir(root, stack string) string { return filepath.Join(root, Dir, stack) }

// timeFormat names a file by its run's start in UTC; names sort by time.
const timeFormat = "20060102T150405Z"

// File is one run's report file.
type File struct {
	Path string
}

// Create makes a new file for a run of kind started at start, named
// <time>-<kind>.json (with -2, -3... when a run of the same kind started
// the same second), and writes first into it.
func Create(dir, kind string, start time.Time, first any) (*File, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create the runs directory: %w", err)
	}
	base := start.UTC().Format(timeFormat) + "-" + kind
	b, err := json.MarshalIndent(first, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode the run's report: %w", err)
	}
	// The first content is written to a temporary file and linked to the
	// run's name: a link fails where the name exists, so two runs never
	// share a file, and the name never shows an empty or half-written
	// report, even to a reader the moment it appears.
	tmp, err := os.CreateTemp(dir, "."+base+".*")
	if err != nil {
		return nil, fmt.Errorf("create the run's report: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, werr := tmp.Write(append(b, '\n'))
	serr := tmp.Sync()
	if err := errors.Join(werr, serr, tmp.Close()); err != nil {
		return nil, fmt.Errorf("create the run's report: %w", err)
	}
	for n := 1; n < 1000; n++ {
		name := base + ".json"
		if n > 1 {
			name = fmt.Sprintf("%s-%d.json", base, n)
		}
		path := filepath.Join(dir, name)
		err := os.Link(tmp.Name(), path)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("create the run's report: %w", err)
		}
		return &File{Path: path}, nil
	}
	return nil, fmt.Errorf("create the run's report: every name for %s in %s is taken", base, dir)
}

// Write replaces the file's content with v as indented JSON: written to a
// temporary file beside it, then renamed over it, so a reader, or a run
// killed mid-write, never sees half a report.
func (f *File) Write(v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode the run's report: %w", err)
	}
	dir, name := filepath.Split(f.Path)
	tmp, err := os.CreateTemp(dir, "."+name+".*")
	if err != nil {
		return fmt.Errorf("save the run's report: %w", err)
	}
	_, werr := tmp.Write(append(b, '\n'))
	serr := tmp.Sync()
	cerr := tmp.Close()
	if err := errors.Join(werr, serr, cerr, os.Chmod(tmp.Name(), 0o644)); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("save the run's report: %w", err)
	}
	if err := os.Rename(tmp.Name(), f.Path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("save the run's report: %w", err)
	}
	return nil
}

// Saved is one kept run, as read back.
type Saved struct {
	Path string
	Kind string
	Data []byte
}

// KindOf is the kind a file's name says, or "" when it is not a run's.
func KindOf(name string) string {
	if strings.HasPrefix(name, ".") || !strings.HasSuffix(name, ".json") {
		return ""
	}
	stem := strings.TrimSuffix(name, ".json")
	for _, k := range Kinds {
		// <time>-<kind>.json or <time>-<kind>-<n>.json
		if i := strings.LastIndex(stem, "-"+k); i > 0 {
			rest := stem[i+1+len(k):]
			if rest == "" || (rest[0] == '-' && strings.Trim(rest[1:], "0123456789") == "") {
				return k
			}
		}
	}
	return ""
}

// List reads the runs kept in dir, oldest first; other files are skipped.
// A missing dir has no runs.
func List(dir string) ([]Saved, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the runs in %s: %w", dir, err)
	}
	var out []Saved
	for _, e := range entries {
		k := KindOf(e.Name())
		if e.IsDir() || k == "" {
			continue
		}
		path := filepath.Join(dir, e.Name())
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read run %s: %w", path, err)
		}
		out = append(out, Saved{Path: path, Kind: k, Data: b})
	}
	slices.SortFunc(out, func(a, b Saved) int { return strings.Compare(filepath.Base(a.Path), filepath.Base(b.Path)) })
	return out, nil
}
