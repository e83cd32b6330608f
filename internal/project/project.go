// Package project finds the stayup project on disk and reads its stack
// files (stacks/Pulumi.<stack>.yaml, the project's stackConfigDir).
package project

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// StackDir is where stack files live, as Pulumi.yaml's stackConfigDir says.
const StackDir = "stacks"

// SecretPlaceholder stands for a secure value in a plan, which never
// decrypts anything.
const SecretPlaceholder = "[secret]"

// Root finds the directory holding the project's Pulumi.yaml, starting at
// dir and walking up, so commands work from any subdirectory.
func Root(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for d := abs; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "Pulumi.yaml")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no Pulumi.yaml in %s or any parent: run stayup inside the project", abs)
		}
	}
}

// StackFile is the path of a stack's config file.
func StackFile(root, stack string) string {
	return filepath.Join(root, StackDir, "Pulumi."+stack+".yaml")
}

// Stacks lists the stacks that have a file in stacks/.
func Stacks(root string) ([]string, error) {
	matches, err := filepath.Glob(filepath.Join(root, StackDir, "Pulumi.*.yaml"))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, m := range matches {
		out = append(out, strings.TrimSuffix(strings.TrimPrefix(filepath.Base(m), "Pulumi."), ".yaml"))
	}
	sort.Strings(out)
	return out, nil
}

// ErrNoStack is returned when a stack has no file in stacks/.
var ErrNoStack = errors.New("no such stack")

// StackConfig reads a stack file's config the way Pulumi hands it to the
// program: fully qualified keys, scalars as strings, lists and maps as
// JSON, and secure values as SecretPlaceholder.
func StackConfig(root, stack string) (map[string]string, error) {
	path := StackFile(root, stack)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		known, _ := Stacks(root)
		return nil, fmt.Errorf("%w: %s (stack files: %s)", ErrNoStack, path, strings.Join(known, ", "))
	}
	if err != nil {
		return nil, err
	}
	return ParseStackConfig(path, data)
}

// ParseStackConfig parses the contents of a stack file; path is for errors.
func ParseStackConfig(path string, data []byte) (map[string]string, error) {
	var file struct {
		Config map[string]yaml.Node `yaml:"config"`
	}
	if err := yaml.Unmarshal(data, &file); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	out := make(map[string]string, len(file.Config))
	for key, node := range file.Config {
		if !strings.Contains(key, ":") {
			key = "stayup:" + key
		}
		value, err := configValue(&node)
		if err != nil {
			return nil, fmt.Errorf("read %s: %s: %w", path, key, err)
		}
		out[key] = value
	}
	return out, nil
}

func configValue(node *yaml.Node) (string, error) {
	switch node.Kind {
	case yaml.ScalarNode:
		return node.Value, nil
	case yaml.MappingNode:
		var m map[string]any
		if err := node.Decode(&m); err != nil {
			return "", err
		}
		if _, ok := m["secure"]; ok && len(m) == 1 {
			return SecretPlaceholder, nil
		}
		b, err := json.Marshal(m)
		return string(b), err
	case yaml.SequenceNode:
		var l []any
		if err := node.Decode(&l); err != nil {
			return "", err
		}
		b, err := json.Marshal(l)
		return string(b), err
	}
	return "", fmt.Errorf("unsupported YAML value at line %d", node.Line)
}
