package plan

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"stayup/internal/graph"
	"stayup/internal/policy"
)

// Line is one row of the readable summary: a label and its text.
type Line struct {
	Label string
	Text  string
}

// Summary describes the settings a reviewer looks for first, read back
// from the recorded graph (not from the spec), so it shows what the
// program really registered.
func (r *Result) Summary() []Line {
	var lines []Line
	switch r.Cloud {
	case "aws":
		lines = awsSummary(r.Graph)
	case "gcp":
		lines = gcpSummary(r.Graph)
	case "azure":
		lines = azureSummary(r.Graph)
	default:
		return nil
	}
	return append(lines, r.pins()...)
}

// pins says what the fleet boots and where, and whether the stack pins it
// or an up would resolve it (and stayup up then pin it).
func (r *Result) pins() []Line {
	image, _ := r.Outputs["baseImage"].(string)
	var zones []string
	if zs, ok := r.Outputs["zones"].([]any); ok {
		for _, z := range zs {
			zones = append(zones, fmt.Sprint(z))
		}
	}
	how := func(pinned bool, key string) string {
		if pinned {
			return "pinned by stayup:" + key
		}
		return "resolved at deploy, mocked here; stayup up pins it as stayup:" + key
	}
	return []Line{
		{"OS image", fmt.Sprintf("%s (%s)", image, how(r.Spec.BaseImage != "", "baseImage"))},
		{"zones", fmt.Sprintf("%s (%s)", strings.Join(zones, ", "), how(len(r.Spec.ZoneNames) > 0, "zoneNames"))},
	}
}

// Print writes the human summary of a plan.
func (r *Result) Print(w io.Writer) {
	fmt.Fprintf(w, "Plan for stack %s (%s, %s), offline under mocks: nothing was deployed.\n", r.Stack, r.Cloud, r.Spec.Region)
	for _, n := range r.Notes {
		fmt.Fprintf(w, "Note: %s.\n", n)
	}
	fmt.Fprintln(w)
	for _, l := range r.Summary() {
		for i, text := range strings.Split(l.Text, "\n") {
			label := l.Label
			if i > 0 {
				label = ""
			}
			fmt.Fprintf(w, "  %-11s %s\n", label, text)
		}
	}
	fmt.Fprintln(w)
	keys := make([]string, 0, len(r.Outputs))
	for k := range r.Outputs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Fprintln(w, "Outputs (mocked values):")
	for _, k := range keys {
		fmt.Fprintf(w, "  %-9s %s\n", k, compact(r.Outputs[k]))
	}
	fmt.Fprintln(w)

	counts := map[string]int{}
	for _, res := range r.Resources {
		counts[res.Type]++
	}
	types := make([]string, 0, len(counts))
	for t := range counts {
		types = append(types, t)
	}
	sort.Strings(types)
	fmt.Fprintf(w, "Resources: %d\n", len(r.Resources))
	for _, t := range types {
		fmt.Fprintf(w, "  %3d  %s\n", counts[t], t)
	}
	fmt.Fprintln(w)
	policy.Print(w, r.Findings)
}

