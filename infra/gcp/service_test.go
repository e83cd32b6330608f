package gcp_test

import (
	"flag"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"gopkg.in/yaml.v3"

	"stayup/infra/gcp"
	"stayup/infra/spec"
	gcpfleet "stayup/internal/fleet/gcp"
	"stayup/internal/graph"
	"stayup/internal/testkit"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func config(kv ...string) map[string]string {
	cfg := map[string]string{"stayup:cloud": "gcp", "gcp:region": "europe-west1", "gcp:project": "stayup-test"}
	for i := 0; i+1 < len(kv); i += 2 {
		cfg[kv[i]] = kv[i+1]
	}
	return cfg
}

func record(kv ...string) (*graph.Graph, error) {
	cfg := config(kv...)
	s, err := spec.Parse(spec.MapLookup(cfg))
	if err != nil {
		return nil, err
	}
	return graph.Record("stayup", "test", cfg, func(ctx *pulumi.Context) (pulumi.Map, error) {
		svc, err := gcp.NewService(ctx, "stayup", s)
		if err != nil {
			return nil, err
		}
		return pulumi.Map{"url": svc.URL, "fleet": svc.Fleet}, nil
	})
}

func plan(t *testing.T, kv ...string) *graph.Graph {
	t.Helper()
	g, err := record(kv...)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

const (
	migType      = "gcp:compute/regionInstanceGroupManager:RegionInstanceGroupManager"
	templateType = "gcp:compute/instanceTemplate:InstanceTemplate"
	firewallType = "gcp:compute/firewall:Firewall"
)

func TestGroupSpreadsOverZonesAndHeals(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		kv    []string
		zones []string
	}{
		{nil, []string{"europe-west1-b", "europe-west1-c", "europe-west1-d"}},
		{[]string{"stayup:zones", "2"}, []string{"europe-west1-b", "europe-west1-c"}},
		{[]string{"gcp:region", "us-central1", "stayup:zones", "4"}, []string{"us-central1-a", "us-central1-b", "us-central1-c", "us-central1-f"}},
	} {
		g := plan(t, tc.kv...)
		mig := testkit.Only(t, g, migType)
		var zones []string
		for _, z := range mig.List("distributionPolicyZones") {
			zones = append(zones, z.(string))
		}
		if !slices.Equal(zones, tc.zones) {
			t.Errorf("%v: zones = %v, want %v", tc.kv, zones, tc.zones)
		}
		if got := mig.Str("distributionPolicyTargetShape"); got != "EVEN" {
			t.Errorf("target shape = %q, want EVEN", got)
		}
		if got := testkit.Int(t, mig, "updatePolicy.maxSurgeFixed"); got < len(tc.zones) {
			t.Errorf("%v: maxSurgeFixed = %d, want >= the %d zones", tc.kv, got, len(tc.zones))
		}
		hc := g.Ref(mig.Str("autoHealingPolicies.healthCheck"))
		if hc == nil || hc.Type != "gcp:compute/healthCheck:HealthCheck" {
			t.Fatalf("autohealing health check %q is not a health check of the plan", mig.Str("autoHealingPolicies.healthCheck"))
		}
		if delay := testkit.Int(t, mig, "autoHealingPolicies.initialDelaySec"); delay < 60 {
			t.Errorf("autohealing initial delay %d s does not cover a boot", delay)
		}
	}
	if _, err := record("stayup:zones", "4"); err == nil || !strings.Contains(err.Error(), "stayup:zones = 4") {
		t.Errorf("4 zones in a 3-zone region: error = %v, want one naming stayup:zones", err)
	}
}

func TestHealthChecksUseTheirPaths(t *testing.T) {
	t.Parallel()
	g := plan(t, "stayup:healthPath", "/healthz", "stayup:readyPath", "/readyz")
	mig := testkit.Only(t, g, migType)
	liveness := g.Ref(mig.Str("autoHealingPolicies.healthCheck"))
	if got := liveness.Str("httpHealthCheck.requestPath"); got != "/healthz" {
		t.Errorf("autohealing checks %q, want healthPath /healthz", got)
	}
	be := testkit.Only(t, g, "gcp:compute/backendService:BackendService")
	readiness := g.Ref(be.Str("healthChecks"))
	if readiness == nil || readiness.Str("httpHealthCheck.requestPath") != "/readyz" {
		t.Fatalf("load balancer health check = %v, want readyPath /readyz", be.Str("healthChecks"))
	}
	if interval, bad := testkit.Int(t, readiness, "checkIntervalSec"), testkit.Int(t, readiness, "unhealthyThreshold"); interval*bad > 15 {
		t.Errorf("an unready instance stays in rotation %d s, want <= 15 s", interval*bad)
	}
	if d := testkit.Int(t, be, "connectionDrainingTimeoutSec"); d < 15 || d > 60 {
		t.Errorf("connection draining %d s, want about 30 s", d)
	}
	if b, _ := be.Bool("logConfig.enable"); !b {
		t.Error("load balancer request logging is off")
	}
	if got := g.Ref(be.Str("backends.0.group")); got != mig {
		t.Errorf("backend group %q is not the fleet's instance group", be.Str("backends.0.group"))
	}
}

func TestRollingUpdateReplacesWithoutLosingCapacity(t *testing.T) {
	t.Parallel()
	g := plan(t)
	mig := testkit.Only(t, g, migType)
	up := "updatePolicy."
	for path, want := range map[string]string{
		"type": "PROACTIVE", "minimalAction": "REPLACE", "mostDisruptiveAllowedAction": "REPLACE", "replacementMethod": "SUBSTITUTE",
	} {
		if got := mig.Str(up + path); got != want {
			t.Errorf("%s = %q, want %q", path, got, want)
		}
	}
	if got := testkit.Int(t, mig, up+"maxUnavailableFixed"); got != 0 {
		t.Errorf("maxUnavailableFixed = %d, want 0", got)
	}
	if got := testkit.Int(t, mig, up+"minReadySec"); got <= 0 {
		t.Errorf("minReadySec = %d, want > 0", got)
	}
	if v := mig.Get("targetSize"); v != nil {
		t.Errorf("targetSize = %v: the autoscaler must own the size", v)
	}
	tmpl := g.Ref(mig.Str("versions.0.instanceTemplate"))
	if tmpl == nil || tmpl.Type != templateType || tmpl.Outputs["selfLinkUnique"] != mig.Str("versions.0.instanceTemplate") {
		t.Errorf("group version %q is not the template's unique self link", mig.Str("versions.0.instanceTemplate"))
	}
	if name := tmpl.Get("name"); name != nil {
		t.Errorf("template name %v is fixed: a change could not create the new one before deleting the old", name)
	}
	// The provider must not hold `up` for the roll: rollout watches it
	// and stops a bad image by retargeting the group with another `up`.
	if b, ok := mig.Bool("waitForInstances"); !ok || b {
		t.Errorf("waitForInstances = %v, want false written out", mig.Get("waitForInstances"))
	}
	if v := mig.Get("waitForInstancesStatus"); v != nil {
		t.Errorf("waitForInstancesStatus = %v: there is no wait", v)
	}

	scaler := testkit.Only(t, g, "gcp:compute/regionAutoscaler:RegionAutoscaler")
	if g.Ref(scaler.Str("target")) != mig {
		t.Error("the autoscaler does not target the group")
	}
	if testkit.Int(t, scaler, "autoscalingPolicy.minReplicas") != 3 || testkit.Int(t, scaler, "autoscalingPolicy.maxReplicas") != 9 {
		t.Errorf("autoscaler bounds = %v", scaler.Get("autoscalingPolicy"))
	}
	if cpu, _ := scaler.Get("autoscalingPolicy.cpuUtilization.target").(float64); cpu != 0.6 {
		t.Errorf("CPU target = %v, want 0.6 (a fraction of one)", cpu)
	}
}

func TestTemplateHardensTheHost(t *testing.T) {
	t.Parallel()
	g := plan(t)
	tmpl := testkit.Only(t, g, templateType)
	for _, nic := range tmpl.List("networkInterfaces") {
		if cfgs := graph.Lookup(nic, "accessConfigs"); cfgs != nil && len(cfgs.([]any)) > 0 {
			t.Errorf("network interface has access configs (an external IP): %v", cfgs)
		}
	}
	for _, path := range []string{"shieldedInstanceConfig.enableSecureBoot", "shieldedInstanceConfig.enableVtpm", "shieldedInstanceConfig.enableIntegrityMonitoring"} {
		if b, _ := tmpl.Bool(path); !b {
			t.Errorf("%s is off", path)
		}
	}
	for key, want := range map[string]string{"block-project-ssh-keys": "TRUE", "enable-oslogin": "TRUE", "serial-port-enable": "FALSE"} {
		if got := tmpl.Str("metadata." + key); got != want {
			t.Errorf("metadata %s = %q, want %q", key, got, want)
		}
	}
	if b, _ := tmpl.Bool("canIpForward"); b {
		t.Error("IP forwarding is on")
	}
	account := g.Ref(tmpl.Str("serviceAccount.email"))
	if account == nil || account.Type != "gcp:serviceaccount/account:Account" {
		t.Errorf("instances run as %q, want the stack's own service account", tmpl.Str("serviceAccount.email"))
	}
	want, err := gcp.CloudInit(mustSpec(t))
	if err != nil {
		t.Fatal(err)
	}
	if tmpl.Str("metadata.user-data") != want {
		t.Error("the template's user-data differs from CloudInit()")
	}
}

func mustSpec(t *testing.T, kv ...string) spec.Spec {
	t.Helper()
	s, err := spec.Parse(spec.MapLookup(config(kv...)))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestFirewallAdmitsOnlyGoogleFrontEnds(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		kv  []string
		iap bool
	}{{nil, false}, {[]string{"stayup:sshFromIap", "true"}, true}} {
		g := plan(t, tc.kv...)
		var allows []string
		for _, fw := range g.ByType(firewallType) {
			if fw.Str("description") == "" {
				t.Errorf("firewall %s has no description", fw.Name)
			}
			if fw.Str("direction") != "INGRESS" {
				continue
			}
			// The front ends' rule alone is unlogged: its probes are most of
			// the volume, its requests are in the backend service's logs.
			if fw.Get("logConfig") == nil && !strings.HasSuffix(fw.Name, "-lb-to-app") {
				t.Errorf("firewall %s does not log", fw.Name)
			}
			sources := fw.List("sourceRanges")
			if len(sources) == 0 && len(fw.List("sourceTags")) == 0 {
				t.Errorf("firewall %s names no source: it would admit the whole internet", fw.Name)
			}
			for _, allow := range fw.List("allows") {
				for _, port := range graph.Lookup(allow, "ports").([]any) {
					for _, src := range sources {
						allows = append(allows, fmt.Sprintf("%v from %v", port, src))
						if src == "0.0.0.0/0" {
							t.Errorf("firewall %s allows %v from the internet", fw.Name, port)
						}
					}
				}
				if len(fw.List("targetTags")) == 0 {
					t.Errorf("allow rule %s targets every instance of the network", fw.Name)
				}
			}
		}
		want := []string{"8080 from 130.211.0.0/22", "8080 from 35.191.0.0/16"}
		if tc.iap {
			want = append(want, "22 from 35.235.240.0/20")
		}
		slices.Sort(allows)
		slices.Sort(want)
		if !slices.Equal(allows, want) {
			t.Errorf("%v: firewall allows %v, want %v", tc.kv, allows, want)
		}
	}
}

func TestServiceAccountHoldsOnlyItsRoles(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		image string
		pull  bool
		// repository and location of the grant; helper is the registry
		// host docker's credential helper is configured for.
		repository, location, helper string
	}{
		{spec.DefaultImage, false, "", "", "us-docker.pkg.dev"},
		{"europe-docker.pkg.dev/stayup-test/apps/web:v2", true, "apps", "europe", "europe-docker.pkg.dev"},
		{"europe-docker.pkg.dev/someone-else/apps/web:v2", false, "", "", "europe-docker.pkg.dev"},
		{"gcr.io/stayup-test/web:v2", true, "gcr.io", "us", "gcr.io"},
		{"eu.gcr.io/someone-else/web:v2", false, "", "", "eu.gcr.io"},
		{"ghcr.io/someone/web:v2", false, "", "", ""},
	} {
		g := plan(t, "stayup:image", tc.image)
		account := testkit.Only(t, g, "gcp:serviceaccount/account:Account")
		member := "serviceAccount:" + account.Outputs["email"].(string)
		var roles []string
		for _, m := range g.ByType("gcp:projects/iAMMember:IAMMember") {
			if m.Str("member") != member {
				t.Errorf("project grant to %s, not the fleet's account", m.Str("member"))
			}
			roles = append(roles, m.Str("role"))
		}
		slices.Sort(roles)
		// Nothing on the instance writes metrics: no metric writer.
		if !slices.Equal(roles, []string{"roles/logging.logWriter"}) {
			t.Errorf("project roles = %v, want log writer only", roles)
		}
		pulls := g.ByType("gcp:artifactregistry/repositoryIamMember:RepositoryIamMember")
		if (len(pulls) == 1) != tc.pull {
			t.Errorf("%s: %d repository grants, want pull=%v", tc.image, len(pulls), tc.pull)
		}
		for _, p := range pulls {
			if p.Str("role") != "roles/artifactregistry.reader" || p.Str("repository") != tc.repository || p.Str("location") != tc.location ||
				p.Str("project") != "stayup-test" || p.Str("member") != member {
				t.Errorf("%s: repository grant = %v, want reader on %s in %s", tc.image, p.Inputs, tc.repository, tc.location)
			}
		}
		userData, _ := gcp.CloudInit(mustSpec(t, "stayup:image", tc.image))
		if got := strings.Contains(userData, "docker-credential-gcr"); got != (tc.helper != "") {
			t.Errorf("%s: credential helper in cloud-init = %v, want %v", tc.image, got, tc.helper != "")
		}
		if tc.helper != "" && !strings.Contains(userData, "configure-docker --registries="+tc.helper+"\n") {
			t.Errorf("%s: the credential helper is not configured for %s", tc.image, tc.helper)
		}
	}
}

