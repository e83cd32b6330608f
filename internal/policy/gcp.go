package policy

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"stayup/internal/graph"
)

const (
	gcpMIG         = "gcp:compute/regionInstanceGroupManager:RegionInstanceGroupManager"
	gcpZonalMIG    = "gcp:compute/instanceGroupManager:InstanceGroupManager"
	gcpTemplate    = "gcp:compute/instanceTemplate:InstanceTemplate"
	gcpHealthCheck = "gcp:compute/healthCheck:HealthCheck"
	gcpBackend     = "gcp:compute/backendService:BackendService"
	gcpFirewall    = "gcp:compute/firewall:Firewall"
	gcpHTTPSProxy  = "gcp:compute/targetHttpsProxy:TargetHttpsProxy"
	gcpHTTPProxy   = "gcp:compute/targetHttpProxy:TargetHttpProxy"
	gcpGlobalRule  = "gcp:compute/globalForwardingRule:GlobalForwardingRule"
	gcpManagedCert = "gcp:compute/managedSslCertificate:ManagedSslCertificate"
	// The label infra/gcp puts on the HTTP forwarding rules while they
	// serve, waiting for the managed certificate (stayup:httpsRedirect).
	gcpRedirectLabel = "stayup-https-redirect"
	gcpAwaitingCert  = "awaiting-certificate"
	gcpIAMMember     = "gcp:projects/iAMMember:IAMMember"
	gcpIAMBinding    = "gcp:projects/iAMBinding:IAMBinding"
)

// gcpFrontEnds are where Google's load balancer front ends and health
// checkers connect from; iapRange is Identity-Aware Proxy's TCP forwarding.
var (
	gcpFrontEnds = []string{"130.211.0.0/22", "35.191.0.0/16"}
	gcpIAPRange  = "35.235.240.0/20"
)

// gcpPrivateAPIs and gcpRestrictedAPIs are private.googleapis.com and
// restricted.googleapis.com: Google APIs over Private Google Access.
const (
	gcpPrivateAPIs    = "199.36.153.8/30"
	gcpRestrictedAPIs = "199.36.153.4/30"
)

// gcpProjectOnly are the roles the instances need that cannot be granted
// on anything narrower than the project: writing their logs. (A metric
// writer would be one too, but nothing on the instances writes metrics.)
var gcpProjectOnly = []string{"roles/logging.logWriter"}

