package doctor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/servicequotas"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"stayup/infra/spec"
	"stayup/internal/stackops"
)

// The SDK calls doctor makes on AWS, behind interfaces so tests script them.
type (
	stsAPI interface {
		GetCallerIdentity(ctx context.Context, in *sts.GetCallerIdentityInput, opts ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error)
	}
	awsEC2API interface {
		DescribeAvailabilityZones(ctx context.Context, in *ec2.DescribeAvailabilityZonesInput, opts ...func(*ec2.Options)) (*ec2.DescribeAvailabilityZonesOutput, error)
		DescribeInstanceTypes(ctx context.Context, in *ec2.DescribeInstanceTypesInput, opts ...func(*ec2.Options)) (*ec2.DescribeInstanceTypesOutput, error)
		DescribeInstances(ctx context.Context, in *ec2.DescribeInstancesInput, opts ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error)
		DescribeAddresses(ctx context.Context, in *ec2.DescribeAddressesInput, opts ...func(*ec2.Options)) (*ec2.DescribeAddressesOutput, error)
		stackops.AWSImagesAPI
	}
	quotasAPI interface {
		GetServiceQuota(ctx context.Context, in *servicequotas.GetServiceQuotaInput, opts ...func(*servicequotas.Options)) (*servicequotas.GetServiceQuotaOutput, error)
	}
	iamAPI interface {
		SimulatePrincipalPolicy(ctx context.Context, in *iam.SimulatePrincipalPolicyInput, opts ...func(*iam.Options)) (*iam.SimulatePrincipalPolicyOutput, error)
	}
)

// The quota codes doctor reads (Service Quotas, service code ec2).
const (
	// "Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances", in vCPUs.
	quotaStandardVCPUs = "L-1216C47A"
	// "EC2-VPC Elastic IPs": the NAT gateways need one each.
	quotaElasticIPs = "L-0263D0A3"
)

// AWS checks an AWS account.
type AWS struct {
	STS    stsAPI
	EC2    awsEC2API
	Quotas quotasAPI
	IAM    iamAPI
	// Statements are the deploy policy's, as (actions, resources) groups:
	// the simulation asks about each action on resources its statement names.
	Statements []SimStatement
}

// SimStatement is one statement of the deploy document to simulate.
type SimStatement struct {
	Actions   []string
	Resources []string
	Context   map[string]string // condition keys the statement tests
}

// NewAWS uses the default credential chain, as the Pulumi provider does.
func NewAWS(ctx context.Context, region string, stmts []SimStatement) (*AWS, error) {
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(region))
	if err != nil {
		return nil, fmt.Errorf("AWS credentials: %w", err)
	}
	return &AWS{STS: sts.NewFromConfig(cfg), EC2: ec2.NewFromConfig(cfg), Quotas: servicequotas.NewFromConfig(cfg), IAM: iam.NewFromConfig(cfg), Statements: stmts}, nil
}

// Check runs the AWS checks in order; a check that cannot run says why.
func (a *AWS) Check(ctx context.Context, need Need, own Own, r *Report) {
	s := need.Spec
	id, err := a.STS.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		r.add(Check{Name: "credentials", Status: Fail, Detail: "no usable AWS credentials: " + oneLine(err),
			Fix: "sign in (aws sso login, or AWS_PROFILE / AWS_ACCESS_KEY_ID) and run doctor again"})
		return
	}
	arn := sdkaws.ToString(id.Arn)
	r.add(Check{Name: "credentials", Status: OK, Detail: fmt.Sprintf("%s in account %s", arn, sdkaws.ToString(id.Account))})

	a.zones(ctx, s, r)
	a.permissions(ctx, arn, sdkaws.ToString(id.Account), r)
	a.vcpus(ctx, s, need.Peak, own, r)
	a.elasticIPs(ctx, s, r)
	r.add(a.baseImage(ctx, s))
}

func (a *AWS) baseImage(ctx context.Context, s spec.Spec) Check {
	if s.BaseImage == "" {
		return baseImageCheck("", stackops.ImageState{}, nil)
	}
	st, err := stackops.AWSImageState(ctx, a.EC2, s.BaseImage, time.Now())
	return baseImageCheck(s.BaseImage, st, err)
}

func (a *AWS) zones(ctx context.Context, s spec.Spec, r *Report) {
	out, err := a.EC2.DescribeAvailabilityZones(ctx, &ec2.DescribeAvailabilityZonesInput{
		Filters: []ec2types.Filter{{Name: sdkaws.String("opt-in-status"), Values: []string{"opt-in-not-required"}}, {Name: sdkaws.String("state"), Values: []string{"available"}}},
	})
	if err != nil {
		r.add(regionError("region", s.Region, err, "check aws:region; ec2:DescribeAvailabilityZones is in the deploy document"))
		return
	}
	var names []string
	for _, z := range out.AvailabilityZones {
		names = append(names, sdkaws.ToString(z.ZoneName))
	}
	r.add(zonesCheck(s, names))
}