// An image another project holds needs a grant the stack cannot make: the
// plan says exactly which; the public default image and this project's own
// repositories need none.
func TestPullNotesNameTheGrantOutsideTheStack(t *testing.T) {
	t.Parallel()
	account := gcp.ServiceAccountEmail("test", "stayup-test")
	for image, want := range map[string]string{
		spec.DefaultImage: "",
		"europe-docker.pkg.dev/stayup-test/apps/web:v2":  "",
		"ghcr.io/someone/web:v2":                         "",
		"europe-docker.pkg.dev/someone-else/apps/web:v2": "gcloud artifacts repositories add-iam-policy-binding apps --project someone-else --location europe --member serviceAccount:" + account + " --role roles/artifactregistry.reader",
		"eu.gcr.io/someone-else/web:v2":                  "gcloud artifacts repositories add-iam-policy-binding eu.gcr.io --project someone-else --location europe --member serviceAccount:" + account + " --role roles/artifactregistry.reader",
	} {
		notes := gcp.PullNotes(mustSpec(t, "stayup:image", image), account)
		if want == "" {
			if len(notes) > 0 {
				t.Errorf("%s: notes %q, want none", image, notes)
			}
			continue
		}
		if len(notes) != 1 || !strings.Contains(notes[0], want) {
			t.Errorf("%s: notes %q, want one containing %q", image, notes, want)
		}
	}
	g := plan(t)
	if got := testkit.Only(t, g, "gcp:serviceaccount/account:Account").Outputs["email"]; got != account {
		t.Errorf("the account is %v, the notes name %s", got, account)
	}
}

