package stackops

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func env(m map[string]string) LookupEnv {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestChooseBackend(t *testing.T) {
	t.Parallel()
	loggedInHome := t.TempDir()
	if err := os.WriteFile(filepath.Join(loggedInHome, "credentials.json"),
		[]byte(`{"current":"https://api.pulumi.com","accessTokens":{"https://api.pulumi.com":"x"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	loggedOutHome := t.TempDir()
	if err := os.WriteFile(filepath.Join(loggedOutHome, "credentials.json"), []byte(`{"current":""}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		env        map[string]string
		home       string
		wantURL    string
		wantSource string
	}{
		{"env wins over login", map[string]string{"PULUMI_BACKEND_URL": "s3://bucket"}, loggedInHome, "s3://bucket", FromEnv},
		{"login", nil, loggedInHome, "https://api.pulumi.com", FromLogin},
		{"empty env is unset", map[string]string{"PULUMI_BACKEND_URL": " "}, loggedInHome, "https://api.pulumi.com", FromLogin},
		{"logged out: local", nil, loggedOutHome, "file:///project/.pulumi-state", FromLocal},
		{"never logged in: local", nil, t.TempDir(), "file:///project/.pulumi-state", FromLocal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, err := ChooseBackend(env(tc.env), tc.home, "/project")
			if err != nil || b.URL != tc.wantURL || b.Source != tc.wantSource {
				t.Errorf("ChooseBackend = %+v, %v; want %s from %s", b, err, tc.wantURL, tc.wantSource)
			}
		})
	}

	broken := t.TempDir()
	if err := os.WriteFile(filepath.Join(broken, "credentials.json"), []byte(`{`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ChooseBackend(env(nil), broken, "/project"); err == nil || !strings.Contains(err.Error(), "credentials.json") {
		t.Errorf("a broken credentials file: %v, want an error naming it", err)
	}
}

func TestCheckPassphrase(t *testing.T) {
	t.Parallel()
	local := Backend{URL: "file:///p/.pulumi-state", Source: FromLocal}
	for _, tc := range []struct {
		name    string
		backend Backend
		env     map[string]string
		wantErr bool
	}{
		{"local without passphrase", local, nil, true},
		{"local with passphrase", local, map[string]string{"PULUMI_CONFIG_PASSPHRASE": "p"}, false},
		{"local with an empty passphrase set", local, map[string]string{"PULUMI_CONFIG_PASSPHRASE": ""}, false},
		{"local with a passphrase file", local, map[string]string{"PULUMI_CONFIG_PASSPHRASE_FILE": "/f"}, false},
		{"another backend decides itself", Backend{URL: "https://api.pulumi.com", Source: FromLogin}, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := checkPassphrase(tc.backend, env(tc.env))
			if (err != nil) != tc.wantErr {
				t.Fatalf("checkPassphrase: %v, want error %v", err, tc.wantErr)
			}
			if err == nil {
				return
			}
			if !errors.Is(err, ErrNoPassphrase) {
				t.Errorf("%v is not ErrNoPassphrase", err)
			}
			for _, want := range []string{"export PULUMI_CONFIG_PASSPHRASE=", "PULUMI_CONFIG_PASSPHRASE_FILE", LocalStateDir} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("message %q does not say %q", err, want)
				}
			}
		})
	}
}