// regionError tells a region that does not exist from a call that failed.
func regionError(name, region string, err error, fix string) Check {
	if c := apiCode(err); c == "UnauthorizedOperation" || c == "AccessDenied" || c == "AccessDeniedException" {
		return failed(name, "list the region's zones", err, fix)
	}
	return Check{Name: name, Status: Fail, Detail: fmt.Sprintf("region %s: %v", region, oneLine(err)), Fix: "check the region's name and that the account may use it (opt-in regions must be enabled)"}
}

// zonesCheck compares the zones the region offers with the stack's.
func zonesCheck(s spec.Spec, zones []string) Check {
	c := Check{Name: "zones", Detail: fmt.Sprintf("%s has %d zones (%s); the stack spreads over %d", s.Region, len(zones), strings.Join(zones, ", "), s.Zones)}
	switch {
	case len(zones) >= s.Zones:
		c.Status = OK
	case len(zones) >= 2 && !s.ZonesSet:
		c.Status = OK
		c.Detail += fmt.Sprintf(" by default: it will use the %d there are", len(zones))
	default:
		c.Status = Fail
		c.Fix = fmt.Sprintf("set stayup:zones to at most %d, or choose a region with more zones", len(zones))
	}
	return c
}

// principalARN turns the caller's ARN into the IAM principal the
// simulator takes: an assumed role's session ARN into its role's ARN.
// ok is false where the simulator cannot take it: the root user, or a
// federated session.
func principalARN(arn string) (string, bool) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 {
		return "", false
	}
	switch res := parts[5]; {
	case strings.HasPrefix(res, "user/"), strings.HasPrefix(res, "role/"):
		return arn, true
	case strings.HasPrefix(res, "assumed-role/"):
		role := strings.Split(strings.TrimPrefix(res, "assumed-role/"), "/")[0]
		// The session ARN drops the role's path: a role under a path is
		// not found under this ARN, which the simulation then reports.
		return fmt.Sprintf("arn:%s:iam::%s:role/%s", parts[1], parts[4], role), true
	}
	return "", false
}

func (a *AWS) permissions(ctx context.Context, callerARN, account string, r *Report) {
	const name = "permissions"
	principal, ok := principalARN(callerARN)
	if !ok {
		r.add(Check{Name: name, Status: Warn, Detail: fmt.Sprintf("the policy simulator cannot simulate %s (the root user, or a federated session)", callerARN),
			Fix: "deploy with an IAM user or role that holds stayup permissions --cloud aws --for deploy"})
		return
	}
	var denied []string
	for _, st := range a.Statements {
		resources := make([]string, len(st.Resources))
		for i, res := range st.Resources {
			resources[i] = exampleResource(res, account)
		}
		var ctxEntries []iamtypes.ContextEntry
		for k, v := range st.Context {
			ctxEntries = append(ctxEntries, iamtypes.ContextEntry{ContextKeyName: sdkaws.String(k), ContextKeyType: iamtypes.ContextKeyTypeEnumString, ContextKeyValues: []string{v}})
		}
		in := &iam.SimulatePrincipalPolicyInput{PolicySourceArn: sdkaws.String(principal), ActionNames: st.Actions, ResourceArns: resources, ContextEntries: ctxEntries}
		for {
			out, err := a.IAM.SimulatePrincipalPolicy(ctx, in)
			if err != nil {
				fix := "give the deployer iam:SimulatePrincipalPolicy on itself (it is in the deploy document), or check the document's actions by hand"
				if apiCode(err) == "NoSuchEntity" {
					fix = "the role's path is not in its session ARN: simulate by hand with aws iam simulate-principal-policy --policy-source-arn <the role's full ARN>"
				}
				r.add(failed(name, "simulate "+principal+"'s policies (iam:SimulatePrincipalPolicy)", err, fix))
				return
			}
			for _, res := range out.EvaluationResults {
				if res.EvalDecision != iamtypes.PolicyEvaluationDecisionTypeAllowed {
					denied = append(denied, sdkaws.ToString(res.EvalActionName))
				}
			}
			if !out.IsTruncated {
				break
			}
			in.Marker = out.Marker
		}
	}
	slices.Sort(denied)
	denied = slices.Compact(denied)
	if len(denied) == 0 {
		r.add(Check{Name: name, Status: OK, Detail: fmt.Sprintf("%s may do everything the deploy document lists (policy simulator)", principal)})
		return
	}
	r.add(Check{Name: name, Status: Fail, Detail: fmt.Sprintf("%s may not %s", principal, summarize(denied)),
		Fix: "attach stayup permissions --cloud aws --for deploy to it (a permissions boundary or SCP may also deny)"})
}

// exampleResource fills a document's resource pattern with the account
// and a name the program would generate, for the simulator.
func exampleResource(pattern, account string) string {
	if pattern == "*" {
		return pattern
	}
	p := strings.Replace(pattern, ":*:", ":"+account+":", 1)
	return strings.ReplaceAll(p, "*", "doctor")
}

func summarize(items []string) string {
	if len(items) > 8 {
		return fmt.Sprintf("%s and %d more", strings.Join(items[:8], ", "), len(items)-8)
	}
	return strings.Join(items, ", ")
}