// With a Google-managed certificate HTTP serves the fleet until
// stayup:httpsRedirect says the certificate is ACTIVE (it provisions only
// once DNS points at the address this up creates), then redirects; with a
// certificate of the user's it redirects from the first up.
func TestHTTPSRedirectsOnceTheCertificateServesAndUsesAModernPolicy(t *testing.T) {
	t.Parallel()
	const managed = "app.example.com"
	for _, tc := range []struct {
		name     string
		kv       []string
		redirect bool
	}{
		{"managed, provisioning", []string{"stayup:domain", managed}, false},
		{"managed, active", []string{"stayup:domain", managed, "stayup:httpsRedirect", "true"}, true},
		{"user's certificate", []string{"stayup:domain", managed, "stayup:tlsCertificate", "projects/stayup-test/global/sslCertificates/web"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g := plan(t, tc.kv...)
			rules := map[string]*graph.Resource{}
			for _, fr := range g.ByType("gcp:compute/globalForwardingRule:GlobalForwardingRule") {
				rules[fr.Str("portRange")] = fr
			}
			if rules["80"] == nil || rules["443"] == nil {
				t.Fatalf("forwarding rules on %v, want 80 and 443", rules)
			}
			httpProxy := g.Ref(rules["80"].Str("target"))
			httpsProxy := g.Ref(rules["443"].Str("target"))
			httpMap := g.Ref(httpProxy.Str("urlMap"))
			redirects, _ := httpMap.Bool("defaultUrlRedirect.httpsRedirect")
			if redirects != tc.redirect {
				t.Errorf("HTTP redirects = %v (%v), want %v", redirects, httpMap.Inputs, tc.redirect)
			}
			if !tc.redirect && httpMap != g.Ref(httpsProxy.Str("urlMap")) {
				t.Errorf("HTTP serves through %s, want the HTTPS proxy's URL map", httpMap.Name)
			}
			phase := rules["80"].Get("labels.stayup-https-redirect")
			if want := map[bool]any{false: "awaiting-certificate", true: nil}[tc.redirect]; phase != want {
				t.Errorf("HTTP forwarding rule's phase label = %v, want %v", phase, want)
			}
			if l := rules["443"].Get("labels.stayup-https-redirect"); l != nil {
				t.Errorf("HTTPS forwarding rule has the phase label %v", l)
			}
			policy := g.Ref(httpsProxy.Str("sslPolicy"))
			if policy == nil || policy.Str("profile") != "MODERN" || policy.Str("minTlsVersion") != "TLS_1_2" {
				t.Errorf("SSL policy = %v, want MODERN with TLS 1.2 minimum", httpsProxy.Str("sslPolicy"))
			}
			fleet, _ := g.Outputs["fleet"].(map[string]any)
			if tc.name == "user's certificate" {
				if c, ok := fleet["sslCertificate"]; ok {
					t.Errorf("fleet output names certificate %v, want none: the user's certificate is theirs to watch", c)
				}
				return
			}
			cert := g.Ref(httpsProxy.List("sslCertificates")[0])
			if cert == nil || cert.List("managed.domains")[0] != managed {
				t.Fatalf("certificate = %v, want a managed one for the domain", httpsProxy.List("sslCertificates"))
			}
			if got := fleet["sslCertificate"]; got == nil || got != cert.Outputs["name"] {
				t.Errorf("fleet output sslCertificate = %v, want the managed certificate's name %v", got, cert.Outputs["name"])
			}
			if fleet["httpsRedirect"] != tc.redirect || fleet["address"] == nil {
				t.Errorf("fleet output httpsRedirect = %v, address = %v; want %v and the IPv4 address DNS must point at", fleet["httpsRedirect"], fleet["address"], tc.redirect)
			}
			if url := g.Outputs["url"]; url != "https://app.example.com/" {
				t.Errorf("url = %v", url)
			}
		})
	}
}

