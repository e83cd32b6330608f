package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"stayup/internal/fleet"
	gcpfleet "stayup/internal/fleet/gcp"
	"stayup/internal/stackops"
)

// certAs is a certificate reader that answers with one status, as the
// Compute API reference shapes it (managed.status, managed.domainStatus).
func certAs(status, domainStatus string) certReader {
	return func(_ context.Context, project, name string) (gcpfleet.Certificate, error) {
		if project != "stayup-test" || name != "stayup-lb-cert" {
			return gcpfleet.Certificate{}, errors.New("asked for the wrong certificate")
		}
		return gcpfleet.Certificate{Name: name, Status: status, Phase: gcpfleet.PhaseOf(status), Domains: map[string]string{"app.example.com": domainStatus}}, nil
	}
}

func gcpOutputs(redirect bool) map[string]any {
	return map[string]any{"url": "https://app.example.com/", "cloud": "gcp", "fleet": map[string]any{
		"project": "stayup-test", "sslCertificate": "stayup-lb-cert", "address": "203.0.113.9", "httpsRedirect": redirect,
	}}
}

// After the engine returns, up says the phase; on ACTIVE it sets
// stayup:httpsRedirect so the next up redirects, and on nothing else.
func TestUpSaysTheHTTPSPhaseAndSetsTheRedirectOnceActive(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		status, domain string
		redirect       bool
		wantSet        bool
		want           string
	}{
		{"PROVISIONING", "PROVISIONING", false, false, "point DNS for app.example.com (an A record) at 203.0.113.9"},
		{"PROVISIONING_FAILED", "FAILED_NOT_VISIBLE", false, false, "app.example.com FAILED_NOT_VISIBLE"},
		{"ACTIVE", "ACTIVE", false, true, "the next `stayup up --stack s` redirects HTTP to HTTPS"},
		{"ACTIVE", "ACTIVE", true, false, "HTTP redirects to HTTPS"},
		{"PROVISIONING_FAILED_PERMANENTLY", "FAILED_CAA_FORBIDDEN", false, false, "pulumi up --replace"},
		{"PROVISIONING", "PROVISIONING", true, false, "set stayup:httpsRedirect false"},
	} {
		st := &pinStack{cfg: map[string]string{"stayup:cloud": "gcp", "stayup:domain": "app.example.com"}}
		var errOut bytes.Buffer
		afterUpHTTPS(context.Background(), st, "s", t.TempDir(), "app.example.com", gcpOutputs(tc.redirect), certAs(tc.status, tc.domain), streams{err: &errOut})
		_, set := st.cfg[stackops.HTTPSRedirectKey]
		if set != tc.wantSet || (set && st.cfg[stackops.HTTPSRedirectKey] != "true") {
			t.Errorf("%s (redirect %v): config %v, want httpsRedirect set %v", tc.status, tc.redirect, st.cfg, tc.wantSet)
		}
		if !strings.Contains(errOut.String(), tc.want) {
			t.Errorf("%s (redirect %v): said %q, want %q", tc.status, tc.redirect, errOut.String(), tc.want)
		}
	}
	// No managed certificate (another cloud, the user's own): nothing read.
	var errOut bytes.Buffer
	afterUpHTTPS(context.Background(), &pinStack{cfg: map[string]string{}}, "s", "", "", map[string]any{"fleet": map[string]any{"project": "p"}},
		func(context.Context, string, string) (gcpfleet.Certificate, error) {
			t.Error("read a certificate the stack lacks")
			return gcpfleet.Certificate{}, nil
		},
		streams{err: &errOut})
}

// status prints the phase and says it in --json.
func TestStatusSaysTheHTTPSPhase(t *testing.T) {
	t.Parallel()
	f := &scriptedFleet{capacity: fleet.Capacity{Desired: 3, Min: 3, Max: 6}, lists: [][]fleet.Instance{wholeFleet()}}
	open := func(context.Context, string, string) (*stackFleet, error) {
		ref, ok := certRefOf(gcpOutputs(false))
		return &stackFleet{Fleet: f, URL: "https://app.example.com/", Cloud: "gcp", Certificate: ref, HasCertificate: ok, Close: func() {}}, nil
	}
	var out, errOut bytes.Buffer
	o := &statusOpts{stack: "gcp", open: open, certificate: certAs("PROVISIONING_FAILED_PERMANENTLY", "FAILED_CAA_FORBIDDEN")}
	if err := o.Execute(context.Background(), streams{out: &out, err: &errOut}); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); !strings.Contains(got, "HTTPS: certificate stayup-lb-cert is PROVISIONING_FAILED_PERMANENTLY (failed-permanently); HTTP serves the fleet: Google will not retry") {
		t.Errorf("status said:\n%s", got)
	}
	out.Reset()
	o.json = true
	o.certificate = certAs("ACTIVE", "ACTIVE")
	if err := o.Execute(context.Background(), streams{out: &out, err: &errOut}); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		HTTPS struct {
			Certificate struct{ Phase, Status string }
			Redirect    bool
			Next        string
		}
	}
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.HTTPS.Certificate.Phase != "active" || doc.HTTPS.Redirect || !strings.Contains(doc.HTTPS.Next, "stayup:httpsRedirect true") {
		t.Errorf("status --json https = %+v", doc.HTTPS)
	}
}
