package spec

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func awsConfig(kv ...string) map[string]string {
	m := map[string]string{"stayup:cloud": "aws", "aws:region": "eu-west-1"}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

func TestParseDefaults(t *testing.T) {
	t.Parallel()
	s, err := Parse(MapLookup(awsConfig()))
	if err != nil {
		t.Fatal(err)
	}
	want := Spec{
		Cloud: AWS, Region: "eu-west-1",
		Image: DefaultImage, Port: 8080, ReadyPath: "/", HealthPath: "/",
		MinSize: 3, MaxSize: 9, DesiredSize: 3, Zones: 3,
		InstanceType: "t3.small", CPUTarget: 60,
		AllowedCIDRs:     []string{"0.0.0.0/0"},
		LogRetentionDays: 30,
		Azure:            AzureOptions{EncryptionAtHost: true},
	}
	if !reflect.DeepEqual(s, want) {
		t.Errorf("defaults:\n got %+v\nwant %+v", s, want)
	}
	if s.ZonesSet {
		t.Error("ZonesSet is true although stayup:zones is not set")
	}
}

func TestParseValues(t *testing.T) {
	t.Parallel()
	s, err := Parse(MapLookup(awsConfig(
		"stayup:image", "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:v2",
		"stayup:port", "9000",
		"stayup:readyPath", "/readyz",
		"stayup:healthPath", "/healthz",
		"stayup:minSize", "2", "stayup:maxSize", "4", "stayup:desiredSize", "2",
		"stayup:zones", "2",
		"stayup:cpuTarget", "45",
		"stayup:allowedCidrs", `["203.0.113.0/24", "2001:db8::/32"]`,
		"stayup:tlsCertificate", "arn:aws:acm:eu-west-1:123456789012:certificate/0a1b2c3d-1111-2222-3333-444455556666",
		"stayup:natGateways", "single",
		"stayup:deletionProtection", "true",
		"stayup:sessionManager", "true",
		"stayup:logRetentionDays", "90",
	)))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.AllowedCIDRs, []string{"203.0.113.0/24", "2001:db8::/32"}; !reflect.DeepEqual(got, want) {
		t.Errorf("AllowedCIDRs = %v, want %v", got, want)
	}
	if !s.ZonesSet || s.Zones != 2 {
		t.Errorf("Zones = %d (set %v), want 2 (set)", s.Zones, s.ZonesSet)
	}
	if !s.AWS.SingleNAT || !s.AWS.DeletionProtection || !s.AWS.SessionManager {
		t.Errorf("AWS options = %+v, want all on", s.AWS)
	}
	if s.Port != 9000 || s.MinSize != 2 || s.CPUTarget != 45 || s.LogRetentionDays != 90 || !s.HTTPS() {
		t.Errorf("spec = %+v", s)
	}
}

func TestParseCommaSeparatedCIDRs(t *testing.T) {
	t.Parallel()
	s, err := Parse(MapLookup(awsConfig("stayup:allowedCidrs", "198.51.100.0/24, 203.0.113.7/32")))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.AllowedCIDRs, []string{"198.51.100.0/24", "203.0.113.7/32"}; !reflect.DeepEqual(got, want) {
		t.Errorf("AllowedCIDRs = %v, want %v", got, want)
	}
}

func TestParseRejects(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		config  map[string]string
		key     string
		contain string
	}{
		{"missing cloud", map[string]string{}, "stayup:cloud", "required"},
		{"unknown cloud", map[string]string{"stayup:cloud": "oracle"}, "stayup:cloud", "one of aws, gcp, azure"},
		{"missing region", map[string]string{"stayup:cloud": "aws"}, "aws:region", "required"},
		{"missing gcp region", map[string]string{"stayup:cloud": "gcp"}, "gcp:region", "required"},
		{"missing gcp project", map[string]string{"stayup:cloud": "gcp", "gcp:region": "europe-west1"}, "gcp:project", "required"},
		{"azure ACR image without registry", map[string]string{"stayup:cloud": "azure", "azure-native:location": "westeurope", "stayup:image": "myreg.azurecr.io/app:v1"}, "stayup:registryId", "required"},
		{"azure domain without certificate", map[string]string{"stayup:cloud": "azure", "azure-native:location": "westeurope", "stayup:domain": "app.example.com"}, "stayup:domain", "tlsCertificate"},
		{"azure registry of another image", map[string]string{"stayup:cloud": "azure", "azure-native:location": "westeurope", "stayup:image": "myreg.azurecr.io/app:v1", "stayup:registryId": "/subscriptions/00000000-0000-4000-8000-000000000000/resourceGroups/x/providers/Microsoft.ContainerRegistry/registries/otherreg"}, "stayup:registryId", "another registry"},
		{"azure bad ssh key", map[string]string{"stayup:cloud": "azure", "azure-native:location": "westeurope", "stayup:sshPublicKey": "hunter2"}, "stayup:sshPublicKey", "OpenSSH public key"},
		{"azure four zones", map[string]string{"stayup:cloud": "azure", "azure-native:location": "westeurope", "stayup:zones": "4"}, "stayup:zones", "at most 3"},
		{"azure IPv6 clients", map[string]string{"stayup:cloud": "azure", "azure-native:location": "westeurope", "stayup:allowedCidrs": "2001:db8::/32"}, "stayup:allowedCidrs", "IPv4"},
		{"azure certificate not in Key Vault", map[string]string{"stayup:cloud": "azure", "azure-native:location": "westeurope", "stayup:tlsCertificate": "cert.pfx"}, "stayup:tlsCertificate", "Key Vault secret"},
		{"azure certificate without identity", map[string]string{"stayup:cloud": "azure", "azure-native:location": "westeurope", "stayup:tlsCertificate": "https://myvault.vault.azure.net/secrets/web"}, "stayup:tlsIdentity", "user-assigned identity"},
		{"bad gcp project", map[string]string{"stayup:cloud": "gcp", "gcp:region": "europe-west1", "gcp:project": "My Project"}, "gcp:project", "not a project id"},
		{"https redirect phase without a managed certificate", map[string]string{"stayup:cloud": "gcp", "gcp:region": "europe-west1", "gcp:project": "my-project", "stayup:httpsRedirect": "true"}, "stayup:httpsRedirect", "Google-managed"},
		{"https redirect phase on aws", awsConfig("stayup:httpsRedirect", "false"), "stayup:httpsRedirect", "always redirects"},
		{"gcp certificate not a resource", map[string]string{"stayup:cloud": "gcp", "gcp:region": "europe-west1", "gcp:project": "my-project", "stayup:tlsCertificate": "arn:aws:acm:x"}, "stayup:tlsCertificate", "sslCertificates"},
		{"bad region", awsConfig("aws:region", "EU West"), "aws:region", "not a region"},
		{"min below two", awsConfig("stayup:minSize", "1", "stayup:desiredSize", "2"), "stayup:minSize", "between 2"},
		{"min not a number", awsConfig("stayup:minSize", "three"), "stayup:minSize", "whole number"},
		{"max below min", awsConfig("stayup:minSize", "4", "stayup:maxSize", "3", "stayup:desiredSize", "4"), "stayup:maxSize", ">= minSize"},
		{"desired below min", awsConfig("stayup:minSize", "3", "stayup:desiredSize", "2"), "stayup:desiredSize", ">= minSize"},
		{"desired above max", awsConfig("stayup:maxSize", "4", "stayup:desiredSize", "5"), "stayup:desiredSize", "<= maxSize"},
		{"one zone", awsConfig("stayup:zones", "1"), "stayup:zones", "between 2"},
		{"port zero", awsConfig("stayup:port", "0"), "stayup:port", "between 1 and 65535"},
		{"port too high", awsConfig("stayup:port", "70000"), "stayup:port", "between 1 and 65535"},
		{"health path relative", awsConfig("stayup:healthPath", "healthz"), "stayup:healthPath", `starting with "/"`},
		{"ready path with query", awsConfig("stayup:readyPath", "/ready?x=1"), "stayup:readyPath", "without spaces, query"},
		{"image with spaces", awsConfig("stayup:image", "my image"), "stayup:image", "not a valid image reference"},
		{"image upper case", awsConfig("stayup:image", "Nginx:latest"), "stayup:image", "not a valid image reference"},
		{"cpu zero", awsConfig("stayup:cpuTarget", "0"), "stayup:cpuTarget", "between 1 and 100"},
		{"cpu over 100", awsConfig("stayup:cpuTarget", "150"), "stayup:cpuTarget", "between 1 and 100"},
		{"cidr garbage", awsConfig("stayup:allowedCidrs", "everyone"), "stayup:allowedCidrs", "not a CIDR"},
		{"cidr host bits", awsConfig("stayup:allowedCidrs", "203.0.113.7/24"), "stayup:allowedCidrs", "did you mean 203.0.113.0/24"},
		{"cidr list not json", awsConfig("stayup:allowedCidrs", "[203.0.113.0/24"), "stayup:allowedCidrs", "list of CIDR"},
		{"cidr empty list", awsConfig("stayup:allowedCidrs", "[]"), "stayup:allowedCidrs", "at least one"},
		{"instance type of another cloud", awsConfig("stayup:instanceType", "e2-small"), "stayup:instanceType", "not a aws machine type"},
		{"certificate not an ARN", awsConfig("stayup:tlsCertificate", "my-cert"), "stayup:tlsCertificate", "ACM certificate ARN"},
		{"certificate in another region", awsConfig("stayup:tlsCertificate", "arn:aws:acm:us-east-1:123456789012:certificate/abc-123"), "stayup:tlsCertificate", "ACM certificates are regional"},
		{"domain without certificate on aws", awsConfig("stayup:domain", "app.example.com"), "stayup:domain", "tlsCertificate"},
		{"base image not an AMI", awsConfig("stayup:baseImage", "al2023"), "stayup:baseImage", "AMI id"},
		{"base image a GCP family", map[string]string{"stayup:cloud": "gcp", "gcp:region": "europe-west1", "gcp:project": "my-project", "stayup:baseImage": "cos-stable"}, "stayup:baseImage", "projects/<project>/global/images/<name>"},
		{"base image an Azure URN", map[string]string{"stayup:cloud": "azure", "azure-native:location": "westeurope", "stayup:baseImage": "Canonical:ubuntu-24_04-lts:server:latest"}, "stayup:baseImage", "like 24.04.202409120"},
		{"zone of another region", awsConfig("stayup:zoneNames", `["eu-west-1a","us-east-1b"]`), "stayup:zoneNames", "not an availability zone of the stack's region"},
		{"zone listed twice", awsConfig("stayup:zoneNames", "eu-west-1a,eu-west-1a"), "stayup:zoneNames", "listed twice"},
		{"one pinned zone", awsConfig("stayup:zoneNames", `["eu-west-1a"]`), "stayup:zoneNames", "at least 2"},
		{"gcp zone without its dash", map[string]string{"stayup:cloud": "gcp", "gcp:region": "europe-west1", "gcp:project": "my-project", "stayup:zoneNames": "europe-west1b,europe-west1-c"}, "stayup:zoneNames", "a dash and a letter"},
		{"azure zone by name", map[string]string{"stayup:cloud": "azure", "azure-native:location": "westeurope", "stayup:zoneNames": "westeurope-1,2"}, "stayup:zoneNames", "1, 2 or 3"},
		{"zones changed on a pinned stack", awsConfig("stayup:zones", "2", "stayup:zoneNames", "eu-west-1a,eu-west-1b,eu-west-1c"), "stayup:zones", "pins 3 zones"},
		{"domain invalid", awsConfig("stayup:domain", "not a domain"), "stayup:domain", "not a DNS name"},
		{"nat mode", awsConfig("stayup:natGateways", "two"), "stayup:natGateways", "perZone"},
		{"bool", awsConfig("stayup:deletionProtection", "yes please"), "stayup:deletionProtection", "true or false"},
		{"retention", awsConfig("stayup:logRetentionDays", "10"), "stayup:logRetentionDays", "one of"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse(MapLookup(tc.config))
			var cerr *Error
			if !errors.As(err, &cerr) {
				t.Fatalf("Parse() error = %v, want *Error", err)
			}
			for _, p := range cerr.Problems {
				if p.Key == tc.key && strings.Contains(p.Rule, tc.contain) {
					return
				}
			}
			t.Errorf("no problem for %s containing %q in:\n%v", tc.key, tc.contain, err)
		})
	}
}

