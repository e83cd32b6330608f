package permissions

// The GCP tables. pulumi-gcp is the Terraform Google provider bridged: a
// resource's create, read, update and delete are the REST calls of
// terraform-provider-google's resource_<name>.go, and each call's
// permission is the one the Compute Engine, IAM and Resource Manager
// references list for that method ("Compute Engine IAM roles and
// permissions"; the API reference's "IAM permissions" line per method).
// Compute's long-running operations are polled: global, regional or zonal
// operations.get, listed with each type.

// gcpResources maps each resource type to the permissions it needs.
var gcpResources = map[string][]string{
	// networks.insert/get/patch/delete; the default routes are read on create.
	"gcp:compute/network:Network": {
		"compute.networks.create", "compute.networks.get", "compute.networks.update", "compute.networks.delete",
		"compute.routes.list", "compute.globalOperations.get",
	},
	// A subnet in a network changes the network's policy (networks.updatePolicy).
	"gcp:compute/subnetwork:Subnetwork": {
		"compute.subnetworks.create", "compute.subnetworks.get", "compute.subnetworks.update", "compute.subnetworks.delete",
		"compute.subnetworks.setPrivateIpGoogleAccess", "compute.networks.updatePolicy", "compute.regionOperations.get",
	},
	"gcp:compute/firewall:Firewall": {
		"compute.firewalls.create", "compute.firewalls.get", "compute.firewalls.update", "compute.firewalls.delete",
		"compute.networks.updatePolicy", "compute.globalOperations.get",
	},
	"gcp:compute/router:Router": {
		"compute.routers.create", "compute.routers.get", "compute.routers.update", "compute.routers.delete",
		"compute.networks.updatePolicy", "compute.regionOperations.get",
	},
	// Cloud NAT is part of its router: routers.get and routers.update (patch).
	"gcp:compute/routerNat:RouterNat": {
		"compute.routers.get", "compute.routers.update", "compute.regionOperations.get",
	},
	// Private zones bind to the VPC (dns.networks.bindPrivateDNSZone on the
	// network, per the Cloud DNS access control page); records go through
	// changes, read back by listing the zone's record sets.
	"gcp:dns/managedZone:ManagedZone": {
		"dns.managedZones.create", "dns.managedZones.get", "dns.managedZones.update", "dns.managedZones.delete",
		"dns.networks.bindPrivateDNSZone", "compute.networks.get",
	},
	"gcp:dns/recordSet:RecordSet": {
		"dns.changes.create", "dns.changes.get", "dns.resourceRecordSets.create", "dns.resourceRecordSets.get",
		"dns.resourceRecordSets.list", "dns.resourceRecordSets.update", "dns.resourceRecordSets.delete",
	},
	"gcp:compute/globalAddress:GlobalAddress": {
		"compute.globalAddresses.create", "compute.globalAddresses.get", "compute.globalAddresses.delete",
		"compute.globalAddresses.setLabels", "compute.globalOperations.get",
	},
	// The rule uses its address and its target proxy (the *.use permissions).
	"gcp:compute/globalForwardingRule:GlobalForwardingRule": {
		"compute.globalForwardingRules.create", "compute.globalForwardingRules.get", "compute.globalForwardingRules.delete",
		"compute.globalForwardingRules.setTarget", "compute.globalForwardingRules.setLabels",
		"compute.globalAddresses.use", "compute.targetHttpProxies.use", "compute.targetHttpsProxies.use",
		"compute.globalOperations.get",
	},
	"gcp:compute/healthCheck:HealthCheck": {
		"compute.healthChecks.create", "compute.healthChecks.get", "compute.healthChecks.update", "compute.healthChecks.delete",
		"compute.healthChecks.useReadOnly", "compute.globalOperations.get",
	},
	// The backend service uses the health check and the group's instance group.
	"gcp:compute/backendService:BackendService": {
		"compute.backendServices.create", "compute.backendServices.get", "compute.backendServices.update", "compute.backendServices.delete",
		"compute.healthChecks.useReadOnly", "compute.instanceGroups.use", "compute.globalOperations.get",
	},
	"gcp:compute/uRLMap:URLMap": {
		"compute.urlMaps.create", "compute.urlMaps.get", "compute.urlMaps.update", "compute.urlMaps.delete",
		"compute.backendServices.use", "compute.globalOperations.get",
	},
	"gcp:compute/targetHttpProxy:TargetHttpProxy": {
		"compute.targetHttpProxies.create", "compute.targetHttpProxies.get", "compute.targetHttpProxies.delete",
		"compute.targetHttpProxies.setUrlMap", "compute.urlMaps.use", "compute.globalOperations.get",
	},
	"gcp:compute/targetHttpsProxy:TargetHttpsProxy": {
		"compute.targetHttpsProxies.create", "compute.targetHttpsProxies.get", "compute.targetHttpsProxies.delete",
		"compute.targetHttpsProxies.setUrlMap", "compute.targetHttpsProxies.setSslCertificates", "compute.targetHttpsProxies.setSslPolicy",
		"compute.urlMaps.use", "compute.sslCertificates.get", "compute.sslPolicies.use", "compute.globalOperations.get",
	},
	"gcp:compute/managedSslCertificate:ManagedSslCertificate": {
		"compute.sslCertificates.create", "compute.sslCertificates.get", "compute.sslCertificates.delete", "compute.globalOperations.get",
	},
	"gcp:compute/sSLPolicy:SSLPolicy": {
		"compute.sslPolicies.create", "compute.sslPolicies.get", "compute.sslPolicies.update", "compute.sslPolicies.delete",
		"compute.globalOperations.get",
	},
	// A template that runs as a service account needs actAs on it; the boot
	// image is read from its (public) project.
	"gcp:compute/instanceTemplate:InstanceTemplate": {
		"compute.instanceTemplates.create", "compute.instanceTemplates.get", "compute.instanceTemplates.delete",
		"compute.images.useReadOnly", "compute.networks.get", "compute.subnetworks.get",
		"iam.serviceAccounts.actAs", "compute.globalOperations.get",
	},
	// The group creates its VMs as the template says (actAs again); the
	// provider waits for the group to be stable (instanceGroupManagers.get,
	// listManagedInstances is covered by get).
	"gcp:compute/regionInstanceGroupManager:RegionInstanceGroupManager": {
		"compute.instanceGroupManagers.create", "compute.instanceGroupManagers.get", "compute.instanceGroupManagers.update",
		"compute.instanceGroupManagers.delete", "compute.instanceGroupManagers.use",
		"compute.instanceTemplates.useReadOnly", "compute.healthChecks.useReadOnly",
		"compute.instances.create", "compute.instances.setMetadata", "compute.instances.setServiceAccount",
		"compute.instances.setLabels", "compute.disks.create", "compute.subnetworks.use",
		"iam.serviceAccounts.actAs", "compute.regionOperations.get", "compute.zoneOperations.get",
	},
	"gcp:compute/regionAutoscaler:RegionAutoscaler": {
		"compute.autoscalers.create", "compute.autoscalers.get", "compute.autoscalers.update", "compute.autoscalers.delete",
		"compute.instanceGroupManagers.use", "compute.regionOperations.get",
	},
	"gcp:serviceaccount/account:Account": {
		"iam.serviceAccounts.create", "iam.serviceAccounts.get", "iam.serviceAccounts.update", "iam.serviceAccounts.delete",
	},
	// Read-modify-write of the project's policy. The roles this may grant
	// are limited by the condition on the binding (see gcpGrantCondition).
	"gcp:projects/iAMMember:IAMMember": {
		"resourcemanager.projects.getIamPolicy", "resourcemanager.projects.setIamPolicy",
	},
	// Reader on the image's repository, when it is in the project's Artifact Registry.
	"gcp:artifactregistry/repositoryIamMember:RepositoryIamMember": {
		"artifactregistry.repositories.getIamPolicy", "artifactregistry.repositories.setIamPolicy",
	},
}