func (a *AWS) vcpus(ctx context.Context, s spec.Spec, peak int, own Own, r *Report) {
	const name = "vCPU quota"
	types, err := a.EC2.DescribeInstanceTypes(ctx, &ec2.DescribeInstanceTypesInput{InstanceTypes: []ec2types.InstanceType{ec2types.InstanceType(s.InstanceType)}})
	if err != nil || len(types.InstanceTypes) == 0 || types.InstanceTypes[0].VCpuInfo == nil {
		if err == nil {
			err = fmt.Errorf("no such instance type in %s", s.Region)
		}
		r.add(Check{Name: "instance type", Status: Fail, Detail: fmt.Sprintf("%s: %v", s.InstanceType, oneLine(err)), Fix: "choose a stayup:instanceType the region offers"})
		return
	}
	per := float64(sdkaws.ToInt32(types.InstanceTypes[0].VCpuInfo.DefaultVCpus))
	q, err := a.Quotas.GetServiceQuota(ctx, &servicequotas.GetServiceQuotaInput{ServiceCode: sdkaws.String("ec2"), QuotaCode: sdkaws.String(quotaStandardVCPUs)})
	if err != nil || q.Quota == nil || q.Quota.Value == nil {
		r.add(failed(name, "read the Running On-Demand Standard instances quota (servicequotas:GetServiceQuota "+quotaStandardVCPUs+")", errOr(err), "check it in the Service Quotas console"))
		return
	}
	used, mine, err := a.runningVCPUs(ctx, own)
	if err != nil {
		r.add(failed(name, "count the vCPUs running (ec2:DescribeInstances)", err, "check the quota's usage in the Service Quotas console"))
		return
	}
	r.add(quotaCheck(name, "vCPUs", *q.Quota.Value, used, mine, per*float64(peak),
		fmt.Sprintf("ask for more Running On-Demand Standard instances vCPUs in %s (Service Quotas, %s), or lower stayup:maxSize: a refresh runs up to twice the maximum", s.Region, quotaStandardVCPUs)))
}

// runningVCPUs sums the vCPUs of the region's running standard instances,
// and of those the stack's own group's.
func (a *AWS) runningVCPUs(ctx context.Context, own Own) (used, mine float64, err error) {
	group, _ := own.Fleet["asgName"].(string)
	in := &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{{Name: sdkaws.String("instance-state-name"), Values: []string{"pending", "running"}}}}
	for {
		out, err := a.EC2.DescribeInstances(ctx, in)
		if err != nil {
			return 0, 0, err
		}
		for _, res := range out.Reservations {
			for _, i := range res.Instances {
				if !standardFamily(string(i.InstanceType)) || i.CpuOptions == nil {
					continue
				}
				n := float64(sdkaws.ToInt32(i.CpuOptions.CoreCount) * sdkaws.ToInt32(i.CpuOptions.ThreadsPerCore))
				used += n
				for _, t := range i.Tags {
					if sdkaws.ToString(t.Key) == "aws:autoscaling:groupName" && group != "" && sdkaws.ToString(t.Value) == group {
						mine += n
					}
				}
			}
		}
		if out.NextToken == nil {
			return used, mine, nil
		}
		in.NextToken = out.NextToken
	}
}

// standardFamily says whether an instance type counts against the
// Standard (A, C, D, H, I, M, R, T, Z) quota.
func standardFamily(t string) bool {
	return t != "" && strings.ContainsRune("acdhimrtz", rune(t[0]))
}

func (a *AWS) elasticIPs(ctx context.Context, s spec.Spec, r *Report) {
	const name = "Elastic IP quota"
	need := s.Zones
	if s.AWS.SingleNAT {
		need = 1
	}
	q, err := a.Quotas.GetServiceQuota(ctx, &servicequotas.GetServiceQuotaInput{ServiceCode: sdkaws.String("ec2"), QuotaCode: sdkaws.String(quotaElasticIPs)})
	if err != nil || q.Quota == nil || q.Quota.Value == nil {
		r.add(failed(name, "read the EC2-VPC Elastic IPs quota (servicequotas:GetServiceQuota "+quotaElasticIPs+")", errOr(err), "check it in the Service Quotas console"))
		return
	}
	out, err := a.EC2.DescribeAddresses(ctx, &ec2.DescribeAddressesInput{})
	if err != nil {
		r.add(failed(name, "count the Elastic IPs (ec2:DescribeAddresses)", err, "check them in the EC2 console"))
		return
	}
	var mine float64
	for _, addr := range out.Addresses {
		for _, t := range addr.Tags {
			if sdkaws.ToString(t.Key) == "stayup:stack" && sdkaws.ToString(t.Value) == r.Stack {
				mine++
			}
		}
	}
	r.add(quotaCheck(name, "addresses", *q.Quota.Value, float64(len(out.Addresses)), mine, float64(need),
		fmt.Sprintf("release unused Elastic IPs or ask for more (Service Quotas, %s); stayup:natGateways=single needs one", quotaElasticIPs)))
}

func errOr(err error) error {
	if err == nil {
		return errors.New("the answer held no value")
	}
	return err
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}