func TestAllowedCidrsBecomeACloudArmorPolicy(t *testing.T) {
	t.Parallel()
	if n := len(plan(t).ByType("gcp:compute/securityPolicy:SecurityPolicy")); n != 0 {
		t.Errorf("%d security policies for 0.0.0.0/0, want none", n)
	}
	var cidrs []string
	for i := range 12 {
		cidrs = append(cidrs, fmt.Sprintf("203.0.%d.0/24", i))
	}
	g := plan(t, "stayup:allowedCidrs", strings.Join(cidrs, ","))
	sp := testkit.Only(t, g, "gcp:compute/securityPolicy:SecurityPolicy")
	be := testkit.Only(t, g, "gcp:compute/backendService:BackendService")
	if g.Ref(be.Str("securityPolicy")) != sp {
		t.Fatal("the backend service does not use the policy")
	}
	var allowed []string
	var last string
	for _, rule := range sp.List("rules") {
		last = graph.Lookup(rule, "action").(string)
		if last == "allow" {
			for _, r := range graph.Lookup(rule, "match.config.srcIpRanges").([]any) {
				allowed = append(allowed, r.(string))
			}
		}
	}
	if !slices.Equal(allowed, cidrs) || last != "deny(403)" {
		t.Errorf("policy allows %v then %q, want the 12 ranges then deny", allowed, last)
	}
}