var gcpRules = []Rule{
	{
		ID: "gcp-ha-zones", Cloud: "gcp", Category: Availability, Severity: High,
		Title: "The fleet is a regional managed instance group over at least two zones",
		check: func(g *graph.Graph) []violation {
			var out []violation
			for _, m := range g.ByType(gcpZonalMIG) {
				out = append(out, fail(m, "instance group manager %s is zonal: use a regional managed instance group over at least two zones", m.Name))
			}
			migs := g.ByType(gcpMIG)
			if len(migs) == 0 && len(out) == 0 {
				return none("no regional managed instance group: run the fleet in one over at least two zones")
			}
			for _, m := range migs {
				if zones := zoneSet(strs(m.Get("distributionPolicyZones"))); len(zones) < 2 {
					out = append(out, fail(m, "managed instance group %s spreads over %d zone(s) %v: list at least two in distributionPolicyZones (stayup:zones >= 2)", m.Name, len(zones), zones))
				}
			}
			return out
		},
	},
	{
		ID: "gcp-ha-min-size", Cloud: "gcp", Category: Availability, Severity: High,
		Title: "The autoscaler (or the group's target size) keeps at least two instances",
		check: func(g *graph.Graph) []violation {
			var out []violation
			for _, m := range g.ByType(gcpMIG) {
				var scaled bool
				for _, a := range g.ByType("gcp:compute/regionAutoscaler:RegionAutoscaler") {
					if !refsTo(g, a.Get("target"), m) && a.Str("target") != m.ID {
						continue
					}
					scaled = true
					if n, ok := a.Int("autoscalingPolicy.minReplicas"); !ok || n < 2 {
						out = append(out, fail(a, "autoscaler %s allows %v instance(s): set autoscalingPolicy.minReplicas to 2 or more (stayup:minSize)", a.Name, a.Get("autoscalingPolicy.minReplicas")))
					}
				}
				if n, ok := m.Int("targetSize"); !scaled && (!ok || n < 2) {
					out = append(out, fail(m, "managed instance group %s has no autoscaler and target size %v: add a regional autoscaler with minReplicas >= 2", m.Name, m.Get("targetSize")))
				}
			}
			return out
		},
	},
	{
		ID: "gcp-ha-autohealing", Cloud: "gcp", Category: Availability, Severity: High,
		Title: "The group recreates instances failing a liveness health check, after an initial delay",
		check: func(g *graph.Graph) []violation {
			var out []violation
			for _, m := range g.ByType(gcpMIG) {
				hc := g.Ref(m.Str("autoHealingPolicies.healthCheck"))
				if hc == nil {
					hc = g.Ref(m.Str("autoHealingPolicies.0.healthCheck"))
				}
				if hc == nil || hc.Type != gcpHealthCheck {
					out = append(out, fail(m, "managed instance group %s has no autohealing health check of the stack: set autoHealingPolicies.healthCheck to a check of stayup:healthPath", m.Name))
					continue
				}
				if n, ok := m.Int("autoHealingPolicies.initialDelaySec"); !ok || n <= 0 {
					out = append(out, fail(m, "managed instance group %s autoheals without an initial delay: set autoHealingPolicies.initialDelaySec to the boot time", m.Name))
				}
			}
			return out
		},
	},
	{
		ID: "gcp-ha-lb-health-check", Cloud: "gcp", Category: Availability, Severity: High,
		Title: "Every backend service checks the readiness path and drains connections",
		check: func(g *graph.Graph) []violation {
			var out []violation
			for _, be := range g.ByType(gcpBackend) {
				checks := strs(be.Get("healthChecks"))
				var ok bool
				for _, id := range checks {
					if hc := g.Ref(id); hc != nil && (hc.Str("httpHealthCheck.requestPath") != "" || hc.Str("httpsHealthCheck.requestPath") != "") {
						ok = true
					}
				}
				if !ok {
					out = append(out, fail(be, "backend service %s has no HTTP health check of the stack: set healthChecks to a check of stayup:readyPath", be.Name))
				}
				if n, ok := be.Int("connectionDrainingTimeoutSec"); !ok || n <= 0 {
					out = append(out, fail(be, "backend service %s does not drain: set connectionDrainingTimeoutSec (30)", be.Name))
				}
			}
			return out
		},
	},
	{
		ID: "gcp-ha-rolling-update", Cloud: "gcp", Category: Availability, Severity: High,
		Title: "Template changes roll out proactively by surge, replacing instances with none unavailable",
		check: func(g *graph.Graph) []violation {
			var out []violation
			for _, m := range g.ByType(gcpMIG) {
				up := "updatePolicy."
				if m.Str(up+"type") != "PROACTIVE" {
					out = append(out, fail(m, "managed instance group %s has update type %q: set updatePolicy.type = \"PROACTIVE\" so a new template rolls out", m.Name, m.Str(up+"type")))
				}
				if n, ok := m.Int(up + "maxUnavailableFixed"); !ok || n != 0 {
					if p, okP := m.Int(up + "maxUnavailablePercent"); !okP || p != 0 {
						out = append(out, fail(m, "managed instance group %s may take %v instance(s) away during an update: set updatePolicy.maxUnavailableFixed = 0", m.Name, m.Get(up+"maxUnavailableFixed")))
					}
				}
				sf, _ := m.Int(up + "maxSurgeFixed")
				sp, _ := m.Int(up + "maxSurgePercent")
				if sf <= 0 && sp <= 0 {
					out = append(out, fail(m, "managed instance group %s has no surge: set updatePolicy.maxSurgeFixed to the zone count, or nothing can be replaced with none unavailable", m.Name))
				}
				if m.Str(up+"minimalAction") != "REPLACE" {
					out = append(out, fail(m, "managed instance group %s updates with minimal action %q: set updatePolicy.minimalAction = \"REPLACE\" (the image travels in metadata)", m.Name, m.Str(up+"minimalAction")))
				}
			}
			return out
		},
	},
	{
		ID: "gcp-exposure-public-entry", Cloud: "gcp", Category: Exposure, Severity: High,
		Title: "The only external forwarding rules are the load balancer's in front of the fleet",
		check: func(g *graph.Graph) []violation {
			var out []violation
			for _, typ := range []string{"gcp:compute/globalForwardingRule:GlobalForwardingRule", "gcp:compute/forwardingRule:ForwardingRule"} {
				for _, fr := range g.ByType(typ) {
					scheme := fr.Str("loadBalancingScheme")
					if scheme != "" && !strings.HasPrefix(scheme, "EXTERNAL") {
						continue
					}
					v := fail(fr, "forwarding rule %s is reachable from the internet", fr.Name)
					if gcpFrontsFleet(g, fr) {
						v = waive(v, "the service is internet-facing: this is its load balancer's public entry, and the other exposure rules keep the instances private")
					} else {
						v.msg += " and leads to no backend of the fleet: make it INTERNAL_MANAGED or remove it"
					}
					out = append(out, v)
				}
			}
			return out
		},
	},
	{
		ID: "gcp-exposure-app-from-lb", Cloud: "gcp", Category: Exposure, Severity: Critical,
		Title: "Firewall rules admit the instances' ports only from Google's load balancer front ends and health checkers (SSH only from IAP)",
		check: func(g *graph.Graph) []violation {
			var out []violation
			for _, fw := range gcpIngressAllows(g) {
				if !gcpAppliesToFleet(g, fw) {
					continue
				}
				for _, src := range strs(fw.Get("sourceRanges")) {
					if slices.Contains(gcpFrontEnds, src) {
						continue
					}
					if src == gcpIAPRange && gcpOnlyPort(fw, 22) {
						continue
					}
					out = append(out, fail(fw, "firewall %s admits %s to the instances: admit only Google's front ends %v (and %s for SSH through IAP)", fw.Name, src, gcpFrontEnds, gcpIAPRange))
				}
				if len(strs(fw.Get("sourceTags"))) > 0 || len(strs(fw.Get("sourceServiceAccounts"))) > 0 {
					out = append(out, fail(fw, "firewall %s admits other instances to the fleet: admit only Google's front ends %v", fw.Name, gcpFrontEnds))
				}
			}
			return out
		},
	},
	{
		ID: "gcp-exposure-admin-ports", Cloud: "gcp", Category: Exposure, Severity: Critical,
		Title:     "No firewall rule admits SSH (22) or RDP (3389) from the internet",
		Standards: []string{"CIS GCP 3.6", "CIS GCP 3.7", "CKV_GCP_2", "CKV_GCP_3"},
		check: func(g *graph.Graph) []violation {
			var out []violation
			for _, fw := range gcpIngressAllows(g) {
				if !slices.ContainsFunc(strs(fw.Get("sourceRanges")), isOpen) {
					continue
				}
				if port := coversAdmin(gcpPorts(fw)); port != 0 {
					out = append(out, fail(fw, "firewall %s admits port %d from the internet: remove it; use SSH through IAP (stayup:sshFromIap)", fw.Name, port))
				}
			}
			return out
		},
	},
	{
		ID: "gcp-exposure-no-public-ip", Cloud: "gcp", Category: Exposure, Severity: High,
		Title:     "Instance templates give instances no external IP",
		Standards: []string{"CIS GCP 4.9", "CKV_GCP_40"},
		check: func(g *graph.Graph) []violation {
			var out []violation
			for _, t := range g.ByType(gcpTemplate) {
				for i, nic := range maps(t.Get("networkInterfaces")) {
					if len(maps(nic["accessConfigs"])) > 0 || len(strs(nic["accessConfigs"])) > 0 {
						out = append(out, fail(t, "instance template %s gives instances an external IP: remove networkInterfaces.%d.accessConfigs (egress goes through Private Google Access or Cloud NAT)", t.Name, i))
					}
				}
			}
			return out
		},
	},
	{
		ID: "gcp-exposure-egress", Cloud: "gcp", Category: Exposure, Severity: Medium,
		Title: "Instance egress is restricted: a logged egress deny for everything the instances do not need",
		check: func(g *graph.Graph) []violation {
			for _, fw := range g.ByType(gcpFirewall) {
				if fw.Str("direction") == "EGRESS" && len(maps(fw.Get("denies"))) > 0 && gcpAppliesToFleet(g, fw) &&
					slices.ContainsFunc(strs(fw.Get("destinationRanges")), isOpen) && coversAll(gcpDenyPorts(fw)) {
					return nil
				}
			}
			return none("the instances may connect anywhere on any port (GCP's implied allow-egress rule): add an EGRESS firewall denying all to 0.0.0.0/0 at low priority, and allow tcp:443 (image pulls, logging) above it")
		},
	},
	{
		ID: "gcp-identity-image-pull", Cloud: "gcp", Category: Identity, Severity: High,
		Title: "An image in a Google registry is pulled with the instances' account: the credential helper for its host, reader on its repository when the stack's project holds it",
		check: func(g *graph.Graph) []violation {
			image, _ := g.Outputs["image"].(string)
			host, project, repo, location, ok := gcpImageRepo(image)
			if !ok {
				return nil
			}
			var out []violation
			for _, t := range g.ByType(gcpTemplate) {
				if !strings.Contains(t.Str("metadata.user-data"), "docker-credential-gcr configure-docker --registries="+host) {
					out = append(out, fail(t, "instance template %s pulls %s without credentials: configure docker-credential-gcr for %s in its cloud-config, or a private repository never serves it", t.Name, image, host))
				}
				if project != gcpProject(g) {
					continue
				}
				member := "serviceAccount:" + t.Str("serviceAccount.email")
				granted := false
				for _, r := range g.ByType("gcp:artifactregistry/repositoryIamMember:RepositoryIamMember") {
					granted = granted || (r.Str("member") == member && r.Str("role") == "roles/artifactregistry.reader" &&
						r.Str("repository") == repo && r.Str("location") == location && r.Str("project") == project)
				}
				if !granted {
					out = append(out, fail(t, "the service account of instance template %s may not pull %s: grant it roles/artifactregistry.reader on repository %s (%s) of project %s", t.Name, image, repo, location, project))
				}
			}
			return out
		},
	},
	{
		ID: "gcp-exposure-private-egress", Cloud: "gcp", Category: Exposure, Severity: Medium,
		Title: "With the image in a Google registry the instances reach only Google APIs: HTTPS to private.googleapis.com, private DNS zones for the API and registry names, no Cloud NAT",
		check: func(g *graph.Graph) []violation {
			image, _ := g.Outputs["image"].(string)
			if _, _, _, _, ok := gcpImageRepo(image); !ok {
				return nil
			}
			var out []violation
			for _, nat := range g.ByType("gcp:compute/routerNat:RouterNat") {
				out = append(out, fail(nat, "Cloud NAT %s gives the instances the internet although %s is in a Google registry: remove it; Private Google Access reaches every API they use", nat.Name, image))
			}
			for _, fw := range g.ByType(gcpFirewall) {
				if fw.Str("direction") != "EGRESS" || len(maps(fw.Get("allows"))) == 0 || !gcpAppliesToFleet(g, fw) {
					continue
				}
				for _, dst := range strs(fw.Get("destinationRanges")) {
					if dst != gcpPrivateAPIs && dst != gcpRestrictedAPIs {
						out = append(out, fail(fw, "firewall %s lets the instances out to %s: allow HTTPS to private.googleapis.com (%s) only", fw.Name, dst, gcpPrivateAPIs))
					}
				}
			}
			zones := map[string]bool{}
			for _, z := range g.ByType("gcp:dns/managedZone:ManagedZone") {
				if z.Str("visibility") == "private" && len(maps(z.Get("privateVisibilityConfig.networks"))) > 0 {
					zones[z.Str("dnsName")] = true
				}
			}
			for _, domain := range []string{"googleapis.com.", "pkg.dev.", "gcr.io."} {
				if !zones[domain] {
					out = append(out, fail(nil, "no private DNS zone for %s on the VPC: the instances would resolve it to public addresses the firewall denies; add one with an A record to private.googleapis.com's addresses and a wildcard CNAME", domain))
				}
			}
			return out
		},
	},
	{
		ID: "gcp-identity-dedicated-sa", Cloud: "gcp", Category: Identity, Severity: High,
		Title:     "Instances run as their own service account, never the default compute account",
		Standards: []string{"CIS GCP 4.1", "CIS GCP 4.2", "CKV_GCP_30", "CKV_GCP_31"},
		check: func(g *graph.Graph) []violation {
			var out []violation
			for _, t := range g.ByType(gcpTemplate) {
				email := t.Str("serviceAccount.email")
				switch sa := g.Ref(email); {
				case email == "" || email == "default" || strings.HasSuffix(email, "-compute@developer.gserviceaccount.com"):
					out = append(out, fail(t, "instance template %s runs as the default compute service account (%q), which holds Editor: give the instances their own service account", t.Name, email))
				case sa == nil || sa.Type != "gcp:serviceaccount/account:Account":
					out = append(out, fail(t, "instance template %s runs as %s, which the stack does not create: give the instances their own service account", t.Name, email))
				}
			}
			return out
		},
	},
	{
		ID: "gcp-identity-no-broad-roles", Cloud: "gcp", Category: Identity, Severity: Critical,
		Title:     "No project grant of a basic role (Owner, Editor, Viewer), an admin role or service account impersonation",
		Standards: []string{"CIS GCP 1.5", "CIS GCP 1.6", "CKV_GCP_41", "CKV_GCP_49", "CKV_GCP_117"},
		check: func(g *graph.Graph) []violation {
			var out []violation
			for _, gr := range gcpGrants(g) {
				role := gr.role
				broad := slices.Contains([]string{"roles/owner", "roles/editor", "roles/viewer"}, role) ||
					strings.HasPrefix(role, "roles/iam.serviceAccount") || strings.Contains(strings.ToLower(role), "admin")
				if broad {
					out = append(out, fail(gr.r, "%s grants %s to %s on the project: grant only the predefined roles it needs (log writer), on the narrowest resource", gr.r.Name, role, gr.member))
				}
			}
			return out
		},
	},
	{
		ID: "gcp-identity-scoped", Cloud: "gcp", Category: Identity, Severity: High,
		Title: "The instances' only project-level role is log writer; anything else is granted on its resource, or not at all",
		check: func(g *graph.Graph) []violation {
			sas := map[string]bool{}
			for _, t := range g.ByType(gcpTemplate) {
				if e := t.Str("serviceAccount.email"); e != "" {
					sas["serviceAccount:"+e] = true
				}
			}
			var out []violation
			for _, gr := range gcpGrants(g) {
				if sas[gr.member] && !slices.Contains(gcpProjectOnly, gr.role) {
					out = append(out, fail(gr.r, "%s grants the instances %s on the whole project: grant it on the one resource they use (e.g. the Artifact Registry repository), or not at all if nothing on them uses it", gr.r.Name, gr.role))
				}
			}
			return out
		},
	},
	{
		ID: "gcp-host-shielded-vm", Cloud: "gcp", Category: Host, Severity: High,
		Title:     "Instances are Shielded VMs: secure boot, vTPM and integrity monitoring",
		Standards: []string{"CIS GCP 4.8", "CKV_GCP_39"},
		check: func(g *graph.Graph) []violation {
			var out []violation
			for _, t := range g.ByType(gcpTemplate) {
				for _, k := range []string{"enableSecureBoot", "enableVtpm", "enableIntegrityMonitoring"} {
					if on, _ := t.Bool("shieldedInstanceConfig." + k); !on {
						out = append(out, fail(t, "instance template %s has Shielded VM %s off: set shieldedInstanceConfig.%s = true", t.Name, k, k))
					}
				}
			}
			return out
		},
	},
	{
		ID: "gcp-host-os-login", Cloud: "gcp", Category: Host, Severity: High,
		Title:     "SSH goes through OS Login only: project-wide SSH keys blocked, no keys in metadata",
		Standards: []string{"CIS GCP 4.3", "CIS GCP 4.4", "CKV_GCP_32", "CKV_GCP_34"},
		check: func(g *graph.Graph) []violation {
			var out []violation
			for _, t := range g.ByType(gcpTemplate) {
				if !truthy(t.Get("metadata.enable-oslogin")) {
					out = append(out, fail(t, "instance template %s does not enable OS Login: set metadata enable-oslogin = TRUE", t.Name))
				}
				if !truthy(t.Get("metadata.block-project-ssh-keys")) {
					out = append(out, fail(t, "instance template %s accepts project-wide SSH keys: set metadata block-project-ssh-keys = TRUE", t.Name))
				}
				if t.Get("metadata.ssh-keys") != nil || t.Get("metadata.sshKeys") != nil {
					out = append(out, fail(t, "instance template %s installs SSH keys from metadata: remove them and use OS Login", t.Name))
				}
			}
			return out
		},
	},
	{
		ID: "gcp-host-serial-and-forwarding", Cloud: "gcp", Category: Host, Severity: Medium,
		Title:     "The serial console is off and instances do not forward IP traffic",
		Standards: []string{"CIS GCP 4.5", "CIS GCP 4.6", "CKV_GCP_35", "CKV_GCP_36"},
		check: func(g *graph.Graph) []violation {
			var out []violation
			for _, t := range g.ByType(gcpTemplate) {
				if truthy(t.Get("metadata.serial-port-enable")) {
					out = append(out, fail(t, "instance template %s enables the interactive serial console: set metadata serial-port-enable = FALSE", t.Name))
				}
				if on, _ := t.Bool("canIpForward"); on {
					out = append(out, fail(t, "instance template %s lets instances forward IP traffic: set canIpForward = false", t.Name))
				}
			}
			return out
		},
	},
	{
		ID: "gcp-host-metadata-from-container", Cloud: "gcp", Category: Host, Severity: High,
		Title: "Containers cannot reach the metadata server: a DOCKER-USER rule, re-applied when docker restarts, is in place before the app starts",
		check: func(g *graph.Graph) []violation {
			var out []violation
			for _, t := range g.ByType(gcpTemplate) {
				if msg := gcpMetadataBlock(t.Str("metadata.user-data")); msg != "" {
					out = append(out, fail(t, "instance template %s: %s", t.Name, msg))
				}
			}
			return out
		},
	},
	{
		ID: "gcp-transport-https", Cloud: "gcp", Category: Transport, Severity: High,
		Title: "Plain HTTP only redirects to HTTPS; serving HTTP is waived only while no certificate is configured, or while the stack's Google-managed certificate provisions (stayup:httpsRedirect false)",
		check: func(g *graph.Graph) []violation {
			var out []violation
			https := len(g.ByType(gcpHTTPSProxy)) > 0
			for _, p := range g.ByType(gcpHTTPProxy) {
				m := g.Ref(p.Str("urlMap"))
				if m != nil && truthy(m.Get("defaultUrlRedirect.httpsRedirect")) {
					continue
				}
				v := fail(p, "HTTP proxy %s serves plain HTTP", p.Name)
				switch {
				case https && gcpAwaitingCertificate(g, p):
					v = waive(v, "the stack's Google-managed certificate provisions only once DNS points at the address this stack created, and redirecting before it is ACTIVE would leave clients nothing: "+
						"HTTP serves the fleet until stayup:httpsRedirect is true, which stayup up sets when it sees the certificate ACTIVE (stayup status says the phase)")
				case https:
					v.msg += " although HTTPS is configured: point it at a URL map whose defaultUrlRedirect has httpsRedirect = true"
				default:
					v = waive(v, "no certificate or domain is configured, so the service is HTTP only, as plan says: set stayup:domain (or stayup:tlsCertificate) to serve HTTPS and redirect HTTP")
				}
				out = append(out, v)
			}
			return out
		},
	},
	{
		ID: "gcp-transport-tls-policy", Cloud: "gcp", Category: Transport, Severity: High,
		Title:     "HTTPS proxies use an SSL policy with TLS 1.2+ and the MODERN or RESTRICTED profile",
		Standards: []string{"CIS GCP 3.9", "CKV_GCP_4"},
		check: func(g *graph.Graph) []violation {
			var out []violation
			for _, p := range g.ByType(gcpHTTPSProxy) {
				pol := g.Ref(p.Str("sslPolicy"))
				if pol == nil {
					out = append(out, fail(p, "HTTPS proxy %s has no SSL policy of the stack, so Google's default admits TLS 1.0: set sslPolicy to a MODERN, TLS 1.2 policy", p.Name))
					continue
				}
				if prof := pol.Str("profile"); prof != "MODERN" && prof != "RESTRICTED" {
					out = append(out, fail(pol, "SSL policy %s has profile %q: set profile = \"MODERN\" (or RESTRICTED)", pol.Name, prof))
				}
				if v := pol.Str("minTlsVersion"); v != "TLS_1_2" && v != "TLS_1_3" {
					out = append(out, fail(pol, "SSL policy %s admits %q: set minTlsVersion = \"TLS_1_2\"", pol.Name, v))
				}
			}
			return out
		},
	},
	{
		ID: "gcp-logging-flow", Cloud: "gcp", Category: Logging, Severity: Medium,
		Title:     "Every subnetwork has VPC flow logs",
		Standards: []string{"CIS GCP 3.8", "CKV_GCP_26"},
		check: func(g *graph.Graph) []violation {
			var out []violation
			for _, sn := range g.ByType("gcp:compute/subnetwork:Subnetwork") {
				if sn.Get("logConfig") == nil {
					out = append(out, fail(sn, "subnetwork %s has no flow logs: set logConfig (aggregation interval, sampling, metadata)", sn.Name))
				} else if v := sn.Get("logConfig.flowSampling"); v != nil {
					// Sampling 0 keeps the config and logs nothing.
					if f, ok := v.(float64); ok && f <= 0 {
						out = append(out, fail(sn, "subnetwork %s samples no flows: set logConfig.flowSampling above 0 (stayup uses 0.5)", sn.Name))
					}
				}
			}
			return out
		},
	},
	{
		ID: "gcp-logging-lb", Cloud: "gcp", Category: Logging, Severity: Medium,
		Title:     "Every backend service logs its requests",
		Standards: []string{"CIS GCP 2.16"},
		check: func(g *graph.Graph) []violation {
			var out []violation
			for _, be := range g.ByType(gcpBackend) {
				if on, _ := be.Bool("logConfig.enable"); !on {
					out = append(out, fail(be, "backend service %s does not log requests: set logConfig.enable = true", be.Name))
				}
			}
			return out
		},
	},
	{
		ID: "gcp-logging-instance", Cloud: "gcp", Category: Logging, Severity: Medium,
		Title: "Instances ship their container logs to Cloud Logging and may write them",
		check: func(g *graph.Graph) []violation {
			var out []violation
			for _, t := range g.ByType(gcpTemplate) {
				if !truthy(t.Get("metadata.google-logging-enabled")) {
					out = append(out, fail(t, "instance template %s does not ship logs: set metadata google-logging-enabled = true", t.Name))
				}
				member := "serviceAccount:" + t.Str("serviceAccount.email")
				if !slices.ContainsFunc(gcpGrants(g), func(gr gcpGrant) bool { return gr.member == member && gr.role == "roles/logging.logWriter" }) {
					out = append(out, fail(t, "the service account of instance template %s may not write logs: grant it roles/logging.logWriter", t.Name))
				}
			}
			return out
		},
	},
	{
		ID: "gcp-logging-firewall", Cloud: "gcp", Category: Logging, Severity: Low,
		Title: "Every firewall rule logs the connections it matches, but the allow rule for Google's load balancer front ends and health checkers",
		check: func(g *graph.Graph) []violation {
			var out []violation
			for _, fw := range g.ByType(gcpFirewall) {
				if fw.Get("logConfig") == nil && !gcpFrontEndsOnly(fw) {
					out = append(out, fail(fw, "firewall %s does not log: set logConfig.metadata (EXCLUDE_ALL_METADATA keeps what was allowed or denied)", fw.Name))
				}
			}
			return out
		},
	},
}

