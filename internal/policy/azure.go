package policy

import (
	"encoding/base64"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"stayup/internal/graph"
)

const (
	azVMSS      = "azure-native:compute:VirtualMachineScaleSet"
	azGateway   = "azure-native:network:ApplicationGateway"
	azNSG       = "azure-native:network:NetworkSecurityGroup"
	azRule      = "azure-native:network:SecurityRule"
	azSubnet    = "azure-native:network:Subnet"
	azPublicIP  = "azure-native:network:PublicIPAddress"
	azLB        = "azure-native:network:LoadBalancer"
	azRole      = "azure-native:authorization:RoleAssignment"
	azAutoscale = "azure-native:insights:AutoscaleSetting"
	vmProfile   = "virtualMachineProfile."
)

// azBroadRoles are built-in roles that may change or grant anything in
// their scope: Owner, Contributor, User Access Administrator.
var azBroadRoles = map[string]string{
	"8e3af657-a8ff-443c-a75c-2fe8c4bcb635": "Owner",
	"b24988ac-6180-42a0-ab88-20f7382dd24c": "Contributor",
	"18d7d88d-d35e-4fb5-a5c3-7773c4a72b9d": "User Access Administrator",
}

// azModernTLS are the predefined gateway policies with TLS 1.2 at least.
var azModernTLS = []string{"AppGwSslPolicy20220101S", "AppGwSslPolicy20220101", "AppGwSslPolicy20170401S"}

// azWideScope is a subscription or resource group: too wide for a grant.
var azWideScope = regexp.MustCompile(`(?i)^/subscriptions/[^/]+(/resourcegroups/[^/]+)?/?$`)