func TestNetworkEgressAndFlowLogs(t *testing.T) {
	t.Parallel()
	g := plan(t)
	vpc := testkit.Only(t, g, "gcp:compute/network:Network")
	if b, ok := vpc.Bool("autoCreateSubnetworks"); !ok || b {
		t.Error("the network is auto mode")
	}
	subnet := testkit.Only(t, g, "gcp:compute/subnetwork:Subnetwork")
	if b, _ := subnet.Bool("privateIpGoogleAccess"); !b {
		t.Error("private Google access is off")
	}
	if subnet.Get("logConfig") == nil {
		t.Error("subnet flow logs are off")
	}
	fleet, _ := g.Outputs["fleet"].(map[string]any)
	for _, key := range []string{"project", "region", "instanceGroupManager", "backendService", "healthCheck"} {
		if v, _ := fleet[key].(string); v == "" {
			t.Errorf("fleet.%s is empty", key)
		}
	}
}

// With the image in a Google registry the instances reach Google APIs only,
// through private.googleapis.com, and there is no NAT; with any other
// registry, Cloud NAT and HTTPS to anywhere. Neither path touches the
// template or the group, so switching between them replaces neither.
func TestEgressIsPrivateForGoogleRegistries(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		image       string
		private     bool
		destination string
	}{
		{spec.DefaultImage, true, "199.36.153.8/30"},
		{"eu.gcr.io/someone-else/web:v2", true, "199.36.153.8/30"},
		{"ghcr.io/someone/web:v2", false, "0.0.0.0/0"},
	} {
		g := plan(t, "stayup:image", tc.image)
		vpc := testkit.Only(t, g, "gcp:compute/network:Network")
		subnet := testkit.Only(t, g, "gcp:compute/subnetwork:Subnetwork")
		nats := g.ByType("gcp:compute/routerNat:RouterNat")
		routers := g.ByType("gcp:compute/router:Router")
		zones := g.ByType("gcp:dns/managedZone:ManagedZone")
		records := g.ByType("gcp:dns/recordSet:RecordSet")
		if tc.private {
			if len(nats)+len(routers) > 0 {
				t.Errorf("%s: %d NAT and %d routers, want none: the instances need no internet", tc.image, len(nats), len(routers))
			}
			domains := map[string]*graph.Resource{}
			for _, z := range zones {
				domains[z.Str("dnsName")] = z
				if z.Str("visibility") != "private" || g.Ref(z.Str("privateVisibilityConfig.networks.0.networkUrl")) != vpc {
					t.Errorf("%s: zone %s is not private to the VPC: %v", tc.image, z.Str("dnsName"), z.Inputs)
				}
			}
			got := map[string]string{}
			for _, r := range records {
				// A record names its zone by the zone's name.
				var z *graph.Resource
				for _, zone := range zones {
					if zone.Outputs["name"] == r.Str("managedZone") {
						z = zone
					}
				}
				if z == nil {
					t.Errorf("%s: record %s is in no zone of the plan", tc.image, r.Str("name"))
					continue
				}
				got[r.Str("type")+" "+r.Str("name")] = fmt.Sprint(r.List("rrdatas"))
			}
			addresses := "[199.36.153.8 199.36.153.9 199.36.153.10 199.36.153.11]"
			want := map[string]string{
				"A private.googleapis.com.": addresses, "CNAME *.googleapis.com.": "[private.googleapis.com.]",
				"A pkg.dev.": addresses, "CNAME *.pkg.dev.": "[pkg.dev.]",
				"A gcr.io.": addresses, "CNAME *.gcr.io.": "[gcr.io.]",
			}
			if fmt.Sprint(got) != fmt.Sprint(want) || len(domains) != 3 {
				t.Errorf("%s: records %v in zones %v, want %v", tc.image, got, slices.Collect(maps.Keys(domains)), want)
			}
		} else {
			if len(zones)+len(records) > 0 {
				t.Errorf("%s: %d private zones, want none", tc.image, len(zones))
			}
			if len(nats) != 1 || g.Ref(nats[0].Str("subnetworks.0.name")) != subnet {
				t.Errorf("%s: Cloud NAT does not serve the fleet's subnet", tc.image)
			}
		}
		var https *graph.Resource
		for _, fw := range g.ByType(firewallType) {
			if strings.HasSuffix(fw.Name, "-https-out") {
				https = fw
			}
		}
		if got := fmt.Sprint(https.List("destinationRanges")); got != "["+tc.destination+"]" {
			t.Errorf("%s: HTTPS out to %s, want %s", tc.image, got, tc.destination)
		}
		if tc.private {
			for _, r := range records {
				if !slices.Contains(https.Dependencies, r.URN) {
					t.Errorf("%s: the egress rule may narrow before record %s answers", tc.image, r.Str("name"))
				}
			}
		}
		egress := map[string]bool{}
		for _, r := range append(append(append(nats, routers...), zones...), records...) {
			egress[r.URN] = true
		}
		for _, typ := range []string{templateType, migType} {
			for _, dep := range testkit.Only(t, g, typ).Dependencies {
				if egress[dep] {
					t.Errorf("%s: the %s depends on %s: switching egress paths would touch it", tc.image, typ, dep)
				}
			}
		}
	}
}