// gcpFrontEndsOnly is an ingress allow rule whose sources are only Google's
// load balancer front ends and health checkers: its connections are the
// backend service's request logs and the health checks' probes, so logging
// it would mostly bill every probe.
func gcpFrontEndsOnly(fw *graph.Resource) bool {
	sources := strs(fw.Get("sourceRanges"))
	return fw.Str("direction") != "EGRESS" && fw.Get("denies") == nil && len(fw.List("allows")) > 0 &&
		len(sources) > 0 && !slices.ContainsFunc(sources, func(c string) bool { return !slices.Contains(gcpFrontEnds, c) }) &&
		fw.Get("sourceTags") == nil && fw.Get("sourceServiceAccounts") == nil
}

// gcpAwaitingCertificate says whether an HTTP proxy serves on purpose
// while the certificate provisions: every forwarding rule to it carries
// the program's phase label, and every HTTPS proxy's certificate is a
// Google-managed one of the stack (one of the user's is valid from the
// start, so it has no such phase).
func gcpAwaitingCertificate(g *graph.Graph, httpProxy *graph.Resource) bool {
	var rules int
	for _, fr := range g.ByType(gcpGlobalRule) {
		if g.Ref(fr.Str("target")) != httpProxy {
			continue
		}
		rules++
		if fr.Str("labels."+gcpRedirectLabel) != gcpAwaitingCert {
			return false
		}
	}
	if rules == 0 {
		return false
	}
	for _, p := range g.ByType(gcpHTTPSProxy) {
		certs := p.List("sslCertificates")
		if len(certs) == 0 {
			return false
		}
		for _, c := range certs {
			if cert := g.Ref(c); cert == nil || cert.Type != gcpManagedCert {
				return false
			}
		}
	}
	return true
}

