package project

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseStackConfig(t *testing.T) {
	t.Parallel()
	got, err := ParseStackConfig("Pulumi.x.yaml", []byte(`
config:
  aws:region: eu-west-1
  stayup:minSize: "2"
  stayup:zones: 3
  stayup:allowedCidrs:
    - 203.0.113.0/24
    - 198.51.100.0/24
  stayup:tlsCertificate:
    secure: v1:abc
  cpuTarget: 50
`))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"aws:region":            "eu-west-1",
		"stayup:minSize":        "2",
		"stayup:zones":          "3",
		"stayup:allowedCidrs":   `["203.0.113.0/24","198.51.100.0/24"]`,
		"stayup:tlsCertificate": SecretPlaceholder,
		"stayup:cpuTarget":      "50",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("config:\n got %v\nwant %v", got, want)
	}
}

func TestStackConfigMissingStackNamesTheKnownOnes(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, StackDir), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(StackFile(root, "aws"), []byte("config: {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := StackConfig(root, "prod")
	if !errors.Is(err, ErrNoStack) {
		t.Fatalf("error = %v, want ErrNoStack", err)
	}
	if want := "stack files: aws"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not list the known stacks (%q)", err, want)
	}
}

func TestRootWalksUp(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "Pulumi.yaml"), []byte("name: stayup\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(root, "a", "b")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	got, err := Root(sub)
	if err != nil || got != root {
		t.Errorf("Root(%s) = %q, %v; want %q", sub, got, err, root)
	}
	if _, err := Root(t.TempDir()); err == nil {
		t.Error("Root outside a project returned no error")
	}
}
