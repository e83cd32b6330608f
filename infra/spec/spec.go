// Package spec turns the stack's configuration into a validated, cloud-neutral
// description of the service. Every cloud component is built from a Spec, so
// the rules that make the service highly available (at least two instances,
// at least two zones) are enforced once, before any resource is registered.
package spec

import (
	"fmt"
	"strings"
)

// Cloud names one of the supported providers.
type Cloud string

// The clouds stayup deploys to.
const (
	AWS   Cloud = "aws"
	GCP   Cloud = "gcp"
	Azure Cloud = "azure"
)

// Clouds lists the supported clouds in the order commands iterate them.
var Clouds = []Cloud{AWS, GCP, Azure}

// Namespace is the Pulumi config namespace of stayup's own keys.
const Namespace = "stayup"

// Defaults for the service itself. The default image is Google's public
// hello-app sample: it is served from Artifact Registry, which has no
// anonymous pull limits (unlike Docker Hub), it listens on $PORT (8080), and
// answers every path with its version and hostname, which is what a rollout
// from 1.0 to 2.0 needs to show which version served each request.
const (
	DefaultImage       = "us-docker.pkg.dev/google-samples/containers/gke/hello-app:1.0"
	DefaultPort        = 8080
	DefaultReadyPath   = "/"
	DefaultHealthPath  = "/"
	DefaultMinSize     = 3
	DefaultMaxSize     = 9
	DefaultDesiredSize = 3
	DefaultZones       = 3
	DefaultCPUTarget   = 60
	DefaultAllowedCIDR = "0.0.0.0/0"
	// DefaultLogRetentionDays keeps a month of logs: long enough to look back
	// at an incident or a rollout, short enough not to pile up cost.
	DefaultLogRetentionDays = 30
)

// DefaultInstanceType is a small general-purpose machine on each cloud: two
// vCPUs and 2 GiB or more, enough for one container and the runtime.
var DefaultInstanceType = map[Cloud]string{
	AWS:   "t3.small",
	GCP:   "e2-small",
	Azure: "Standard_B2s",
}

// AzureImage is the marketplace image the Azure instances boot (Ubuntu
// 24.04 LTS, Gen2); stayup:baseImage pins its version.
var AzureImage = struct{ Publisher, Offer, SKU string }{"Canonical", "ubuntu-24_04-lts", "server"}

// GCPImagePath is a GCP image reference in its relative form,
// projects/P/global/images/NAME: what the provider keeps in the instance
// template's state whatever form it was given (terraform-provider-google
// flattenDisk, resolveImageRefToRelativeURI), and what its diff compares
// (the template's sourceImage CustomizeDiff resolves old and new alike),
// so the forms are interchangeable on a deployed stack. The image lookup
// answers a self-link of the API version the provider uses (beta, for the
// google-beta provider pulumi-gcp bridges), which is why stayup keeps the
// relative form.
func GCPImagePath(ref string) string {
	if i := strings.Index(ref, "projects/"); i > 0 && strings.HasPrefix(ref, "https://") {
		return ref[i:]
	}
	return ref
}

// ProjectKey is the provider config key of the GCP project.
const ProjectKey = "gcp:project"

// Spec is the validated service description every cloud component builds.
type Spec struct {
	Cloud  Cloud
	Region string
	// Project is the GCP project (gcp:project); empty on other clouds.
	Project string

	Image      string
	Port       int
	ReadyPath  string // what the load balancer checks: fails while draining
	HealthPath string // what autohealing checks: failing means replace

	MinSize     int
	MaxSize     int
	DesiredSize int
	// Zones is how many zones the fleet spreads over. When ZonesSet is
	// false it is the default and a region with fewer zones (but at least
	// two) is accepted as it is; a number the user chose must be met.
	Zones    int
	ZonesSet bool
	// ZoneNames are the zones, pinned (stayup:zoneNames): resolved once,
	// on a stack's first up, and kept, so a zone's momentary status never
	// moves the fleet. Empty: chosen from the region's zones at deploy.
	ZoneNames []string
	// BaseImage is the OS image the instances boot, pinned
	// (stayup:baseImage): an AMI id, a GCP image path, an Azure marketplace
	// version. Empty: the newest is resolved at deploy time, and `stayup
	// up` stores what it was.
	BaseImage string

	InstanceType string
	CPUTarget    int // percent

	TLSCertificate string
	Domain         string
	AllowedCIDRs   []string

	LogRetentionDays int

	AWS   AWSOptions
	GCP   GCPOptions
	Azure AzureOptions
}