// gcpFrontsFleet follows a forwarding rule to its proxy, URL map and
// backend service, and says whether it ends at the fleet (or redirects).
func gcpFrontsFleet(g *graph.Graph, fr *graph.Resource) bool {
	proxy := g.Ref(fr.Str("target"))
	if proxy == nil {
		return false
	}
	m := g.Ref(proxy.Str("urlMap"))
	if m == nil {
		return false
	}
	if truthy(m.Get("defaultUrlRedirect.httpsRedirect")) {
		return true
	}
	be := g.Ref(m.Str("defaultService"))
	if be == nil {
		return false
	}
	for _, b := range maps(be.Get("backends")) {
		if mig := g.Ref(b["group"]); mig != nil && mig.Type == gcpMIG {
			return true
		}
	}
	return false
}

func gcpIngressAllows(g *graph.Graph) []*graph.Resource {
	var out []*graph.Resource
	for _, fw := range g.ByType(gcpFirewall) {
		if d := fw.Str("direction"); (d == "" || d == "INGRESS") && len(maps(fw.Get("allows"))) > 0 {
			if off, _ := fw.Bool("disabled"); !off {
				out = append(out, fw)
			}
		}
	}
	return out
}

// gcpAppliesToFleet says whether a firewall rule reaches the instances:
// it names none (every instance), one of their tags or their account.
func gcpAppliesToFleet(g *graph.Graph, fw *graph.Resource) bool {
	tags, accounts := strs(fw.Get("targetTags")), strs(fw.Get("targetServiceAccounts"))
	if len(tags) == 0 && len(accounts) == 0 {
		return true
	}
	for _, t := range g.ByType(gcpTemplate) {
		for _, tag := range strs(t.Get("tags")) {
			if slices.Contains(tags, tag) {
				return true
			}
		}
		if slices.Contains(accounts, t.Str("serviceAccount.email")) {
			return true
		}
	}
	return false
}

