package doctor

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/compute/apiv1/computepb"
	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/servicequotas"
	sqtypes "github.com/aws/aws-sdk-go-v2/service/servicequotas/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/googleapis/gax-go/v2"
	"google.golang.org/protobuf/proto"

	"stayup/infra/spec"
	"stayup/internal/stackops"
)

// fakeAWS answers as the AWS APIs do, scripted per test.
type fakeAWS struct {
	vcpuQuota, eipQuota float64
	running             []ec2types.Instance // paged two per page
	addresses           []ec2types.Address
	denied              map[string]bool
	simCalls            int
	images              []ec2types.Image // DescribeImages' answer for the pinned AMI
}

func (f *fakeAWS) GetCallerIdentity(context.Context, *sts.GetCallerIdentityInput, ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error) {
	return &sts.GetCallerIdentityOutput{Arn: sdkaws.String("arn:aws:sts::123456789012:assumed-role/deployer/me"), Account: sdkaws.String("123456789012")}, nil
}
func (f *fakeAWS) DescribeAvailabilityZones(context.Context, *ec2.DescribeAvailabilityZonesInput, ...func(*ec2.Options)) (*ec2.DescribeAvailabilityZonesOutput, error) {
	return &ec2.DescribeAvailabilityZonesOutput{AvailabilityZones: []ec2types.AvailabilityZone{{ZoneName: sdkaws.String("eu-west-1a")}, {ZoneName: sdkaws.String("eu-west-1b")}, {ZoneName: sdkaws.String("eu-west-1c")}}}, nil
}
func (f *fakeAWS) DescribeInstanceTypes(context.Context, *ec2.DescribeInstanceTypesInput, ...func(*ec2.Options)) (*ec2.DescribeInstanceTypesOutput, error) {
	return &ec2.DescribeInstanceTypesOutput{InstanceTypes: []ec2types.InstanceTypeInfo{{VCpuInfo: &ec2types.VCpuInfo{DefaultVCpus: sdkaws.Int32(2)}}}}, nil
}
func (f *fakeAWS) DescribeInstances(_ context.Context, in *ec2.DescribeInstancesInput, _ ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error) {
	start := 0
	if in.NextToken != nil {
		fmt.Sscan(*in.NextToken, &start)
	}
	end := min(start+2, len(f.running))
	out := &ec2.DescribeInstancesOutput{Reservations: []ec2types.Reservation{{Instances: f.running[start:end]}}}
	if end < len(f.running) {
		out.NextToken = sdkaws.String(fmt.Sprint(end))
	}
	return out, nil
}
func (f *fakeAWS) DescribeAddresses(context.Context, *ec2.DescribeAddressesInput, ...func(*ec2.Options)) (*ec2.DescribeAddressesOutput, error) {
	return &ec2.DescribeAddressesOutput{Addresses: f.addresses}, nil
}
func (f *fakeAWS) DescribeImages(context.Context, *ec2.DescribeImagesInput, ...func(*ec2.Options)) (*ec2.DescribeImagesOutput, error) {
	return &ec2.DescribeImagesOutput{Images: f.images}, nil
}
func (f *fakeAWS) GetServiceQuota(_ context.Context, in *servicequotas.GetServiceQuotaInput, _ ...func(*servicequotas.Options)) (*servicequotas.GetServiceQuotaOutput, error) {
	v := f.vcpuQuota
	if *in.QuotaCode == quotaElasticIPs {
		v = f.eipQuota
	}
	return &servicequotas.GetServiceQuotaOutput{Quota: &sqtypes.ServiceQuota{Value: &v}}, nil
}

// SimulatePrincipalPolicy answers one action per page, as a truncated
// answer does (IsTruncated with a Marker).
func (f *fakeAWS) SimulatePrincipalPolicy(_ context.Context, in *iam.SimulatePrincipalPolicyInput, _ ...func(*iam.Options)) (*iam.SimulatePrincipalPolicyOutput, error) {
	f.simCalls++
	if *in.PolicySourceArn != "arn:aws:iam::123456789012:role/deployer" {
		return nil, fmt.Errorf("simulated %s, want the session's role", *in.PolicySourceArn)
	}
	i := 0
	if in.Marker != nil {
		fmt.Sscan(*in.Marker, &i)
	}
	a := in.ActionNames[i]
	d := iamtypes.PolicyEvaluationDecisionTypeAllowed
	if f.denied[a] {
		d = iamtypes.PolicyEvaluationDecisionTypeImplicitDeny
	}
	out := &iam.SimulatePrincipalPolicyOutput{EvaluationResults: []iamtypes.EvaluationResult{{EvalActionName: sdkaws.String(a), EvalDecision: d}}}
	if i+1 < len(in.ActionNames) {
		out.IsTruncated, out.Marker = true, sdkaws.String(fmt.Sprint(i+1))
	}
	return out, nil
}