var azureRules = []Rule{
	{
		ID: "azure-ha-zones", Cloud: "azure", Category: Availability, Severity: High,
		Title: "The scale set and the Application Gateway span at least two zones, the scale set zone-balanced",
		check: func(g *graph.Graph) []violation {
			sets := g.ByType(azVMSS)
			if len(sets) == 0 {
				return none("no virtual machine scale set: run the fleet in one over at least two zones")
			}
			var out []violation
			for _, s := range sets {
				zones := zoneSet(strs(s.Get("zones")))
				if len(zones) < 2 {
					out = append(out, fail(s, "scale set %s spans %d zone(s) %v: set zones to at least two (stayup:zones >= 2)", s.Name, len(zones), zones))
				} else if on, _ := s.Bool("zoneBalance"); !on {
					out = append(out, fail(s, "scale set %s is not zone-balanced: set zoneBalance = true so a zone's loss takes only its share", s.Name))
				}
			}
			for _, gw := range g.ByType(azGateway) {
				if zones := zoneSet(strs(gw.Get("zones"))); len(zones) < 2 {
					out = append(out, fail(gw, "Application Gateway %s spans %d zone(s) %v: set zones to at least two", gw.Name, len(zones), zones))
				}
			}
			return out
		},
	},
	{
		ID: "azure-ha-min-size", Cloud: "azure", Category: Availability, Severity: High,
		Title: "Autoscale keeps at least two instances, and the gateway runs at least two",
		check: func(g *graph.Graph) []violation {
			var out []violation
			for _, s := range g.ByType(azVMSS) {
				var scaled bool
				for _, a := range g.ByType(azAutoscale) {
					if !refsTo(g, a.Get("targetResourceUri"), s) {
						continue
					}
					if on, ok := a.Bool("enabled"); ok && !on {
						continue
					}
					scaled = true
					for i, p := range maps(a.Get("profiles")) {
						if n, ok := num(graph.Lookup(p, "capacity.minimum")); !ok || n < 2 {
							out = append(out, fail(a, "autoscale setting %s profile %d allows %v instance(s): set capacity.minimum to 2 or more (stayup:minSize)", a.Name, i, graph.Lookup(p, "capacity.minimum")))
						}
					}
				}
				if n, _ := s.Int("sku.capacity"); !scaled && n < 2 {
					out = append(out, fail(s, "scale set %s has no enabled autoscale setting and %d instance(s): add autoscale with a minimum of 2 or more", s.Name, n))
				}
			}
			for _, gw := range g.ByType(azGateway) {
				n, ok := gw.Int("autoscaleConfiguration.minCapacity")
				if !ok {
					n, _ = gw.Int("sku.capacity")
				}
				if n < 2 {
					out = append(out, fail(gw, "Application Gateway %s may run %d instance(s): set autoscaleConfiguration.minCapacity to 2 or more", gw.Name, n))
				}
			}
			return out
		},
	},
	{
		ID: "azure-ha-autohealing", Cloud: "azure", Category: Availability, Severity: High,
		Title: "The scale set reports application health and repairs unhealthy instances automatically",
		check: func(g *graph.Graph) []violation {
			var out []violation
			for _, s := range g.ByType(azVMSS) {
				if on, _ := s.Bool("automaticRepairsPolicy.enabled"); !on {
					out = append(out, fail(s, "scale set %s does not repair unhealthy instances: set automaticRepairsPolicy.enabled = true (grace period PT10M or more)", s.Name))
				}
				var health bool
				for _, e := range maps(s.Get(vmProfile + "extensionProfile.extensions")) {
					if t, _ := e["type"].(string); strings.HasPrefix(t, "ApplicationHealth") && str(e, "settings.requestPath") != "" {
						health = true
						out = append(out, azBootTolerance(s, e)...)
					}
				}
				if !health && s.Get(vmProfile+"networkProfile.healthProbe") == nil {
					out = append(out, fail(s, "scale set %s reports no application health: add the ApplicationHealthLinux extension on stayup:healthPath", s.Name))
				}
			}
			return out
		},
	},
	{
		ID: "azure-ha-lb-health-check", Cloud: "azure", Category: Availability, Severity: High,
		Title: "The gateway's backend settings probe the readiness path and drain connections",
		check: func(g *graph.Graph) []violation {
			var out []violation
			for _, gw := range g.ByType(azGateway) {
				probes := map[string]map[string]any{}
				for _, p := range maps(gw.Get("probes")) {
					probes[fmt.Sprint(p["name"])] = p
				}
				for _, bs := range maps(gw.Get("backendHttpSettingsCollection")) {
					probe := probes[lastSegment(str(bs, "probe.id"))]
					if probe == nil || str(probe, "path") == "" {
						out = append(out, fail(gw, "backend settings %v of gateway %s use no probe with a path: add a probe on stayup:readyPath and name it in the settings", bs["name"], gw.Name))
					}
					if !truthy(graph.Lookup(bs, "connectionDraining.enabled")) {
						out = append(out, fail(gw, "backend settings %v of gateway %s do not drain: set connectionDraining {enabled: true, drainTimeoutInSec: 30}", bs["name"], gw.Name))
					}
				}
			}
			return out
		},
	},
	{
		ID: "azure-ha-rolling-update", Cloud: "azure", Category: Availability, Severity: High,
		Title: "Model changes roll out by Rolling upgrades with max surge and rollback of failed instances",
		check: func(g *graph.Graph) []violation {
			var out []violation
			for _, s := range g.ByType(azVMSS) {
				if m := s.Str("upgradePolicy.mode"); m != "Rolling" {
					out = append(out, fail(s, "scale set %s upgrades in %q mode: set upgradePolicy.mode = \"Rolling\" so upgrades go batch by batch behind health checks", s.Name, m))
					continue
				}
				up := "upgradePolicy.rollingUpgradePolicy."
				if on, _ := s.Bool(up + "maxSurge"); !on {
					out = append(out, fail(s, "scale set %s upgrades instances in place, taking them out of service: set rollingUpgradePolicy.maxSurge = true", s.Name))
				}
				if on, _ := s.Bool(up + "rollbackFailedInstancesOnPolicyBreach"); !on {
					out = append(out, fail(s, "scale set %s keeps failed instances after a breached upgrade: set rollingUpgradePolicy.rollbackFailedInstancesOnPolicyBreach = true", s.Name))
				}
			}
			return out
		},
	},
	{
		ID: "azure-exposure-public-entry", Cloud: "azure", Category: Exposure, Severity: High,
		Title: "The only public address that accepts connections is the Application Gateway's (the egress address has no inbound rules)",
		check: func(g *graph.Graph) []violation {
			var out []violation
			for _, ip := range g.ByType(azPublicIP) {
				v := fail(ip, "public IP %s is reachable from the internet", ip.Name)
				switch use := azPublicIPUse(g, ip); use {
				case "gateway":
					out = append(out, waive(v, "the service is internet-facing: this is its Application Gateway's public entry, and the other exposure rules keep the instances private"))
				case "egress":
				default:
					v.msg += " " + use + ": remove it, or remove the rules that let connections in"
					out = append(out, v)
				}
			}
			return out
		},
	},
	{
		ID: "azure-exposure-app-from-gateway", Cloud: "azure", Category: Exposure, Severity: Critical,
		Title: "The fleet's subnet NSG admits connections only from the gateway's subnet, and denies the rest",
		check: func(g *graph.Graph) []violation {
			var gwPrefixes []string
			for _, gw := range g.ByType(azGateway) {
				for _, c := range maps(gw.Get("gatewayIPConfigurations")) {
					if sn := g.Ref(str(c, "subnet.id")); sn != nil {
						gwPrefixes = append(gwPrefixes, sn.Str("addressPrefix"))
						gwPrefixes = append(gwPrefixes, strs(sn.Get("addressPrefixes"))...)
					}
				}
			}
			var out []violation
			for _, s := range g.ByType(azVMSS) {
				nsgs := azFleetNSGs(g, s)
				if len(nsgs) == 0 {
					out = append(out, fail(s, "the subnet of scale set %s has no network security group: give it one that admits the app port from the gateway's subnet only", s.Name))
				}
				for _, nsg := range nsgs {
					for _, r := range azRules(g, nsg) {
						if r.inbound && r.allow && !slices.ContainsFunc(r.sources, func(src string) bool { return slices.Contains(gwPrefixes, src) }) {
							out = append(out, fail(r.owner, "NSG %s rule %s admits %v to the fleet: admit the app port only from the gateway's subnet %v", nsg.Name, r.name, r.sources, gwPrefixes))
						}
					}
				}
			}
			return out
		},
	},
	{
		ID: "azure-exposure-admin-ports", Cloud: "azure", Category: Exposure, Severity: Critical,
		Title:     "No NSG rule admits SSH (22) or RDP (3389) from the internet",
		Standards: []string{"CIS Azure 6.1", "CIS Azure 6.2", "CKV_AZURE_9", "CKV_AZURE_10"},
		check: func(g *graph.Graph) []violation {
			var out []violation
			for _, nsg := range g.ByType(azNSG) {
				for _, r := range azRules(g, nsg) {
					if r.inbound && r.allow && slices.ContainsFunc(r.sources, isOpen) {
						if port := coversAdmin(r.ports); port != 0 {
							out = append(out, fail(r.owner, "NSG %s rule %s admits port %d from %v: remove it; the instances need no remote shell from the internet", nsg.Name, r.name, port, r.sources))
						}
					}
				}
			}
			return out
		},
	},
	{
		ID: "azure-exposure-no-public-ip", Cloud: "azure", Category: Exposure, Severity: High,
		Title: "Scale set instances get no public IP",
		check: func(g *graph.Graph) []violation {
			var out []violation
			for _, s := range g.ByType(azVMSS) {
				for _, nic := range maps(s.Get(vmProfile + "networkProfile.networkInterfaceConfigurations")) {
					for _, ipc := range maps(nic["ipConfigurations"]) {
						if ipc["publicIPAddressConfiguration"] != nil {
							out = append(out, fail(s, "scale set %s gives instances a public IP (ip configuration %v): remove publicIPAddressConfiguration; egress goes through the outbound rules", s.Name, ipc["name"]))
						}
					}
				}
			}
			return out
		},
	},
	{
		ID: "azure-exposure-egress", Cloud: "azure", Category: Exposure, Severity: Medium,
		Title: "Fleet egress is restricted: its NSG ends outbound with a deny-all below the ports it needs",
		check: func(g *graph.Graph) []violation {
			var out []violation
			for _, s := range g.ByType(azVMSS) {
				var denied bool
				for _, nsg := range azFleetNSGs(g, s) {
					for _, r := range azRules(g, nsg) {
						if !r.inbound && !r.allow && coversAll(r.ports) && slices.ContainsFunc(r.destinations, isOpen) {
							denied = true
						}
					}
				}
				if !denied {
					out = append(out, fail(s, "the instances of scale set %s may connect anywhere on any port (the NSG default AllowInternetOutBound): add outbound rules allowing 80/443 and a deny-all below them", s.Name))
				}
			}
			return out
		},
	},
	{
		ID: "azure-identity-dedicated", Cloud: "azure", Category: Identity, Severity: High,
		Title: "Scale set instances that hold a role hold it through their own managed identity, not credentials on disk",
		check: func(g *graph.Graph) []violation {
			var out []violation
			for _, s := range g.ByType(azVMSS) {
				if t := s.Str("identity.type"); azHoldsRole(g, s) && !strings.Contains(t, "Assigned") {
					out = append(out, fail(s, "scale set %s is granted a role but has no managed identity (type %q): set identity.type = \"SystemAssigned\" and grant it only what pulling the image needs", s.Name, t))
				}
			}
			return out
		},
	},
	{
		ID: "azure-identity-unused", Cloud: "azure", Category: Identity, Severity: Low,
		Title: "Scale set instances have no managed identity unless it holds a role",
		check: func(g *graph.Graph) []violation {
			var out []violation
			for _, s := range g.ByType(azVMSS) {
				if t := s.Str("identity.type"); strings.Contains(t, "Assigned") && !azHoldsRole(g, s) {
					out = append(out, fail(s, "scale set %s has a %s identity that holds no role: remove it (identity.type \"None\"; a change of identity rolls the VMs), so nothing on them can get a token", s.Name, t))
				}
			}
			return out
		},
	},
	{
		ID: "azure-identity-no-broad-roles", Cloud: "azure", Category: Identity, Severity: Critical,
		Title: "No role assignment of Owner, Contributor or User Access Administrator",
		check: func(g *graph.Graph) []violation {
			var out []violation
			for _, ra := range g.ByType(azRole) {
				if name, ok := azBroadRoles[lastSegment(ra.Str("roleDefinitionId"))]; ok {
					out = append(out, fail(ra, "role assignment %s grants %s: grant a role with only the needed actions (AcrPull to pull images)", ra.Name, name))
				}
			}
			return out
		},
	},
	{
		ID: "azure-identity-scoped", Cloud: "azure", Category: Identity, Severity: High,
		Title: "Role assignments are scoped to a resource, never a subscription or resource group",
		check: func(g *graph.Graph) []violation {
			var out []violation
			for _, ra := range g.ByType(azRole) {
				if azWideScope.MatchString(ra.Str("scope")) {
					out = append(out, fail(ra, "role assignment %s applies to all of %s: scope it to the one resource it is for (the registry, stayup:registryId)", ra.Name, ra.Str("scope")))
				}
			}
			return out
		},
	},
	{
		ID: "azure-host-ssh-keys", Cloud: "azure", Category: Host, Severity: High,
		Title:     "Linux instances accept SSH keys only: password authentication is off",
		Standards: []string{"CKV_AZURE_49"},
		check: func(g *graph.Graph) []violation {
			var out []violation
			for _, s := range g.ByType(azVMSS) {
				lc := vmProfile + "osProfile.linuxConfiguration."
				if on, _ := s.Bool(lc + "disablePasswordAuthentication"); !on {
					out = append(out, fail(s, "scale set %s allows password logins: set linuxConfiguration.disablePasswordAuthentication = true", s.Name))
				}
				if len(s.List(lc+"ssh.publicKeys")) == 0 {
					out = append(out, fail(s, "scale set %s installs no SSH key: set linuxConfiguration.ssh.publicKeys (stayup:sshPublicKey)", s.Name))
				}
			}
			return out
		},
	},
	{
		ID: "azure-host-metadata-from-container", Cloud: "azure", Category: Host, Severity: High,
		Title: "The container cannot reach the instance metadata service or the wireserver: the boot blocks both in DOCKER-USER before the container starts",
		check: func(g *graph.Graph) []violation {
			var out []violation
			for _, s := range g.ByType(azVMSS) {
				if msg := azMetadataBlock(s.Str(vmProfile + "osProfile.customData")); msg != "" {
					out = append(out, fail(s, "scale set %s: %s", s.Name, msg))
				}
			}
			return out
		},
	},
	{
		ID: "azure-host-encryption-at-host", Cloud: "azure", Category: Host, Severity: Medium,
		Title:     "Encryption at host covers temp disks and caches (managed disks are encrypted at rest by the platform)",
		Standards: []string{"CKV_AZURE_97"},
		check: func(g *graph.Graph) []violation {
			var out []violation
			for _, s := range g.ByType(azVMSS) {
				if on, _ := s.Bool(vmProfile + "securityProfile.encryptionAtHost"); !on {
					out = append(out, fail(s, "scale set %s leaves temp disks and caches unencrypted: set securityProfile.encryptionAtHost = true (stayup:encryptionAtHost; subscription feature EncryptionAtHost)", s.Name))
				}
			}
			return out
		},
	},
	{
		ID: "azure-host-trusted-launch", Cloud: "azure", Category: Host, Severity: Medium,
		Title: "Instances use Trusted Launch with secure boot and vTPM",
		check: func(g *graph.Graph) []violation {
			var out []violation
			for _, s := range g.ByType(azVMSS) {
				sp := vmProfile + "securityProfile."
				secure, _ := s.Bool(sp + "uefiSettings.secureBootEnabled")
				vtpm, _ := s.Bool(sp + "uefiSettings.vTpmEnabled")
				if t := s.Str(sp + "securityType"); (t != "TrustedLaunch" && t != "ConfidentialVM") || !secure || !vtpm {
					out = append(out, fail(s, "scale set %s has security type %q, secure boot %v, vTPM %v: set securityType = \"TrustedLaunch\" with secureBootEnabled and vTpmEnabled", s.Name, t, secure, vtpm))
				}
			}
			return out
		},
	},
	{
		ID: "azure-transport-https", Cloud: "azure", Category: Transport, Severity: High,
		Title:     "Plain HTTP only redirects to HTTPS; serving HTTP is waived only while no certificate is configured",
		Standards: []string{"CKV_AZURE_217"},
		check: func(g *graph.Graph) []violation {
			var out []violation
			for _, gw := range g.ByType(azGateway) {
				httpListeners := map[string]bool{}
				for _, l := range maps(gw.Get("httpListeners")) {
					if strings.EqualFold(fmt.Sprint(l["protocol"]), "Http") {
						httpListeners[fmt.Sprint(l["name"])] = true
					}
				}
				for _, rr := range maps(gw.Get("requestRoutingRules")) {
					if !httpListeners[lastSegment(str(rr, "httpListener.id"))] || rr["redirectConfiguration"] != nil {
						continue
					}
					v := fail(gw, "gateway %s rule %v serves plain HTTP", gw.Name, rr["name"])
					if azHTTPS(gw) {
						v.msg += " although a certificate is configured: make it a redirect to the HTTPS listener"
					} else {
						v = waive(v, "no certificate is configured, so the service is HTTP only, as plan says: set stayup:tlsCertificate (and stayup:tlsIdentity) to serve HTTPS and redirect HTTP")
					}
					out = append(out, v)
				}
			}
			return out
		},
	},
	{
		ID: "azure-transport-tls-policy", Cloud: "azure", Category: Transport, Severity: High,
		Title: "With HTTPS on, the gateway's TLS policy admits TLS 1.2 and later only",
		check: func(g *graph.Graph) []violation {
			var out []violation
			for _, gw := range g.ByType(azGateway) {
				if !azHTTPS(gw) {
					continue
				}
				name, min := gw.Str("sslPolicy.policyName"), gw.Str("sslPolicy.minProtocolVersion")
				switch gw.Str("sslPolicy.policyType") {
				case "Predefined":
					if !slices.Contains(azModernTLS, name) {
						out = append(out, fail(gw, "gateway %s uses TLS policy %q: use AppGwSslPolicy20220101S", gw.Name, name))
					}
				case "Custom", "CustomV2":
					if min != "TLSv1_2" && min != "TLSv1_3" {
						out = append(out, fail(gw, "gateway %s admits %q: set sslPolicy.minProtocolVersion = \"TLSv1_2\"", gw.Name, min))
					}
				default:
					out = append(out, fail(gw, "gateway %s sets no TLS policy, so an old default may apply: set sslPolicy to the predefined AppGwSslPolicy20220101S", gw.Name))
				}
			}
			return out
		},
	},
	{
		ID: "azure-logging-gateway", Cloud: "azure", Category: Logging, Severity: Medium,
		Title: "The Application Gateway sends its access logs to a diagnostic setting",
		check: func(g *graph.Graph) []violation {
			var out []violation
			for _, gw := range g.ByType(azGateway) {
				var logged bool
				for _, d := range g.ByType("azure-native:insights:DiagnosticSetting") {
					if refsTo(g, d.Get("resourceUri"), gw) && len(d.List("logs")) > 0 {
						logged = true
					}
				}
				if !logged {
					out = append(out, fail(gw, "gateway %s keeps no access logs: add an insights DiagnosticSetting on it sending allLogs to a Log Analytics workspace with retention", gw.Name))
				}
			}
			return out
		},
	},
	{
		ID: "azure-logging-flow", Cloud: "azure", Category: Logging, Severity: Medium,
		Title:     "The virtual network (or its NSGs) has flow logs with retention",
		Standards: []string{"CKV_AZURE_12"},
		check: func(g *graph.Graph) []violation {
			var out []violation
			for _, vnet := range g.ByType("azure-native:network:VirtualNetwork") {
				var logged bool
				for _, fl := range g.ByType("azure-native:network:FlowLog") {
					target := g.Ref(fl.Get("targetResourceId"))
					on, _ := fl.Bool("retentionPolicy.enabled")
					if target != nil && (target == vnet || target.Type == azNSG) && on {
						logged = true
					}
				}
				if !logged {
					out = append(out, fail(vnet, "virtual network %s has no flow logs: add a network FlowLog on it with retentionPolicy {enabled: true, days}", vnet.Name))
				}
			}
			return out
		},
	},
	{
		ID: "azure-logging-flow-storage", Cloud: "azure", Category: Logging, Severity: Medium,
		Title:     "The flow logs' storage account denies every network and lets trusted Azure services (Network Watcher) through",
		Standards: []string{"CKV_AZURE_35", "CKV_AZURE_36"},
		check: func(g *graph.Graph) []violation {
			var out []violation
			for _, fl := range g.ByType("azure-native:network:FlowLog") {
				sa := g.Ref(fl.Get("storageId"))
				if sa == nil || sa.Type != "azure-native:storage:StorageAccount" {
					continue
				}
				switch {
				case strings.EqualFold(sa.Str("publicNetworkAccess"), "Disabled"):
					out = append(out, fail(sa, "storage account %s has public network access disabled: Network Watcher, a trusted service, cannot write flow logs to it; set networkRuleSet {defaultAction: Deny, bypass: AzureServices} instead", sa.Name))
				case sa.Str("networkRuleSet.defaultAction") != "Deny":
					out = append(out, fail(sa, "storage account %s accepts traffic from every network: set networkRuleSet.defaultAction = \"Deny\" (with bypass AzureServices for Network Watcher)", sa.Name))
				case !slices.ContainsFunc(strings.Split(sa.Str("networkRuleSet.bypass"), ","), func(b string) bool { return strings.TrimSpace(b) == "AzureServices" }):
					out = append(out, fail(sa, "storage account %s denies trusted Azure services (bypass %q): Network Watcher cannot write the flow logs; set networkRuleSet.bypass = \"AzureServices\"", sa.Name, sa.Str("networkRuleSet.bypass")))
				}
			}
			return out
		},
	},
	{
		ID: "azure-logging-boot-diagnostics", Cloud: "azure", Category: Logging, Severity: Low,
		Title: "Scale set instances keep boot diagnostics (console output and screenshots)",
		check: func(g *graph.Graph) []violation {
			var out []violation
			for _, s := range g.ByType(azVMSS) {
				if on, _ := s.Bool(vmProfile + "diagnosticsProfile.bootDiagnostics.enabled"); !on {
					out = append(out, fail(s, "scale set %s keeps no boot diagnostics: set diagnosticsProfile.bootDiagnostics.enabled = true", s.Name))
				}
			}
			return out
		},
	},
}

