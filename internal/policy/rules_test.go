package policy_test

import (
	"encoding/base64"
	"slices"
	"strconv"
	"strings"
	"testing"

	"stayup/internal/graph"
	"stayup/internal/policy"
)

const (
	asgT      = "aws:autoscaling/group:Group"
	ltT       = "aws:ec2/launchTemplate:LaunchTemplate"
	albT      = "aws:lb/loadBalancer:LoadBalancer"
	tgT       = "aws:lb/targetGroup:TargetGroup"
	listenerT = "aws:lb/listener:Listener"
	ingressT  = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
	egressT   = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
	rolePolT  = "aws:iam/rolePolicy:RolePolicy"
	migT      = "gcp:compute/regionInstanceGroupManager:RegionInstanceGroupManager"
	tmplT     = "gcp:compute/instanceTemplate:InstanceTemplate"
	fwT       = "gcp:compute/firewall:Firewall"
	beT       = "gcp:compute/backendService:BackendService"
	memberT   = "gcp:projects/iAMMember:IAMMember"
	vmssT     = "azure-native:compute:VirtualMachineScaleSet"
	gwT       = "azure-native:network:ApplicationGateway"
	nsgT      = "azure-native:network:NetworkSecurityGroup"
	storageT  = "azure-native:storage:StorageAccount"
	vmp       = "virtualMachineProfile."
)

// mutation breaks one thing in a passing plan; the rule must then report
// an unwaived finding whose message contains want (what to change).
type mutation struct {
	rule, variant, name string
	mutate              func(t *testing.T, g *graph.Graph)
	want                string
}

// in edits one resource found by type and name.
func in(typ, name string, edit func(t *testing.T, r *graph.Resource)) func(*testing.T, *graph.Graph) {
	return func(t *testing.T, g *graph.Graph) { edit(t, find(t, g, typ, name)) }
}

func setIn(typ, name, path string, v any) func(*testing.T, *graph.Graph) {
	return in(typ, name, func(t *testing.T, r *graph.Resource) { set(t, r, path, v) })
}

func delIn(typ, name, path string) func(*testing.T, *graph.Graph) {
	return in(typ, name, func(t *testing.T, r *graph.Resource) { del(t, r, path) })
}

// removeDep takes the resource named depName out of a resource's dependencies.
func removeDep(typ, name, depTyp, depName string) func(*testing.T, *graph.Graph) {
	return func(t *testing.T, g *graph.Graph) {
		r, dep := find(t, g, typ, name), find(t, g, depTyp, depName)
		i := slices.Index(r.Dependencies, dep.URN)
		if i < 0 {
			t.Fatalf("%s does not depend on %s", name, depName)
		}
		r.Dependencies = slices.Delete(r.Dependencies, i, i+1)
	}
}

func dropRes(typ, name string) func(*testing.T, *graph.Graph) {
	return func(t *testing.T, g *graph.Graph) { drop(g, find(t, g, typ, name)) }
}

const instancePolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["%s"],"Resource":["%s"]}]}`

func policyDoc(action, resource string) string {
	return strings.Replace(strings.Replace(instancePolicy, "%s", action, 1), "%s", resource, 1)
}

var mutations = []mutation{
	// AWS
	{"aws-ha-zones", "aws", "the group in one zone", func(t *testing.T, g *graph.Graph) {
		asg := find(t, g, asgT, "stayup-fleet")
		set(t, asg, "vpcZoneIdentifiers", asg.List("vpcZoneIdentifiers")[:1])
	}, "spans 1 zone"},
	{"aws-ha-zones", "aws", "the ALB in one zone", func(t *testing.T, g *graph.Graph) {
		lb := find(t, g, albT, "stayup-lb")
		set(t, lb, "subnets", lb.List("subnets")[:1])
	}, "give it subnets in at least two"},
	{"aws-ha-zones", "aws", "no group", dropRes(asgT, "stayup-fleet"), "no Auto Scaling group"},
	{"aws-ha-min-size", "aws", "min 1", setIn(asgT, "stayup-fleet", "minSize", 1.0), "set it to 2 or more"},
	{"aws-ha-lb-health-check", "aws", "check disabled", setIn(tgT, "stayup-lb", "healthCheck.enabled", false), "healthCheck.enabled = true"},
	{"aws-ha-lb-health-check", "aws", "no path", delIn(tgT, "stayup-lb", "healthCheck.path"), "healthCheck.path"},
	{"aws-ha-lb-health-check", "aws", "not registered", setIn(asgT, "stayup-fleet", "targetGroupArns", []any{}), "set targetGroupArns"},
	{"aws-ha-boot-order", "aws", "group before the listener", removeDep(asgT, "stayup-fleet", listenerT, "stayup-lb-http"), "before listener stayup-lb-http"},
	{"aws-ha-boot-order", "aws-tls", "group before the HTTPS listener", removeDep(asgT, "stayup-fleet", listenerT, "stayup-lb-https"), "before listener stayup-lb-https"},
	{"aws-ha-boot-order", "aws", "group before its log group", removeDep(asgT, "stayup-fleet", "aws:cloudwatch/logGroup:LogGroup", "stayup-instance-app"), "before log group stayup-instance-app"},
	{"aws-ha-autohealing", "aws", "EC2 checks", setIn(asgT, "stayup-fleet", "healthCheckType", "EC2"), `healthCheckType = "ELB"`},
	{"aws-ha-autohealing", "aws", "no grace", delIn(asgT, "stayup-fleet", "healthCheckGracePeriod"), "healthCheckGracePeriod"},
	{"aws-ha-rolling-update", "aws", "90% healthy", setIn(asgT, "stayup-fleet", "instanceRefresh.preferences.minHealthyPercentage", 90.0), "set it to 100"},
	{"aws-ha-rolling-update", "aws", "auto rollback on", setIn(asgT, "stayup-fleet", "instanceRefresh.preferences.autoRollback", true), "autoRollback = false"},
	{"aws-ha-rolling-update", "aws", "$Latest", setIn(asgT, "stayup-fleet", "launchTemplate.version", "$Latest"), "pin the template's latest version"},
	{"aws-ha-rolling-update", "aws", "no refresh", delIn(asgT, "stayup-fleet", "instanceRefresh"), "add a Rolling instance refresh"},
	{"aws-exposure-public-entry", "aws", "a second public ALB", func(t *testing.T, g *graph.Graph) {
		clone(g, find(t, g, albT, "stayup-lb"), "stray-lb")
	}, "fronts no fleet: set internal = true"},
	{"aws-exposure-public-entry", "aws", "a stray Elastic IP", func(t *testing.T, g *graph.Graph) {
		add(g, "aws:ec2/eip:Eip", "stray", map[string]any{"domain": "vpc", "instance": "i-0123"})
	}, "is not a NAT gateway's"},
	{"aws-exposure-app-from-lb", "aws", "app port from anywhere", in(ingressT, "stayup-net-app-from-lb", func(t *testing.T, r *graph.Resource) {
		del(t, r, "referencedSecurityGroupId")
		set(t, r, "cidrIpv4", "0.0.0.0/0")
	}), "only from the load balancer's security group"},
	{"aws-exposure-admin-ports", "aws", "SSH from the internet", func(t *testing.T, g *graph.Graph) {
		r := clone(g, find(t, g, ingressT, "stayup-net-lb-in-80-0"), "ssh")
		set(t, r, "fromPort", 22.0)
		set(t, r, "toPort", 22.0)
	}, "which includes 22"},
	{"aws-exposure-admin-ports", "aws", "every protocol from the internet", setIn(ingressT, "stayup-net-lb-in-80-0", "ipProtocol", "-1"), "all ports from 0.0.0.0/0"},
	{"aws-exposure-no-public-ip", "aws", "public IP", setIn(ltT, "stayup-fleet", "networkInterfaces.0.associatePublicIpAddress", "true"), "associatePublicIpAddress = false"},
	{"aws-exposure-no-public-ip", "aws", "subnet maps public IPs", setIn("aws:ec2/subnet:Subnet", "stayup-net-private-eu-west-1a", "mapPublicIpOnLaunch", true), "mapPublicIpOnLaunch = false"},
	{"aws-exposure-no-public-ip", "aws", "fleet in a public subnet", func(t *testing.T, g *graph.Graph) {
		public := find(t, g, "aws:ec2/routeTable:RouteTable", "stayup-net-public")
		set(t, find(t, g, "aws:ec2/routeTableAssociation:RouteTableAssociation", "stayup-net-private-eu-west-1a"), "routeTableId", public.ID)
	}, "run the fleet in private subnets"},
	{"aws-exposure-egress", "aws", "all out", setIn(egressT, "stayup-net-app-https-out", "ipProtocol", "-1"), "allow only the ports"},
	{"aws-exposure-egress", "aws", "a port range out", setIn(egressT, "stayup-net-app-https-out", "toPort", 8443.0), "ports 443-8443"},
	{"aws-exposure-default-sg", "aws", "unmanaged", dropRes("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup", "stayup-net-default"), "manage it"},
	{"aws-exposure-default-sg", "aws", "rules in it", setIn("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup", "stayup-net-default", "ingress", []any{map[string]any{"protocol": "-1", "fromPort": 0.0, "toPort": 0.0, "self": true}}), "remove its ingress and egress"},
	{"aws-identity-no-wildcard-actions", "aws", "logs:*", setIn(rolePolT, "stayup-instance", "policy", policyDoc("logs:*", "arn:aws:logs:eu-west-1:123456789012:log-group:/stayup/aws/app")), "wildcard action logs:*"},
	{"aws-identity-no-wildcard-actions", "aws", "NotAction", setIn(rolePolT, "stayup-instance", "policy", `{"Statement":[{"Effect":"Allow","NotAction":"iam:*","Resource":"*"}]}`), "NotAction"},
	{"aws-identity-scoped-resources", "aws", "any log group", setIn(rolePolT, "stayup-instance", "policy", policyDoc("logs:PutLogEvents", "*")), "name the resources"},
	{"aws-identity-service-trust", "aws", "flow logs of any VPC", in("aws:iam/role:Role", "stayup-net-flow", func(t *testing.T, r *graph.Resource) {
		set(t, r, "assumeRolePolicy", strings.Replace(r.Str("assumeRolePolicy"), `"ArnLike":{"aws:SourceArn":"arn:aws:ec2:eu-west-1:123456789012:vpc-flow-log/*"},`, "", 1))
	}), "add the condition aws:SourceArn"},
	{"aws-identity-service-trust", "aws", "any account's flow logs", in("aws:iam/role:Role", "stayup-net-flow", func(t *testing.T, r *graph.Resource) {
		set(t, r, "assumeRolePolicy", strings.Replace(r.Str("assumeRolePolicy"), `,"StringEquals":{"aws:SourceAccount":"123456789012"}`, "", 1))
	}), "add the condition aws:SourceAccount"},
	{"aws-identity-instance-role", "aws", "no profile", delIn(ltT, "stayup-fleet", "iamInstanceProfile"), "no instance profile"},
	{"aws-identity-instance-role", "aws", "anyone may assume it", setIn("aws:iam/role:Role", "stayup-instance", "assumeRolePolicy", `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole"}]}`), "let only ec2.amazonaws.com"},
	{"aws-identity-instance-role", "aws", "admin attached", func(t *testing.T, g *graph.Graph) {
		add(g, "aws:iam/rolePolicyAttachment:RolePolicyAttachment", "admin", map[string]any{"role": "stayup-instance", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"})
	}, "attaches arn:aws:iam::aws:policy/AdministratorAccess"},
	{"aws-host-imdsv2", "aws", "IMDSv1", setIn(ltT, "stayup-fleet", "metadataOptions.httpTokens", "optional"), `httpTokens = "required"`},
	{"aws-host-imdsv2", "aws", "hop limit 2", setIn(ltT, "stayup-fleet", "metadataOptions.httpPutResponseHopLimit", 2.0), "httpPutResponseHopLimit = 1"},
	{"aws-host-encrypted-disks", "aws", "unencrypted", setIn(ltT, "stayup-fleet", "blockDeviceMappings.0.ebs.encrypted", "false"), "ebs.encrypted = true"},
	{"aws-host-encrypted-disks", "aws", "left to the default", delIn(ltT, "stayup-fleet", "blockDeviceMappings"), "account default"},
	{"aws-host-no-ssh-key", "aws", "key pair", setIn(ltT, "stayup-fleet", "keyName", "admin"), "remove keyName"},
	{"aws-transport-https", "aws-tls", "HTTP forwards", in(listenerT, "stayup-lb-http", func(t *testing.T, r *graph.Resource) {
		set(t, r, "defaultActions", []any{map[string]any{"type": "forward", "targetGroupArn": "x"}})
	}), "redirect to HTTPS"},
	{"aws-transport-tls-policy", "aws-tls", "2016 policy", setIn(listenerT, "stayup-lb-https", "sslPolicy", "ELBSecurityPolicy-2016-08"), "ELBSecurityPolicy-TLS13-1-2-2021-06"},
	{"aws-transport-tls-policy", "aws-tls", "no policy", delIn(listenerT, "stayup-lb-https", "sslPolicy"), "set sslPolicy"},
	{"aws-transport-header-hygiene", "aws", "invalid headers pass", setIn(albT, "stayup-lb", "dropInvalidHeaderFields", false), "dropInvalidHeaderFields = true"},
	{"aws-transport-header-hygiene", "aws", "desync monitor", setIn(albT, "stayup-lb", "desyncMitigationMode", "monitor"), "desyncMitigationMode"},
	{"aws-logging-flow", "aws", "no flow log", dropRes("aws:ec2/flowLog:FlowLog", "stayup-net"), "no flow log of ALL traffic"},
	{"aws-logging-flow", "aws", "rejects only", setIn("aws:ec2/flowLog:FlowLog", "stayup-net", "trafficType", "REJECT"), "no flow log of ALL traffic"},
	{"aws-logging-retention", "aws", "forever", delIn("aws:cloudwatch/logGroup:LogGroup", "stayup-instance-app", "retentionInDays"), "set retentionInDays"},
	{"aws-logging-instance", "aws", "no app log group", dropRes("aws:cloudwatch/logGroup:LogGroup", "stayup-instance-app"), "receives the instances' logs"},
	{"aws-logging-lb-access", "aws", "access logs off", setIn(albT, "stayup-lb", "accessLogs.enabled", false), "writes no access logs"},

	// GCP
	{"gcp-ha-zones", "gcp", "one zone", setIn(migT, "stayup-fleet", "distributionPolicyZones", []any{"europe-west1-b"}), "list at least two"},
	{"gcp-ha-zones", "gcp", "no group", dropRes(migT, "stayup-fleet"), "no regional managed instance group"},
	{"gcp-ha-min-size", "gcp", "min 1", setIn("gcp:compute/regionAutoscaler:RegionAutoscaler", "stayup-fleet", "autoscalingPolicy.minReplicas", 1.0), "minReplicas to 2"},
	{"gcp-ha-min-size", "gcp", "no autoscaler", dropRes("gcp:compute/regionAutoscaler:RegionAutoscaler", "stayup-fleet"), "add a regional autoscaler"},
	{"gcp-ha-autohealing", "gcp", "no autohealing", delIn(migT, "stayup-fleet", "autoHealingPolicies"), "no autohealing health check"},
	{"gcp-ha-autohealing", "gcp", "no delay", setIn(migT, "stayup-fleet", "autoHealingPolicies.initialDelaySec", 0.0), "initialDelaySec"},
	{"gcp-ha-lb-health-check", "gcp", "no check", setIn(beT, "stayup-lb", "healthChecks", ""), "no HTTP health check"},
	{"gcp-ha-lb-health-check", "gcp", "no draining", delIn(beT, "stayup-lb", "connectionDrainingTimeoutSec"), "connectionDrainingTimeoutSec"},
	{"gcp-ha-rolling-update", "gcp", "unavailable 1", setIn(migT, "stayup-fleet", "updatePolicy.maxUnavailableFixed", 1.0), "maxUnavailableFixed = 0"},
	{"gcp-ha-rolling-update", "gcp", "opportunistic", setIn(migT, "stayup-fleet", "updatePolicy.type", "OPPORTUNISTIC"), `"PROACTIVE"`},
	{"gcp-ha-rolling-update", "gcp", "refresh", setIn(migT, "stayup-fleet", "updatePolicy.minimalAction", "REFRESH"), `minimalAction = "REPLACE"`},
	{"gcp-ha-rolling-update", "gcp", "no surge", setIn(migT, "stayup-fleet", "updatePolicy.maxSurgeFixed", 0.0), "maxSurgeFixed"},
	{"gcp-exposure-public-entry", "gcp", "a stray forwarding rule", func(t *testing.T, g *graph.Graph) {
		fr := clone(g, find(t, g, "gcp:compute/globalForwardingRule:GlobalForwardingRule", "stayup-lb-http"), "stray")
		set(t, fr, "target", "projects/stayup-example/global/targetHttpProxies/elsewhere")
	}, "leads to no backend of the fleet"},
	{"gcp-exposure-app-from-lb", "gcp", "app port from anywhere", in(fwT, "stayup-net-lb-to-app", func(t *testing.T, r *graph.Resource) {
		appendTo(t, r, "sourceRanges", "0.0.0.0/0")
	}), "admits 0.0.0.0/0 to the instances"},
	{"gcp-exposure-app-from-lb", "gcp", "from other instances", setIn(fwT, "stayup-net-lb-to-app", "sourceTags", []any{"bastion"}), "admits other instances"},
	{"gcp-exposure-admin-ports", "gcp", "SSH from the internet", func(t *testing.T, g *graph.Graph) {
		fw := clone(g, find(t, g, fwT, "stayup-net-lb-to-app"), "ssh")
		set(t, fw, "allows", []any{map[string]any{"protocol": "tcp", "ports": []any{"22"}}})
		set(t, fw, "sourceRanges", []any{"0.0.0.0/0"})
	}, "admits port 22 from the internet"},
	{"gcp-exposure-admin-ports", "gcp", "everything from the internet", func(t *testing.T, g *graph.Graph) {
		fw := clone(g, find(t, g, fwT, "stayup-net-lb-to-app"), "all")
		set(t, fw, "allows", []any{map[string]any{"protocol": "all"}})
		set(t, fw, "sourceRanges", []any{"0.0.0.0/0"})
	}, "admits port 22"},
	{"gcp-exposure-no-public-ip", "gcp", "external IP", setIn(tmplT, "stayup-fleet", "networkInterfaces.0.accessConfigs", []any{map[string]any{"networkTier": "PREMIUM"}}), "remove networkInterfaces.0.accessConfigs"},
	{"gcp-exposure-egress", "gcp", "no egress deny", dropRes(fwT, "stayup-net-deny-egress"), "implied allow-egress"},
	{"gcp-exposure-private-egress", "gcp", "HTTPS to anywhere", setIn(fwT, "stayup-net-https-out", "destinationRanges", []any{"0.0.0.0/0"}), "allow HTTPS to private.googleapis.com (199.36.153.8/30) only"},
	{"gcp-exposure-private-egress", "gcp", "Cloud NAT", func(t *testing.T, g *graph.Graph) {
		add(g, "gcp:compute/routerNat:RouterNat", "stray", map[string]any{"router": "stayup-net"})
	}, "remove it; Private Google Access"},
	{"gcp-exposure-private-egress", "gcp", "no pkg.dev zone", dropRes("gcp:dns/managedZone:ManagedZone", "stayup-net-pkg-dev"), "no private DNS zone for pkg.dev."},
	{"gcp-identity-image-pull", "gcp", "no credential helper", editUserData("docker-credential-gcr configure-docker --registries=us-docker.pkg.dev", "true"), "configure docker-credential-gcr for us-docker.pkg.dev"},
	{"gcp-identity-image-pull", "gcp-ar", "no reader grant", dropRes("gcp:artifactregistry/repositoryIamMember:RepositoryIamMember", "stayup-instance-pull"), "grant it roles/artifactregistry.reader on repository apps (europe)"},
	{"gcp-identity-dedicated-sa", "gcp", "default account", setIn(tmplT, "stayup-fleet", "serviceAccount.email", "123456789-compute@developer.gserviceaccount.com"), "default compute service account"},
	{"gcp-identity-dedicated-sa", "gcp", "someone else's account", setIn(tmplT, "stayup-fleet", "serviceAccount.email", "ops@other.iam.gserviceaccount.com"), "which the stack does not create"},
	{"gcp-identity-no-broad-roles", "gcp", "editor", setIn(memberT, "stayup-instance-logging-logwriter", "role", "roles/editor"), "grants roles/editor"},
	{"gcp-identity-no-broad-roles", "gcp", "impersonation", setIn(memberT, "stayup-instance-logging-logwriter", "role", "roles/iam.serviceAccountTokenCreator"), "serviceAccountTokenCreator"},
	{"gcp-identity-scoped", "gcp", "project-wide registry reader", setIn(memberT, "stayup-instance-logging-logwriter", "role", "roles/artifactregistry.reader"), "grant it on the one resource"},
	{"gcp-identity-scoped", "gcp", "metric writer nothing uses", func(t *testing.T, g *graph.Graph) {
		set(t, clone(g, find(t, g, memberT, "stayup-instance-logging-logwriter"), "metrics"), "role", "roles/monitoring.metricWriter")
	}, "or not at all"},
	{"gcp-host-shielded-vm", "gcp", "no secure boot", setIn(tmplT, "stayup-fleet", "shieldedInstanceConfig.enableSecureBoot", false), "enableSecureBoot = true"},
	{"gcp-host-os-login", "gcp", "OS Login off", setIn(tmplT, "stayup-fleet", "metadata.enable-oslogin", "FALSE"), "enable-oslogin = TRUE"},
	{"gcp-host-os-login", "gcp", "project keys", delIn(tmplT, "stayup-fleet", "metadata.block-project-ssh-keys"), "block-project-ssh-keys = TRUE"},
	{"gcp-host-os-login", "gcp", "keys in metadata", setIn(tmplT, "stayup-fleet", "metadata.ssh-keys", "admin:ssh-ed25519 AAAA"), "remove them and use OS Login"},
	{"gcp-host-serial-and-forwarding", "gcp", "serial console", setIn(tmplT, "stayup-fleet", "metadata.serial-port-enable", "TRUE"), "serial-port-enable = FALSE"},
	{"gcp-host-serial-and-forwarding", "gcp", "IP forwarding", setIn(tmplT, "stayup-fleet", "canIpForward", true), "canIpForward = false"},
	{"gcp-host-metadata-from-container", "gcp", "no block", editUserData("-j REJECT", "-j ACCEPT"), "DOCKER-USER rule rejecting it"},
	{"gcp-host-metadata-from-container", "gcp", "not re-run on docker restarts", editUserData("PartOf=docker.service", ""), "PartOf=docker.service"},
	{"gcp-host-metadata-from-container", "gcp", "app before the block", editUserData("Requires=docker.service stayup-metadata-block.service", "Requires=docker.service"), "may start before the metadata block"},
	{"gcp-transport-https", "gcp-tls", "HTTP serves", func(t *testing.T, g *graph.Graph) {
		serve := find(t, g, "gcp:compute/uRLMap:URLMap", "stayup-lb")
		set(t, find(t, g, "gcp:compute/targetHttpProxy:TargetHttpProxy", "stayup-lb"), "urlMap", serve.ID)
	}, "httpsRedirect = true"},
	// The provisioning phase is waived only as the program declares it.
	{"gcp-transport-https", "gcp-tls-provisioning", "serving without the phase label", delIn("gcp:compute/globalForwardingRule:GlobalForwardingRule", "stayup-lb-http", "labels.stayup-https-redirect"), "httpsRedirect = true"},
	{"gcp-transport-https", "gcp-tls-provisioning", "serving with the user's certificate", setIn("gcp:compute/targetHttpsProxy:TargetHttpsProxy", "stayup-lb", "sslCertificates", []any{"projects/p/global/sslCertificates/web"}), "httpsRedirect = true"},
	{"gcp-transport-tls-policy", "gcp-tls", "compatible profile", setIn("gcp:compute/sSLPolicy:SSLPolicy", "stayup-lb", "profile", "COMPATIBLE"), `profile = "MODERN"`},
	{"gcp-transport-tls-policy", "gcp-tls", "TLS 1.0", setIn("gcp:compute/sSLPolicy:SSLPolicy", "stayup-lb", "minTlsVersion", "TLS_1_0"), `minTlsVersion = "TLS_1_2"`},
	{"gcp-transport-tls-policy", "gcp-tls", "no policy", delIn("gcp:compute/targetHttpsProxy:TargetHttpsProxy", "stayup-lb", "sslPolicy"), "no SSL policy"},
	{"gcp-logging-flow", "gcp", "no flow logs", delIn("gcp:compute/subnetwork:Subnetwork", "stayup-net", "logConfig"), "no flow logs"},
	{"gcp-logging-lb", "gcp", "no request logs", setIn(beT, "stayup-lb", "logConfig.enable", false), "logConfig.enable = true"},
	{"gcp-logging-instance", "gcp", "may not write", dropRes(memberT, "stayup-instance-logging-logwriter"), "roles/logging.logWriter"},
	{"gcp-logging-instance", "gcp", "logging agent off", setIn(tmplT, "stayup-fleet", "metadata.google-logging-enabled", "false"), "google-logging-enabled = true"},
	{"gcp-logging-firewall", "gcp", "unlogged deny", delIn(fwT, "stayup-net-deny-egress", "logConfig"), "does not log"},
	{"gcp-logging-firewall", "gcp", "unlogged egress allow", delIn(fwT, "stayup-net-https-out", "logConfig"), "does not log"},
	{"gcp-logging-firewall", "gcp", "unlogged front-end rule opened to the internet", func(t *testing.T, g *graph.Graph) {
		fw := find(t, g, fwT, "stayup-net-lb-to-app")
		appendTo(t, fw, "sourceRanges", "0.0.0.0/0")
	}, "does not log"},
	{"gcp-logging-flow", "gcp", "sampling nothing", setIn("gcp:compute/subnetwork:Subnetwork", "stayup-net", "logConfig.flowSampling", 0.0), "samples no flows"},

	// Azure
	{"azure-ha-zones", "azure", "one zone", setIn(vmssT, "stayup-fleet", "zones", []any{"1"}), "spans 1 zone"},
	{"azure-ha-zones", "azure", "unbalanced", setIn(vmssT, "stayup-fleet", "zoneBalance", false), "zoneBalance = true"},
	{"azure-ha-zones", "azure", "zonal gateway", setIn(gwT, "stayup-gw", "zones", []any{"2"}), "Application Gateway stayup-gw spans 1 zone"},
	{"azure-ha-zones", "azure", "no scale set", dropRes(vmssT, "stayup-fleet"), "no virtual machine scale set"},
	{"azure-ha-min-size", "azure", "min 1", setIn("azure-native:insights:AutoscaleSetting", "stayup-fleet", "profiles.0.capacity.minimum", "1"), "capacity.minimum to 2"},
	{"azure-ha-min-size", "azure", "one gateway instance", setIn(gwT, "stayup-gw", "autoscaleConfiguration.minCapacity", 1.0), "minCapacity to 2"},
	{"azure-ha-min-size", "azure", "autoscale off, one instance", func(t *testing.T, g *graph.Graph) {
		set(t, find(t, g, "azure-native:insights:AutoscaleSetting", "stayup-fleet"), "enabled", false)
		set(t, find(t, g, vmssT, "stayup-fleet"), "sku.capacity", 1.0)
	}, "no enabled autoscale setting"},
	{"azure-ha-autohealing", "azure", "no repairs", setIn(vmssT, "stayup-fleet", "automaticRepairsPolicy.enabled", false), "automaticRepairsPolicy.enabled = true"},
	{"azure-ha-autohealing", "azure", "health judged during the boot", setIn(vmssT, "stayup-fleet", vmp+"extensionProfile.extensions.0.settings.numberOfProbes", 2.0), "intervalInSeconds x numberOfProbes = 20 s"},
	{"azure-ha-autohealing", "azure", "gracePeriod on 1.0", setIn(vmssT, "stayup-fleet", vmp+"extensionProfile.extensions.0.settings.gracePeriod", 600.0), "remove it"},
	{"azure-ha-autohealing", "azure", "no health extension", setIn(vmssT, "stayup-fleet", vmp+"extensionProfile.extensions", []any{}), "ApplicationHealthLinux"},
	{"azure-ha-lb-health-check", "azure", "no probe", setIn(gwT, "stayup-gw", "probes", []any{}), "use no probe with a path"},
	{"azure-ha-lb-health-check", "azure", "no draining", setIn(gwT, "stayup-gw", "backendHttpSettingsCollection.0.connectionDraining.enabled", false), "do not drain"},
	{"azure-ha-rolling-update", "azure", "automatic mode", setIn(vmssT, "stayup-fleet", "upgradePolicy.mode", "Automatic"), `mode = "Rolling"`},
	{"azure-ha-rolling-update", "azure", "no surge", setIn(vmssT, "stayup-fleet", "upgradePolicy.rollingUpgradePolicy.maxSurge", false), "maxSurge = true"},
	{"azure-ha-rolling-update", "azure", "no rollback", setIn(vmssT, "stayup-fleet", "upgradePolicy.rollingUpgradePolicy.rollbackFailedInstancesOnPolicyBreach", false), "rollbackFailedInstancesOnPolicyBreach = true"},
	{"azure-exposure-public-entry", "azure", "a stray public IP", func(t *testing.T, g *graph.Graph) {
		clone(g, find(t, g, "azure-native:network:PublicIPAddress", "stayup-gw"), "stray")
	}, "serves neither the gateway nor egress"},
	{"azure-exposure-public-entry", "azure", "inbound through the egress LB", setIn("azure-native:network:LoadBalancer", "stayup-net-egress", "loadBalancingRules", []any{map[string]any{"name": "in", "frontendPort": 8080.0}}), "has loadBalancingRules"},
	{"azure-exposure-app-from-gateway", "azure", "app port from anywhere", setIn(nsgT, "stayup-net-fleet", "securityRules.0.sourceAddressPrefix", "*"), "only from the gateway's subnet"},
	{"azure-exposure-app-from-gateway", "azure", "fleet subnet without NSG", delIn("azure-native:network:Subnet", "stayup-net-fleet", "networkSecurityGroup"), "has no network security group"},
	{"azure-exposure-admin-ports", "azure", "SSH from the internet", in(nsgT, "stayup-net-gateway", func(t *testing.T, r *graph.Resource) {
		appendTo(t, r, "securityRules", map[string]any{"name": "ssh", "access": "Allow", "direction": "Inbound", "priority": 300.0, "protocol": "Tcp",
			"sourceAddressPrefix": "Internet", "sourcePortRange": "*", "destinationAddressPrefix": "*", "destinationPortRanges": []any{"22", "443"}})
	}), "admits port 22"},
	{"azure-exposure-admin-ports", "azure", "RDP in a separate rule resource", func(t *testing.T, g *graph.Graph) {
		add(g, "azure-native:network:SecurityRule", "rdp", map[string]any{"networkSecurityGroupName": "stayup-net-fleet", "access": "Allow", "direction": "Inbound",
			"priority": 300.0, "protocol": "*", "sourceAddressPrefix": "0.0.0.0/0", "destinationPortRange": "3000-4000"})
	}, "admits port 3389"},
	{"azure-exposure-no-public-ip", "azure", "instance public IP", setIn(vmssT, "stayup-fleet", vmp+"networkProfile.networkInterfaceConfigurations.0.ipConfigurations.0.publicIPAddressConfiguration", map[string]any{"name": "pip"}), "remove publicIPAddressConfiguration"},
	{"azure-exposure-egress", "azure", "egress deny lifted", in(nsgT, "stayup-net-fleet", func(t *testing.T, r *graph.Resource) {
		rules := r.List("securityRules")
		set(t, r, "securityRules."+itoa(len(rules)-1)+".access", "Allow")
	}), "may connect anywhere"},
	{"azure-identity-dedicated", "azure-acr", "no identity", delIn(vmssT, "stayup-fleet", "identity"), `identity.type = "SystemAssigned"`},
	{"azure-identity-unused", "azure", "identity without a role", setIn(vmssT, "stayup-fleet", "identity", map[string]any{"type": "SystemAssigned"}), "holds no role"},
	{"azure-identity-unused", "azure-acr", "its role gone", dropRes("azure-native:authorization:RoleAssignment", "stayup-instance-pull"), "holds no role"},
	{"azure-identity-no-broad-roles", "azure-acr", "contributor", setIn("azure-native:authorization:RoleAssignment", "stayup-instance-pull", "roleDefinitionId", "/subscriptions/00000000-0000-4000-8000-000000000000/providers/Microsoft.Authorization/roleDefinitions/b24988ac-6180-42a0-ab88-20f7382dd24c"), "grants Contributor"},
	{"azure-identity-scoped", "azure-acr", "resource group scope", setIn("azure-native:authorization:RoleAssignment", "stayup-instance-pull", "scope", "/subscriptions/00000000-0000-4000-8000-000000000000/resourceGroups/images"), "scope it to the one resource"},
	{"azure-identity-scoped", "azure-acr", "subscription scope", setIn("azure-native:authorization:RoleAssignment", "stayup-instance-pull", "scope", "/subscriptions/00000000-0000-4000-8000-000000000000"), "scope it to the one resource"},
	{"azure-host-ssh-keys", "azure", "passwords on", setIn(vmssT, "stayup-fleet", vmp+"osProfile.linuxConfiguration.disablePasswordAuthentication", false), "disablePasswordAuthentication = true"},
	{"azure-host-ssh-keys", "azure", "no key", setIn(vmssT, "stayup-fleet", vmp+"osProfile.linuxConfiguration.ssh.publicKeys", []any{}), "ssh.publicKeys"},
	{"azure-host-metadata-from-container", "azure", "wireserver reachable", editBoot(`for blocked in 169.254.169.254 168.63.129.16; do`, `for blocked in 169.254.169.254; do`), "168.63.129.16 (the wireserver)"},
	{"azure-host-metadata-from-container", "azure", "container starts unblocked", editBoot(`Requires=docker.service stayup-metadata-block.service`, `Requires=docker.service`), "does not wait for stayup-metadata-block.service"},
	{"azure-host-metadata-from-container", "azure-acr", "no block", editBoot(`--jump REJECT)`, `--jump ACCEPT)`), "no boot script rejects"},
	{"azure-host-encryption-at-host", "azure", "off", setIn(vmssT, "stayup-fleet", vmp+"securityProfile.encryptionAtHost", false), "encryptionAtHost = true"},
	{"azure-host-trusted-launch", "azure", "no secure boot", setIn(vmssT, "stayup-fleet", vmp+"securityProfile.uefiSettings.secureBootEnabled", false), `securityType = "TrustedLaunch"`},
	{"azure-transport-https", "azure-tls", "HTTP serves", in(gwT, "stayup-gw", func(t *testing.T, r *graph.Resource) {
		for i, rr := range r.List("requestRoutingRules") {
			if graph.Lookup(rr, "redirectConfiguration") != nil {
				del(t, r, "requestRoutingRules."+itoa(i)+".redirectConfiguration")
				set(t, r, "requestRoutingRules."+itoa(i)+".backendAddressPool", map[string]any{"id": "fleet"})
			}
		}
	}), "make it a redirect"},
	{"azure-transport-tls-policy", "azure-tls", "2015 policy", setIn(gwT, "stayup-gw", "sslPolicy.policyName", "AppGwSslPolicy20150501"), "use AppGwSslPolicy20220101S"},
	{"azure-transport-tls-policy", "azure-tls", "custom TLS 1.0", func(t *testing.T, g *graph.Graph) {
		gw := find(t, g, gwT, "stayup-gw")
		set(t, gw, "sslPolicy", map[string]any{"policyType": "CustomV2", "minProtocolVersion": "TLSv1_0"})
	}, `minProtocolVersion = "TLSv1_2"`},
	{"azure-transport-tls-policy", "azure-tls", "no policy", delIn(gwT, "stayup-gw", "sslPolicy"), "sets no TLS policy"},
	{"azure-logging-gateway", "azure", "no logs sent", setIn("azure-native:insights:DiagnosticSetting", "stayup-logs-gateway", "logs", []any{}), "keeps no access logs"},
	{"azure-logging-flow", "azure", "no retention", setIn("azure-native:network:FlowLog", "stayup-logs-flow", "retentionPolicy.enabled", false), "has no flow logs"},
	{"azure-logging-flow-storage", "azure", "open to every network", setIn(storageT, "stayupflowlogs", "networkRuleSet.defaultAction", "Allow"), `defaultAction = "Deny"`},
	{"azure-logging-flow-storage", "azure", "no network rules", delIn(storageT, "stayupflowlogs", "networkRuleSet"), `defaultAction = "Deny"`},
	{"azure-logging-flow-storage", "azure", "trusted services denied", setIn(storageT, "stayupflowlogs", "networkRuleSet.bypass", "None"), `bypass = "AzureServices"`},
	{"azure-logging-flow-storage", "azure", "public access off", setIn(storageT, "stayupflowlogs", "publicNetworkAccess", "Disabled"), "cannot write flow logs"},
	{"azure-logging-boot-diagnostics", "azure", "off", setIn(vmssT, "stayup-fleet", vmp+"diagnosticsProfile.bootDiagnostics.enabled", false), "bootDiagnostics.enabled = true"},
}

func itoa(i int) string { return strconv.Itoa(i) }

// editUserData replaces text in the GCP template's cloud-config.
func editUserData(old, new string) func(*testing.T, *graph.Graph) {
	return in(tmplT, "stayup-fleet", func(t *testing.T, r *graph.Resource) {
		doc := r.Str("metadata.user-data")
		if !strings.Contains(doc, old) {
			t.Fatalf("the cloud-config has no %q", old)
		}
		set(t, r, "metadata.user-data", strings.Replace(doc, old, new, 1))
	})
}

// editBoot replaces text in the Azure scale set's cloud-config (base64 in
// its custom data), failing when the text is not there.
func editBoot(old, new string) func(*testing.T, *graph.Graph) {
	return in(vmssT, "stayup-fleet", func(t *testing.T, r *graph.Resource) {
		raw, err := base64.StdEncoding.DecodeString(r.Str(vmp + "osProfile.customData"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(raw), old) {
			t.Fatalf("the cloud-config has no %q", old)
		}
		set(t, r, vmp+"osProfile.customData", base64.StdEncoding.EncodeToString([]byte(strings.Replace(string(raw), old, new, 1))))
	})
}

// TestRulesPassAndFail proves each rule both ways on the real plans: the
// passing plan gets no unwaived finding from it, and every mutation gets
// one naming what to change.
func TestRulesPassAndFail(t *testing.T) {
	t.Parallel()
	for _, m := range mutations {
		t.Run(m.rule+"/"+m.name, func(t *testing.T) {
			t.Parallel()
			g := passing(t, m.variant)
			if bad := unwaived(policy.Check(g), m.rule); len(bad) > 0 {
				t.Fatalf("the passing plan fails %s: %+v", m.rule, bad)
			}
			m.mutate(t, g)
			got := unwaived(policy.Check(g), m.rule)
			if len(got) == 0 {
				t.Fatalf("%s does not fail when %s", m.rule, m.name)
			}
			var msgs []string
			for _, f := range got {
				if strings.Contains(f.Message, m.want) {
					return
				}
				msgs = append(msgs, f.Message)
			}
			t.Errorf("%s reports %q, want a message containing %q", m.rule, msgs, m.want)
		})
	}
}

// TestEveryRuleCanFail: a rule without a failing case could be one that
// never fails, which is a defect.
func TestEveryRuleCanFail(t *testing.T) {
	t.Parallel()
	tested := map[string]bool{}
	for _, m := range mutations {
		tested[m.rule] = true
	}
	for _, r := range policy.Rules() {
		if !tested[r.ID] {
			t.Errorf("rule %s has no mutation that makes it fail", r.ID)
		}
		delete(tested, r.ID)
	}
	for id := range tested {
		t.Errorf("mutations name rule %s, which does not exist", id)
	}
}
