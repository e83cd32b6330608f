package gcp

import (
	"context"
	"errors"
	"slices"
	"testing"

	"cloud.google.com/go/compute/apiv1/computepb"
	"google.golang.org/api/googleapi"
	"google.golang.org/protobuf/proto"

	"stayup/internal/fleet"
)

// fakeCerts answers Get with one scripted certificate, shaped as the
// Compute API reference (sslCertificates) gives a managed one: managed.status
// and managed.domainStatus, both output only.
type fakeCerts struct {
	cert *computepb.SslCertificate
	err  error
	got  []*computepb.GetSslCertificateRequest
}

func (f *fakeCerts) Get(_ context.Context, r *computepb.GetSslCertificateRequest) (*computepb.SslCertificate, error) {
	f.got = append(f.got, r)
	return f.cert, f.err
}

func managedCert(status string, domains map[string]string) *computepb.SslCertificate {
	m := &computepb.SslCertificateManagedSslCertificate{DomainStatus: domains}
	if status != "" {
		m.Status = proto.String(status)
	}
	return &computepb.SslCertificate{Type: proto.String("MANAGED"), Managed: m}
}

func TestReadCertificatePhases(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		status  string
		domains map[string]string
		want    CertificatePhase
		failing []string
	}{
		{"PROVISIONING", map[string]string{"app.example.com": "PROVISIONING"}, PhaseProvisioning, nil},
		// Google retries this one: HTTP keeps serving meanwhile.
		{"PROVISIONING_FAILED", map[string]string{"app.example.com": "FAILED_NOT_VISIBLE"}, PhaseProvisioning, []string{"app.example.com FAILED_NOT_VISIBLE"}},
		{"ACTIVE", map[string]string{"app.example.com": "ACTIVE"}, PhaseActive, nil},
		{"PROVISIONING_FAILED_PERMANENTLY", map[string]string{"app.example.com": "FAILED_CAA_FORBIDDEN"}, PhaseFailedPermanently, []string{"app.example.com FAILED_CAA_FORBIDDEN"}},
		{"RENEWAL_FAILED", map[string]string{"app.example.com": "FAILED_RATE_LIMITED"}, PhaseRenewalFailed, []string{"app.example.com FAILED_RATE_LIMITED"}},
		// Right after creation the status may not be set yet.
		{"", nil, PhaseProvisioning, nil},
	} {
		f := &fakeCerts{cert: managedCert(tc.status, tc.domains)}
		c, err := ReadCertificate(context.Background(), f, "p", "stayup-lb-1234")
		if err != nil {
			t.Fatal(err)
		}
		if c.Phase != tc.want || c.Status != tc.status || !slices.Equal(c.Failing(), tc.failing) {
			t.Errorf("%q: phase %s, status %q, failing %v; want %s, %v", tc.status, c.Phase, c.Status, c.Failing(), tc.want, tc.failing)
		}
		if r := f.got[0]; r.GetProject() != "p" || r.GetSslCertificate() != "stayup-lb-1234" {
			t.Errorf("asked for %v", r)
		}
	}
}

func TestReadCertificateNamesThePermission(t *testing.T) {
	t.Parallel()
	f := &fakeCerts{err: &googleapi.Error{Code: 403, Message: "Required 'compute.sslCertificates.get' permission"}}
	_, err := ReadCertificate(context.Background(), f, "p", "c")
	var pe *fleet.PermissionError
	if !errors.As(err, &pe) || pe.Action != "compute.sslCertificates.get" {
		t.Errorf("err = %v, want a permission error for compute.sslCertificates.get", err)
	}
}
