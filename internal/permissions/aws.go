package permissions

// The AWS tables. pulumi-aws is the Terraform AWS provider bridged, so what
// a resource's create, read, update and delete call is what the Terraform
// resource calls (terraform-provider-aws internal/service/<service>/<file>.go);
// each action's name and the resources it may be scoped to are from the
// Service Authorization Reference ("Actions, resources, and condition keys
// for <service>"). Tags: every resource here is tagged, so the provider's
// tagging calls sit with each type.

// awsResources maps each resource type the program registers to the
// actions its create, read, update and delete need.
var awsResources = map[string][]string{
	// ec2/vpc.go: CreateVpc, then reads the attributes and the default
	// network ACL, route table and security group it reports; the IPv6 block
	// (assign_generated_ipv6_cidr_block) is associated on create or update.
	"aws:ec2/vpc:Vpc": {
		"ec2:CreateVpc", "ec2:DescribeVpcs", "ec2:DescribeVpcAttribute", "ec2:ModifyVpcAttribute", "ec2:DeleteVpc",
		"ec2:DescribeNetworkAcls", "ec2:DescribeRouteTables", "ec2:DescribeSecurityGroups",
		"ec2:AssociateVpcCidrBlock", "ec2:DisassociateVpcCidrBlock",
		"ec2:CreateTags", "ec2:DeleteTags",
	},
	// ec2/vpc_subnet.go: CreateSubnet, ModifySubnetAttribute (map_public_ip_on_launch,
	// IPv6 assignment), the IPv6 block association.
	"aws:ec2/subnet:Subnet": {
		"ec2:CreateSubnet", "ec2:DescribeSubnets", "ec2:ModifySubnetAttribute", "ec2:DeleteSubnet",
		"ec2:AssociateSubnetCidrBlock", "ec2:DisassociateSubnetCidrBlock",
		"ec2:CreateTags", "ec2:DeleteTags",
	},
	// ec2/vpc_internet_gateway.go: create, attach to the VPC, detach, delete.
	"aws:ec2/internetGateway:InternetGateway": {
		"ec2:CreateInternetGateway", "ec2:DescribeInternetGateways", "ec2:AttachInternetGateway",
		"ec2:DetachInternetGateway", "ec2:DeleteInternetGateway",
		"ec2:CreateTags", "ec2:DeleteTags",
	},
	// ec2/vpc_route_table.go: routes are written inline (CreateRoute/ReplaceRoute/DeleteRoute).
	"aws:ec2/routeTable:RouteTable": {
		"ec2:CreateRouteTable", "ec2:DescribeRouteTables", "ec2:DeleteRouteTable",
		"ec2:CreateRoute", "ec2:ReplaceRoute", "ec2:DeleteRoute",
		"ec2:CreateTags", "ec2:DeleteTags",
	},
	// ec2/vpc_route_table_association.go.
	"aws:ec2/routeTableAssociation:RouteTableAssociation": {
		"ec2:AssociateRouteTable", "ec2:ReplaceRouteTableAssociation", "ec2:DisassociateRouteTable", "ec2:DescribeRouteTables",
	},
	// ec2/vpc_nat_gateway.go: waits on DescribeNatGateways; the EIP is read
	// through DescribeAddresses.
	"aws:ec2/natGateway:NatGateway": {
		"ec2:CreateNatGateway", "ec2:DescribeNatGateways", "ec2:DeleteNatGateway", "ec2:DescribeAddresses",
		"ec2:CreateTags", "ec2:DeleteTags",
	},
	// ec2/ec2_eip.go: AllocateAddress in the VPC domain; the attribute read
	// (DescribeAddressesAttribute) is for the PTR record.
	"aws:ec2/eip:Eip": {
		"ec2:AllocateAddress", "ec2:DescribeAddresses", "ec2:DescribeAddressesAttribute", "ec2:ReleaseAddress",
		"ec2:DisassociateAddress",
		"ec2:CreateTags", "ec2:DeleteTags",
	},
	// ec2/vpc_flow_log.go: CreateFlowLogs passes the delivery role (iam:PassRole below).
	"aws:ec2/flowLog:FlowLog": {
		"ec2:CreateFlowLogs", "ec2:DescribeFlowLogs", "ec2:DeleteFlowLogs",
		"ec2:CreateTags", "ec2:DeleteTags", "iam:PassRole",
	},
	// ec2/vpc_security_group.go: the default allow-all egress rule is revoked
	// on create (RevokeSecurityGroupEgress).
	"aws:ec2/securityGroup:SecurityGroup": {
		"ec2:CreateSecurityGroup", "ec2:DescribeSecurityGroups", "ec2:DescribeSecurityGroupRules", "ec2:DeleteSecurityGroup",
		"ec2:RevokeSecurityGroupEgress", "ec2:RevokeSecurityGroupIngress", "ec2:DescribeNetworkInterfaces",
		"ec2:CreateTags", "ec2:DeleteTags",
	},
	// ec2/vpc_default_security_group.go: adopts the VPC's default group and
	// empties it (revokes its rules); nothing is created or deleted.
	"aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": {
		"ec2:DescribeSecurityGroups", "ec2:RevokeSecurityGroupEgress", "ec2:RevokeSecurityGroupIngress",
		"ec2:AuthorizeSecurityGroupEgress", "ec2:AuthorizeSecurityGroupIngress",
		"ec2:CreateTags", "ec2:DeleteTags",
	},
	// vpc/security_group_ingress_rule.go and _egress_rule.go: one rule each,
	// with its own tags (security-group-rule resources).
	"aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": {
		"ec2:AuthorizeSecurityGroupIngress", "ec2:DescribeSecurityGroupRules", "ec2:ModifySecurityGroupRules", "ec2:RevokeSecurityGroupIngress",
		"ec2:CreateTags", "ec2:DeleteTags",
	},
	"aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": {
		"ec2:AuthorizeSecurityGroupEgress", "ec2:DescribeSecurityGroupRules", "ec2:ModifySecurityGroupRules", "ec2:RevokeSecurityGroupEgress",
		"ec2:CreateTags", "ec2:DeleteTags",
	},
	// ec2/ec2_launch_template.go: a change is a new version
	// (CreateLaunchTemplateVersion) made the default (ModifyLaunchTemplate);
	// the instance profile in it is passed to EC2 (iam:PassRole); its AMI is read.
	"aws:ec2/launchTemplate:LaunchTemplate": {
		"ec2:CreateLaunchTemplate", "ec2:CreateLaunchTemplateVersion", "ec2:ModifyLaunchTemplate",
		"ec2:DescribeLaunchTemplates", "ec2:DescribeLaunchTemplateVersions", "ec2:DeleteLaunchTemplate",
		"ec2:DescribeImages", "iam:PassRole", "iam:GetInstanceProfile",
		"ec2:CreateTags", "ec2:DeleteTags",
	},
	// autoscaling/group.go: create, attach the target group (traffic
	// sources), wait for min_elb_capacity through the target group's health,
	// start and cancel instance refreshes, delete by draining to zero. An
	// Auto Scaling group launched from a template needs the caller to be
	// allowed to run what the template describes (ec2:RunInstances,
	// ec2:CreateTags for the instances, iam:PassRole for the profile: "Launch
	// template support", EC2 Auto Scaling user guide); its first group in an
	// account creates the AWSServiceRoleForAutoScaling service-linked role.
	"aws:autoscaling/group:Group": {
		"autoscaling:CreateAutoScalingGroup", "autoscaling:UpdateAutoScalingGroup", "autoscaling:DeleteAutoScalingGroup",
		"autoscaling:DescribeAutoScalingGroups", "autoscaling:DescribeScalingActivities",
		"autoscaling:AttachTrafficSources", "autoscaling:DetachTrafficSources", "autoscaling:DescribeTrafficSources",
		"autoscaling:AttachLoadBalancerTargetGroups", "autoscaling:DetachLoadBalancerTargetGroups", "autoscaling:DescribeLoadBalancerTargetGroups",
		"autoscaling:StartInstanceRefresh", "autoscaling:CancelInstanceRefresh", "autoscaling:DescribeInstanceRefreshes",
		"autoscaling:DescribeWarmPool", "autoscaling:DescribeLifecycleHooks",
		"autoscaling:EnableMetricsCollection", "autoscaling:DisableMetricsCollection",
		"autoscaling:CreateOrUpdateTags", "autoscaling:DeleteTags",
		"autoscaling:SetInstanceProtection",
		"elasticloadbalancing:DescribeTargetHealth",
		"ec2:RunInstances", "ec2:CreateTags", "ec2:DescribeInstances", "iam:PassRole", "iam:CreateServiceLinkedRole",
	},
	// autoscaling/policy.go: target tracking.
	"aws:autoscaling/policy:Policy": {
		"autoscaling:PutScalingPolicy", "autoscaling:DescribePolicies", "autoscaling:DeletePolicy",
	},
	// elbv2/load_balancer.go: attributes (access logs, deletion protection,
	// drop invalid headers) through ModifyLoadBalancerAttributes; the
	// dual-stack address type through SetIpAddressType; the first load
	// balancer in an account creates AWSServiceRoleForElasticLoadBalancing.
	"aws:lb/loadBalancer:LoadBalancer": {
		"elasticloadbalancing:CreateLoadBalancer", "elasticloadbalancing:DescribeLoadBalancers", "elasticloadbalancing:DeleteLoadBalancer",
		"elasticloadbalancing:DescribeLoadBalancerAttributes", "elasticloadbalancing:ModifyLoadBalancerAttributes",
		"elasticloadbalancing:SetIpAddressType", "elasticloadbalancing:SetSecurityGroups", "elasticloadbalancing:SetSubnets",
		"elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags", "elasticloadbalancing:DescribeTags",
		"ec2:DescribeAccountAttributes", "ec2:DescribeInternetGateways", "ec2:DescribeNetworkInterfaces",
		"iam:CreateServiceLinkedRole",
	},
	// elbv2/target_group.go.
	"aws:lb/targetGroup:TargetGroup": {
		"elasticloadbalancing:CreateTargetGroup", "elasticloadbalancing:DescribeTargetGroups", "elasticloadbalancing:ModifyTargetGroup",
		"elasticloadbalancing:DescribeTargetGroupAttributes", "elasticloadbalancing:ModifyTargetGroupAttributes", "elasticloadbalancing:DeleteTargetGroup",
		"elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags", "elasticloadbalancing:DescribeTags",
	},
	// elbv2/listener.go: the HTTPS listener's certificate and SSL policy are
	// listener inputs (an ACM certificate is read by the load balancer
	// service, not the caller).
	"aws:lb/listener:Listener": {
		"elasticloadbalancing:CreateListener", "elasticloadbalancing:DescribeListeners", "elasticloadbalancing:ModifyListener",
		"elasticloadbalancing:DescribeListenerAttributes", "elasticloadbalancing:DeleteListener",
		"elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags", "elasticloadbalancing:DescribeTags",
	},
	// iam/role.go: the inline policies and attached policies are listed on
	// read (and removed before delete); instance profiles are listed on delete.
	"aws:iam/role:Role": {
		"iam:CreateRole", "iam:GetRole", "iam:UpdateRole", "iam:UpdateAssumeRolePolicy", "iam:DeleteRole",
		"iam:ListRolePolicies", "iam:ListAttachedRolePolicies", "iam:ListInstanceProfilesForRole",
		"iam:TagRole", "iam:UntagRole",
	},
	// iam/role_policy.go.
	"aws:iam/rolePolicy:RolePolicy": {
		"iam:PutRolePolicy", "iam:GetRolePolicy", "iam:DeleteRolePolicy",
	},
	// iam/instance_profile.go.
	"aws:iam/instanceProfile:InstanceProfile": {
		"iam:CreateInstanceProfile", "iam:GetInstanceProfile", "iam:DeleteInstanceProfile",
		"iam:AddRoleToInstanceProfile", "iam:RemoveRoleFromInstanceProfile",
		"iam:TagInstanceProfile", "iam:UntagInstanceProfile", "iam:PassRole",
	},
	// logs/group.go: retention and tags; ListTagsForResource on read.
	"aws:cloudwatch/logGroup:LogGroup": {
		"logs:CreateLogGroup", "logs:DescribeLogGroups", "logs:PutRetentionPolicy", "logs:DeleteRetentionPolicy", "logs:DeleteLogGroup",
		"logs:TagResource", "logs:UntagResource", "logs:ListTagsForResource",
	},
	// s3/bucket.go: the Terraform resource reads every bucket sub-resource on
	// refresh (the Get* calls below), whether or not the program sets them.
	"aws:s3/bucketV2:BucketV2": {
		"s3:CreateBucket", "s3:ListBucket", "s3:DeleteBucket",
		"s3:GetBucketTagging", "s3:PutBucketTagging",
		"s3:GetBucketAcl", "s3:GetBucketCORS", "s3:GetBucketWebsite", "s3:GetBucketVersioning",
		"s3:GetAccelerateConfiguration", "s3:GetBucketRequestPayment", "s3:GetBucketLogging",
		"s3:GetLifecycleConfiguration", "s3:GetReplicationConfiguration", "s3:GetEncryptionConfiguration",
		"s3:GetBucketObjectLockConfiguration", "s3:GetBucketPolicy",
	},
	"aws:s3/bucketPolicy:BucketPolicy": {
		"s3:PutBucketPolicy", "s3:GetBucketPolicy", "s3:DeleteBucketPolicy",
	},
	"aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": {
		"s3:PutBucketPublicAccessBlock", "s3:GetBucketPublicAccessBlock",
	},
	"aws:s3/bucketOwnershipControls:BucketOwnershipControls": {
		"s3:PutBucketOwnershipControls", "s3:GetBucketOwnershipControls",
	},
	// Encryption and lifecycle are deleted by writing the default back
	// (the authorization reference has no separate delete action for them).
	"aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2": {
		"s3:PutEncryptionConfiguration", "s3:GetEncryptionConfiguration",
	},
	"aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2": {
		"s3:PutLifecycleConfiguration", "s3:GetLifecycleConfiguration",
	},
}

