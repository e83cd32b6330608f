package stackops

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/compute/apiv1/computepb"
	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
	"github.com/googleapis/gax-go/v2"
	"github.com/googleapis/gax-go/v2/apierror"
	"google.golang.org/api/googleapi"
	"google.golang.org/protobuf/proto"
)

var imageNow = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

// fakeEC2Images answers DescribeImages as EC2 does for one id: the image,
// none, or an error; it records whether deprecated images were asked for
// (without IncludeDeprecated a deprecated AMI is simply not listed).
type fakeEC2Images struct {
	images []ec2types.Image
	err    error
	in     *ec2.DescribeImagesInput
}

func (f *fakeEC2Images) DescribeImages(_ context.Context, in *ec2.DescribeImagesInput, _ ...func(*ec2.Options)) (*ec2.DescribeImagesOutput, error) {
	f.in = in
	if f.err != nil {
		return nil, f.err
	}
	return &ec2.DescribeImagesOutput{Images: f.images}, nil
}

func TestAWSImageStateEachLife(t *testing.T) {
	t.Parallel()
	ami := func(state ec2types.ImageState, deprecation string) []ec2types.Image {
		img := ec2types.Image{ImageId: sdkaws.String("ami-1"), State: state}
		if deprecation != "" {
			img.DeprecationTime = sdkaws.String(deprecation)
		}
		return []ec2types.Image{img}
	}
	for _, tc := range []struct {
		name string
		f    *fakeEC2Images
		want ImageLife
		when string
	}{
		{"available", &fakeEC2Images{images: ami(ec2types.ImageStateAvailable, "")}, ImageActive, ""},
		{"deprecation to come", &fakeEC2Images{images: ami(ec2types.ImageStateAvailable, "2026-09-01T00:00:00.000Z")}, ImageScheduled, "2026-09-01"},
		{"deprecated", &fakeEC2Images{images: ami(ec2types.ImageStateAvailable, "2026-01-01T00:00:00.000Z")}, ImageDeprecated, "2026-01-01"},
		{"disabled", &fakeEC2Images{images: ami(ec2types.ImageStateDisabled, "")}, ImageGone, ""},
		{"deregistered", &fakeEC2Images{images: ami(ec2types.ImageStateDeregistered, "")}, ImageGone, ""},
		{"no result", &fakeEC2Images{}, ImageGone, ""},
		{"not found", &fakeEC2Images{err: &smithy.GenericAPIError{Code: "InvalidAMIID.NotFound", Message: "The image id '[ami-1]' does not exist"}}, ImageGone, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := AWSImageState(context.Background(), tc.f, "ami-1", imageNow)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := st.Life, tc.want; got != want {
				t.Errorf("life = %s, want %s (%+v)", got, want, st)
			}
			if tc.when != "" && !strings.Contains(st.Summary(), tc.when) {
				t.Errorf("summary %q lacks the date %s", st.Summary(), tc.when)
			}
			if !sdkaws.ToBool(tc.f.in.IncludeDeprecated) {
				t.Error("asked without IncludeDeprecated: a deprecated AMI would look gone")
			}
		})
	}
	denied := &fakeEC2Images{err: &smithy.GenericAPIError{Code: "UnauthorizedOperation"}}
	if _, err := AWSImageState(context.Background(), denied, "ami-1", imageNow); err == nil || !strings.Contains(err.Error(), "ec2:DescribeImages") {
		t.Errorf("a denied call = %v, want an error naming the action", err)
	}
}

// fakeGCPImages answers images.get as Compute Engine does: the image, or
// the REST client's 404 error.
type fakeGCPImages struct {
	image *computepb.Image
	req   *computepb.GetImageRequest
}

func (f *fakeGCPImages) Get(_ context.Context, req *computepb.GetImageRequest, _ ...gax.CallOption) (*computepb.Image, error) {
	f.req = req
	if f.image == nil {
		ae, _ := apierror.FromError(&googleapi.Error{Code: http.StatusNotFound, Message: "The resource 'projects/cos-cloud/global/images/cos-1' was not found"})
		return nil, ae
	}
	return f.image, nil
}