// azBootTolerance checks that the binary (1.x) health extension leaves a
// booting VM unjudged long enough: 1.x reports nothing until a probe passes
// or numberOfProbes probes in a row fail (applicationhealth-extension-linux
// v1.0.7, main/cmds.go), and a rolling upgrade at
// maxUnhealthyUpgradedInstancePercent 0 fails the batch of a VM reported
// Unhealthy while cloud-init still installs Docker and pulls the image.
// 180 s is the boot the program sizes for (infra/azure BootBudget), 300 s
// the rolling upgrade's wait for a batch. gracePeriod is Rich Health's
// (2.0): the 1.x handler rejects unknown settings and would fail.
func azBootTolerance(s *graph.Resource, e map[string]any) []violation {
	if v := str(e, "typeHandlerVersion"); !strings.HasPrefix(v, "1.") {
		return nil
	}
	var out []violation
	if graph.Lookup(e, "settings.gracePeriod") != nil {
		out = append(out, fail(s, "scale set %s sets gracePeriod on health extension 1.x, whose settings schema rejects it: the extension fails on every VM; remove it", s.Name))
	}
	interval, ok := num(graph.Lookup(e, "settings.intervalInSeconds"))
	if !ok {
		interval = 5 // the handler's default
	}
	probes, ok := num(graph.Lookup(e, "settings.numberOfProbes"))
	if !ok {
		probes = 1
	}
	if tol := interval * probes; tol < 180 || tol >= 300 {
		out = append(out, fail(s, "scale set %s's health extension judges a booting VM after intervalInSeconds x numberOfProbes = %d s: "+
			"set it between 180 s (a boot: Docker installed, the image pulled) and 300 s (the rolling upgrade's wait), e.g. 10 x 24", s.Name, tol))
	}
	return out
}