func TestParseReportsEveryProblemAtOnce(t *testing.T) {
	t.Parallel()
	_, err := Parse(MapLookup(awsConfig(
		"stayup:minSize", "1", "stayup:zones", "1", "stayup:port", "http", "stayup:image", "bad image",
	)))
	var cerr *Error
	if !errors.As(err, &cerr) {
		t.Fatalf("error = %v, want *Error", err)
	}
	keys := map[string]bool{}
	for _, p := range cerr.Problems {
		keys[p.Key] = true
	}
	for _, k := range []string{"stayup:minSize", "stayup:zones", "stayup:port", "stayup:image"} {
		if !keys[k] {
			t.Errorf("no problem reported for %s in:\n%v", k, err)
		}
	}
	if lines := strings.Count(err.Error(), "\n  - "); lines != len(cerr.Problems) {
		t.Errorf("message has %d lines for %d problems:\n%s", lines, len(cerr.Problems), err)
	}
}

func TestValidImage(t *testing.T) {
	t.Parallel()
	good := []string{
		"nginx", "nginx:1.27", "library/nginx:latest",
		"us-docker.pkg.dev/google-samples/containers/gke/hello-app:1.0",
		"123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/app:v1.2.3",
		"localhost:5000/app", "ghcr.io/org/app@sha256:" + strings.Repeat("a", 64),
		"ghcr.io/org/app:v1@sha256:" + strings.Repeat("0", 64),
	}
	bad := []string{"", "nginx:", ":latest", "UPPER/case", "a b", "ghcr.io/org/app@sha256:xyz", "app:" + strings.Repeat("t", 129), "-app"}
	for _, ref := range good {
		if !ValidImage(ref) {
			t.Errorf("ValidImage(%q) = false, want true", ref)
		}
	}
	for _, ref := range bad {
		if ValidImage(ref) {
			t.Errorf("ValidImage(%q) = true, want false", ref)
		}
	}
}