// AzureOptions are the keys only the Azure component reads.
type AzureOptions struct {
	// SSHPublicKey is the only way into the instances (password logins are
	// off); `stayup up` generates one on the first deploy when it is unset.
	SSHPublicKey string
	// EncryptionAtHost encrypts temp disks and caches on the host too; it
	// needs the subscription feature Microsoft.Compute/EncryptionAtHost.
	EncryptionAtHost bool
	// RegistryID is the resource ID of the Azure Container Registry the
	// image lives in: the instances get AcrPull on it and nothing wider.
	RegistryID string
	// NetworkWatcher is the resource id of the region's Network Watcher,
	// which the flow log belongs to (stayup:networkWatcher): Azure keeps
	// one per region per subscription, where it or a policy put it, so
	// `stayup up` looks it up and sets it. Empty: there is none, and the
	// program creates one.
	NetworkWatcher string
	// TLSIdentity is a user-assigned identity that may read the Key Vault
	// secret named by tlsCertificate; Application Gateway reads
	// certificates only through one.
	TLSIdentity string
}

// GCPOptions are the keys only the GCP component reads.
type GCPOptions struct {
	// SSHFromIAP admits SSH from Identity-Aware Proxy's range only
	// (35.235.240.0/20), never from the internet.
	SSHFromIAP bool
	// HTTPSRedirect turns plain HTTP into a redirect to HTTPS
	// (stayup:httpsRedirect), with a Google-managed certificate only. Until
	// then HTTP serves the fleet: the certificate provisions only once DNS
	// points at the address the first up creates, and redirecting to an
	// HTTPS front that has no certificate yet would leave clients nothing.
	HTTPSRedirect bool
}

// AWSOptions are the keys only the AWS component reads.
type AWSOptions struct {
	// SingleNAT puts one NAT gateway in the first zone instead of one per
	// zone: cheaper, but losing that zone cuts every instance's egress.
	SingleNAT bool
	// DeletionProtection stops the load balancer from being deleted until
	// it is turned off again.
	DeletionProtection bool
	// SessionManager lets operators open a shell through SSM Session
	// Manager; SSH is never opened.
	SessionManager bool
}

// IPv6 reports whether any allowed client range is IPv6, which makes the
// load balancer dual-stack: an IPv6 rule on an IPv4-only balancer admits nobody.
func (s Spec) IPv6() bool {
	for _, c := range s.AllowedCIDRs {
		if strings.Contains(c, ":") {
			return true
		}
	}
	return false
}

// HTTPS reports whether the service terminates TLS at the load balancer.
func (s Spec) HTTPS() bool { return s.TLSCertificate != "" || s.Domain != "" }

// ManagedCertificate reports whether the load balancer's certificate is a
// Google-managed one the stack creates, which serves only some time after
// the first up (GCP with a domain and no certificate of the user's).
func (s Spec) ManagedCertificate() bool {
	return s.Cloud == GCP && s.Domain != "" && s.TLSCertificate == ""
}

// RedirectHTTP reports whether plain HTTP redirects to HTTPS: always with
// a certificate of the user's, and with a Google-managed one once
// stayup:httpsRedirect says it is ACTIVE.
func (s Spec) RedirectHTTP() bool {
	return s.HTTPS() && (!s.ManagedCertificate() || s.GCP.HTTPSRedirect)
}

// Problem is one invalid config value: the key, the value and the rule it broke.
type Problem struct {
	Key   string
	Value string
	Rule  string
}

func (p Problem) String() string {
	if p.Value == "" {
		return fmt.Sprintf("%s: %s", p.Key, p.Rule)
	}
	return fmt.Sprintf("%s = %q: %s", p.Key, p.Value, p.Rule)
}

// Error carries every problem found in one configuration, so a user fixes
// them all in one pass instead of one per run.
type Error struct {
	Problems []Problem
}

func (e *Error) Error() string {
	var b strings.Builder
	if len(e.Problems) == 1 {
		b.WriteString("invalid config: ")
		b.WriteString(e.Problems[0].String())
		return b.String()
	}
	fmt.Fprintf(&b, "invalid config (%d problems):", len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  - ")
		b.WriteString(p.String())
	}
	return b.String()
}

// PickZones takes the first of the zones a region has available: as many
// as the spec asks for, or, when the spec only carries the default, as many
// as the region has up to that default. what names the region's zones in
// messages ("availability zones", "zones up").
func (s Spec) PickZones(available []string, what string) ([]string, error) {
	switch {
	case len(available) < 2:
		return nil, fmt.Errorf("%s has %d %s; a highly available service needs 2: choose another %s",
			s.Region, len(available), what, RegionKey[s.Cloud])
	case len(available) < s.Zones && s.ZonesSet:
		return nil, fmt.Errorf("stayup:zones = %d, but %s has only %d %s: set stayup:zones to %d or less",
			s.Zones, s.Region, len(available), what, len(available))
	case len(available) < s.Zones:
		return available, nil
	}
	return available[:s.Zones], nil
}