func instance(group string) ec2types.Instance {
	return ec2types.Instance{InstanceType: "t3.small", CpuOptions: &ec2types.CpuOptions{CoreCount: sdkaws.Int32(1), ThreadsPerCore: sdkaws.Int32(2)},
		Tags: []ec2types.Tag{{Key: sdkaws.String("aws:autoscaling:groupName"), Value: sdkaws.String(group)}}}
}

func awsSpec() spec.Spec {
	return spec.Spec{Cloud: spec.AWS, Region: "eu-west-1", Zones: 3, ZonesSet: true, MaxSize: 9, InstanceType: "t3.small"}
}

func runAWS(f *fakeAWS, own Own) *Report {
	a := &AWS{STS: f, EC2: f, Quotas: f, IAM: f, Statements: []SimStatement{{Actions: []string{"ec2:CreateVpc", "s3:CreateBucket", "ec2:TerminateInstances"}, Resources: []string{"*"}}}}
	r := &Report{Stack: "aws"}
	a.Check(context.Background(), Need{Spec: awsSpec(), Peak: PeakInstances(awsSpec())}, own, r)
	return r
}

func check(t *testing.T, r *Report, name string) Check {
	t.Helper()
	for _, c := range r.Checks {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no %s check in %+v", name, r.Checks)
	return Check{}
}

func TestAWSDeniedSimulationIsBlockingAndPaged(t *testing.T) {
	f := &fakeAWS{vcpuQuota: 64, eipQuota: 5, denied: map[string]bool{"s3:CreateBucket": true}}
	r := runAWS(f, Own{})
	c := check(t, r, "permissions")
	if c.Status != Fail || !strings.Contains(c.Detail, "s3:CreateBucket") || strings.Contains(c.Detail, "ec2:CreateVpc") {
		t.Errorf("permissions = %+v, want a failure naming only s3:CreateBucket", c)
	}
	if f.simCalls != 3 {
		t.Errorf("simulation read %d pages, want all 3", f.simCalls)
	}
	if r.Blocking != 1 {
		t.Errorf("blocking = %d, want 1", r.Blocking)
	}
}

func TestAWSVCPUQuotaAtPeakLessTheStacksOwn(t *testing.T) {
	// Peak: 2 x 9 t3.small = 36 vCPUs. Quota 40, 3 instances (6 vCPUs) running.
	var mine []ec2types.Instance
	for range 3 {
		mine = append(mine, instance("stayup-fleet-abc"))
	}
	for _, tc := range []struct {
		name  string
		quota float64
		own   Own
		want  Status
	}{
		{"fresh account below the peak", 32, Own{}, Fail},
		{"others' instances use the room", 40, Own{}, Fail},
		{"the stack's own instances explain the usage", 40, Own{Deployed: true, Fleet: map[string]any{"asgName": "stayup-fleet-abc"}}, OK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeAWS{vcpuQuota: tc.quota, eipQuota: 5, running: mine}
			c := check(t, runAWS(f, tc.own), "vCPU quota")
			if c.Status != tc.want {
				t.Errorf("vCPU quota = %+v, want %s", c, tc.want)
			}
			if c.Status == Fail && !strings.Contains(c.Fix, "L-1216C47A") {
				t.Errorf("fix %q does not name the quota", c.Fix)
			}
		})
	}
}

func TestAWSElasticIPsForEachNATGateway(t *testing.T) {
	f := &fakeAWS{vcpuQuota: 64, eipQuota: 5, addresses: make([]ec2types.Address, 3)}
	if c := check(t, runAWS(f, Own{}), "Elastic IP quota"); c.Status != Fail {
		t.Errorf("3 of 5 used, 3 needed: %+v, want a failure", c)
	}
}

func TestPrincipalARN(t *testing.T) {
	for in, want := range map[string]string{
		"arn:aws:sts::1:assumed-role/deployer/me": "arn:aws:iam::1:role/deployer",
		"arn:aws:iam::1:user/alice":               "arn:aws:iam::1:user/alice",
		"arn:aws:iam::1:root":                     "",
	} {
		if got, _ := principalARN(in); got != want {
			t.Errorf("principalARN(%s) = %q, want %q", in, got, want)
		}
	}
}

// fakeGCP answers as Service Usage and Compute do.
type fakeGCP struct {
	enabled []string // served one per page
	perms   []string // held
}