func TestUnknownKeys(t *testing.T) {
	t.Parallel()
	got := UnknownKeys([]string{"stayup:minsize", "stayup:minSize", "aws:region", "stayup:colour"})
	if len(got) != 2 {
		t.Fatalf("UnknownKeys = %v, want two problems", got)
	}
	if got[0].Key != "stayup:minsize" || !strings.Contains(got[0].Rule, "did you mean stayup:minSize") {
		t.Errorf("first problem = %v, want a suggestion of stayup:minSize", got[0])
	}
	if got[1].Key != "stayup:colour" || got[1].Rule != "not a stayup key" {
		t.Errorf("second problem = %v", got[1])
	}
	if region := UnknownKeys([]string{"stayup:region"}); len(region) != 1 || !strings.Contains(region[0].Rule, "aws:region") {
		t.Errorf("stayup:region gave %v, want a pointer to the provider's key", region)
	}
}

// FuzzParse checks that no configuration panics the parser and that every
// rejection names the key at fault.
func FuzzParse(f *testing.F) {
	f.Add("aws", "eu-west-1", "nginx", "8080", "3", "9", "3", "3", "60", "0.0.0.0/0", "/")
	f.Add("gcp", "", "bad image", "-1", "1", "0", "x", "1", "101", "[", "x")
	f.Add("azure", "westeurope", "", "", "", "", "", "", "", `["10.0.0.0/8"]`, "/readyz")
	f.Fuzz(func(t *testing.T, cloud, region, image, port, minSize, maxSize, desired, zones, cpu, cidrs, path string) {
		m := map[string]string{
			"stayup:cloud": cloud, "aws:region": region, "gcp:region": region, "azure-native:location": region,
			"stayup:image": image, "stayup:port": port, "stayup:minSize": minSize, "stayup:maxSize": maxSize,
			"stayup:desiredSize": desired, "stayup:zones": zones, "stayup:cpuTarget": cpu,
			"stayup:allowedCidrs": cidrs, "stayup:readyPath": path,
		}
		s, err := Parse(MapLookup(m))
		if err == nil {
			if s.MinSize < 2 || s.Zones < 2 || s.MaxSize < s.DesiredSize || s.DesiredSize < s.MinSize {
				t.Fatalf("accepted a spec that is not highly available: %+v", s)
			}
			return
		}
		var cerr *Error
		if !errors.As(err, &cerr) || len(cerr.Problems) == 0 {
			t.Fatalf("error %v is not an *Error with problems", err)
		}
		for _, p := range cerr.Problems {
			if !strings.HasPrefix(p.Key, "stayup:") && p.Key != RegionKey[Cloud(cloud)] && p.Key != ProjectKey {
				t.Fatalf("problem %v does not name a config key", p)
			}
			if !strings.Contains(err.Error(), p.Key) {
				t.Fatalf("message %q does not name %s", err, p.Key)
			}
		}
	})
}

