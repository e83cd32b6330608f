package spec

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Lookup returns the raw value of a fully qualified config key such as
// "stayup:minSize" or "aws:region", and whether it is set.
type Lookup func(key string) (string, bool)

// MapLookup serves a Lookup from a plain map.
func MapLookup(m map[string]string) Lookup {
	return func(key string) (string, bool) {
		v, ok := m[key]
		return v, ok
	}
}

// Keys are stayup's own config keys, without the namespace.
var Keys = []string{
	"cloud", "image", "port", "readyPath", "healthPath",
	"minSize", "maxSize", "desiredSize", "zones", "instanceType", "cpuTarget",
	"tlsCertificate", "domain", "allowedCidrs", "logRetentionDays",
	"natGateways", "deletionProtection", "sessionManager",
	"sshFromIap",
	"sshPublicKey", "encryptionAtHost", "registryId", "tlsIdentity",
	"baseImage", "zoneNames", "networkWatcher", "httpsRedirect",
}

// RegionKey is the provider config key that holds each cloud's region.
var RegionKey = map[Cloud]string{
	AWS:   "aws:region",
	GCP:   "gcp:region",
	Azure: "azure-native:location",
}

// Key qualifies one of stayup's keys with its namespace.
func Key(name string) string { return Namespace + ":" + name }

// UnknownKeys reports keys in stayup's namespace that stayup does not read:
// almost always a typo ("minsize"), which would otherwise be ignored silently.
func UnknownKeys(keys []string) []Problem {
	var out []Problem
	for _, k := range keys {
		name, ok := strings.CutPrefix(k, Namespace+":")
		if !ok || slices.Contains(Keys, name) {
			continue
		}
		rule := "not a stayup key"
		if strings.EqualFold(name, "region") || strings.EqualFold(name, "location") {
			rule = "not a stayup key; the region is the provider's: aws:region, gcp:region or azure-native:location"
		}
		for _, known := range Keys {
			if strings.EqualFold(known, name) {
				rule = fmt.Sprintf("not a stayup key; did you mean %s?", Key(known))
			}
		}
		out = append(out, Problem{Key: k, Rule: rule})
	}
	return out
}

