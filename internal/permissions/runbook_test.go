package permissions

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the generated blocks of docs/runbook.md")

// TestRunbookShowsTheGeneratedDocuments keeps docs/runbook.md's documents
// those the program generates now, as the diagrams are kept current.
func TestRunbookShowsTheGeneratedDocuments(t *testing.T) {
	path := filepath.Join(root, RunbookPath)
	page, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want, err := UpdateRunbook(root, string(page))
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if string(page) != want {
		t.Errorf("%s is stale: regenerate it with go test ./internal/permissions -run TestRunbookShowsTheGeneratedDocuments -update", RunbookPath)
	}
	for _, block := range []string{"aws deploy", "aws operate", "gcp deploy", "gcp operate", "azure deploy", "azure operate"} {
		if !strings.Contains(string(page), "<!-- permissions "+block+" -->") {
			t.Errorf("%s does not show the %s document", RunbookPath, block)
		}
	}
}