// gcpInvokes maps the program's data-source lookups to their permissions.
var gcpInvokes = map[string][]string{
	"gcp:compute/getZones:getZones": {"compute.zones.list"},
	// The image family's newest image, from the OS image's public project:
	// public image projects grant compute.images.* to all authenticated users.
	"gcp:compute/getImage:getImage": {"compute.images.getFromFamily", "compute.images.get"},
}

// gcpStayup are doctor's own calls with the deployer's credentials:
// Service Usage's list of enabled services, the region (its quotas and
// zones), the project. testIamPermissions needs no permission. And up's
// read of the managed certificate after the engine returns, to say the
// HTTPS phase.
var gcpStayup = []string{
	"serviceusage.services.list", "compute.regions.get", "compute.zones.list", "resourcemanager.projects.get",
	"compute.machineTypes.get", "compute.instanceGroupManagers.get", "compute.sslCertificates.get",
	// Whether the pinned image (stayup:baseImage) is deprecated or gone;
	// cos-cloud's images are readable by any authenticated caller, one in
	// the stack's own project needs this.
	"compute.images.get",
}

// gcpOperate are the calls internal/fleet/gcp makes, each named in its
// permission errors.
var gcpOperate = []string{
	"compute.instanceGroupManagers.get",    // the group, its managed instances and their health
	"compute.autoscalers.get",              // the autoscaler's bounds
	"compute.instances.get",                // each instance's state and zone
	"compute.backendServices.get",          // the backend service and its backends' health (getHealth)
	"compute.healthChecks.get",             // the autohealing check's timing
	"compute.sslCertificates.get",          // status: the managed certificate's state, the HTTPS phase
	"compute.instances.reset",              // chaos --mode abrupt: a hard reset, no shutdown
	"compute.instanceGroupManagers.update", // chaos --mode graceful (recreateInstances) and rollout
	"compute.instanceTemplates.list",       // rollout: the stack's retained templates, by label
	"compute.instanceTemplates.delete",     // rollout: delete the ones the group rolled off
	"compute.images.get",                   // status: whether the pinned image is deprecated or gone
}

// gcpNotSupported lists permissions the table may hold that a custom role
// cannot (custom-role support level NOT_SUPPORTED), with what grants them
// instead. None of the permissions above is NOT_SUPPORTED as far as the
// IAM permissions reference says; `gcloud iam list-testable-permissions
// //cloudresourcemanager.googleapis.com/projects/PROJECT
// --filter=customRolesSupportLevel=NOT_SUPPORTED` is the check, and an
// entry here keeps such a permission out of the role and in the notes.
var gcpNotSupported = map[string]string{}

// gcpAPIs says which service each permission prefix is served by: the APIs
// the project must enable.
var gcpAPIs = map[string]string{
	"compute.":          "compute.googleapis.com",
	"iam.":              "iam.googleapis.com",
	"resourcemanager.":  "cloudresourcemanager.googleapis.com",
	"serviceusage.":     "serviceusage.googleapis.com",
	"artifactregistry.": "artifactregistry.googleapis.com",
	"dns.":              "dns.googleapis.com",
}

// gcpRoleAPIs: the roles the program grants the instances are used against
// these APIs (the instances write logs and pull their image).
var gcpRoleAPIs = map[string]string{
	"roles/logging.logWriter":       "logging.googleapis.com",
	"roles/artifactregistry.reader": "artifactregistry.googleapis.com",
}
