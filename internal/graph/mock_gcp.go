package graph

import (
	"fmt"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// gcpZones are the zones the mocks report per region; a region not listed
// has zones a, b and c.
var gcpZones = map[string][]string{
	"europe-west1": {"europe-west1-b", "europe-west1-c", "europe-west1-d"},
	"us-central1":  {"us-central1-a", "us-central1-b", "us-central1-c", "us-central1-f"},
	"us-east1":     {"us-east1-b", "us-east1-c", "us-east1-d"},
}

// GCPZones returns the zones a mocked GCP region has.
func GCPZones(region string) []string {
	if z, ok := gcpZones[region]; ok {
		return z
	}
	return []string{region + "-a", region + "-b", region + "-c"}
}

// gcpProjectNumber is the number of every mocked project.
const gcpProjectNumber = "123456789012"

func (m *mocks) gcpProject() string {
	if p := m.config["gcp:project"]; p != "" {
		return p
	}
	return "stayup-plan"
}

func (m *mocks) gcpRegion() string {
	if r := m.config["gcp:region"]; r != "" {
		return r
	}
	return "us-central1"
}

// gcpCollection maps a resource type to where its self link lives.
var gcpCollection = map[string]string{
	"gcp:compute/network:Network":                                       "global/networks",
	"gcp:compute/subnetwork:Subnetwork":                                 "regions/%s/subnetworks",
	"gcp:compute/router:Router":                                         "regions/%s/routers",
	"gcp:compute/firewall:Firewall":                                     "global/firewalls",
	"gcp:compute/instanceTemplate:InstanceTemplate":                     "global/instanceTemplates",
	"gcp:compute/healthCheck:HealthCheck":                               "global/healthChecks",
	"gcp:compute/regionInstanceGroupManager:RegionInstanceGroupManager": "regions/%s/instanceGroupManagers",
	"gcp:compute/regionAutoscaler:RegionAutoscaler":                     "regions/%s/autoscalers",
	"gcp:compute/backendService:BackendService":                         "global/backendServices",
	"gcp:compute/globalAddress:GlobalAddress":                           "global/addresses",
	"gcp:compute/uRLMap:URLMap":                                         "global/urlMaps",
	"gcp:compute/targetHttpProxy:TargetHttpProxy":                       "global/targetHttpProxies",
	"gcp:compute/targetHttpsProxy:TargetHttpsProxy":                     "global/targetHttpsProxies",
	"gcp:compute/globalForwardingRule:GlobalForwardingRule":             "global/forwardingRules",
	"gcp:compute/managedSslCertificate:ManagedSslCertificate":           "global/sslCertificates",
	"gcp:compute/sSLPolicy:SSLPolicy":                                   "global/sslPolicies",
	"gcp:compute/securityPolicy:SecurityPolicy":                         "global/securityPolicies",
}

func (m *mocks) gcpPhysical(typ, name string, inputs resource.PropertyMap) (string, map[string]any) {
	project, region := m.gcpProject(), m.gcpRegion()
	out := map[string]any{}
	physName := name
	if v, ok := inputs["name"]; ok && v.IsString() && v.StringValue() != "" {
		physName = v.StringValue()
	} else {
		out["name"] = physName
	}
	id := fmt.Sprintf("projects/%s/%s", project, physName)
	if coll, ok := gcpCollection[typ]; ok {
		if strings.Contains(coll, "%s") {
			coll = fmt.Sprintf(coll, region)
		}
		id = fmt.Sprintf("projects/%s/%s/%s", project, coll, physName)
		out["selfLink"] = "https://www.googleapis.com/compute/v1/" + id
	}
	switch typ {
	case "gcp:serviceaccount/account:Account":
		accountID, _ := inputs["accountId"]
		email := fmt.Sprintf("%s@%s.iam.gserviceaccount.com", accountID.StringValue(), project)
		id = fmt.Sprintf("projects/%s/serviceAccounts/%s", project, email)
		out["email"] = email
		out["member"] = "serviceAccount:" + email
	case "gcp:compute/instanceTemplate:InstanceTemplate":
		out["selfLinkUnique"] = out["selfLink"].(string) + "?uniqueId=" + hexID(name, 19)
	case "gcp:compute/regionInstanceGroupManager:RegionInstanceGroupManager":
		out["instanceGroup"] = fmt.Sprintf("https://www.googleapis.com/compute/v1/projects/%s/regions/%s/instanceGroups/%s", project, region, physName)
	case "gcp:compute/globalAddress:GlobalAddress":
		out["address"] = fmt.Sprintf("34.117.%d.%d", int(hexID(name, 2)[0])%200+10, int(hexID(name, 2)[1])%200+10)
		if v, ok := inputs["ipVersion"]; ok && v.IsString() && v.StringValue() == "IPV6" {
			out["address"] = "2600:1901:0:" + hexID(name, 4) + "::"
		}
	}
	return id, out
}

func (m *mocks) gcpCall(token string, args map[string]any) (map[string]any, error) {
	switch token {
	case "gcp:compute/getZones:getZones":
		region, _ := args["region"].(string)
		if region == "" {
			region = m.gcpRegion()
		}
		names := GCPZones(region)
		if status, _ := args["status"].(string); status == "UP" {
			names = m.up(names)
		}
		list := make([]any, len(names))
		for i, n := range names {
			list[i] = n
		}
		return map[string]any{"id": "projects/" + m.gcpProject() + "/regions/" + region, "names": list, "project": m.gcpProject(), "region": region}, nil
	case "gcp:compute/getImage:getImage":
		project, _ := args["project"].(string)
		family, _ := args["family"].(string)
		if project != "cos-cloud" || family == "" {
			return nil, fmt.Errorf("image family %q not found in project %q", family, project)
		}
		name := family + "-121-18867-0-" + hexID(family+m.config[MockImageRelease], 6)
		// The self-link of the API the provider calls: google-beta's image
		// data source reads with the beta client and keeps its selfLink as
		// it comes (data_source_google_compute_image.go).
		link := fmt.Sprintf("https://www.googleapis.com/compute/beta/projects/%s/global/images/%s", project, name)
		return map[string]any{"id": link, "name": name, "family": family, "project": project, "selfLink": link, "status": "READY"}, nil
	case "gcp:organizations/getProject:getProject":
		return map[string]any{"id": "projects/" + m.gcpProject(), "projectId": m.gcpProject(), "number": gcpProjectNumber}, nil
	}
	return nil, fmt.Errorf("the plan's mocks do not answer %s", token)
}
