package graph

import (
	"fmt"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// Account is the AWS account id every mocked ARN carries.
const Account = "123456789012"

// MockTemplateVersion is the latest version every mocked launch template has.
const MockTemplateVersion = 7

// awsZones are the availability zones the mocks report per region; a
// region not listed has three. us-west-1 has two, which is what a plan
// there must cope with.
var awsZones = map[string][]string{
	"us-east-1": {"us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d", "us-east-1e", "us-east-1f"},
	"us-west-1": {"us-west-1b", "us-west-1c"},
	"us-west-2": {"us-west-2a", "us-west-2b", "us-west-2c", "us-west-2d"},
}

// AWSZones returns the zones a mocked AWS region has.
func AWSZones(region string) []string {
	if z, ok := awsZones[region]; ok {
		return z
	}
	return []string{region + "a", region + "b", region + "c"}
}

// awsPrefix is the ID prefix EC2 uses per resource type.
var awsPrefix = map[string]string{
	"aws:ec2/vpc:Vpc":                                           "vpc-",
	"aws:ec2/subnet:Subnet":                                     "subnet-",
	"aws:ec2/internetGateway:InternetGateway":                   "igw-",
	"aws:ec2/natGateway:NatGateway":                             "nat-",
	"aws:ec2/eip:Eip":                                           "eipalloc-",
	"aws:ec2/routeTable:RouteTable":                             "rtb-",
	"aws:ec2/securityGroup:SecurityGroup":                       "sg-",
	"aws:ec2/launchTemplate:LaunchTemplate":                     "lt-",
	"aws:ec2/flowLog:FlowLog":                                   "fl-",
	"aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": "sgr-",
	"aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule":   "sgr-",
	"aws:ec2/defaultSecurityGroup:DefaultSecurityGroup":         "sg-",
}

// AWSPartition is the partition a region belongs to, as getPartition
// answers there: GovCloud and the China regions have their own.
func AWSPartition(region string) string {
	switch {
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	}
	return "aws"
}

func (m *mocks) awsRegion() string {
	if r := m.config["aws:region"]; r != "" {
		return r
	}
	return "us-east-1"
}

func (m *mocks) awsPhysical(typ, name string, inputs resource.PropertyMap) (string, map[string]any) {
	region := m.awsRegion()
	out := map[string]any{}
	physName := name
	if v, ok := inputs["name"]; ok && v.IsString() && v.StringValue() != "" {
		physName = v.StringValue()
	} else {
		// Providers auto-name resources; a plan shows the logical name.
		out["name"] = physName
	}
	id := physName
	if p, ok := awsPrefix[typ]; ok {
		id = p + hexID(name, 17)
	}
	service, kind := awsService(typ)
	partition := AWSPartition(region)
	arn := fmt.Sprintf("arn:%s:%s:%s:%s:%s/%s", partition, service, region, Account, kind, physName)
	switch typ {
	case "aws:iam/role:Role":
		arn = fmt.Sprintf("arn:%s:iam::%s:role/%s", partition, Account, physName)
	case "aws:iam/instanceProfile:InstanceProfile":
		arn = fmt.Sprintf("arn:%s:iam::%s:instance-profile/%s", partition, Account, physName)
	case "aws:cloudwatch/logGroup:LogGroup":
		arn = fmt.Sprintf("arn:%s:logs:%s:%s:log-group:%s", partition, region, Account, physName)
	case "aws:lb/loadBalancer:LoadBalancer":
		arn = fmt.Sprintf("arn:%s:elasticloadbalancing:%s:%s:loadbalancer/app/%s/%s", partition, region, Account, physName, hexID(name, 16))
		id = arn
		out["dnsName"] = fmt.Sprintf("%s-%s.%s.elb.amazonaws.com", physName, hexID(name, 10), region)
		out["zoneId"] = "Z0MOCKED0ELB"
	case "aws:lb/targetGroup:TargetGroup":
		arn = fmt.Sprintf("arn:%s:elasticloadbalancing:%s:%s:targetgroup/%s/%s", partition, region, Account, physName, hexID(name, 16))
		id = arn
	case "aws:lb/listener:Listener":
		arn = fmt.Sprintf("arn:%s:elasticloadbalancing:%s:%s:listener/app/%s/%s", partition, region, Account, physName, hexID(name, 16))
		id = arn
	case "aws:ec2/launchTemplate:LaunchTemplate":
		// Not 1, so a test can tell "the latest version" from a constant.
		out["latestVersion"] = MockTemplateVersion
		out["defaultVersion"] = MockTemplateVersion
	case "aws:ec2/vpc:Vpc":
		if v, ok := inputs["assignGeneratedIpv6CidrBlock"]; ok && v.IsBool() && v.BoolValue() {
			out["ipv6CidrBlock"] = "2600:1f18:4a3:6e00::/56"
		}
	case "aws:ec2/eip:Eip":
		out["allocationId"] = id
		out["publicIp"] = "203.0.113." + fmt.Sprint(int(hexID(name, 2)[0])%200+10)
	case "aws:autoscaling/group:Group":
		arn = fmt.Sprintf("arn:%s:autoscaling:%s:%s:autoScalingGroup:%s:autoScalingGroupName/%s", partition, region, Account, hexID(name, 8), physName)
	case "aws:s3/bucketV2:BucketV2", "aws:s3/bucket:Bucket":
		arn = "arn:" + partition + ":s3:::" + physName
		out["bucket"] = physName
	}
	out["arn"] = arn
	return id, out
}

// awsService maps "aws:ec2/vpc:Vpc" to ("ec2", "vpc") for a mocked ARN.
func awsService(typ string) (string, string) {
	parts := strings.Split(typ, ":")
	if len(parts) != 3 {
		return "aws", "resource"
	}
	mod, _, _ := strings.Cut(parts[1], "/")
	return mod, strings.ToLower(parts[2])
}

// MissingAMI is an AMI id the mocks do not know, as another region's AMI
// is unknown to this one's EC2 API.
const MissingAMI = "ami-00000000000000000"

func (m *mocks) awsCall(token string, args map[string]any) (map[string]any, error) {
	region := m.awsRegion()
	switch token {
	case "aws:index/getAvailabilityZones:getAvailabilityZones":
		names := m.up(AWSZones(region))
		ids := make([]any, len(names))
		list := make([]any, len(names))
		for i, n := range names {
			list[i] = n
			ids[i] = fmt.Sprintf("%s-az%d", strings.ReplaceAll(region, "-", "")[:4], i+1)
		}
		return map[string]any{"id": region, "names": list, "zoneIds": ids, "groupNames": []any{region}}, nil
	case "aws:ssm/getParameter:getParameter":
		// Only the public parameters AWS publishes AMIs under: a typo in
		// the name fails the plan as it would fail the deployment.
		name, _ := args["name"].(string)
		if !strings.HasPrefix(name, "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-") {
			return nil, fmt.Errorf("ssm parameter %q not found", name)
		}
		return map[string]any{"id": name, "name": name, "type": "String", "value": "ami-0" + hexID(region+name+m.config[MockImageRelease], 16), "arn": fmt.Sprintf("arn:aws:ssm:%s::parameter%s", region, name), "version": 1}, nil
	case "aws:ec2/getAmi:getAmi":
		// A pinned AMI (stayup:baseImage): the mocks know every id, as the
		// EC2 API does in the AMI's own region, except MissingAMI, which
		// stands for an AMI of another region ("Your query returned no
		// results", as the provider says). Its architecture is arm64 when
		// it is the id the arm64 parameter above answers, else x86_64.
		id := ""
		if fs, ok := args["filters"].([]any); ok && len(fs) == 1 {
			if f, ok := fs[0].(map[string]any); ok {
				if vs, ok := f["values"].([]any); ok && len(vs) == 1 {
					id, _ = vs[0].(string)
				}
			}
		}
		if id == "" || id == MissingAMI {
			return nil, fmt.Errorf("Your query returned no results. Please change your search criteria and try again.")
		}
		arch := "x86_64"
		if arm := "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64"; id == "ami-0"+hexID(region+arm+m.config[MockImageRelease], 16) {
			arch = "arm64"
		}
		return map[string]any{"id": id, "imageId": id, "architecture": arch, "name": "al2023-ami-pinned", "state": "available", "deprecationTime": ""}, nil
	case "aws:index/getCallerIdentity:getCallerIdentity":
		return map[string]any{"id": Account, "accountId": Account, "arn": fmt.Sprintf("arn:aws:iam::%s:user/plan", Account), "userId": "AIDAMOCKED"}, nil
	case "aws:index/getRegion:getRegion":
		return map[string]any{"id": region, "name": region, "region": region, "endpoint": fmt.Sprintf("ec2.%s.amazonaws.com", region), "description": region}, nil
	case "aws:index/getPartition:getPartition":
		partition, suffix := AWSPartition(region), "amazonaws.com"
		if partition == "aws-cn" {
			suffix = "amazonaws.com.cn"
		}
		return map[string]any{"id": partition, "partition": partition, "dnsSuffix": suffix, "reverseDnsPrefix": "com.amazonaws"}, nil
	case "aws:elb/getServiceAccount:getServiceAccount":
		// eu-west-1's log delivery account, in the region's partition.
		return map[string]any{"id": "127311923021", "arn": "arn:" + AWSPartition(region) + ":iam::127311923021:root"}, nil
	}
	return nil, fmt.Errorf("the plan's mocks do not answer %s", token)
}