func gcpRulePorts(rules []map[string]any) []portRange {
	var out []portRange
	for _, a := range rules {
		proto := fmt.Sprint(a["protocol"])
		ports := strs(a["ports"])
		if proto == "all" || ((proto == "tcp" || proto == "udp" || proto == "sctp") && len(ports) == 0) {
			out = append(out, portRange{all: true})
			continue
		}
		for _, p := range ports {
			out = append(out, parsePorts(p))
		}
	}
	return out
}

func gcpPorts(fw *graph.Resource) []portRange     { return gcpRulePorts(maps(fw.Get("allows"))) }
func gcpDenyPorts(fw *graph.Resource) []portRange { return gcpRulePorts(maps(fw.Get("denies"))) }

func coversAll(ranges []portRange) bool {
	return slices.ContainsFunc(ranges, func(p portRange) bool { return p.all })
}

func gcpOnlyPort(fw *graph.Resource, port int) bool {
	ports := gcpPorts(fw)
	return len(ports) > 0 && !slices.ContainsFunc(ports, func(p portRange) bool { return p.all || p.from != port || p.to != port })
}

type gcpGrant struct {
	r      *graph.Resource
	role   string
	member string
}

// gcpGrants are the project-level role grants, one per member.
func gcpGrants(g *graph.Graph) []gcpGrant {
	var out []gcpGrant
	for _, r := range g.ByType(gcpIAMMember) {
		out = append(out, gcpGrant{r, r.Str("role"), r.Str("member")})
	}
	for _, r := range g.ByType(gcpIAMBinding) {
		for _, m := range strs(r.Get("members")) {
			out = append(out, gcpGrant{r, r.Str("role"), m})
		}
	}
	return out
}

