// Package stackops runs the stack operations — preview, up, destroy,
// refresh, outputs, config, export — on the project's inline program through
// the Pulumi Automation API, with the stack files in stacks/, the state
// backend chosen as DESIGN.md says, and interrupts that never leave a stack
// locked.
package stackops

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// LocalStateDir is the project-local file backend used when no other is
// configured: nothing to sign up for. It is git-ignored.
const LocalStateDir = ".pulumi-state"

// Where the backend came from.
const (
	FromEnv   = "PULUMI_BACKEND_URL"
	FromLogin = "pulumi login"
	FromLocal = "local"
)

// Backend is the state backend a stack operation uses.
type Backend struct {
	URL    string
	Source string // FromEnv, FromLogin or FromLocal
}

// Local reports whether this is the project's own file backend.
func (b Backend) Local() bool { return b.Source == FromLocal }

// ChooseBackend picks the state backend: PULUMI_BACKEND_URL when set, else
// the one the user is logged in to (pulumiHome/credentials.json, where
// `pulumi login` records it), else a file backend in root/.pulumi-state.
func ChooseBackend(lookup LookupEnv, pulumiHome, root string) (Backend, error) {
	if u, _ := lookup("PULUMI_BACKEND_URL"); strings.TrimSpace(u) != "" {
		u = strings.TrimSpace(u)
		return Backend{URL: u, Source: FromEnv}, nil
	}
	current, err := loggedIn(pulumiHome)
	if err != nil {
		return Backend{}, err
	}
	if current != "" {
		return Backend{URL: current, Source: FromLogin}, nil
	}
	return Backend{URL: "file://" + filepath.ToSlash(filepath.Join(root, LocalStateDir)), Source: FromLocal}, nil
}

// loggedIn returns the backend URL `pulumi login` last selected, or "".
func loggedIn(pulumiHome string) (string, error) {
	path := filepath.Join(pulumiHome, "credentials.json")
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read the Pulumi login %s: %w", path, err)
	}
	var creds struct {
		Current string `json:"current"`
	}
	if err := json.Unmarshal(data, &creds); err != nil {
		return "", fmt.Errorf("read the Pulumi login %s: %w", path, err)
	}
	return creds.Current, nil
}

// LookupEnv reads the environment; os.LookupEnv, or a map in tests.
type LookupEnv func(key string) (string, bool)

// PulumiHome is where the CLI keeps its login: PULUMI_HOME, or ~/.pulumi.
func PulumiHome(lookup LookupEnv) string {
	if h, _ := lookup("PULUMI_HOME"); h != "" {
		return h
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ".pulumi"
	}
	return filepath.Join(home, ".pulumi")
}

// ErrNoPassphrase is returned when a stack's secrets need a passphrase and
// none is set; its message says how to set one.
var ErrNoPassphrase = errors.New(`the stack's secrets are encrypted with a passphrase and none is set: ` +
	`export PULUMI_CONFIG_PASSPHRASE='a long phrase you keep' ` +
	`(or PULUMI_CONFIG_PASSPHRASE_FILE=path/to/a/file holding it); ` +
	`use the same one every time: the stack's secret config cannot be read without it`)

// checkPassphrase fails early, before the CLI would, when the local
// backend's passphrase secrets provider has no passphrase. Other backends
// may use another secrets provider; the CLI's own error is translated then.
// An empty PULUMI_CONFIG_PASSPHRASE counts as set, as the CLI takes it.
func checkPassphrase(b Backend, lookup LookupEnv) error {
	if !b.Local() {
		return nil
	}
	if _, set := lookup("PULUMI_CONFIG_PASSPHRASE"); set {
		return nil
	}
	if f, _ := lookup("PULUMI_CONFIG_PASSPHRASE_FILE"); f != "" {
		return nil
	}
	return fmt.Errorf("local state in %s: %w", LocalStateDir, ErrNoPassphrase)
}
