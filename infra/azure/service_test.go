package azure_test

import (
	"encoding/base64"
	"flag"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"stayup/infra/azure"
	"stayup/infra/spec"
	"stayup/internal/graph"
	"stayup/internal/testkit"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

const testKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGV4YW1wbGUta2V5LWZvci10ZXN0cy1vbmx5LW5vdC1yZWFs test"

func config(kv ...string) map[string]string {
	cfg := map[string]string{"stayup:cloud": "azure", "azure-native:location": "westeurope", "stayup:sshPublicKey": testKey}
	for i := 0; i+1 < len(kv); i += 2 {
		cfg[kv[i]] = kv[i+1]
	}
	return cfg
}

func mustSpec(t *testing.T, kv ...string) spec.Spec {
	t.Helper()
	s, err := spec.Parse(spec.MapLookup(config(kv...)))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func plan(t *testing.T, kv ...string) *graph.Graph {
	t.Helper()
	s := mustSpec(t, kv...)
	g, err := graph.Record("stayup", "test", config(kv...), func(ctx *pulumi.Context) (pulumi.Map, error) {
		svc, err := azure.NewService(ctx, "stayup", s)
		if err != nil {
			return nil, err
		}
		return pulumi.Map{"url": svc.URL, "fleet": svc.Fleet}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

const (
	vmssType = "azure-native:compute:VirtualMachineScaleSet"
	gwType   = "azure-native:network:ApplicationGateway"
	nsgType  = "azure-native:network:NetworkSecurityGroup"
	vm       = "virtualMachineProfile."
)

func asStrings(l []any) []string {
	out := make([]string, len(l))
	for i, v := range l {
		out[i] = fmt.Sprint(v)
	}
	return out
}

func TestScaleSetSpreadsOverZonesAndOwnsNoCapacity(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		kv    []string
		zones []string
	}{{nil, []string{"1", "2", "3"}}, {[]string{"stayup:zones", "2"}, []string{"1", "2"}}} {
		g := plan(t, tc.kv...)
		vmss := testkit.Only(t, g, vmssType)
		if got := asStrings(vmss.List("zones")); !slices.Equal(got, tc.zones) {
			t.Errorf("%v: zones = %v, want %v", tc.kv, got, tc.zones)
		}
		if !testkit.Bool(t, vmss, "zoneBalance") || testkit.Bool(t, vmss, "overprovision") || vmss.Str("orchestrationMode") != "Uniform" {
			t.Errorf("zoneBalance/overprovision/mode = %v/%v/%v", vmss.Get("zoneBalance"), vmss.Get("overprovision"), vmss.Get("orchestrationMode"))
		}
		gw := testkit.Only(t, g, gwType)
		if got := asStrings(gw.List("zones")); !slices.Equal(got, tc.zones) {
			t.Errorf("gateway zones = %v, want %v", got, tc.zones)
		}
		for _, pip := range g.ByType("azure-native:network:PublicIPAddress") {
			if got := asStrings(pip.List("zones")); !slices.Equal(got, []string{"1", "2", "3"}) {
				t.Errorf("public IP %s zones = %v, want all three (zone-redundant)", pip.Name, got)
			}
		}
	}
	g := plan(t, "stayup:minSize", "2", "stayup:desiredSize", "4", "stayup:maxSize", "6")
	vmss := testkit.Only(t, g, vmssType)
	if got := testkit.Int(t, vmss, "sku.capacity"); got != 4 {
		t.Errorf("initial capacity = %d, want desiredSize 4", got)
	}
	if !slices.Contains(vmss.IgnoreChanges, "sku.capacity") {
		t.Errorf("ignoreChanges = %v: an up would reset autoscale's capacity", vmss.IgnoreChanges)
	}
	as := testkit.Only(t, g, "azure-native:insights:AutoscaleSetting")
	if !testkit.Bool(t, as, "enabled") || as.Str("profiles.0.capacity.minimum") != "2" || as.Str("profiles.0.capacity.maximum") != "6" {
		t.Errorf("autoscale = %v", as.Inputs)
	}
	if g.Ref(as.Str("targetResourceUri")) != vmss {
		t.Error("autoscale does not target the scale set")
	}
}

func TestRollingUpgradeAndRepairs(t *testing.T) {
	t.Parallel()
	g := plan(t)
	vmss := testkit.Only(t, g, vmssType)
	if got := vmss.Str("upgradePolicy.mode"); got != "Rolling" {
		t.Fatalf("upgrade mode = %q, want Rolling", got)
	}
	up := "upgradePolicy.rollingUpgradePolicy."
	if !testkit.Bool(t, vmss, up+"maxSurge") || !testkit.Bool(t, vmss, up+"rollbackFailedInstancesOnPolicyBreach") {
		t.Error("maxSurge or rollback on breach is off")
	}
	// For a fleet of three: one instance per batch, one unrelated unhealthy
	// instance tolerated (the 20% default would abort on it).
	if got := testkit.Int(t, vmss, up+"maxBatchInstancePercent"); got*3 > 100+2 || got*3 < 100 {
		t.Errorf("batch = %d%%, want one instance of three", got)
	}
	if got := testkit.Int(t, vmss, up+"maxUnhealthyInstancePercent"); got*3 < 100 {
		t.Errorf("maxUnhealthyInstancePercent = %d: one unhealthy instance of three would abort the rollout", got)
	}
	if !testkit.Bool(t, vmss, "automaticRepairsPolicy.enabled") || vmss.Str("automaticRepairsPolicy.gracePeriod") != "PT10M" {
		t.Errorf("repairs = %v, want on after 10 minutes", vmss.Get("automaticRepairsPolicy"))
	}
	ext := vmss.List(vm + "extensionProfile.extensions")
	if len(ext) != 1 || graph.Lookup(ext[0], "type") != "ApplicationHealthLinux" {
		t.Fatalf("extensions = %v, want the Application Health extension inline", ext)
	}
	if path := graph.Lookup(ext[0], "settings.requestPath"); path != "/" {
		t.Errorf("health extension checks %v", path)
	}
	// Binary health: rich health (2.0) calls a plain 200 Unknown, and
	// repairs would replace every instance.
	for key, want := range map[string]any{"typeHandlerVersion": "1.0", "publisher": "Microsoft.ManagedServices", "settings.protocol": "http", "settings.port": 8080.0} {
		if got := graph.Lookup(ext[0], key); got != want {
			t.Errorf("health extension %s = %v, want %v", key, got, want)
		}
	}
	if got := testkit.Int(t, vmss, up+"maxUnhealthyUpgradedInstancePercent"); got != 0 {
		t.Errorf("maxUnhealthyUpgradedInstancePercent = %d, want 0: a new image that fails stops the rollout", got)
	}
	if vmss.Str("automaticRepairsPolicy.repairAction") != "Replace" {
		t.Errorf("repair action = %q", vmss.Str("automaticRepairsPolicy.repairAction"))
	}
	if !testkit.Bool(t, vmss, vm+"scheduledEventsProfile.terminateNotificationProfile.enable") {
		t.Error("no terminate notification: deleted instances are cut off without draining")
	}
	h := plan(t, "stayup:healthPath", "/healthz", "stayup:readyPath", "/readyz")
	v := testkit.Only(t, h, vmssType)
	if got := graph.Lookup(v.List(vm + "extensionProfile.extensions")[0], "settings.requestPath"); got != "/healthz" {
		t.Errorf("health extension checks %v, want healthPath", got)
	}
	if got := testkit.Only(t, h, gwType).Str("probes.0.path"); got != "/readyz" {
		t.Errorf("gateway probe checks %q, want readyPath", got)
	}
}

func TestHostHardening(t *testing.T) {
	t.Parallel()
	g := plan(t)
	vmss := testkit.Only(t, g, vmssType)
	if !testkit.Bool(t, vmss, vm+"osProfile.linuxConfiguration.disablePasswordAuthentication") {
		t.Error("password authentication is on")
	}
	if vmss.Get(vm+"osProfile.adminPassword") != nil {
		t.Error("an admin password is set")
	}
	keys := vmss.List(vm + "osProfile.linuxConfiguration.ssh.publicKeys")
	if len(keys) != 1 || graph.Lookup(keys[0], "keyData") != testKey {
		t.Errorf("SSH keys = %v, want the configured one", keys)
	}
	for _, nic := range vmss.List(vm + "networkProfile.networkInterfaceConfigurations") {
		for _, ip := range graph.Lookup(nic, "ipConfigurations").([]any) {
			if graph.Lookup(ip, "publicIPAddressConfiguration") != nil {
				t.Errorf("instances get a public IP: %v", ip)
			}
		}
	}
	if !testkit.Bool(t, vmss, vm+"securityProfile.encryptionAtHost") {
		t.Error("encryption at host is off by default")
	}
	if off := testkit.Only(t, plan(t, "stayup:encryptionAtHost", "false"), vmssType); testkit.Bool(t, off, vm+"securityProfile.encryptionAtHost") {
		t.Error("stayup:encryptionAtHost=false does not turn it off")
	}
	// A public image: no identity, and a deployed one is kept rather than
	// removed (a change of identity rolls the scale set's VMs).
	if vmss.Get("identity") != nil || !slices.Contains(vmss.IgnoreChanges, "identity") {
		t.Errorf("public image: identity = %v (ignoreChanges %v), want none, and a deployed one kept", vmss.Get("identity"), vmss.IgnoreChanges)
	}
	acr := testkit.Only(t, plan(t, "stayup:image", "stayupacr.azurecr.io/web:v2", "stayup:registryId",
		"/subscriptions/00000000-0000-4000-8000-000000000000/resourceGroups/images/providers/Microsoft.ContainerRegistry/registries/stayupacr"), vmssType)
	if acr.Str("identity.type") != "SystemAssigned" || slices.Contains(acr.IgnoreChanges, "identity") {
		t.Errorf("image in ACR: identity = %v (ignoreChanges %v), want system-assigned, applied", acr.Get("identity"), acr.IgnoreChanges)
	}
	data, err := base64.StdEncoding.DecodeString(vmss.Str(vm + "osProfile.customData"))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := azure.CloudInit(mustSpec(t))
	if string(data) != want {
		t.Error("custom data differs from CloudInit()")
	}
}

// rules returns an NSG's rules by priority.
func rules(t *testing.T, g *graph.Graph, suffix, direction string) []map[string]any {
	t.Helper()
	for _, nsg := range g.ByType(nsgType) {
		if !strings.HasSuffix(nsg.Name, suffix) {
			continue
		}
		var out []map[string]any
		prev := map[any]int{}
		for _, r := range nsg.List("securityRules") {
			m := r.(map[string]any)
			if m["description"] == "" || m["description"] == nil {
				t.Errorf("%s rule %v has no description", nsg.Name, m["name"])
			}
			p := int(m["priority"].(float64))
			if last, ok := prev[m["direction"]]; ok && p <= last {
				t.Errorf("%s %v rules out of priority order at %v", nsg.Name, m["direction"], m["name"])
			}
			prev[m["direction"]] = p
			if m["direction"] == direction {
				out = append(out, m)
			}
		}
		return out
	}
	t.Fatalf("no NSG named *%s", suffix)
	return nil
}

func TestNSGsAdmitOnlyWhatEachSubnetNeeds(t *testing.T) {
	t.Parallel()
	g := plan(t, "stayup:allowedCidrs", "203.0.113.0/24,198.51.100.0/24")
	fleet := rules(t, g, "-fleet", "Inbound")
	if len(fleet) != 2 {
		t.Fatalf("fleet rules = %v, want app-from-gateway then deny-all", fleet)
	}
	if fleet[0]["access"] != "Allow" || fleet[0]["sourceAddressPrefix"] != "10.20.0.0/24" || fleet[0]["destinationPortRange"] != "8080" {
		t.Errorf("fleet allow rule = %v, want 8080 from the gateway subnet only", fleet[0])
	}
	last := fleet[len(fleet)-1]
	if last["access"] != "Deny" || last["sourceAddressPrefix"] != "*" || last["priority"].(float64) != 4096 {
		t.Errorf("fleet's last rule = %v, want deny all at 4096", last)
	}
	gateway := rules(t, g, "-gateway", "Inbound")
	var clients []string
	for _, r := range gateway {
		if r["access"] != "Allow" {
			continue
		}
		src := fmt.Sprint(r["sourceAddressPrefix"])
		ports := fmt.Sprint(r["destinationPortRange"], r["destinationPortRanges"])
		for _, bad := range []string{"22", "3389"} {
			if strings.Contains(" "+strings.Trim(ports, "[]<nil>")+" ", " "+bad+" ") {
				t.Errorf("gateway admits port %s: %v", bad, r)
			}
		}
		switch src {
		case "GatewayManager", "AzureLoadBalancer":
		default:
			clients = append(clients, src)
		}
	}
	if !slices.Equal(clients, []string{"203.0.113.0/24", "198.51.100.0/24"}) {
		t.Errorf("gateway admits clients %v, want the allowed CIDRs", clients)
	}
	if gateway[len(gateway)-1]["access"] != "Deny" {
		t.Error("gateway NSG does not end with deny-all")
	}
	out := rules(t, g, "-fleet", "Outbound")
	if len(out) != 2 || fmt.Sprint(out[0]["destinationPortRanges"]) != "[80 443]" || out[0]["destinationAddressPrefix"] != "Internet" ||
		out[1]["access"] != "Deny" || out[1]["destinationAddressPrefix"] != "*" {
		t.Errorf("fleet outbound rules = %v, want 80/443 to the internet, then deny-all", out)
	}
	// Application Gateway v2 does not provision without these two.
	required := map[string]string{"GatewayManager": "65200-65535", "AzureLoadBalancer": "*"}
	for _, r := range gateway {
		if ports, ok := required[fmt.Sprint(r["sourceAddressPrefix"])]; ok && r["access"] == "Allow" && r["destinationPortRange"] == ports {
			delete(required, fmt.Sprint(r["sourceAddressPrefix"]))
		}
	}
	if len(required) > 0 {
		t.Errorf("gateway NSG lacks the rules Application Gateway v2 requires: %v", required)
	}
	for _, sn := range g.ByType("azure-native:network:Subnet") {
		if g.Ref(sn.Str("networkSecurityGroup.id")) == nil {
			t.Errorf("subnet %s has no NSG", sn.Name)
		}
	}
}

func TestGatewayProbesReadinessAndDrains(t *testing.T) {
	t.Parallel()
	g := plan(t)
	gw := testkit.Only(t, g, gwType)
	if gw.Str("sku.tier") != "Standard_v2" || testkit.Int(t, gw, "autoscaleConfiguration.minCapacity") < 2 {
		t.Errorf("gateway sku/autoscale = %v/%v", gw.Get("sku"), gw.Get("autoscaleConfiguration"))
	}
	if interval, bad := testkit.Int(t, gw, "probes.0.interval"), testkit.Int(t, gw, "probes.0.unhealthyThreshold"); interval*bad > 15 {
		t.Errorf("an unready instance stays in rotation %d s", interval*bad)
	}
	settings := "backendHttpSettingsCollection.0."
	if !testkit.Bool(t, gw, settings+"connectionDraining.enabled") || testkit.Int(t, gw, settings+"connectionDraining.drainTimeoutInSec") != 30 {
		t.Errorf("connection draining = %v", gw.Get(settings+"connectionDraining"))
	}
	if !strings.HasSuffix(gw.Str(settings+"probe.id"), "/applicationGateways/stayup-gateway/probes/ready") {
		t.Errorf("backend settings use probe %q", gw.Str(settings+"probe.id"))
	}
	vmss := testkit.Only(t, g, vmssType)
	ip := vm + "networkProfile.networkInterfaceConfigurations.0.ipConfigurations.0."
	pools := vmss.List(ip + "applicationGatewayBackendAddressPools")
	if len(pools) != 1 || !strings.HasSuffix(fmt.Sprint(graph.Lookup(pools[0], "id")), "/applicationGateways/stayup-gateway/backendAddressPools/fleet") {
		t.Errorf("instances join %v, want the gateway's pool", pools)
	}
	egress := vmss.List(ip + "loadBalancerBackendAddressPools")
	if len(egress) != 1 || !strings.HasSuffix(fmt.Sprint(graph.Lookup(egress[0], "id")), "/loadBalancers/stayup-egress/backendAddressPools/fleet") {
		t.Errorf("instances' egress pools = %v", egress)
	}
	lb := testkit.Only(t, g, "azure-native:network:LoadBalancer")
	if len(lb.List("loadBalancingRules")) > 0 || len(lb.List("inboundNatRules")) > 0 || len(lb.List("outboundRules")) != 1 {
		t.Errorf("egress load balancer rules = %v / %v / %v, want outbound only", lb.Get("loadBalancingRules"), lb.Get("inboundNatRules"), lb.Get("outboundRules"))
	}
	pip := g.Ref(lb.Str("frontendIPConfigurations.0.publicIPAddress.id"))
	if pip == nil || len(pip.List("zones")) != 3 {
		t.Errorf("egress address %v is not zone-redundant", lb.Get("frontendIPConfigurations"))
	}
	if g.Outputs["url"] == nil || !strings.HasPrefix(g.Outputs["url"].(string), "http://20.") {
		t.Errorf("url = %v", g.Outputs["url"])
	}
}

func TestHTTPSWithAKeyVaultCertificate(t *testing.T) {
	t.Parallel()
	identity := "/subscriptions/00000000-0000-4000-8000-000000000000/resourceGroups/certs/providers/Microsoft.ManagedIdentity/userAssignedIdentities/gateway"
	g := plan(t, "stayup:tlsCertificate", "https://stayupvault.vault.azure.net/secrets/web", "stayup:tlsIdentity", identity)
	gw := testkit.Only(t, g, gwType)
	if got := gw.Str("sslPolicy.policyName"); got != "AppGwSslPolicy20220101S" {
		t.Errorf("TLS policy = %q", got)
	}
	if asStrings(gw.List("identity.userAssignedIdentities"))[0] != identity {
		t.Errorf("gateway identity = %v", gw.Get("identity"))
	}
	var redirect, serveHTTPS bool
	for _, r := range gw.List("requestRoutingRules") {
		listener := fmt.Sprint(graph.Lookup(r, "httpListener.id"))
		switch {
		case strings.HasSuffix(listener, "/httpListeners/http") && graph.Lookup(r, "redirectConfiguration") != nil:
			redirect = true
		case strings.HasSuffix(listener, "/httpListeners/https") && graph.Lookup(r, "backendAddressPool") != nil:
			serveHTTPS = true
		}
	}
	if !redirect || !serveHTTPS {
		t.Errorf("routing: HTTP redirects %v, HTTPS serves %v; want both", redirect, serveHTTPS)
	}
	var ports []string
	for _, r := range rules(t, g, "-gateway", "Inbound") {
		if strings.HasPrefix(fmt.Sprint(r["name"]), "clients") {
			ports = asStrings(r["destinationPortRanges"].([]any))
		}
	}
	if !slices.Equal(ports, []string{"80", "443"}) {
		t.Errorf("clients admitted on %v, want 80 and 443", ports)
	}
}

func TestIdentityHoldsOnlyAcrPullOnItsRegistry(t *testing.T) {
	t.Parallel()
	if n := len(plan(t).ByType("azure-native:authorization:RoleAssignment")); n != 0 {
		t.Errorf("a public image gets %d role assignments, want none", n)
	}
	registry := "/subscriptions/00000000-0000-4000-8000-000000000000/resourceGroups/images/providers/Microsoft.ContainerRegistry/registries/stayupacr"
	g := plan(t, "stayup:image", "stayupacr.azurecr.io/web:v2", "stayup:registryId", registry)
	ra := testkit.Only(t, g, "azure-native:authorization:RoleAssignment")
	if ra.Str("scope") != registry {
		t.Errorf("role scope = %q, want the registry only", ra.Str("scope"))
	}
	if !strings.HasSuffix(ra.Str("roleDefinitionId"), "/roleDefinitions/7f951dda-4ed3-4680-a7ca-43fe172d538d") {
		t.Errorf("role = %q, want AcrPull", ra.Str("roleDefinitionId"))
	}
	vmss := testkit.Only(t, g, vmssType)
	if ra.Str("principalId") != graph.Lookup(vmss.Outputs["identity"], "principalId") {
		t.Error("the role goes to someone other than the scale set's identity")
	}
}

func cloudInitCases() map[string][]string {
	return map[string][]string{
		"cloud-init.yaml":     nil,
		"cloud-init-acr.yaml": {"stayup:image", "stayupacr.azurecr.io/web:v2", "stayup:registryId", "/subscriptions/00000000-0000-4000-8000-000000000000/resourceGroups/images/providers/Microsoft.ContainerRegistry/registries/stayupacr"},
	}
}

func TestCloudInitGolden(t *testing.T) {
	t.Parallel()
	for name, kv := range cloudInitCases() {
		got, err := azure.CloudInit(mustSpec(t, kv...))
		if err != nil {
			t.Fatal(err)
		}
		testkit.Golden(t, *update, "./infra/azure", filepath.Join("testdata", name), got)
	}
}

func TestCloudInitIsValid(t *testing.T) {
	t.Parallel()
	for name, kv := range cloudInitCases() {
		doc, err := azure.CloudInit(mustSpec(t, kv...))
		if err != nil {
			t.Fatal(err)
		}
		testkit.CloudConfig(t, name, doc)
	}
}

func TestCloudInitDrainsAndPassesTheZone(t *testing.T) {
	t.Parallel()
	doc, err := azure.CloudInit(mustSpec(t))
	if err != nil {
		t.Fatal(err)
	}
	stop, unit := int(spec.ContainerStopTimeout.Seconds()), int(spec.SystemdStopTimeout.Seconds())
	for _, want := range []string{
		fmt.Sprintf("--stop-timeout %d", stop), fmt.Sprintf("docker stop --time %d", stop), fmt.Sprintf("TimeoutStopSec=%d", unit),
		`echo "ZONE=$(imds location)-$(imds zone)"`, "--env-file /etc/stayup/env", "Restart=always",
		// The terminate watcher stops the container before approving.
		"systemctl stop stayup.service", `StartRequests`, "enable, --now, stayup-terminate.service",
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("cloud-init lacks %q", want)
		}
	}
	if i, j := strings.Index(doc, "systemctl stop stayup.service"), strings.Index(doc, "--request POST"); i < 0 || j < i {
		t.Error("the Terminate event is approved before the container is stopped")
	}
}

func TestGatewayAndNetworkLogsAreKept(t *testing.T) {
	t.Parallel()
	g := plan(t, "stayup:logRetentionDays", "90")
	gw := testkit.Only(t, g, gwType)
	ws := testkit.Only(t, g, "azure-native:operationalinsights:Workspace")
	if got := testkit.Int(t, ws, "retentionInDays"); got != 90 {
		t.Errorf("workspace keeps logs %d days, want 90", got)
	}
	diag := testkit.Only(t, g, "azure-native:insights:DiagnosticSetting")
	if g.Ref(diag.Str("resourceUri")) != gw || g.Ref(diag.Str("workspaceId")) != ws {
		t.Errorf("diagnostic setting %v -> %v, want the gateway's logs in the workspace", diag.Str("resourceUri"), diag.Str("workspaceId"))
	}
	if diag.Str("logs.0.categoryGroup") != "allLogs" || !testkit.Bool(t, diag, "logs.0.enabled") {
		t.Errorf("gateway logs = %v, want allLogs on", diag.Get("logs"))
	}
	flow := testkit.Only(t, g, "azure-native:network:FlowLog")
	if got := g.Ref(flow.Str("targetResourceId")); got == nil || got.Type != "azure-native:network:VirtualNetwork" {
		t.Errorf("flow log targets %q, want the virtual network", flow.Str("targetResourceId"))
	}
	if !testkit.Bool(t, flow, "retentionPolicy.enabled") || testkit.Int(t, flow, "retentionPolicy.days") != 90 {
		t.Errorf("flow log retention = %v, want 90 days", flow.Get("retentionPolicy"))
	}
	sa := g.Ref(flow.Str("storageId"))
	if sa == nil || sa.Str("minimumTlsVersion") != "TLS1_2" || testkit.Bool(t, sa, "allowBlobPublicAccess") || !testkit.Bool(t, sa, "enableHttpsTrafficOnly") {
		t.Fatalf("flow log storage = %v, want private, HTTPS and TLS 1.2 only", sa)
	}
	// No network reaches it; Network Watcher does, as a trusted service,
	// which needs public network access left on.
	if sa.Str("networkRuleSet.defaultAction") != "Deny" || sa.Str("networkRuleSet.bypass") != "AzureServices" || sa.Get("publicNetworkAccess") != nil {
		t.Errorf("flow log storage network rules = %v, public access %v: want deny by default, trusted services through", sa.Get("networkRuleSet"), sa.Get("publicNetworkAccess"))
	}
	// The shortest retention the workspace's tier allows is 30 days.
	short := testkit.Only(t, plan(t, "stayup:logRetentionDays", "7"), "azure-native:operationalinsights:Workspace")
	if got := testkit.Int(t, short, "retentionInDays"); got != 30 {
		t.Errorf("7 days asked: workspace keeps %d, want its minimum 30", got)
	}
}

// The flow log belongs to the region's Network Watcher: the one stayup up
// found and pinned, wherever it is, and no other; where there is none, one
// the program creates in the stack's group and Pulumi never deletes.
func TestFlowLogUsesTheRegionsNetworkWatcher(t *testing.T) {
	t.Parallel()
	const pinned = "/subscriptions/00000000-0000-4000-8000-000000000000/resourceGroups/policy-watchers/providers/Microsoft.Network/networkWatchers/nw-westeurope"
	g := plan(t, "stayup:networkWatcher", pinned)
	if ws := g.ByType("azure-native:network:NetworkWatcher"); len(ws) != 0 {
		t.Errorf("a watcher is pinned, yet the program creates %d", len(ws))
	}
	flow := testkit.Only(t, g, "azure-native:network:FlowLog")
	if flow.Str("resourceGroupName") != "policy-watchers" || flow.Str("networkWatcherName") != "nw-westeurope" {
		t.Errorf("flow log under %s/%s, want the pinned watcher's policy-watchers/nw-westeurope", flow.Str("resourceGroupName"), flow.Str("networkWatcherName"))
	}

	// A stack deployed before the pin named Azure's default watcher: the id
	// ARM returns, whatever its case, leaves the flow log as it was.
	g = plan(t, "stayup:networkWatcher", "/subscriptions/00000000-0000-4000-8000-000000000000/resourceGroups/NETWORKWATCHERRG/providers/Microsoft.Network/networkWatchers/networkwatcher_westeurope")
	flow = testkit.Only(t, g, "azure-native:network:FlowLog")
	if flow.Str("resourceGroupName") != "NetworkWatcherRG" || flow.Str("networkWatcherName") != "NetworkWatcher_westeurope" {
		t.Errorf("flow log under %s/%s, want NetworkWatcherRG/NetworkWatcher_westeurope as deployed", flow.Str("resourceGroupName"), flow.Str("networkWatcherName"))
	}

	g = plan(t)
	w := testkit.Only(t, g, "azure-native:network:NetworkWatcher")
	rg := testkit.Only(t, g, "azure-native:resources:ResourceGroup")
	if !w.RetainOnDelete || w.Str("networkWatcherName") != "NetworkWatcher_westeurope" || w.Str("resourceGroupName") != graph.Lookup(rg.Outputs, "name") {
		t.Errorf("created watcher %v (retained %v), want NetworkWatcher_westeurope in the stack's group, kept on delete", w.Inputs, w.RetainOnDelete)
	}
	flow = testkit.Only(t, g, "azure-native:network:FlowLog")
	if flow.Str("networkWatcherName") != graph.Lookup(w.Outputs, "name") || flow.Str("resourceGroupName") != w.Str("resourceGroupName") {
		t.Errorf("flow log under %s/%s, want the created watcher", flow.Str("resourceGroupName"), flow.Str("networkWatcherName"))
	}
	if _, err := spec.Parse(spec.MapLookup(map[string]string{"stayup:cloud": "azure", "azure-native:location": "westeurope", "stayup:networkWatcher": "NetworkWatcher_westeurope"})); err == nil || !strings.Contains(err.Error(), "stayup:networkWatcher") {
		t.Errorf("a watcher named, not given by id: %v, want refused", err)
	}
}