func TestCloudInitGolden(t *testing.T) {
	t.Parallel()
	for name, image := range cloudInitCases() {
		got, err := gcp.CloudInit(mustSpec(t, "stayup:image", image))
		if err != nil {
			t.Fatal(err)
		}
		testkit.Golden(t, *update, "./infra/gcp", filepath.Join("testdata", name), got)
	}
}

func cloudInitCases() map[string]string {
	return map[string]string{
		"cloud-init.yaml":    spec.DefaultImage,
		"cloud-init-ar.yaml": "europe-docker.pkg.dev/stayup-test/apps/web:v2",
		// Elsewhere: no credential helper.
		"cloud-init-ghcr.yaml": "ghcr.io/someone/web:v2",
	}
}

// TestCloudInitIsValid checks the cloud-config against cloud-init's schema
// and lints the script it writes with shellcheck.
func TestCloudInitIsValid(t *testing.T) {
	t.Parallel()
	for name, image := range cloudInitCases() {
		doc, err := gcp.CloudInit(mustSpec(t, "stayup:image", image))
		if err != nil {
			t.Fatal(err)
		}
		testkit.CloudConfig(t, name, doc)
	}
}

func TestPortsLineUpFromCheckToGroup(t *testing.T) {
	t.Parallel()
	g := plan(t, "stayup:port", "9000")
	mig := testkit.Only(t, g, migType)
	named := mig.List("namedPorts")
	if len(named) != 1 || graph.Lookup(named[0], "port") != 9000.0 {
		t.Fatalf("named ports = %v, want one on 9000", named)
	}
	name := graph.Lookup(named[0], "name")
	be := testkit.Only(t, g, "gcp:compute/backendService:BackendService")
	if be.Get("portName") != name {
		t.Errorf("backend port name %v, group's %v", be.Get("portName"), name)
	}
	readiness := g.Ref(be.Str("healthChecks"))
	if readiness.Str("httpHealthCheck.portSpecification") != "USE_NAMED_PORT" || readiness.Get("httpHealthCheck.portName") != name {
		t.Errorf("readiness check port = %v", readiness.Get("httpHealthCheck"))
	}
	liveness := g.Ref(mig.Str("autoHealingPolicies.healthCheck"))
	if got := testkit.Int(t, liveness, "httpHealthCheck.port"); got != 9000 {
		t.Errorf("liveness checks port %d, want 9000", got)
	}
	for _, fw := range g.ByType(firewallType) {
		if strings.HasSuffix(fw.Name, "-lb-to-app") {
			if ports := graph.Lookup(fw.List("allows")[0], "ports"); fmt.Sprint(ports) != "[9000]" {
				t.Errorf("firewall opens %v, want 9000", ports)
			}
		}
	}
}