// Parse reads the configuration, applies the defaults and validates every
// value. It returns *Error listing every problem at once.
func Parse(get Lookup) (Spec, error) {
	p := parser{get: get}
	s := Spec{}

	cloud, cloudSet := p.raw("cloud")
	switch Cloud(cloud) {
	case AWS, GCP, Azure:
		s.Cloud = Cloud(cloud)
	default:
		if !cloudSet {
			p.fail("cloud", "", "required: one of aws, gcp, azure (pulumi config set stayup:cloud aws)")
		} else {
			p.fail("cloud", cloud, "must be one of aws, gcp, azure")
		}
	}

	if s.Cloud != "" {
		key := RegionKey[s.Cloud]
		region, ok := get(key)
		region = strings.TrimSpace(region)
		switch {
		case !ok || region == "":
			p.problems = append(p.problems, Problem{Key: key, Rule: fmt.Sprintf("required for cloud %s (pulumi config set %s <region>)", s.Cloud, key)})
		case !regionRE.MatchString(region):
			p.problems = append(p.problems, Problem{Key: key, Value: region, Rule: "is not a region name (lower-case letters, digits and dashes)"})
		default:
			s.Region = region
		}
	}

	if s.Cloud == GCP {
		project, ok := get(ProjectKey)
		project = strings.TrimSpace(project)
		switch {
		case !ok || project == "":
			p.problems = append(p.problems, Problem{Key: ProjectKey, Rule: "required for cloud gcp (pulumi config set gcp:project <project-id>)"})
		case !gcpProjectRE.MatchString(project):
			p.problems = append(p.problems, Problem{Key: ProjectKey, Value: project, Rule: "is not a project id (6-30 lower-case letters, digits and dashes, starting with a letter)"})
		default:
			s.Project = project
		}
	}

	s.Image = p.str("image", DefaultImage)
	if !ValidImage(s.Image) {
		p.fail("image", s.Image, "is not a valid image reference (registry/repository[:tag][@sha256:digest])")
	}
	s.Port = p.intIn("port", DefaultPort, 1, 65535)
	s.ReadyPath = p.path("readyPath", DefaultReadyPath)
	s.HealthPath = p.path("healthPath", DefaultHealthPath)

	s.MinSize = p.intIn("minSize", DefaultMinSize, 2, 1000)
	s.MaxSize = p.intIn("maxSize", DefaultMaxSize, 2, 1000)
	s.DesiredSize = p.intIn("desiredSize", DefaultDesiredSize, 2, 1000)
	if s.MinSize > 0 && s.MaxSize > 0 && s.MaxSize < s.MinSize {
		p.fail("maxSize", strconv.Itoa(s.MaxSize), fmt.Sprintf("must be >= minSize (%d)", s.MinSize))
	}
	if s.DesiredSize > 0 && s.MinSize > 0 && s.DesiredSize < s.MinSize {
		p.fail("desiredSize", strconv.Itoa(s.DesiredSize), fmt.Sprintf("must be >= minSize (%d)", s.MinSize))
	}
	if s.DesiredSize > 0 && s.MaxSize > 0 && s.DesiredSize > s.MaxSize {
		p.fail("desiredSize", strconv.Itoa(s.DesiredSize), fmt.Sprintf("must be <= maxSize (%d)", s.MaxSize))
	}
	_, s.ZonesSet = get(Key("zones"))
	s.Zones = p.intIn("zones", DefaultZones, 2, 6)
	s.ZoneNames = p.zoneNames(s.Cloud, s.Region)
	if n := len(s.ZoneNames); n > 0 {
		if s.ZonesSet && s.Zones != 0 && s.Zones != n {
			p.fail("zones", strconv.Itoa(s.Zones), fmt.Sprintf("but stayup:zoneNames pins %d zones (%s): a deployed stack keeps its zones; to change them read docs/architecture.md, \"Changing zones\"", n, strings.Join(s.ZoneNames, ", ")))
		}
		s.Zones, s.ZonesSet = n, true
	}
	s.BaseImage = p.str("baseImage", "")
	if re, ok := baseImageRE[s.Cloud]; ok && s.BaseImage != "" && !re.MatchString(s.BaseImage) {
		p.fail("baseImage", s.BaseImage, baseImageRule[s.Cloud])
	}
	if s.Cloud == GCP {
		s.BaseImage = GCPImagePath(s.BaseImage)
	}

	s.InstanceType = p.str("instanceType", DefaultInstanceType[s.Cloud])
	if re, ok := instanceTypeRE[s.Cloud]; ok && !re.MatchString(s.InstanceType) {
		p.fail("instanceType", s.InstanceType, fmt.Sprintf("is not a %s machine type (for example %s)", s.Cloud, DefaultInstanceType[s.Cloud]))
	}
	s.CPUTarget = p.intIn("cpuTarget", DefaultCPUTarget, 1, 100)

	s.TLSCertificate = p.str("tlsCertificate", "")
	if s.TLSCertificate != "" && s.Cloud == AWS {
		m := acmARNRE.FindStringSubmatch(s.TLSCertificate)
		switch {
		case m == nil:
			p.fail("tlsCertificate", s.TLSCertificate, "must be an ACM certificate ARN (arn:aws:acm:<region>:<account>:certificate/<id>)")
		case s.Region != "" && m[1] != s.Region:
			p.fail("tlsCertificate", s.TLSCertificate, fmt.Sprintf("is in %s, but the load balancer is in %s: ACM certificates are regional", m[1], s.Region))
		}
	}
	if s.TLSCertificate != "" && s.Cloud == GCP && !gcpCertRE.MatchString(s.TLSCertificate) {
		p.fail("tlsCertificate", s.TLSCertificate, "must name a Compute Engine SSL certificate (projects/<project>/global/sslCertificates/<name>); or set stayup:domain for a Google-managed one")
	}
	s.Azure.TLSIdentity = p.str("tlsIdentity", "")
	if s.Cloud == Azure && s.TLSCertificate != "" {
		if !keyVaultSecretRE.MatchString(s.TLSCertificate) {
			p.fail("tlsCertificate", s.TLSCertificate, "must be a Key Vault secret id (https://<vault>.vault.azure.net/secrets/<name>)")
		}
		if !userIdentityRE.MatchString(s.Azure.TLSIdentity) {
			p.fail("tlsIdentity", s.Azure.TLSIdentity, "must be the resource id of a user-assigned identity that may read the certificate's secret (/subscriptions/.../providers/Microsoft.ManagedIdentity/userAssignedIdentities/<name>)")
		}
	}
	s.Domain = p.str("domain", "")
	switch {
	case s.Domain != "" && !domainRE.MatchString(s.Domain):
		p.fail("domain", s.Domain, "is not a DNS name (for example app.example.com)")
	case s.Domain != "" && s.Cloud == AWS && s.TLSCertificate == "":
		p.fail("domain", s.Domain, "on aws also needs stayup:tlsCertificate: the ARN of an ACM certificate for this name")
	case s.Domain != "" && s.Cloud == Azure && s.TLSCertificate == "":
		p.fail("domain", s.Domain, "on azure also needs stayup:tlsCertificate: the Key Vault secret id of a certificate for this name")
	}
	_, redirectSet := p.get(Key("httpsRedirect"))
	s.GCP.HTTPSRedirect = p.boolean("httpsRedirect", false)
	if redirectSet && !s.ManagedCertificate() {
		p.fail("httpsRedirect", fmt.Sprint(s.GCP.HTTPSRedirect), "applies only on gcp with stayup:domain and no stayup:tlsCertificate (a Google-managed certificate, which provisions after the first up); everywhere else HTTP always redirects to HTTPS")
	}
	s.AllowedCIDRs = p.cidrs("allowedCidrs", []string{DefaultAllowedCIDR})
	s.LogRetentionDays = p.oneOf("logRetentionDays", DefaultLogRetentionDays, logRetentionDays)

	switch nat := p.str("natGateways", "perZone"); nat {
	case "perZone":
	case "single":
		s.AWS.SingleNAT = true
	default:
		p.fail("natGateways", nat, "must be perZone (survives a zone's loss) or single (cheaper)")
	}
	s.AWS.DeletionProtection = p.boolean("deletionProtection", false)
	s.AWS.SessionManager = p.boolean("sessionManager", false)
	s.GCP.SSHFromIAP = p.boolean("sshFromIap", false)
	s.Azure.SSHPublicKey = p.str("sshPublicKey", "")
	if s.Azure.SSHPublicKey != "" && !sshKeyRE.MatchString(s.Azure.SSHPublicKey) {
		p.fail("sshPublicKey", abbreviate(s.Azure.SSHPublicKey), "must be an OpenSSH public key (ssh-rsa or ssh-ed25519 AAAA...)")
	}
	s.Azure.EncryptionAtHost = p.boolean("encryptionAtHost", true)
	s.Azure.NetworkWatcher = p.str("networkWatcher", "")
	if s.Azure.NetworkWatcher != "" && !networkWatcherRE.MatchString(s.Azure.NetworkWatcher) {
		p.fail("networkWatcher", s.Azure.NetworkWatcher, "must be a Network Watcher's resource id (/subscriptions/<id>/resourceGroups/<rg>/providers/Microsoft.Network/networkWatchers/<name>); `stayup up` finds the region's and sets it")
	}
	s.Azure.RegistryID = p.str("registryId", "")
	switch {
	case s.Azure.RegistryID != "" && !registryIDRE.MatchString(s.Azure.RegistryID):
		p.fail("registryId", s.Azure.RegistryID, "must be a container registry's resource id (/subscriptions/<id>/resourceGroups/<rg>/providers/Microsoft.ContainerRegistry/registries/<name>)")
	case s.Cloud == Azure && strings.Contains(s.Image, ".azurecr.io/") && s.Azure.RegistryID == "":
		p.fail("registryId", "", "required when the image lives in Azure Container Registry: the instances get AcrPull on that registry only")
	case s.Cloud == Azure && strings.Contains(s.Image, ".azurecr.io/") &&
		!strings.EqualFold(s.Image[:strings.Index(s.Image, ".azurecr.io/")], s.Azure.RegistryID[strings.LastIndex(s.Azure.RegistryID, "/")+1:]):
		p.fail("registryId", s.Azure.RegistryID, "names another registry than the image's: the instances could not pull it")
	}
	if s.Cloud == Azure && s.IPv6() {
		p.fail("allowedCidrs", strings.Join(s.AllowedCIDRs, ","), "on azure only IPv4 ranges: the Application Gateway listens on IPv4")
	}
	if s.Cloud == Azure && s.Zones > 3 {
		p.fail("zones", strconv.Itoa(s.Zones), "azure regions have at most 3 availability zones")
	}
	if s.Cloud == Azure && s.Region != "" {
		if rule := azureRegionProblem(s.Region, len(s.ZoneNames) > 0); rule != "" {
			p.problems = append(p.problems, Problem{Key: RegionKey[Azure], Value: s.Region, Rule: rule})
		}
	}

	if len(p.problems) > 0 {
		return Spec{}, &Error{Problems: p.problems}
	}
	return s, nil
}