// awsInvokes maps the program's data-source lookups to their actions.
var awsInvokes = map[string][]string{
	// aws_availability_zones: DescribeAvailabilityZones.
	"aws:index/getAvailabilityZones:getAvailabilityZones": {"ec2:DescribeAvailabilityZones"},
	// aws_ssm_parameter: the Amazon Linux AMI id from AWS's public parameter.
	"aws:ssm/getParameter:getParameter": {"ssm:GetParameter"},
	// aws_ami: a pinned AMI's architecture and region (stayup:baseImage).
	"aws:ec2/getAmi:getAmi": {"ec2:DescribeImages"},
	// sts:GetCallerIdentity needs no permission ("no permissions are
	// required", STS API reference).
	"aws:index/getCallerIdentity:getCallerIdentity": {},
	// aws_elb_service_account is a table inside the provider: no call.
	"aws:elb/getServiceAccount:getServiceAccount": {},
	// aws_partition is read from the provider's own region: no call.
	"aws:index/getPartition:getPartition": {},
}

// awsStayup are the calls stayup itself makes with the deployer's
// credentials before and around a deploy (doctor's checks, which up runs).
var awsStayup = []string{
	// doctor: the region's zones, the quotas, the EIPs and instances the
	// stack already holds, the policy simulation (iam:SimulatePrincipalPolicy
	// on the caller's own user or role).
	"ec2:DescribeAvailabilityZones", "ec2:DescribeRegions", "ec2:DescribeAddresses", "ec2:DescribeInstances", "ec2:DescribeInstanceTypes",
	"servicequotas:GetServiceQuota", "iam:SimulatePrincipalPolicy", "iam:GetContextKeysForPrincipalPolicy",
	// doctor: whether the pinned AMI (stayup:baseImage) is deprecated or gone.
	"ec2:DescribeImages",
}

