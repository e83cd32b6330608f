package stackops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"cloud.google.com/go/compute/apiv1/computepb"
	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
	"github.com/googleapis/gax-go/v2"
	"github.com/googleapis/gax-go/v2/apierror"
)

// ImageLife is where a pinned OS image is in its cloud's lifecycle. Pinned
// images age out: AMIs, COS images and Marketplace versions are deprecated
// and later removed, and from then on every VM the fleet creates (surge,
// repair, scale-out) fails to boot.
type ImageLife string

// The lifecycle states, the same on every cloud.
const (
	ImageActive     ImageLife = "active"
	ImageScheduled  ImageLife = "scheduled"  // deprecation is announced for a date to come
	ImageDeprecated ImageLife = "deprecated" // still boots, but is on its way out
	ImageGone       ImageLife = "gone"       // deleted, deregistered, disabled or obsolete: new VMs fail
	ImageFloating   ImageLife = "floating"   // Azure's latest: nothing pinned to age out
)

// ImageState is what the cloud says of a pinned image.
type ImageState struct {
	Image string
	Life  ImageLife
	// When is the deprecation date (to come or past), zero when none is known.
	When time.Time
	// Cloud is the state in the cloud's own words (DEPRECATED, deregistered...).
	Cloud string
}

// RefreshFix is what moves a stack off an ageing image.
const RefreshFix = "stayup up --refresh-base-image (pins the newest image; the fleet rolls onto it)"

// Summary says in one sentence where the image is.
func (s ImageState) Summary() string {
	when := ""
	if !s.When.IsZero() {
		when = " on " + s.When.UTC().Format("2006-01-02")
	}
	switch s.Life {
	case ImageActive:
		return s.Image + " is current"
	case ImageScheduled:
		return fmt.Sprintf("%s is scheduled for deprecation%s (%s)", s.Image, when, s.Cloud)
	case ImageDeprecated:
		return fmt.Sprintf("%s was deprecated%s (%s): it still boots, but will be removed", s.Image, when, s.Cloud)
	case ImageGone:
		return fmt.Sprintf("%s no longer exists or can no longer boot (%s): scale-out and repair will fail", s.Image, s.Cloud)
	case ImageFloating:
		return s.Image + ": the scale set model floats to the newest image, nothing pinned to age out"
	}
	return s.Image + ": " + string(s.Life)
}

// AWSImagesAPI is the EC2 call that reads an AMI.
type AWSImagesAPI interface {
	DescribeImages(ctx context.Context, in *ec2.DescribeImagesInput, opts ...func(*ec2.Options)) (*ec2.DescribeImagesOutput, error)
}

// AWSImageState reads an AMI with DescribeImages (EC2 API reference):
// IncludeDeprecated, or a deprecated AMI of another account is not
// listed at all; DeprecationTime is an RFC 3339 date, past or to come;
// State is available, deregistered, disabled (DisableImage: cannot
// launch) and others. Assumed, to check on a live run: a deregistered or
// unknown id answers either no image or InvalidAMIID.NotFound /
// InvalidAMIID.Unavailable; both mean gone.
func AWSImageState(ctx context.Context, api AWSImagesAPI, ami string, now time.Time) (ImageState, error) {
	st := ImageState{Image: ami}
	out, err := api.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{ami}, IncludeDeprecated: sdkaws.Bool(true), IncludeDisabled: sdkaws.Bool(true)})
	var ae smithy.APIError
	switch {
	case errors.As(err, &ae) && strings.HasPrefix(ae.ErrorCode(), "InvalidAMIID.") && ae.ErrorCode() != "InvalidAMIID.Malformed":
		st.Life, st.Cloud = ImageGone, ae.ErrorCode()
		return st, nil
	case err != nil:
		return st, fmt.Errorf("read AMI %s (ec2:DescribeImages): %w", ami, err)
	case len(out.Images) == 0:
		st.Life, st.Cloud = ImageGone, "not found"
		return st, nil
	}
	img := out.Images[0]
	st.Cloud = string(img.State)
	if img.State != ec2types.ImageStateAvailable && img.State != ec2types.ImageStatePending {
		st.Life = ImageGone
		return st, nil
	}
	st.Life = ImageActive
	if d := sdkaws.ToString(img.DeprecationTime); d != "" {
		t, err := time.Parse(time.RFC3339, d)
		if err != nil {
			return st, fmt.Errorf("AMI %s: deprecation time %q: %w", ami, d, err)
		}
		st.When, st.Life = t, ImageScheduled
		if !t.After(now) {
			st.Life = ImageDeprecated
		}
		st.Cloud += ", deprecation time " + d
	}
	return st, nil
}

// GCPImagesAPI is the Compute Engine call that reads an image
// (compute.ImagesClient).
type GCPImagesAPI interface {
	Get(ctx context.Context, req *computepb.GetImageRequest, opts ...gax.CallOption) (*computepb.Image, error)
}