func TestGCPImageStateEachLife(t *testing.T) {
	t.Parallel()
	image := func(d *computepb.DeprecationStatus) *computepb.Image {
		return &computepb.Image{Name: proto.String("cos-1"), Deprecated: d}
	}
	for _, tc := range []struct {
		name  string
		image *computepb.Image
		want  ImageLife
		say   string
	}{
		{"ready", image(nil), ImageActive, "current"},
		{"deprecation to come", image(&computepb.DeprecationStatus{Deprecated: proto.String("2026-09-01T00:00:00Z")}), ImageScheduled, "2026-09-01"},
		{"deprecated", image(&computepb.DeprecationStatus{State: proto.String("DEPRECATED"), Deprecated: proto.String("2026-01-01T00:00:00Z"), Deleted: proto.String("2026-12-01T00:00:00Z"),
			Replacement: proto.String("https://www.googleapis.com/compute/v1/projects/cos-cloud/global/images/cos-2")}), ImageDeprecated, "deleted 2026-12-01"},
		{"obsolete", image(&computepb.DeprecationStatus{State: proto.String("OBSOLETE")}), ImageGone, "OBSOLETE"},
		{"deleted", image(&computepb.DeprecationStatus{State: proto.String("DELETED")}), ImageGone, "DELETED"},
		{"404", nil, ImageGone, "not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeGCPImages{image: tc.image}
			st, err := GCPImageState(context.Background(), f, "projects/cos-cloud/global/images/cos-1", imageNow)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := st.Life, tc.want; got != want {
				t.Errorf("life = %s, want %s (%+v)", got, want, st)
			}
			if !strings.Contains(st.Summary(), tc.say) {
				t.Errorf("summary %q lacks %q", st.Summary(), tc.say)
			}
			if f.req.GetProject() != "cos-cloud" || f.req.GetImage() != "cos-1" {
				t.Errorf("asked for %s/%s", f.req.GetProject(), f.req.GetImage())
			}
		})
	}
	if _, err := GCPImageState(context.Background(), &fakeGCPImages{}, "cos-1", imageNow); err == nil {
		t.Error("a bare name was read as an image path")
	}
}

// armImage serves one marketplace image version on loopback as Resource
// Manager does: the body for the version it knows, 404 for any other.
func armImage(t *testing.T, version, body string) *FeatureChecker {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		want := "/subscriptions/sub-1/providers/Microsoft.Compute/locations/westeurope/publishers/Canonical/artifacttypes/vmimage/offers/ubuntu-24_04-lts/skus/server/versions/" + version
		if r.Header.Get("Authorization") != "Bearer tok" || r.URL.Path != want || r.URL.Query().Get("api-version") == "" {
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"error":{"code":"NotFound","message":"Artifact: VMImage was not found."}}`))
			return
		}
		w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return &FeatureChecker{Endpoint: srv.URL, Client: srv.Client(), Token: func(context.Context) (string, error) { return "tok", nil }}
}

func TestImageVersionStateEachLife(t *testing.T) {
	t.Parallel()
	status := func(state, when string) string {
		return `{"name":"24.04.202409120","location":"westeurope","properties":{"osDiskImage":{"operatingSystem":"Linux"},"imageDeprecationStatus":{"imageState":"` + state + `","scheduledDeprecationTime":"` + when + `"}}}`
	}
	for _, tc := range []struct {
		name, version, ask, body string
		want                     ImageLife
	}{
		{"active", "24.04.202409120", "24.04.202409120", status("Active", ""), ImageActive},
		{"published before the field", "24.04.202409120", "24.04.202409120", `{"name":"24.04.202409120","properties":{}}`, ImageActive},
		{"scheduled", "24.04.202409120", "24.04.202409120", status("ScheduledForDeprecation", "2026-09-01T00:00:00+00:00"), ImageScheduled},
		{"deprecated", "24.04.202409120", "24.04.202409120", status("Deprecated", "2026-01-01T00:00:00+00:00"), ImageDeprecated},
		{"removed", "24.04.202409120", "24.04.202301010", "", ImageGone},
		{"latest", "24.04.202409120", "latest", "", ImageFloating},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := armImage(t, tc.version, tc.body)
			st, err := c.ImageVersionState(context.Background(), "sub-1", "westeurope", "Canonical", "ubuntu-24_04-lts", "server", tc.ask, imageNow)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := st.Life, tc.want; got != want {
				t.Errorf("life = %s, want %s (%+v)", got, want, st)
			}
		})
	}
	c := armImage(t, "v", "")
	c.Token = func(context.Context) (string, error) { return "other", nil }
	c.Client.Transport = forbid{}
	if _, err := c.ImageVersionState(context.Background(), "sub-1", "westeurope", "Canonical", "ubuntu-24_04-lts", "server", "v", imageNow); err == nil || !strings.Contains(err.Error(), actImageVersionsRead) {
		t.Errorf("a 403 = %v, want an error naming the action", err)
	}
}

// forbid answers every request as Resource Manager answers a caller
// without the role: 403 AuthorizationFailed.
type forbid struct{}

func (forbid) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	rec.WriteHeader(http.StatusForbidden)
	rec.WriteString(`{"error":{"code":"AuthorizationFailed"}}`)
	res := rec.Result()
	res.Request = r
	return res, nil
}