func TestTemplateRunsAPinnedCOSImage(t *testing.T) {
	t.Parallel()
	tmpl := testkit.Only(t, plan(t), templateType)
	image := tmpl.Str("disks.0.sourceImage")
	if !strings.HasPrefix(image, "projects/cos-cloud/global/images/cos-stable-") {
		t.Errorf("boot image = %q, want a Container-Optimized OS image resolved at deploy time (not the family)", image)
	}
	for _, key := range []string{"name", "namePrefix"} {
		if v := tmpl.Get(key); v != nil {
			t.Errorf("template %s = %v: Pulumi must name it so a change can replace it while in use", key, v)
		}
	}
}

func TestFirewallRulesAreLoggedAndEgressIsHTTPSOnly(t *testing.T) {
	t.Parallel()
	var egress []string
	for _, fw := range plan(t).ByType(firewallType) {
		// Every rule logs, without metadata, but the one admitting Google's
		// front ends and health checkers: its traffic is the backend
		// service's request logs, and its probes would be most of the bill.
		switch lbToApp := strings.HasSuffix(fw.Name, "-lb-to-app"); {
		case lbToApp && fw.Get("logConfig") != nil:
			t.Errorf("%s logs every health check: %v", fw.Name, fw.Get("logConfig"))
		case !lbToApp && fw.Str("logConfig.metadata") != "EXCLUDE_ALL_METADATA":
			t.Errorf("%s does not log, or logs with metadata: %v", fw.Name, fw.Get("logConfig"))
		}
		if fw.Str("direction") != "EGRESS" {
			continue
		}
		p, _ := fw.Int("priority")
		for _, a := range fw.List("allows") {
			egress = append(egress, fmt.Sprintf("%d allow %v %v", p, graph.Lookup(a, "protocol"), graph.Lookup(a, "ports")))
		}
		for _, d := range fw.List("denies") {
			egress = append(egress, fmt.Sprintf("%d deny %v to %v", p, graph.Lookup(d, "protocol"), fw.Get("destinationRanges")))
		}
	}
	slices.Sort(egress)
	if want := []string{"1000 allow tcp [443]", "65000 deny all to [0.0.0.0/0]"}; !slices.Equal(egress, want) {
		t.Errorf("egress rules = %v, want %v", egress, want)
	}
}

func TestCloudInitDrainsAndPassesTheZone(t *testing.T) {
	t.Parallel()
	doc, err := gcp.CloudInit(mustSpec(t))
	if err != nil {
		t.Fatal(err)
	}
	stop, unit := int(spec.ContainerStopTimeout.Seconds()), int(spec.SystemdStopTimeout.Seconds())
	if !(spec.AppDrain < spec.ContainerStopTimeout && spec.ContainerStopTimeout < spec.SystemdStopTimeout) {
		t.Fatal("drain chain out of order")
	}
	for _, want := range []string{
		fmt.Sprintf("--stop-timeout %d", stop), fmt.Sprintf("docker stop --time %d", stop), fmt.Sprintf("TimeoutStopSec=%d", unit),
		`echo "ZONE=${zone##*/}"`, "--env-file /etc/stayup/env", "Restart=always",
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("cloud-init lacks %q", want)
		}
	}
}

func TestIPv6ClientsGetAnIPv6Address(t *testing.T) {
	t.Parallel()
	if n := len(plan(t).ByType("gcp:compute/globalAddress:GlobalAddress")); n != 1 {
		t.Errorf("%d addresses for IPv4 clients, want 1", n)
	}
	g := plan(t, "stayup:allowedCidrs", "203.0.113.0/24,2001:db8::/32")
	versions := map[string]string{}
	for _, a := range g.ByType("gcp:compute/globalAddress:GlobalAddress") {
		versions[a.Str("ipVersion")] = a.Outputs["address"].(string)
	}
	if versions["IPV4"] == "" || versions["IPV6"] == "" {
		t.Fatalf("addresses = %v, want an IPv4 and an IPv6 one", versions)
	}
	served := map[string]bool{}
	for _, fr := range g.ByType("gcp:compute/globalForwardingRule:GlobalForwardingRule") {
		served[fr.Str("ipAddress")] = true
	}
	for v, addr := range versions {
		if !served[addr] {
			t.Errorf("no forwarding rule on the %s address %s", v, addr)
		}
	}
}

// Replaced templates outlive the deploy (the group still runs them while it
// rolls, and Compute refuses to delete a template in use), so Pulumi must
// keep them, and stayup must find them: by the labels its cleaner lists.
func TestReplacedTemplatesAreRetainedAndFindable(t *testing.T) {
	t.Parallel()
	g := plan(t)
	tmpl := testkit.Only(t, g, templateType)
	if !tmpl.RetainOnDelete {
		t.Error("the instance template is not retained on delete: Pulumi would delete it while the group still rolls off it")
	}
	for k, want := range gcpfleet.TemplateLabels("test", "stayup") {
		if got := tmpl.Str("labels." + k); got != want {
			t.Errorf("template label %s = %q, want %q (what stayup's cleanup lists)", k, got, want)
		}
	}
	for _, r := range g.Resources {
		if r.RetainOnDelete && r != tmpl {
			t.Errorf("%s %s is retained on delete: nothing cleans it up", r.Type, r.Name)
		}
	}
}