// GCPImageState reads an image (projects/P/global/images/NAME) with
// images.get (Compute Engine API reference, DeprecationStatus): state
// DEPRECATED still creates VMs, with a warning; OBSOLETE and DELETED make
// creating a VM from it fail; the deprecated, obsolete and deleted times
// are informational and may be to come. A 404 is an image that is gone.
func GCPImageState(ctx context.Context, api GCPImagesAPI, path string, now time.Time) (ImageState, error) {
	st := ImageState{Image: path}
	project, name, ok := gcpImageParts(path)
	if !ok {
		return st, fmt.Errorf("%s is not projects/P/global/images/NAME", path)
	}
	img, err := api.Get(ctx, &computepb.GetImageRequest{Project: project, Image: name})
	var ae *apierror.APIError
	switch {
	case errors.As(err, &ae) && ae.HTTPCode() == http.StatusNotFound:
		st.Life, st.Cloud = ImageGone, "not found"
		return st, nil
	case err != nil:
		return st, fmt.Errorf("read image %s (compute.images.get): %w", path, err)
	}
	d := img.GetDeprecated()
	st.Cloud = d.GetState()
	when := func(ts string) time.Time {
		t, _ := time.Parse(time.RFC3339, ts)
		return t
	}
	st.When = when(d.GetDeprecated())
	switch d.GetState() {
	case "OBSOLETE", "DELETED":
		st.Life = ImageGone
	case "DEPRECATED":
		st.Life = ImageDeprecated
		for _, next := range []struct{ label, ts string }{{"obsolete", d.GetObsolete()}, {"deleted", d.GetDeleted()}} {
			if next.ts != "" {
				st.Cloud += ", " + next.label + " " + next.ts
			}
		}
		if r := d.GetReplacement(); r != "" {
			st.Cloud += ", replaced by " + r
		}
	default:
		st.Life, st.Cloud = ImageActive, "READY"
		if t := st.When; !t.IsZero() {
			st.Life, st.Cloud = ImageScheduled, "deprecated from "+d.GetDeprecated()
			if !t.After(now) {
				// The date has passed but nobody set the state: the
				// state is what Compute Engine acts on.
				st.Life = ImageActive
			}
		}
	}
	return st, nil
}

func gcpImageParts(path string) (project, name string, ok bool) {
	p := strings.Split(path, "/")
	if len(p) != 5 || p[0] != "projects" || p[2] != "global" || p[3] != "images" || p[1] == "" || p[4] == "" {
		return "", "", false
	}
	return p[1], p[4], true
}

// ImageVersionState reads a marketplace image version ("Virtual Machine
// Images - Get", Compute REST API): properties.imageDeprecationStatus
// has imageState Active, ScheduledForDeprecation or Deprecated, and
// scheduledDeprecationTime; a version that is not there answers 404. The
// pin latest is no version: nothing to age out.
func (c *FeatureChecker) ImageVersionState(ctx context.Context, subscription, location, publisher, offer, sku, version string, now time.Time) (ImageState, error) {
	st := ImageState{Image: publisher + ":" + offer + ":" + sku + ":" + version}
	if version == "latest" {
		st.Life, st.Cloud = ImageFloating, "latest"
		return st, nil
	}
	token, err := c.Token(ctx)
	if err != nil {
		return st, fmt.Errorf("Azure credentials: %w", err)
	}
	url := fmt.Sprintf("%s/subscriptions/%s/providers/Microsoft.Compute/locations/%s/publishers/%s/artifacttypes/vmimage/offers/%s/skus/%s/versions/%s?api-version=2024-07-01",
		strings.TrimSuffix(c.Endpoint, "/"), subscription, location, publisher, offer, sku, version)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return st, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := c.Client.Do(req)
	if err != nil {
		return st, fmt.Errorf("read image %s in %s: %w", st.Image, location, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	switch {
	case res.StatusCode == http.StatusNotFound:
		st.Life, st.Cloud = ImageGone, "not found"
		return st, nil
	case res.StatusCode != http.StatusOK:
		return st, fmt.Errorf("read image %s in %s (%s): %s: %s", st.Image, location, actImageVersionsRead, res.Status, strings.TrimSpace(string(body)))
	}
	var doc struct {
		Properties struct {
			ImageDeprecationStatus struct {
				ImageState               string `json:"imageState"`
				ScheduledDeprecationTime string `json:"scheduledDeprecationTime"`
			} `json:"imageDeprecationStatus"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return st, fmt.Errorf("read image %s: %w", st.Image, err)
	}
	d := doc.Properties.ImageDeprecationStatus
	st.Cloud = d.ImageState
	if d.ScheduledDeprecationTime != "" {
		st.When, _ = time.Parse(time.RFC3339, d.ScheduledDeprecationTime)
	}
	switch d.ImageState {
	case "ScheduledForDeprecation":
		st.Life = ImageScheduled
		if !st.When.IsZero() && !st.When.After(now) {
			st.Life = ImageDeprecated
		}
	case "Deprecated":
		st.Life = ImageDeprecated
	default:
		// Versions published before the field existed answer none.
		st.Life = ImageActive
		if st.Cloud == "" {
			st.Cloud = "Active"
		}
	}
	return st, nil
}
