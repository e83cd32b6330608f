package cli

import (
	"context"
	"fmt"
	"strings"
	"time"

	gcpfleet "stayup/internal/fleet/gcp"
	"stayup/internal/project"
	"stayup/internal/stackops"
)

// certRef names a GCP stack's Google-managed certificate and what its
// load balancer does with HTTP, from the fleet output.
type certRef struct {
	Project, Name, Address string
	// Redirect says whether the deployed HTTP front redirects to HTTPS.
	Redirect bool
}

// certRefOf reads the fleet output; ok is false where the stack has no
// managed certificate (another cloud, the user's certificate, no HTTPS).
func certRefOf(outputs map[string]any) (certRef, bool) {
	fo, _ := outputs["fleet"].(map[string]any)
	var r certRef
	r.Name, _ = fo["sslCertificate"].(string)
	r.Project, _ = fo["project"].(string)
	r.Address, _ = fo["address"].(string)
	r.Redirect, _ = fo["httpsRedirect"].(bool)
	return r, r.Name != "" && r.Project != ""
}

// certReader reads a managed certificate's state; tests replace it.
type certReader func(ctx context.Context, project, name string) (gcpfleet.Certificate, error)

func readCertificate(ctx context.Context, project, name string) (gcpfleet.Certificate, error) {
	api, closeFn, err := gcpfleet.OpenCertificates(ctx)
	if err != nil {
		return gcpfleet.Certificate{}, err
	}
	defer closeFn()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	return gcpfleet.ReadCertificate(ctx, api, project, name)
}

// httpsStatus is the HTTPS cutover as status prints it.
type httpsStatus struct {
	Certificate gcpfleet.Certificate `json:"certificate"`
	// Redirect: HTTP redirects to HTTPS now; else it serves the fleet.
	Redirect bool `json:"redirect"`
	// Next is what the user does next, empty when nothing.
	Next string `json:"next,omitempty"`
}

// cutover says where the HTTPS cutover stands and what to do next. It is
// built from the statuses the Compute API reference gives (sslCertificates)
// and the causes "Troubleshooting Google-managed certificates" names per
// domain status.
func cutover(c gcpfleet.Certificate, ref certRef, domain string) httpsStatus {
	h := httpsStatus{Certificate: c, Redirect: ref.Redirect}
	point := fmt.Sprintf("point DNS for %s (an A record) at %s, the address this stack created", orDomain(domain, c), orAddress(ref.Address))
	failing := ""
	if f := c.Failing(); len(f) > 0 {
		failing = " (" + strings.Join(f, ", ") + ")"
	}
	switch c.Phase {
	case gcpfleet.PhaseProvisioning:
		if ref.Redirect {
			h.Next = fmt.Sprintf("HTTP redirects to an HTTPS front whose certificate is not ACTIVE%s, so clients get nothing: set %s false and up again to serve HTTP meanwhile; %s", failing, stackops.HTTPSRedirectKey, point)
		} else {
			h.Next = fmt.Sprintf("HTTP keeps serving the fleet meanwhile%s; %s. Google retries until the domain resolves there; `stayup up` or `stayup status` then sees it ACTIVE", failing, point)
		}
	case gcpfleet.PhaseActive:
		if !ref.Redirect {
			h.Next = fmt.Sprintf("the certificate serves: set %s true and up again to redirect HTTP to HTTPS (stayup up does it when it sees this)", stackops.HTTPSRedirectKey)
		}
	case gcpfleet.PhaseFailedPermanently:
		h.Next = fmt.Sprintf("Google will not retry%s. Fix what the domain status says (FAILED_NOT_VISIBLE: %s; FAILED_CAA_*: let pki.goog and letsencrypt.org issue in the domain's CAA records; FAILED_RATE_LIMITED: wait), then replace the certificate: pulumi up --replace <its urn> (pulumi stack --show-urns lists it). HTTP keeps %s meanwhile", failing, point, serveOrRedirect(ref.Redirect))
	case gcpfleet.PhaseRenewalFailed:
		h.Next = fmt.Sprintf("the certificate still serves but will expire%s: fix DNS or CAA for the domain, then replace the certificate (pulumi up --replace <its urn>); set %s false first if it may expire before the new one is ACTIVE", failing, stackops.HTTPSRedirectKey)
	}
	return h
}

func (h httpsStatus) String() string {
	line := fmt.Sprintf("HTTPS: certificate %s is %s (%s); HTTP %s", h.Certificate.Name, orNone(h.Certificate.Status), h.Certificate.Phase, serveOrRedirect(h.Redirect))
	if h.Next != "" {
		line += ": " + h.Next
	}
	return line
}

func serveOrRedirect(redirect bool) string {
	if redirect {
		return "redirects to HTTPS"
	}
	return "serves the fleet"
}

func orDomain(domain string, c gcpfleet.Certificate) string {
	if domain != "" {
		return domain
	}
	for d := range c.Domains {
		return d
	}
	return "the domain"
}

func orAddress(a string) string {
	if a == "" {
		return "the address output"
	}
	return a
}

// afterUpHTTPS reads the managed certificate once the engine returned,
// says the phase, and when the certificate is ACTIVE while HTTP still
// serves, sets stayup:httpsRedirect true: the next up (whose preview shows
// the proxy moving to the redirect) cuts HTTP over. Set, not applied at
// once: the cutover is a change of the load balancer the user sees and
// confirms like any other. A failure is said, never returned: the deploy
// is what the user asked about.
func afterUpHTTPS(ctx context.Context, st pinner, stack, root, domain string, outputs map[string]any, read certReader, s streams) {
	ref, ok := certRefOf(outputs)
	if !ok || read == nil {
		return
	}
	c, err := read(ctx, ref.Project, ref.Name)
	if err != nil {
		fmt.Fprintf(s.err, "stayup: warning: could not read the managed certificate %s to say the HTTPS phase: %v (stayup status --stack %s reads it again)\n", ref.Name, err, stack)
		return
	}
	h := cutover(c, ref, domain)
	if c.Phase == gcpfleet.PhaseActive && !ref.Redirect && st != nil {
		if err := st.SetConfig(ctx, stackops.HTTPSRedirectKey, "true", false); err != nil {
			fmt.Fprintf(s.err, "stayup: warning: the certificate is ACTIVE but %s could not be set: %v; set it yourself and up again to redirect HTTP\n", stackops.HTTPSRedirectKey, err)
			return
		}
		fmt.Fprintf(s.err, "stayup: HTTPS: certificate %s is ACTIVE; %s in %s: the next `stayup up --stack %s` redirects HTTP to HTTPS\n",
			c.Name, stackops.PinChange{Key: stackops.HTTPSRedirectKey, Value: "true", Why: "the managed certificate serves"}, project.StackFile(root, stack), stack)
		return
	}
	fmt.Fprintf(s.err, "stayup: %s\n", h)
}
