package gcp

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	compute "cloud.google.com/go/compute/apiv1"
	"cloud.google.com/go/compute/apiv1/computepb"

	"stayup/internal/fleet"
)

// CertificateAPI reads global SSL certificates.
type CertificateAPI interface {
	Get(context.Context, *computepb.GetSslCertificateRequest) (*computepb.SslCertificate, error)
}

// CertificatePhase is where a Google-managed certificate stands in the
// HTTPS cutover: what HTTP may do, and what the user does next.
type CertificatePhase string

// The phases, from the certificate's managed.status (Compute API
// reference, sslCertificates: SslCertificateManagedSslCertificate.Status).
const (
	// PhaseProvisioning: PROVISIONING, or PROVISIONING_FAILED, which Google
	// retries (the reference: "It won't be retried" is said only of the
	// permanent failure). HTTP keeps serving; DNS must point at the address.
	PhaseProvisioning CertificatePhase = "provisioning"
	// PhaseActive: ACTIVE, a certificate serves; HTTP may redirect.
	PhaseActive CertificatePhase = "active"
	// PhaseFailedPermanently: PROVISIONING_FAILED_PERMANENTLY, never
	// retried: only a new certificate resource tries again.
	PhaseFailedPermanently CertificatePhase = "failed-permanently"
	// PhaseRenewalFailed: RENEWAL_FAILED, the existing certificate still
	// serves but expires soon; a new resource is what renews it.
	PhaseRenewalFailed CertificatePhase = "renewal-failed"
)

// Certificate is a managed certificate's provisioning state.
type Certificate struct {
	Name string `json:"name"`
	// Status is managed.status as Compute gives it.
	Status string           `json:"status"`
	Phase  CertificatePhase `json:"phase"`
	// Domains is managed.domainStatus: PROVISIONING, ACTIVE,
	// FAILED_NOT_VISIBLE, FAILED_CAA_CHECKING, FAILED_CAA_FORBIDDEN,
	// FAILED_RATE_LIMITED per domain.
	Domains map[string]string `json:"domains"`
}

// Failing lists the domains whose status is a failure, as "domain
// STATUS", sorted.
func (c Certificate) Failing() []string {
	var out []string
	for _, d := range slices.Sorted(maps.Keys(c.Domains)) {
		if strings.HasPrefix(c.Domains[d], "FAILED") {
			out = append(out, d+" "+c.Domains[d])
		}
	}
	return out
}

// PhaseOf maps managed.status to the cutover's phase. A status the
// reference does not list (or none yet, right after creation) counts as
// provisioning: HTTP keeps serving, which is the safe side.
func PhaseOf(status string) CertificatePhase {
	switch status {
	case "ACTIVE":
		return PhaseActive
	case "PROVISIONING_FAILED_PERMANENTLY":
		return PhaseFailedPermanently
	case "RENEWAL_FAILED":
		return PhaseRenewalFailed
	}
	return PhaseProvisioning
}

// ReadCertificate reads a global managed certificate's state.
func ReadCertificate(ctx context.Context, api CertificateAPI, project, name string) (Certificate, error) {
	var got *computepb.SslCertificate
	err := call(ctx, fleet.DefaultBackoff, "compute.sslCertificates.get", func() error {
		var err error
		got, err = api.Get(ctx, &computepb.GetSslCertificateRequest{Project: project, SslCertificate: name})
		return err
	})
	if err != nil {
		return Certificate{}, fmt.Errorf("read certificate %s: %w", name, err)
	}
	m := got.GetManaged()
	c := Certificate{Name: name, Status: m.GetStatus(), Domains: m.GetDomainStatus()}
	if c.Domains == nil {
		c.Domains = map[string]string{}
	}
	c.Phase = PhaseOf(c.Status)
	return c, nil
}

// OpenCertificates builds the REST client with Application Default
// Credentials; close releases it.
func OpenCertificates(ctx context.Context) (api CertificateAPI, close func(), err error) {
	c, err := compute.NewSslCertificatesRESTClient(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("connect to Compute Engine: %w", err)
	}
	return certClient{c}, func() { c.Close() }, nil
}

type certClient struct {
	c *compute.SslCertificatesClient
}

func (a certClient) Get(ctx context.Context, r *computepb.GetSslCertificateRequest) (*computepb.SslCertificate, error) {
	return a.c.Get(ctx, r)
}