func (f *fakeGCP) WhoAmI(context.Context) (string, error) { return "me@example.com", nil }
func (f *fakeGCP) EnabledServices(_ context.Context, _, token string) ([]string, string, error) {
	i := 0
	fmt.Sscan(token, &i)
	if i >= len(f.enabled) {
		return nil, "", nil
	}
	next := ""
	if i+1 < len(f.enabled) {
		next = fmt.Sprint(i + 1)
	}
	return f.enabled[i : i+1], next, nil
}
func (f *fakeGCP) Region(context.Context, string, string) (*computepb.Region, error) {
	return &computepb.Region{Zones: []string{"zones/europe-west1-b", "zones/europe-west1-c", "zones/europe-west1-d"},
		Quotas: []*computepb.Quota{{Metric: proto.String("E2_CPUS"), Limit: proto.Float64(24), Usage: proto.Float64(0)}, {Metric: proto.String("IN_USE_ADDRESSES"), Limit: proto.Float64(8), Usage: proto.Float64(0)}}}, nil
}
func (f *fakeGCP) MachineVCPUs(context.Context, string, string, string) (int, error) { return 2, nil }
func (f *fakeGCP) GroupSize(context.Context, string, string, string) (int, error)    { return 0, nil }
func (f *fakeGCP) TestPermissions(_ context.Context, _ string, perms []string) ([]string, error) {
	var out []string
	for _, p := range perms {
		for _, h := range f.perms {
			if p == h {
				out = append(out, p)
			}
		}
	}
	return out, nil
}

func TestGCPDisabledAPIBlocksAndSkipsWhatNeedsIt(t *testing.T) {
	f := &fakeGCP{enabled: []string{"compute.googleapis.com", "iam.googleapis.com"}}
	s := spec.Spec{Cloud: spec.GCP, Project: "p", Region: "europe-west1", Zones: 3, MaxSize: 9, InstanceType: "e2-small"}
	r := &Report{}
	(&GCP{API: f}).Check(context.Background(), Need{Spec: s, Peak: PeakInstances(s), APIs: []string{"cloudresourcemanager.googleapis.com", "compute.googleapis.com", "iam.googleapis.com"}, Actions: []string{"compute.networks.create"}}, Own{}, r)
	if c := check(t, r, "APIs"); c.Status != Fail || !strings.Contains(c.Fix, "gcloud services enable cloudresourcemanager.googleapis.com") {
		t.Errorf("APIs = %+v, want the Resource Manager API to enable (it was on the last page unread if paging broke)", c)
	}
	if c := check(t, r, "permissions"); c.Status != Warn {
		t.Errorf("permissions = %+v, want not checked without Resource Manager", c)
	}
	// 9 + 3 surge e2-small = 24 vCPUs: exactly the quota.
	if c := check(t, r, "CPU quota"); c.Status != OK {
		t.Errorf("CPU quota = %+v, want 24 of 24 to fit", c)
	}
}

// fakeAzure answers as Resource Manager does.
type fakeAzure struct {
	providers  map[string]string
	features   error
	watchers   []azureWatcher
	image      stackops.ImageState
	imageAsked string
}

func (f *fakeAzure) WhoAmI(context.Context) (string, error)                  { return "me@example.com", nil }
func (f *fakeAzure) Providers(context.Context) (map[string]string, error)    { return f.providers, nil }
func (f *fakeAzure) CheckFeatures(context.Context, []stackops.Feature) error { return f.features }
func (f *fakeAzure) Usage(context.Context, string) (map[string][2]float64, error) {
	return map[string][2]float64{"standardBSFamily": {0, 10}, "cores": {0, 10}}, nil
}
func (f *fakeAzure) SKU(context.Context, string, string) (*azureSKU, error) {
	return &azureSKU{Family: "standardBSFamily", VCPUs: 2, Zones: []string{"1", "2", "3"}, RestrictedZones: []string{"3"}}, nil
}
func (f *fakeAzure) ImageState(_ context.Context, _, version string) (stackops.ImageState, error) {
	f.imageAsked = version
	return f.image, nil
}
func (f *fakeAzure) ScaleSetCapacity(context.Context, string, string) (int, error) { return 0, nil }
func (f *fakeAzure) NetworkWatchers(context.Context) ([]azureWatcher, error)       { return f.watchers, nil }

