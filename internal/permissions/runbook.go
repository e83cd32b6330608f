package permissions

import (
	"fmt"
	"regexp"
	"strings"

	"stayup/infra/spec"
)

// RunbookPath is the page that shows the generated documents.
const RunbookPath = "docs/runbook.md"

// blockRE finds a generated block: <!-- permissions CLOUD PURPOSE --> ... <!-- /permissions -->.
var blockRE = regexp.MustCompile(`(?s)<!-- permissions (aws|gcp|azure) (deploy|operate) -->\n.*?<!-- /permissions -->`)

// UpdateRunbook replaces every generated block of page with the document
// it names, generated now from the program under root.
func UpdateRunbook(root, page string) (string, error) {
	var firstErr error
	docs := map[string]string{}
	out := blockRE.ReplaceAllStringFunc(page, func(block string) string {
		m := blockRE.FindStringSubmatch(block)
		key := m[1] + " " + m[2]
		if _, ok := docs[key]; !ok {
			cloud := spec.Cloud(m[1])
			prog, err := Collect(root, cloud, Variants(cloud))
			if err == nil {
				var d *Document
				if d, err = Generate(prog, Purpose(m[2])); err == nil {
					docs[key] = d.Markdown()
				}
			}
			if err != nil && firstErr == nil {
				firstErr = err
			}
		}
		return fmt.Sprintf("<!-- permissions %s -->\n%s<!-- /permissions -->", key, docs[key])
	})
	if firstErr != nil {
		return "", firstErr
	}
	if !strings.Contains(out, "<!-- permissions ") {
		return "", fmt.Errorf("%s has no generated permissions block", RunbookPath)
	}
	return out, nil
}