// awsOperate are the calls internal/fleet/aws makes for status, chaos and
// rollout (each named in its permission errors), with the function that
// makes them.
var awsOperate = []string{
	"autoscaling:DescribeAutoScalingGroups",              // Fleet.Group: sizes, instances and their health
	"ec2:DescribeInstances",                              // instances' zones and states, paged by the group tag
	"elasticloadbalancing:DescribeTargetHealth",          // what the load balancer thinks of each instance
	"ec2:TerminateInstances",                             // chaos --mode abrupt: a crash, no drain
	"autoscaling:TerminateInstanceInAutoScalingGroup",    // chaos --mode graceful: the group drains it
	"autoscaling:DescribeInstanceRefreshes",              // rollout: the refresh's progress
	"autoscaling:CancelInstanceRefresh",                  // rollout: stop a refresh before rolling back
	"elasticloadbalancing:DescribeTargetGroups",          // the target group's settings (deregistration delay)
	"elasticloadbalancing:DescribeTargetGroupAttributes", // ditto
	"ec2:DescribeImages",                                 // status: whether the pinned AMI is deprecated or gone
}

// awsScopes narrows the resources of the actions whose names the program
// controls; the rest apply to "*" (see awsWhyStar).
var awsScopes = []struct {
	Sid       string
	Prefixes  []string // action prefixes, e.g. "iam:"
	Actions   []string // or exact actions
	Resources []string
	Condition map[string]any
}{
	{Sid: "PassOnlyStayupRoles", Actions: []string{"iam:PassRole"}, Resources: []string{"arn:aws:iam::*:role/stayup-*"},
		Condition: map[string]any{"StringEquals": map[string]any{"iam:PassedToService": []string{"ec2.amazonaws.com", "vpc-flow-logs.amazonaws.com"}}}},
	{Sid: "CreateServiceLinkedRoles", Actions: []string{"iam:CreateServiceLinkedRole"}, Resources: []string{"arn:aws:iam::*:role/aws-service-role/*"},
		Condition: map[string]any{"StringEquals": map[string]any{"iam:AWSServiceName": []string{"autoscaling.amazonaws.com", "elasticloadbalancing.amazonaws.com"}}}},
	// iam:SimulatePrincipalPolicy is the caller's own: doctor simulates
	// only itself, but which user or role that is is not known here.
	{Sid: "SimulateOwnPolicies", Actions: []string{"iam:SimulatePrincipalPolicy", "iam:GetContextKeysForPrincipalPolicy"}, Resources: []string{"*"}},
	{Sid: "OwnRolesAndProfiles", Prefixes: []string{"iam:"}, Resources: []string{"arn:aws:iam::*:role/stayup-*", "arn:aws:iam::*:instance-profile/stayup-*"}},
	// DescribeLogGroups is evaluated against the account's log groups as a whole.
	{Sid: "ListLogGroups", Actions: []string{"logs:DescribeLogGroups"}, Resources: []string{"*"}},
	{Sid: "OwnLogGroups", Prefixes: []string{"logs:"}, Resources: []string{"arn:aws:logs:*:*:log-group:/stayup/*"}},
	{Sid: "OwnAccessLogBucket", Prefixes: []string{"s3:"}, Resources: []string{"arn:aws:s3:::stayup-lb-logs-*"}},
	{Sid: "AmazonLinuxAMIParameter", Prefixes: []string{"ssm:"}, Resources: []string{"arn:aws:ssm:*::parameter/aws/service/ami-amazon-linux-latest/*"}},
	// chaos kills only stayup's instances: they carry the stayup:project
	// tag from the launch template's tag specifications, and
	// ec2:TerminateInstances honours aws:ResourceTag (Service
	// Authorization Reference, Amazon EC2: TerminateInstances, instance
	// resource, condition keys); the group's own terminate is scoped to the
	// groups Pulumi names stayup-*.
	{Sid: "TerminateOnlyStayupInstances", Actions: []string{"ec2:TerminateInstances"}, Resources: []string{"arn:aws:ec2:*:*:instance/*"},
		Condition: map[string]any{"StringEquals": map[string]any{"aws:ResourceTag/stayup:project": "stayup"}}},
	{Sid: "TerminateInStayupGroups", Actions: []string{"autoscaling:TerminateInstanceInAutoScalingGroup"}, Resources: []string{"arn:aws:autoscaling:*:*:autoScalingGroup:*:autoScalingGroupName/stayup-*"}},
}

// awsWhyStar says why the remaining actions apply to every resource.
const awsWhyStar = `ec2, autoscaling, elasticloadbalancing and servicequotas actions apply to "*": ` +
	`the ids of what the program creates are not known before it creates them, and the Describe* ` +
	`actions support no resource-level permissions (Service Authorization Reference: their Resource types column is empty). ` +
	`logs:DescribeLogGroups lists the account's groups and iam:SimulatePrincipalPolicy names the caller, whose ARN is not known here. ` +
	`No action is a wildcard.`