func TestAzureUnregisteredProviderFeatureQuotaZonesWatcher(t *testing.T) {
	registered := map[string]string{}
	for _, p := range azureProviders {
		registered[strings.ToLower(p)] = "Registered"
	}
	registered["microsoft.insights"] = "NotRegistered"
	f := &fakeAzure{providers: registered, features: fmt.Errorf("%w in subscription s:\n  Microsoft.Compute/MaxSurgeRollingUpgrade: az feature register", stackops.ErrFeatureMissing)}
	s := spec.Spec{Cloud: spec.Azure, Region: "westeurope", Zones: 3, MaxSize: 9, InstanceType: "Standard_B2s"}
	r := &Report{}
	(&Azure{API: f, Subscription: "s"}).Check(context.Background(), Need{Spec: s, Peak: PeakInstances(s)}, Own{}, r)
	for name, want := range map[string]string{
		"resource providers": "az provider register --namespace Microsoft.Insights",
		"preview features":   "az feature register",
		"vCPU quota":         "lower stayup:maxSize",
		"instance type":      "fewer stayup:zones",
	} {
		c := check(t, r, name)
		if c.Status != Fail || !strings.Contains(c.Fix, want) {
			t.Errorf("%s = %+v, want a failure whose fix says %q", name, c, want)
		}
	}
}

// The region's watcher is found wherever it is (a policy's group, another
// name), by its location; none is no blocker (the program creates one); a
// pin that names another says up will move it.
func TestAzureNetworkWatcherWhereverItIs(t *testing.T) {
	const policy = "/subscriptions/s/resourceGroups/policy-watchers/providers/Microsoft.Network/networkWatchers/nw-we"
	other := azureWatcher{ID: "/subscriptions/s/resourceGroups/NetworkWatcherRG/providers/Microsoft.Network/networkWatchers/NetworkWatcher_northeurope", Location: "northeurope"}
	for _, tc := range []struct {
		name     string
		watchers []azureWatcher
		pinned   string
		want     Status
		detail   string
	}{
		{"in a policy's group", []azureWatcher{other, {ID: policy, Location: "West Europe"}}, "", OK, policy},
		{"none in the region", []azureWatcher{other}, "", Warn, "up creates NetworkWatcher_westeurope"},
		{"pinned elsewhere", []azureWatcher{{ID: policy, Location: "westeurope"}}, other.ID, Warn, "pins"},
	} {
		r := &Report{}
		s := spec.Spec{Cloud: spec.Azure, Region: "westeurope"}
		s.Azure.NetworkWatcher = tc.pinned
		(&Azure{API: &fakeAzure{watchers: tc.watchers}}).watcher(context.Background(), s, r)
		if c := check(t, r, "network watcher"); c.Status != tc.want || !strings.Contains(c.Detail, tc.detail) {
			t.Errorf("%s: %+v, want %s with %q", tc.name, c, tc.want, tc.detail)
		}
	}
}

// The zones plan assumed from its table are confirmed from the resource
// SKUs: a region that lists none fails, one newer than the table warns.
func TestAzureRegionZonesConfirmedLive(t *testing.T) {
	for _, tc := range []struct {
		region string
		zones  []string
		want   Status
	}{
		{"westeurope", []string{"3", "1", "2"}, OK},
		{"marsnorth", []string{"1", "2", "3"}, Warn},
		{"westeurope", nil, Fail},
	} {
		r := &Report{}
		(&Azure{}).regionZones(spec.Spec{Cloud: spec.Azure, Region: tc.region, InstanceType: "Standard_B2s"}, &azureSKU{Zones: tc.zones}, r)
		if c := check(t, r, "region zones"); c.Status != tc.want {
			t.Errorf("%s with zones %v: %+v, want %s", tc.region, tc.zones, c, tc.want)
		}
	}
}

func TestReportLinesAndBlocking(t *testing.T) {
	r := &Report{Stack: "aws"}
	r.add(Check{Name: "credentials", Status: OK, Detail: "me"})
	r.add(Check{Name: "vCPU quota", Status: Fail, Detail: "36 needed", Fix: "ask for more"})
	var b strings.Builder
	r.Write(&b)
	if !strings.Contains(b.String(), "fail  vCPU quota") || !strings.Contains(b.String(), "-> ask for more") || !strings.Contains(b.String(), "1 check(s)") {
		t.Errorf("report:\n%s", b.String())
	}
	_ = errors.New
}