// azHoldsRole reports whether a role assignment goes to the scale set's
// identity: its principal is the scale set's, or (unknown in a plan) is
// taken from the scale set.
func azHoldsRole(g *graph.Graph, s *graph.Resource) bool {
	principal, _ := graph.Lookup(s.Outputs, "identity.principalId").(string)
	for _, ra := range g.ByType(azRole) {
		if p := ra.Str("principalId"); (principal != "" && p == principal) || (p == "" && slices.Contains(ra.Dependencies, s.URN)) {
			return true
		}
	}
	return false
}

// azMetadataAddresses are what the container must not reach: the instance
// metadata service (the identity's tokens; scheduled events, which the
// app could approve for its own VM) and the wireserver (the guest agent's
// channel). NSGs cannot filter either ("What is IP address
// 168.63.129.16?", Azure Virtual Network documentation), so the host does.
var azMetadataAddresses = [][2]string{{"169.254.169.254", "the metadata service"}, {"168.63.129.16", "the wireserver"}}

// azMetadataBlock reads the scale set's cloud-config and says what is
// missing for the container to be kept from azMetadataAddresses: a script
// that rejects both in Docker's DOCKER-USER chain (forwarded traffic, which
// a container's is and the host's own is not), run by a unit that the
// container's unit requires, so it is in place before the container starts.
// Empty when nothing is.
func azMetadataBlock(customData string) string {
	raw, err := base64.StdEncoding.DecodeString(customData)
	if err != nil || len(raw) == 0 {
		return "its custom data is no cloud-config that could block the metadata service from the container: install DOCKER-USER REJECT rules for 169.254.169.254 and 168.63.129.16 before the container starts"
	}
	var doc struct {
		WriteFiles []struct {
			Path    string `yaml:"path"`
			Content string `yaml:"content"`
		} `yaml:"write_files"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return fmt.Sprintf("its cloud-config does not parse (%v)", err)
	}
	var script, unit, container string
	for _, f := range doc.WriteFiles {
		switch {
		case strings.HasPrefix(f.Content, "#!") && azRejectsDestinations(shellCode(f.Content)):
			script = f.Path
		case strings.HasSuffix(f.Path, "/stayup.service"):
			container = f.Content
		}
	}
	if script == "" {
		return "no boot script rejects the container's traffic to the metadata service in DOCKER-USER: add one with REJECT rules for 169.254.169.254 and 168.63.129.16"
	}
	var missing []string
	for _, f := range doc.WriteFiles {
		if f.Path == script {
			code := shellCode(f.Content)
			for _, a := range azMetadataAddresses {
				if !strings.Contains(code, a[0]) {
					missing = append(missing, fmt.Sprintf("%s (%s)", a[0], a[1]))
				}
			}
		}
		if strings.HasSuffix(f.Path, ".service") && strings.Contains(f.Content, "ExecStart=/bin/bash "+script) {
			unit = f.Path[strings.LastIndex(f.Path, "/")+1:]
		}
	}
	switch {
	case len(missing) > 0:
		return fmt.Sprintf("%s leaves %s reachable from the container: reject it in DOCKER-USER too", script, strings.Join(missing, " and "))
	case unit == "":
		return fmt.Sprintf("no systemd unit runs %s: run it from a oneshot unit bound to docker.service, so a Docker restart runs it again", script)
	case container == "" || !azRequires(container, unit):
		return fmt.Sprintf("stayup.service does not wait for %s: add it to Requires= and After=, so the container never starts unblocked", unit)
	}
	return ""
}

// azRejectsDestinations reports whether a script's code rejects traffic
// to some destination in DOCKER-USER.
func azRejectsDestinations(code string) bool {
	return strings.Contains(code, "DOCKER-USER") && strings.Contains(code, "--destination") && strings.Contains(code, "--jump REJECT")
}

// shellCode is a script without its comment lines.
func shellCode(script string) string {
	var b strings.Builder
	for _, line := range strings.Split(script, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

// azRequires reports whether a systemd unit both requires and is ordered
// after another.
func azRequires(unitFile, other string) bool {
	var requires, after bool
	for _, line := range strings.Split(unitFile, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		if !ok || !slices.Contains(strings.Fields(v), other) {
			continue
		}
		requires = requires || k == "Requires" || k == "BindsTo"
		after = after || k == "After"
	}
	return requires && after
}

func lastSegment(id string) string { return id[strings.LastIndex(id, "/")+1:] }

func azHTTPS(gw *graph.Resource) bool {
	if len(gw.List("sslCertificates")) > 0 {
		return true
	}
	for _, l := range maps(gw.Get("httpListeners")) {
		if strings.EqualFold(fmt.Sprint(l["protocol"]), "Https") {
			return true
		}
	}
	return false
}

// azPublicIPUse says what a public address serves: "gateway", "egress"
// (a load balancer frontend with outbound rules only) or, for anything
// else, a phrase saying why it is exposed.
func azPublicIPUse(g *graph.Graph, ip *graph.Resource) string {
	for _, gw := range g.ByType(azGateway) {
		for _, f := range maps(gw.Get("frontendIPConfigurations")) {
			if refsTo(g, str(f, "publicIPAddress.id"), ip) {
				return "gateway"
			}
		}
	}
	for _, lb := range g.ByType(azLB) {
		for _, f := range maps(lb.Get("frontendIPConfigurations")) {
			if !refsTo(g, str(f, "publicIPAddress.id"), ip) {
				continue
			}
			for _, in := range []string{"loadBalancingRules", "inboundNatRules", "inboundNatPools"} {
				if len(lb.List(in)) > 0 {
					return "as load balancer " + lb.Name + " has " + in
				}
			}
			return "egress"
		}
	}
	return "and serves neither the gateway nor egress"
}

// azFleetNSGs are the NSGs on the scale set's subnets and NICs.
func azFleetNSGs(g *graph.Graph, s *graph.Resource) []*graph.Resource {
	var out []*graph.Resource
	add := func(id string) {
		if nsg := g.Ref(id); nsg != nil && nsg.Type == azNSG && !slices.Contains(out, nsg) {
			out = append(out, nsg)
		}
	}
	for _, nic := range maps(s.Get(vmProfile + "networkProfile.networkInterfaceConfigurations")) {
		add(str(nic, "networkSecurityGroup.id"))
		for _, ipc := range maps(nic["ipConfigurations"]) {
			if sn := g.Ref(str(ipc, "subnet.id")); sn != nil {
				add(sn.Str("networkSecurityGroup.id"))
			}
		}
	}
	return out
}

// nsgRule is one NSG rule, inline or a separate SecurityRule resource.
type nsgRule struct {
	owner                 *graph.Resource
	name                  string
	inbound, allow        bool
	sources, destinations []string
	ports                 []portRange
}

func azRules(g *graph.Graph, nsg *graph.Resource) []nsgRule {
	read := func(owner *graph.Resource, m map[string]any) nsgRule {
		props := m
		if p, ok := m["properties"].(map[string]any); ok {
			props = p
		}
		r := nsgRule{
			owner: owner, name: fmt.Sprint(m["name"]),
			inbound:      strings.EqualFold(fmt.Sprint(props["direction"]), "Inbound"),
			allow:        strings.EqualFold(fmt.Sprint(props["access"]), "Allow"),
			sources:      append(strs(props["sourceAddressPrefix"]), strs(props["sourceAddressPrefixes"])...),
			destinations: append(strs(props["destinationAddressPrefix"]), strs(props["destinationAddressPrefixes"])...),
		}
		for _, p := range append(strs(props["destinationPortRange"]), strs(props["destinationPortRanges"])...) {
			r.ports = append(r.ports, parsePorts(p))
		}
		return r
	}
	var out []nsgRule
	for _, m := range maps(nsg.Get("securityRules")) {
		out = append(out, read(nsg, m))
	}
	for _, sr := range g.ByType(azRule) {
		if name := sr.Str("networkSecurityGroupName"); name != "" && strings.HasSuffix(nsg.ID, "/networkSecurityGroups/"+name) {
			r := read(sr, sr.Inputs)
			if r.name == "<nil>" || r.name == "" {
				r.name = sr.Name
			}
			out = append(out, r)
		}
	}
	return out
}
