package diagram

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"stayup/internal/graph"
)

// Dir is where `stayup plan` writes each cloud's example diagrams,
// relative to the project root.
const Dir = "diagrams"

// FileFormats are the formats written to Dir, each as <cloud>.<ext>.
var FileFormats = []Format{Mermaid, DOT, SVG}

// ErrNoTable is returned for a cloud whose table is not written yet.
var ErrNoTable = errors.New("no diagram table for this cloud")

// HasTable reports whether a cloud can be drawn.
func HasTable(cloud string) bool {
	_, ok := tables[cloud]
	return ok
}

// Files renders a cloud's graph in every file format, keyed by file name.
func Files(cloud string, g *graph.Graph) (map[string][]byte, error) {
	if !HasTable(cloud) {
		return nil, fmt.Errorf("%s: %w", cloud, ErrNoTable)
	}
	m, err := Build(cloud, g)
	if err != nil {
		return nil, err
	}
	out := map[string][]byte{}
	for _, f := range FileFormats {
		b, err := Render(m, f)
		if err != nil {
			return nil, fmt.Errorf("draw %s as %s: %w", cloud, f, err)
		}
		out[cloud+"."+f.Ext()] = b
	}
	return out, nil
}

// WriteFiles writes a cloud's diagrams into dir and returns their paths.
// Each file is replaced whole (written aside, then renamed), so a reader
// never sees half a diagram.
func WriteFiles(dir, cloud string, g *graph.Graph) ([]string, error) {
	files, err := Files(cloud, g)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var paths []string
	for _, f := range FileFormats {
		name := cloud + "." + f.Ext()
		path := filepath.Join(dir, name)
		tmp, err := os.CreateTemp(dir, "."+name+".*")
		if err != nil {
			return nil, err
		}
		_, werr := tmp.Write(files[name])
		cerr := tmp.Close()
		if err := errors.Join(werr, cerr, os.Chmod(tmp.Name(), 0o644)); err != nil {
			os.Remove(tmp.Name())
			return nil, fmt.Errorf("write %s: %w", path, err)
		}
		if err := os.Rename(tmp.Name(), path); err != nil {
			os.Remove(tmp.Name())
			return nil, fmt.Errorf("write %s: %w", path, err)
		}
		paths = append(paths, path)
	}
	return paths, nil
}