// logRetentionDays are the retention periods CloudWatch Logs accepts; the
// other clouds take any number of days, so the strictest list applies.
var logRetentionDays = []int{1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}

var (
	regionRE         = regexp.MustCompile(`^[a-z][a-z0-9-]*[0-9a-z]$`)
	networkWatcherRE = regexp.MustCompile(`(?i)^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Network/networkWatchers/[^/]+$`)
	domainRE         = regexp.MustCompile(`^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$`)
	keyVaultSecretRE = regexp.MustCompile(`^https://[a-z0-9-]{3,24}\.vault\.azure\.net/secrets/[A-Za-z0-9-]+(/[0-9a-f]{32})?$`)
	userIdentityRE   = regexp.MustCompile(`(?i)^/subscriptions/[0-9a-f-]{36}/resourceGroups/[^/]+/providers/Microsoft\.ManagedIdentity/userAssignedIdentities/[^/]+$`)
	registryIDRE     = regexp.MustCompile(`(?i)^/subscriptions/[0-9a-f-]{36}/resourceGroups/[^/]+/providers/Microsoft\.ContainerRegistry/registries/[A-Za-z0-9]+$`)
	sshKeyRE         = regexp.MustCompile(`^(ssh-rsa|ssh-ed25519) AAAA[0-9A-Za-z+/]+=*( .*)?$`)
	gcpProjectRE     = regexp.MustCompile(`^[a-z][a-z0-9-]{4,28}[a-z0-9]$`)
	gcpCertRE        = regexp.MustCompile(`^projects/[a-z][a-z0-9-]{4,28}[a-z0-9]/global/sslCertificates/[a-z]([-a-z0-9]*[a-z0-9])?$`)
	acmARNRE         = regexp.MustCompile(`^arn:aws[a-z-]*:acm:([a-z0-9-]+):\d{12}:certificate/[0-9a-f-]+$`)

	instanceTypeRE = map[Cloud]*regexp.Regexp{
		AWS:   regexp.MustCompile(`^[a-z][a-z0-9-]*\.[a-z0-9]+$`),
		GCP:   regexp.MustCompile(`^[a-z][a-z0-9]*-[a-z0-9-]+$`),
		Azure: regexp.MustCompile(`^(?:Standard|Basic)_[A-Za-z0-9_-]+$`),
	}
)