func compact(v any) string {
	switch v := v.(type) {
	case []any:
		parts := make([]string, len(v))
		for i, e := range v {
			parts[i] = compact(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = k + "=" + compact(v[k])
		}
		return "{" + strings.Join(parts, ", ") + "}"
	case float64:
		return fmt.Sprint(v)
	case nil:
		return "(unknown until deployed)"
	}
	return fmt.Sprint(v)
}

func awsSummary(g *graph.Graph) []Line {
	var lines []Line

	if asg := first(g, "aws:autoscaling/group:Group"); asg != nil {
		var zones []string
		for _, id := range asg.List("vpcZoneIdentifiers") {
			if subnet := g.Ref(id); subnet != nil {
				zones = append(zones, subnet.Str("availabilityZone"))
			}
		}
		text := fmt.Sprintf("%s instances (min %s, max %s) over %d zones: %s",
			num(asg, "desiredCapacity"), num(asg, "minSize"), num(asg, "maxSize"), len(zones), strings.Join(zones, ", "))
		if lt := g.Ref(asg.Str("launchTemplate.id")); lt != nil {
			publicIP := "no public IP"
			if b, _ := lt.Bool("networkInterfaces.0.associatePublicIpAddress"); b {
				publicIP = "PUBLIC IP"
			}
			text += fmt.Sprintf("\n%s, %s; IMDSv2 %s, hop limit %s; root volume encrypted: %s",
				lt.Str("instanceType"), publicIP, lt.Str("metadataOptions.httpTokens"), num(lt, "metadataOptions.httpPutResponseHopLimit"),
				lt.Str("blockDeviceMappings.0.ebs.encrypted"))
		}
		lines = append(lines, Line{"Fleet", text})
		lines = append(lines, Line{"Autohealing", fmt.Sprintf("health check type %s, grace %ss after launch; replacements keep %s%%-%s%% of capacity healthy",
			asg.Str("healthCheckType"), num(asg, "healthCheckGracePeriod"),
			num(asg, "instanceMaintenancePolicy.minHealthyPercentage"), num(asg, "instanceMaintenancePolicy.maxHealthyPercentage"))})
		pinned := "pinned to the template's latest version number"
		if _, ok := asg.Int("launchTemplate.version"); !ok {
			pinned = "NOT pinned: version " + asg.Str("launchTemplate.version")
		}
		lines = append(lines, Line{"Rollout", fmt.Sprintf("instance refresh on template change: min healthy %s%%, max healthy %s%%, auto rollback %s, skip matching %s\n%s",
			num(asg, "instanceRefresh.preferences.minHealthyPercentage"), num(asg, "instanceRefresh.preferences.maxHealthyPercentage"),
			onOff(asg, "instanceRefresh.preferences.autoRollback"), onOff(asg, "instanceRefresh.preferences.skipMatching"), pinned)})
	}
	if tg := first(g, "aws:lb/targetGroup:TargetGroup"); tg != nil {
		lines = append(lines, Line{"LB health", fmt.Sprintf("GET %s on the app port every %ss (timeout %ss): in after %s passes, out after %s failures; draining %ss",
			tg.Str("healthCheck.path"), num(tg, "healthCheck.interval"), num(tg, "healthCheck.timeout"),
			num(tg, "healthCheck.healthyThreshold"), num(tg, "healthCheck.unhealthyThreshold"), num(tg, "deregistrationDelay"))})
	}
	if p := first(g, "aws:autoscaling/policy:Policy"); p != nil {
		lines = append(lines, Line{"Scaling", fmt.Sprintf("target tracking on average CPU %s%%", num(p, "targetTrackingConfiguration.targetValue"))})
	}

	var exposure []string
	listeners := g.ByType("aws:lb/listener:Listener")
	if len(listeners) == 1 && listeners[0].Str("protocol") == "HTTP" {
		exposure = append(exposure, "HTTP only: no stayup:tlsCertificate is set, so traffic is not encrypted")
	}
	for _, l := range listeners {
		action := l.Str("defaultActions.0.type")
		switch action {
		case "forward":
			action = "forward to the fleet's target group"
		case "redirect":
			action = "redirect to " + l.Str("defaultActions.0.redirect.protocol")
		}
		if policy := l.Str("sslPolicy"); policy != "" {
			action += " (" + policy + ")"
		}
		exposure = append(exposure, fmt.Sprintf("listener %s :%s -> %s", l.Str("protocol"), num(l, "port"), action))
	}
	for _, rule := range g.ByType("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule") {
		exposure = append(exposure, "allow "+rule.Str("description"))
	}
	for _, rule := range g.ByType("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule") {
		exposure = append(exposure, "egress "+rule.Str("description"))
	}
	if len(exposure) > 0 {
		lines = append(lines, Line{"Exposure", strings.Join(exposure, "\n")})
	}
	var network []string
	if nats := len(g.ByType("aws:ec2/natGateway:NatGateway")); nats > 0 {
		network = append(network, fmt.Sprintf("%d NAT gateway(s) for egress", nats))
	}
	for _, fl := range g.ByType("aws:ec2/flowLog:FlowLog") {
		network = append(network, fmt.Sprintf("VPC flow logs (%s traffic)", fl.Str("trafficType")))
	}
	if lgs := g.ByType("aws:cloudwatch/logGroup:LogGroup"); len(lgs) > 0 {
		network = append(network, fmt.Sprintf("logs kept %s days", num(lgs[0], "retentionInDays")))
	}
	if len(network) > 0 {
		lines = append(lines, Line{"Network", strings.Join(network, "; ")})
	}
	return lines
}

func gcpSummary(g *graph.Graph) []Line {
	var lines []Line
	mig := first(g, "gcp:compute/regionInstanceGroupManager:RegionInstanceGroupManager")
	scaler := first(g, "gcp:compute/regionAutoscaler:RegionAutoscaler")
	if mig != nil {
		var zones []string
		for _, z := range mig.List("distributionPolicyZones") {
			zones = append(zones, fmt.Sprint(z))
		}
		text := fmt.Sprintf("regional managed instance group over %d zones (%s): %s", len(zones), mig.Str("distributionPolicyTargetShape"), strings.Join(zones, ", "))
		if scaler != nil {
			text += fmt.Sprintf("\nautoscaler owns the size: min %s, max %s (no target size is set)",
				num(scaler, "autoscalingPolicy.minReplicas"), num(scaler, "autoscalingPolicy.maxReplicas"))
		}
		if t := g.Ref(mig.Str("versions.0.instanceTemplate")); t != nil {
			externalIP := "no external IP"
			if len(t.List("networkInterfaces.0.accessConfigs")) > 0 {
				externalIP = "EXTERNAL IP"
			}
			shielded, _ := t.Bool("shieldedInstanceConfig.enableSecureBoot")
			text += fmt.Sprintf("\n%s, %s, Shielded VM secure boot %v, OS Login %s, serial port %s, service account %s",
				t.Str("machineType"), externalIP, shielded, t.Str("metadata.enable-oslogin"), t.Str("metadata.serial-port-enable"),
				t.Str("serviceAccount.email"))
		}
		lines = append(lines, Line{"Fleet", text})
		if hc := g.Ref(mig.Str("autoHealingPolicies.healthCheck")); hc != nil {
			lines = append(lines, Line{"Autohealing", fmt.Sprintf("GET %s every %ss (timeout %ss), replaced after %s failures; first check %ss after creation",
				hc.Str("httpHealthCheck.requestPath"), num(hc, "checkIntervalSec"), num(hc, "timeoutSec"), num(hc, "unhealthyThreshold"),
				num(mig, "autoHealingPolicies.initialDelaySec"))})
		}
		up := "updatePolicy."
		lines = append(lines, Line{"Rollout", fmt.Sprintf("%s update on template change: %s (most disruptive %s), %s, max surge %s, max unavailable %s, min ready %ss",
			mig.Str(up+"type"), mig.Str(up+"minimalAction"), mig.Str(up+"mostDisruptiveAllowedAction"), mig.Str(up+"replacementMethod"),
			num(mig, up+"maxSurgeFixed"), num(mig, up+"maxUnavailableFixed"), num(mig, up+"minReadySec"))})
	}
	if be := first(g, "gcp:compute/backendService:BackendService"); be != nil {
		if hc := g.Ref(be.Str("healthChecks")); hc != nil {
			lines = append(lines, Line{"LB health", fmt.Sprintf("GET %s every %ss (timeout %ss): in after %s passes, out after %s failures; draining %ss",
				hc.Str("httpHealthCheck.requestPath"), num(hc, "checkIntervalSec"), num(hc, "timeoutSec"),
				num(hc, "healthyThreshold"), num(hc, "unhealthyThreshold"), num(be, "connectionDrainingTimeoutSec"))})
		}
	}
	if scaler != nil {
		if v, ok := scaler.Get("autoscalingPolicy.cpuUtilization.target").(float64); ok {
			lines = append(lines, Line{"Scaling", fmt.Sprintf("CPU utilization target %.0f%% (%.2f)", v*100, v)})
		}
	}

	var exposure []string
	rules := g.ByType("gcp:compute/globalForwardingRule:GlobalForwardingRule")
	if len(rules) == 1 {
		exposure = append(exposure, "HTTP only: no stayup:domain or stayup:tlsCertificate is set, so traffic is not encrypted")
	}
	for _, fr := range rules {
		target := g.Ref(fr.Str("target"))
		kind := "?"
		if target != nil {
			kind = target.Type[strings.LastIndex(target.Type, ":")+1:]
		}
		exposure = append(exposure, fmt.Sprintf("forwarding rule :%s -> %s", fr.Str("portRange"), kind))
	}
	if sp := first(g, "gcp:compute/securityPolicy:SecurityPolicy"); sp != nil {
		exposure = append(exposure, "Cloud Armor admits only stayup:allowedCidrs")
	}
	for _, fw := range g.ByType("gcp:compute/firewall:Firewall") {
		var sources []string
		for _, src := range fw.List("sourceRanges") {
			sources = append(sources, fmt.Sprint(src))
		}
		exposure = append(exposure, fmt.Sprintf("firewall %s: %s (from %s)", strings.ToLower(fw.Str("direction")), fw.Str("description"), strings.Join(sources, ", ")))
	}
	if len(exposure) > 0 {
		lines = append(lines, Line{"Exposure", strings.Join(exposure, "\n")})
	}
	var network []string
	if len(g.ByType("gcp:compute/routerNat:RouterNat")) > 0 {
		network = append(network, "egress: Cloud NAT (regional) to the internet, for an image outside Google's registries")
	} else if zones := g.ByType("gcp:dns/managedZone:ManagedZone"); len(zones) > 0 {
		var domains []string
		for _, z := range zones {
			domains = append(domains, strings.TrimSuffix(z.Str("dnsName"), "."))
		}
		sort.Strings(domains)
		network = append(network, fmt.Sprintf("egress: Private Google Access only, no Cloud NAT (no internet): HTTPS to private.googleapis.com, private DNS for %s", strings.Join(domains, ", ")))
	}
	if sn := first(g, "gcp:compute/subnetwork:Subnetwork"); sn != nil && sn.Get("logConfig") != nil {
		network = append(network, "subnet flow logs on")
	}
	if len(network) > 0 {
		lines = append(lines, Line{"Network", strings.Join(network, "; ")})
	}
	return lines
}

func azureSummary(g *graph.Graph) []Line {
	var lines []Line
	if vmss := first(g, "azure-native:compute:VirtualMachineScaleSet"); vmss != nil {
		var zones []string
		for _, z := range vmss.List("zones") {
			zones = append(zones, fmt.Sprint(z))
		}
		text := fmt.Sprintf("%s instances of %s (%s) over zones %s, zone balance %s",
			num(vmss, "sku.capacity"), vmss.Str("sku.name"), vmss.Str("orchestrationMode"), strings.Join(zones, ", "), onOff(vmss, "zoneBalance"))
		if as := first(g, "azure-native:insights:AutoscaleSetting"); as != nil {
			text += fmt.Sprintf("\nautoscale %s: min %s, max %s", onOff(as, "enabled"),
				as.Str("profiles.0.capacity.minimum"), as.Str("profiles.0.capacity.maximum"))
		}
		vm := "virtualMachineProfile."
		publicIP := "no public IP"
		if vmss.Get(vm+"networkProfile.networkInterfaceConfigurations.0.ipConfigurations.0.publicIPAddressConfiguration") != nil {
			publicIP = "PUBLIC IP"
		}
		password := "password login off"
		if b, _ := vmss.Bool(vm + "osProfile.linuxConfiguration.disablePasswordAuthentication"); !b {
			password = "PASSWORD LOGIN ON"
		}
		text += fmt.Sprintf("\n%s, %s, SSH key only; encryption at host %s, %s", publicIP, password,
			onOff(vmss, vm+"securityProfile.encryptionAtHost"), vmss.Str(vm+"securityProfile.securityType"))
		lines = append(lines, Line{"Fleet", text})
		health := vm + "extensionProfile.extensions.0.settings."
		lines = append(lines, Line{"Autohealing", fmt.Sprintf("Application Health extension: GET %v every %vs; automatic repairs %s after %s",
			vmss.Get(health+"requestPath"), vmss.Get(health+"intervalInSeconds"), onOff(vmss, "automaticRepairsPolicy.enabled"),
			vmss.Str("automaticRepairsPolicy.gracePeriod"))})
		up := "upgradePolicy.rollingUpgradePolicy."
		lines = append(lines, Line{"Rollout", fmt.Sprintf("%s upgrades: max surge %s, batch %s%%, unhealthy %s%%, unhealthy upgraded %s%%, roll back on breach %s",
			vmss.Str("upgradePolicy.mode"), onOff(vmss, up+"maxSurge"), num(vmss, up+"maxBatchInstancePercent"),
			num(vmss, up+"maxUnhealthyInstancePercent"), num(vmss, up+"maxUnhealthyUpgradedInstancePercent"),
			onOff(vmss, up+"rollbackFailedInstancesOnPolicyBreach"))})
	}
	if gw := first(g, "azure-native:network:ApplicationGateway"); gw != nil {
		var zones []string
		for _, z := range gw.List("zones") {
			zones = append(zones, fmt.Sprint(z))
		}
		lines = append(lines, Line{"LB health", fmt.Sprintf("Application Gateway %s in zones %s: GET %s every %ss (timeout %ss), out after %s failures; draining %ss",
			gw.Str("sku.name"), strings.Join(zones, ", "), gw.Str("probes.0.path"), num(gw, "probes.0.interval"), num(gw, "probes.0.timeout"),
			num(gw, "probes.0.unhealthyThreshold"), num(gw, "backendHttpSettingsCollection.0.connectionDraining.drainTimeoutInSec"))})
		var exposure []string
		if len(gw.List("sslCertificates")) == 0 {
			exposure = append(exposure, "HTTP only: no stayup:tlsCertificate is set, so traffic is not encrypted")
		}
		for _, l := range gw.List("httpListeners") {
			exposure = append(exposure, fmt.Sprintf("listener %v", graph.Lookup(l, "protocol")))
		}
		for _, nsg := range g.ByType("azure-native:network:NetworkSecurityGroup") {
			for _, r := range nsg.List("securityRules") {
				exposure = append(exposure, fmt.Sprintf("%s %v: %v", nsg.Name, graph.Lookup(r, "priority"), graph.Lookup(r, "description")))
			}
		}
		lines = append(lines, Line{"Exposure", strings.Join(exposure, "\n")})
	}
	if lb := first(g, "azure-native:network:LoadBalancer"); lb != nil && len(lb.List("outboundRules")) > 0 {
		lines = append(lines, Line{"Network", "egress through outbound rules on a Standard load balancer with a zone-redundant address"})
	}
	return lines
}

func first(g *graph.Graph, typ string) *graph.Resource {
	if rs := g.ByType(typ); len(rs) > 0 {
		return rs[0]
	}
	return nil
}

// num is a number input as text, "?" when it is not set.
func num(r *graph.Resource, path string) string {
	if n, ok := r.Int(path); ok {
		return fmt.Sprint(n)
	}
	return "?"
}

// onOff is a boolean input as "on" or "off".
func onOff(r *graph.Resource, path string) string {
	if b, ok := r.Bool(path); ok && b {
		return "on"
	}
	return "off"
}
