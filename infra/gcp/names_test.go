package gcp

import (
	"regexp"
	"testing"
)

func TestResourceNameFitsGCPRules(t *testing.T) {
	t.Parallel()
	valid := regexp.MustCompile(`^[a-z]([-a-z0-9]*[a-z0-9])?$`)
	for _, tc := range []struct {
		in   string
		max  int
		want string
	}{
		{"stayup-gcp", 30, "stayup-gcp"},
		{"stayup-Prod_EU.1", 30, "stayup-prod-eu-1"},
		{"stayup-a-very-long-stack-name-that-goes-on", 30, "stayup-a-very-long-stack-name"},
		{"stayup-ends-with-dash-at-thirty-", 30, "stayup-ends-with-dash-at-thirt"},
		{"9lives", 30, "s9lives"},
	} {
		got := resourceName(tc.in, tc.max)
		if got != tc.want || !valid.MatchString(got) || len(got) > tc.max {
			t.Errorf("resourceName(%q, %d) = %q, want %q (valid, at most %d)", tc.in, tc.max, got, tc.want, tc.max)
		}
	}
}