// TestRenamedGrantKeepsItsDeployedState: the log writer grant is named
// after its whole role now, and aliased to the name earlier versions gave
// it, so an up moves the existing grant to the new name instead of
// removing it and granting it again (a moment without the grant).
func TestRenamedGrantKeepsItsDeployedState(t *testing.T) {
	t.Parallel()
	g := plan(t)
	m := testkit.Only(t, g, "gcp:projects/iAMMember:IAMMember")
	if m.Name != "stayup-instance-logging-logwriter" {
		t.Errorf("grant named %s, want stayup-instance-logging-logwriter", m.Name)
	}
	old := strings.TrimSuffix(m.URN, m.Name) + "stayup-instance-logging-log-riter"
	if !slices.Contains(m.Aliases, old) {
		t.Errorf("grant aliases = %v, want the earlier URN %s", m.Aliases, old)
	}
}

// TestContainerLogsGoToTheJournalTheAgentShips: the container logs to
// journald, which needs nothing from Cloud Logging to start (gcplogs checks
// in with it first), and the template turns on COS's logging agent, which
// ships the journal to Cloud Logging.
func TestContainerLogsGoToTheJournalTheAgentShips(t *testing.T) {
	t.Parallel()
	doc, err := gcp.CloudInit(mustSpec(t))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(doc, "--log-driver journald") || strings.Contains(doc, "--log-driver gcplogs") {
		t.Error("the container does not log to journald")
	}
	if got := testkit.Only(t, plan(t), templateType).Str("metadata.google-logging-enabled"); got != "true" {
		t.Errorf("google-logging-enabled = %q, want true: nothing would ship the journal", got)
	}
}

// TestFlowLogsAtVolumesWorthPayingFor: flow logs stay on every subnet,
// sampled at half and aggregated per minute, with their metadata.
func TestFlowLogsAtVolumesWorthPayingFor(t *testing.T) {
	t.Parallel()
	sn := testkit.Only(t, plan(t), "gcp:compute/subnetwork:Subnetwork")
	if got := sn.Str("logConfig.aggregationInterval"); got != "INTERVAL_1_MIN" {
		t.Errorf("aggregation = %q, want INTERVAL_1_MIN", got)
	}
	if got, _ := sn.Get("logConfig.flowSampling").(float64); got != 0.5 {
		t.Errorf("sampling = %v, want 0.5", sn.Get("logConfig.flowSampling"))
	}
	if got := sn.Str("logConfig.metadata"); got != "INCLUDE_ALL_METADATA" {
		t.Errorf("metadata = %q, want INCLUDE_ALL_METADATA", got)
	}
}

// The container must not reach the metadata server (the instance's token),
// from its first start and after every docker restart, while the host's
// prepare script still reads it.
func TestCloudInitBlocksTheMetadataServerFromContainers(t *testing.T) {
	t.Parallel()
	for name, image := range cloudInitCases() {
		doc, err := gcp.CloudInit(mustSpec(t, "stayup:image", image))
		if err != nil {
			t.Fatal(err)
		}
		files := writeFiles(t, doc)
		script := files["/etc/stayup/block-metadata.sh"]
		for _, want := range []string{"DOCKER-USER -d 169.254.169.254/32 -p tcp ! --dport 53 -j REJECT", `iptables -w -C "${rule[@]}"`} {
			if !strings.Contains(script, want) {
				t.Errorf("%s: the block script lacks %q", name, want)
			}
		}
		block := files["/etc/systemd/system/stayup-metadata-block.service"]
		for _, want := range []string{"After=docker.service", "PartOf=docker.service", "Before=stayup.service", "RemainAfterExit=yes", "ExecStart=/bin/bash /etc/stayup/block-metadata.sh"} {
			if !strings.Contains(block, want) {
				t.Errorf("%s: the block unit lacks %q", name, want)
			}
		}
		app := files["/etc/systemd/system/stayup.service"]
		for _, want := range []string{"Requires=docker.service stayup-metadata-block.service", "After=docker.service stayup-metadata-block.service"} {
			if !strings.Contains(app, want) {
				t.Errorf("%s: the app unit lacks %q", name, want)
			}
		}
	}
}

// writeFiles returns the files a cloud-config writes, by path.
func writeFiles(t *testing.T, doc string) map[string]string {
	t.Helper()
	var parsed struct {
		WriteFiles []struct {
			Path    string `yaml:"path"`
			Content string `yaml:"content"`
		} `yaml:"write_files"`
	}
	if err := yaml.Unmarshal([]byte(doc), &parsed); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, f := range parsed.WriteFiles {
		out[f.Path] = f.Content
	}
	return out
}