// gcpMetadataBlock reads a cloud-config and says what, if anything, lets
// the app's container reach the metadata server: no DOCKER-USER rule
// rejecting 169.254.169.254, a rule not re-run when docker restarts, or an
// app unit that may start before it.
func gcpMetadataBlock(userData string) string {
	var doc struct {
		WriteFiles []struct {
			Path    string `yaml:"path"`
			Content string `yaml:"content"`
		} `yaml:"write_files"`
	}
	if err := yaml.Unmarshal([]byte(userData), &doc); err != nil || len(doc.WriteFiles) == 0 {
		return "its user-data is no cloud-config stayup can read, so nothing shows containers are kept off the metadata server"
	}
	var script string
	units := map[string]string{}
	for _, f := range doc.WriteFiles {
		if strings.HasPrefix(f.Path, "/etc/systemd/system/") {
			units[path.Base(f.Path)] = f.Content
			continue
		}
		for _, line := range strings.Split(f.Content, "\n") {
			line = strings.TrimSpace(line)
			if !strings.HasPrefix(line, "#") && strings.Contains(line, "DOCKER-USER") && strings.Contains(line, "169.254.169.254") &&
				(strings.Contains(line, "-j REJECT") || strings.Contains(line, "-j DROP")) {
				script = f.Path
			}
		}
	}
	if script == "" {
		return "containers can reach the metadata server (169.254.169.254) and take the instance's token: write a script that inserts a DOCKER-USER rule rejecting it (all but DNS)"
	}
	var block, app string
	for name, unit := range units {
		if unitHas(unit, "ExecStart", script) {
			block = name
		}
		if unitHas(unit, "ExecStart", "docker run") {
			app = name
		}
	}
	switch {
	case block == "":
		return fmt.Sprintf("no systemd unit runs %s: run it in a oneshot unit After= and PartOf=docker.service", script)
	case !unitHas(units[block], "After", "docker.service") || !unitHas(units[block], "PartOf", "docker.service"):
		return fmt.Sprintf("unit %s does not run again when docker restarts: set After=docker.service and PartOf=docker.service", block)
	case app == "":
		return "no systemd unit runs the container with docker run, so nothing shows it starts after the metadata block"
	case !unitHas(units[app], "Requires", block) || !unitHas(units[app], "After", block):
		return fmt.Sprintf("app unit %s may start before the metadata block: add %s to its Requires= and After=", app, block)
	}
	return ""
}