func TestPickZones(t *testing.T) {
	t.Parallel()
	three := []string{"a", "b", "c"}
	for _, tc := range []struct {
		zones     int
		set       bool
		available []string
		want      []string
		err       string
	}{
		{3, false, []string{"a", "b", "c", "d"}, three, ""},
		{2, true, three, []string{"a", "b"}, ""},
		{3, false, []string{"a", "b"}, []string{"a", "b"}, ""},
		{3, true, []string{"a", "b"}, nil, "stayup:zones = 3, but r1 has only 2 zones up"},
		{2, false, []string{"a"}, nil, "needs 2: choose another gcp:region"},
	} {
		s := Spec{Cloud: GCP, Region: "r1", Zones: tc.zones, ZonesSet: tc.set}
		got, err := s.PickZones(tc.available, "zones up")
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%+v: error %v, want %q", tc, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%+v: got %v, %v; want %v", tc, got, err, tc.want)
		}
	}
}

// Pins in the forms the state holds are accepted, and the pinned zones
// decide how many there are.
func TestParsePins(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		cfg   map[string]string
		image string
		zones []string
	}{
		{awsConfig("stayup:baseImage", "ami-0123456789abcdef0", "stayup:zoneNames", `["eu-west-1c","eu-west-1a"]`), "ami-0123456789abcdef0", []string{"eu-west-1c", "eu-west-1a"}},
		{map[string]string{"stayup:cloud": "gcp", "gcp:region": "europe-west1", "gcp:project": "my-project",
			"stayup:baseImage": "https://www.googleapis.com/compute/beta/projects/cos-cloud/global/images/cos-stable-113-18244-85-49", "stayup:zoneNames": "europe-west1-b, europe-west1-d"},
			"projects/cos-cloud/global/images/cos-stable-113-18244-85-49", []string{"europe-west1-b", "europe-west1-d"}},
		{map[string]string{"stayup:cloud": "azure", "azure-native:location": "westeurope", "stayup:baseImage": "24.04.202409120", "stayup:zoneNames": `["1","2","3"]`}, "24.04.202409120", []string{"1", "2", "3"}},
		{map[string]string{"stayup:cloud": "azure", "azure-native:location": "westeurope", "stayup:baseImage": "latest"}, "latest", nil},
	} {
		s, err := Parse(MapLookup(tc.cfg))
		if err != nil {
			t.Errorf("%v: %v", tc.cfg, err)
			continue
		}
		if s.BaseImage != tc.image || !slices.Equal(s.ZoneNames, tc.zones) {
			t.Errorf("%v: base image %q, zones %v; want %q, %v", tc.cfg, s.BaseImage, s.ZoneNames, tc.image, tc.zones)
		}
		if tc.zones != nil && (s.Zones != len(tc.zones) || !s.ZonesSet) {
			t.Errorf("%v: zones %d (set %v), want %d from the pins", tc.cfg, s.Zones, s.ZonesSet, len(tc.zones))
		}
	}
}