type parser struct {
	get      Lookup
	problems []Problem
}

func (p *parser) fail(name, value, rule string) {
	p.problems = append(p.problems, Problem{Key: Key(name), Value: value, Rule: rule})
}

func (p *parser) raw(name string) (string, bool) {
	v, ok := p.get(Key(name))
	return strings.TrimSpace(v), ok
}

func (p *parser) str(name, def string) string {
	v, ok := p.raw(name)
	if !ok || v == "" {
		return def
	}
	return v
}

func (p *parser) intIn(name string, def, lo, hi int) int {
	v, ok := p.raw(name)
	if !ok || v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		p.fail(name, v, "must be a whole number")
		return 0
	}
	if n < lo || n > hi {
		p.fail(name, v, fmt.Sprintf("must be between %d and %d", lo, hi))
		return 0
	}
	return n
}

func (p *parser) oneOf(name string, def int, allowed []int) int {
	v, ok := p.raw(name)
	if !ok || v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || !slices.Contains(allowed, n) {
		p.fail(name, v, fmt.Sprintf("must be one of %v", allowed))
		return 0
	}
	return n
}

func (p *parser) boolean(name string, def bool) bool {
	v, ok := p.raw(name)
	if !ok || v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		p.fail(name, v, "must be true or false")
	}
	return b
}

func (p *parser) path(name, def string) string {
	v := p.str(name, def)
	if !strings.HasPrefix(v, "/") || strings.ContainsAny(v, " \t\r\n?#") || len(v) > 1024 {
		p.fail(name, v, `must be an HTTP path starting with "/", without spaces, query or fragment`)
	}
	return v
}