// unitHas says whether a systemd unit's setting key (any of its lines)
// names want.
func unitHas(unit, key, want string) bool {
	for _, line := range strings.Split(unit, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), key+"="); ok && strings.Contains(v, want) {
			return true
		}
	}
	return false
}

// gcpImageRepo reads an image in a Google registry: its host, and the
// project, repository and location that hold it (gcr.io hosts are served
// by Artifact Registry repositories named after them).
func gcpImageRepo(image string) (host, project, repo, location string, ok bool) {
	parts := strings.SplitN(image, "/", 4)
	if len(parts) < 3 {
		return "", "", "", "", false
	}
	host = parts[0]
	if loc, found := strings.CutSuffix(host, "-docker.pkg.dev"); found && len(parts) == 4 {
		return host, parts[1], parts[2], loc, true
	}
	gcr := map[string]string{"gcr.io": "us", "us.gcr.io": "us", "eu.gcr.io": "europe", "asia.gcr.io": "asia"}
	if loc, found := gcr[host]; found {
		return host, parts[1], host, loc, true
	}
	return "", "", "", "", false
}

// gcpProject is the project the stack deploys to.
func gcpProject(g *graph.Graph) string {
	if p, ok := graph.Lookup(g.Outputs, "fleet.project").(string); ok {
		return p
	}
	for _, t := range g.ByType(gcpTemplate) {
		if p := t.Str("project"); p != "" {
			return p
		}
	}
	return ""
}