// Each lifecycle state makes its line: deprecated or scheduled warn with
// the date, gone blocks, and every line that did not pass says how to
// move the pin.
func TestBaseImageCheckEachLife(t *testing.T) {
	when := time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		pin  string
		st   stackops.ImageState
		err  error
		want Status
		say  string
	}{
		{"", stackops.ImageState{}, nil, OK, "not pinned yet"},
		{"ami-1", stackops.ImageState{Image: "ami-1", Life: stackops.ImageActive}, nil, OK, "current"},
		{"ami-1", stackops.ImageState{Image: "ami-1", Life: stackops.ImageScheduled, When: when, Cloud: "available"}, nil, Warn, "scheduled for deprecation on 2026-09-01"},
		{"ami-1", stackops.ImageState{Image: "ami-1", Life: stackops.ImageDeprecated, When: when, Cloud: "available"}, nil, Warn, "deprecated on 2026-09-01"},
		{"ami-1", stackops.ImageState{Image: "ami-1", Life: stackops.ImageGone, Cloud: "deregistered"}, nil, Fail, "scale-out and repair will fail"},
		{"latest", stackops.ImageState{Image: "latest", Life: stackops.ImageFloating}, nil, OK, "floats"},
		{"ami-1", stackops.ImageState{}, errors.New("UnauthorizedOperation"), Warn, "could not read the pinned image ami-1"},
	} {
		c := baseImageCheck(tc.pin, tc.st, tc.err)
		if c.Status != tc.want || !strings.Contains(c.Detail, tc.say) {
			t.Errorf("%s %s: %+v, want %s saying %q", tc.pin, tc.st.Life, c, tc.want, tc.say)
		}
		if c.Status != OK && !strings.Contains(c.Fix, "--refresh-base-image") {
			t.Errorf("%s %s: fix %q does not say how to move the pin", tc.pin, tc.st.Life, c.Fix)
		}
	}
}

// Each cloud reads its own pin: the AMI's deprecation time, the COS
// image's state (OBSOLETE blocks up), the Marketplace version in the
// stack's region (latest is not looked up as a version).
func TestBaseImageOnEachCloud(t *testing.T) {
	ctx := context.Background()
	s := awsSpec()
	s.BaseImage = "ami-0123456789abcdef0"
	f := &fakeAWS{images: []ec2types.Image{{ImageId: sdkaws.String(s.BaseImage), State: ec2types.ImageStateAvailable, DeprecationTime: sdkaws.String("2025-01-01T00:00:00.000Z")}}}
	if c := (&AWS{EC2: f}).baseImage(ctx, s); c.Status != Warn || !strings.Contains(c.Detail, "deprecated on 2025-01-01") {
		t.Errorf("AWS deprecated AMI: %+v", c)
	}
	if c := (&AWS{EC2: &fakeAWS{}}).baseImage(ctx, s); c.Status != Fail {
		t.Errorf("AWS AMI not found: %+v, want a failure", c)
	}

	g := spec.Spec{Cloud: spec.GCP, Project: "p", Region: "europe-west1", Zones: 3, MaxSize: 3, InstanceType: "e2-small", BaseImage: "projects/cos-cloud/global/images/cos-stable-113-18244-85-49"}
	r := &Report{}
	images := &fakeImages{image: &computepb.Image{Deprecated: &computepb.DeprecationStatus{State: proto.String("OBSOLETE")}}}
	(&GCP{API: &fakeGCP{enabled: []string{"compute.googleapis.com"}}, Images: images}).Check(ctx, Need{Spec: g, Peak: PeakInstances(g), APIs: []string{"compute.googleapis.com"}}, Own{}, r)
	if c := check(t, r, "base image"); c.Status != Fail || !strings.Contains(c.Detail, "OBSOLETE") {
		t.Errorf("GCP obsolete image: %+v", c)
	}
	if images.asked != "cos-cloud/cos-stable-113-18244-85-49" {
		t.Errorf("GCP asked for %q", images.asked)
	}

	for version, want := range map[string]Status{"24.04.202409120": Warn, "latest": OK} {
		az := &fakeAzure{image: stackops.ImageState{Image: version, Life: stackops.ImageScheduled, When: time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC), Cloud: "ScheduledForDeprecation"}}
		if version == "latest" {
			az.image = stackops.ImageState{Image: version, Life: stackops.ImageFloating}
		}
		c := (&Azure{API: az}).baseImage(ctx, spec.Spec{Cloud: spec.Azure, Region: "westeurope", BaseImage: version})
		if c.Status != want || az.imageAsked != version {
			t.Errorf("Azure %s: %+v (asked %q), want %s", version, c, az.imageAsked, want)
		}
	}
}

// fakeImages answers Compute Engine's images.get with one image.
type fakeImages struct {
	image *computepb.Image
	asked string
}

func (f *fakeImages) Get(_ context.Context, req *computepb.GetImageRequest, _ ...gax.CallOption) (*computepb.Image, error) {
	f.asked = req.GetProject() + "/" + req.GetImage()
	return f.image, nil
}