// cidrs accepts the YAML list a stack file holds (which Pulumi hands over as
// JSON) or a comma-separated string from the command line.
func (p *parser) cidrs(name string, def []string) []string {
	v, ok := p.raw(name)
	if !ok || v == "" {
		return def
	}
	var items []string
	if strings.HasPrefix(v, "[") {
		if err := json.Unmarshal([]byte(v), &items); err != nil {
			p.fail(name, v, "must be a list of CIDR blocks, like [\"203.0.113.0/24\"]")
			return nil
		}
	} else {
		items = strings.Split(v, ",")
	}
	var out []string
	for _, item := range items {
		item = strings.TrimSpace(item)
		prefix, err := netip.ParsePrefix(item)
		switch {
		case err != nil:
			p.fail(name, item, "is not a CIDR block (like 203.0.113.0/24 or 2001:db8::/32)")
		case prefix.Masked() != prefix:
			p.fail(name, item, fmt.Sprintf("has host bits set; did you mean %s?", prefix.Masked()))
		default:
			out = append(out, prefix.String())
		}
	}
	if len(items) == 0 {
		p.fail(name, v, "must list at least one CIDR block")
	}
	return out
}

// zoneNames reads the pinned zones: a list like allowedCidrs, each a zone
// of the cloud's form in the stack's region, at least two, none twice.
func (p *parser) zoneNames(cloud Cloud, region string) []string {
	const name = "zoneNames"
	v, ok := p.raw(name)
	if !ok || v == "" {
		return nil
	}
	var items []string
	if strings.HasPrefix(v, "[") {
		if err := json.Unmarshal([]byte(v), &items); err != nil {
			p.fail(name, v, "must be a list of zone names, like [\"eu-west-1a\", \"eu-west-1b\"]")
			return nil
		}
	} else {
		items = strings.Split(v, ",")
	}
	var out []string
	for _, z := range items {
		z = strings.TrimSpace(z)
		switch {
		case slices.Contains(out, z):
			p.fail(name, z, "is listed twice")
		case !zoneNameOK(cloud, region, z):
			p.fail(name, z, zoneNameRule[cloud])
		default:
			out = append(out, z)
		}
	}
	if len(out) < 2 && len(items) == len(out) {
		p.fail(name, v, "must list at least 2 zones: a highly available service spans two or more")
	}
	return out
}

func zoneNameOK(cloud Cloud, region, z string) bool {
	switch cloud {
	case AWS:
		// An availability zone is its region's name and a letter (eu-west-1a).
		return len(z) == len(region)+1 && strings.HasPrefix(z, region) && z[len(z)-1] >= 'a' && z[len(z)-1] <= 'z'
	case GCP:
		// A zone is its region's name, a dash and a letter (europe-west1-b).
		return len(z) == len(region)+2 && strings.HasPrefix(z, region+"-") && z[len(z)-1] >= 'a' && z[len(z)-1] <= 'z'
	case Azure:
		// Azure numbers the zones of a zonal region 1 to 3.
		return z == "1" || z == "2" || z == "3"
	}
	return false
}

var zoneNameRule = map[Cloud]string{
	AWS:   "is not an availability zone of the stack's region (aws:region and a letter, like eu-west-1a)",
	GCP:   "is not a zone of the stack's region (gcp:region, a dash and a letter, like europe-west1-b)",
	Azure: "is not an Azure availability zone (1, 2 or 3)",
}

// The forms a pinned base image takes: what the program writes into the
// launch template, instance template or scale set model, and what their
// state holds, so that pinning a deployed stack's image changes nothing.
var (
	baseImageRE = map[Cloud]*regexp.Regexp{
		AWS: regexp.MustCompile(`^ami-([0-9a-f]{8}|[0-9a-f]{17})$`),
		GCP: regexp.MustCompile(`^(https://(www|compute)\.googleapis\.com/compute/(v1|beta|alpha)/)?projects/[a-z][-a-z0-9.:]*[a-z0-9]/global/images/[a-z]([-a-z0-9]{0,61}[a-z0-9])?$`),
		// A marketplace image version (24.04.202409120), or latest: the
		// model then floats, which stayup only keeps for a stack deployed
		// that way (a pinned version would roll its VMs).
		Azure: regexp.MustCompile(`^(latest|\d+\.\d+\.\d+)$`),
	}
	baseImageRule = map[Cloud]string{
		AWS:   "must be an AMI id (ami- and 8 or 17 hex digits)",
		GCP:   "must be an image path (projects/<project>/global/images/<name>, or its https://www.googleapis.com/compute/v1/ self-link)",
		Azure: "must be a version of the Ubuntu 24.04 marketplace image (like 24.04.202409120), or latest",
	}
)

// abbreviate keeps a long value (a key) readable in a message.
func abbreviate(v string) string {
	if len(v) > 40 {
		return v[:37] + "..."
	}
	return v
}
