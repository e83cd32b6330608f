package spec

import (
	"regexp"
	"strings"
)

// The grammar of an OCI image reference, as the container runtimes parse it:
// [registry[:port]/]path[:tag][@algorithm:hex].
var imageRE = func() *regexp.Regexp {
	const (
		domainComponent = `(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])`
		domain          = domainComponent + `(?:\.` + domainComponent + `)*(?::[0-9]+)?`
		pathComponent   = `[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*`
		name            = `(?:` + domain + `/)?` + pathComponent + `(?:/` + pathComponent + `)*`
		tag             = `[\w][\w.-]{0,127}`
		digest          = `[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9A-Fa-f]{32,}`
	)
	return regexp.MustCompile(`^(` + name + `)(?::` + tag + `)?(?:@` + digest + `)?$`)
}()

// ValidImage reports whether ref is an image reference a container runtime accepts.
func ValidImage(ref string) bool {
	m := imageRE.FindStringSubmatch(ref)
	if m == nil || len(m[1]) > 255 {
		return false
	}
	// The first component names a registry only when it looks like a host
	// (a dot, a port, or localhost); otherwise it is a lower-case path.
	first, _, hasSlash := strings.Cut(m[1], "/")
	if hasSlash && !strings.ContainsAny(first, ".:") && first != "localhost" {
		return first == strings.ToLower(first)
	}
	return true
}
