package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"stayup/internal/chaos"
	"stayup/internal/fleet"
	"stayup/internal/stackops"
)

// scriptedFleet is a fleet.Fleet whose Instances answers follow a script
// (the last answer repeats), recording the kills.
type scriptedFleet struct {
	mu       sync.Mutex
	capacity fleet.Capacity
	lists    [][]fleet.Instance
	reads    int
	killed   []string
	onKill   func()
}

func (f *scriptedFleet) Cloud() string { return "aws" }
func (f *scriptedFleet) Name() string  { return "asg-1" }

func (f *scriptedFleet) Capacity(context.Context) (fleet.Capacity, error) { return f.capacity, nil }

func (f *scriptedFleet) Instances(context.Context) ([]fleet.Instance, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	l := f.lists[min(f.reads, len(f.lists)-1)]
	f.reads++
	return slices.Clone(l), nil
}

func (f *scriptedFleet) Kill(_ context.Context, id string, _ fleet.KillMode) error {
	f.mu.Lock()
	f.killed = append(f.killed, id)
	hook := f.onKill
	f.mu.Unlock()
	if hook != nil {
		hook()
	}
	return nil
}

func (f *scriptedFleet) kills() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.killed)
}

func (f *scriptedFleet) Rollout(context.Context) (fleet.Rollout, error) {
	return fleet.Rollout{Status: "Successful", Percent: 100, Target: "lt-1:4", Reached: true}, nil
}

func (f *scriptedFleet) Settings(context.Context) (fleet.Settings, error) {
	return fleet.Settings{CheckInterval: 5 * time.Second, HealthyThreshold: 2, UnhealthyThreshold: 2, Drain: 30 * time.Second, Grace: 180 * time.Second}, nil
}

func member(id, zone string, h fleet.Health) fleet.Instance {
	s := fleet.Running
	if h == fleet.Initial {
		s = fleet.Pending
	}
	return fleet.Instance{ID: id, Zone: zone, State: s, Health: h, Image: "ami-1", Revision: "lt-1:4", Launched: time.Date(2026, 5, 1, 11, 0, 0, 0, time.UTC)}
}

func wholeFleet() []fleet.Instance {
	return []fleet.Instance{member("i-1", "us-east-1a", fleet.Healthy), member("i-2", "us-east-1b", fleet.Healthy), member("i-3", "us-east-1c", fleet.Healthy)}
}

func opener(f fleet.Fleet, url string) openFleetFunc {
	return func(context.Context, string, string) (*stackFleet, error) {
		return &stackFleet{Fleet: f, URL: url, Cloud: "aws", Close: func() {}}, nil
	}
}

func TestStatusHumanAndJSON(t *testing.T) {
	t.Parallel()
	degraded := wholeFleet()
	degraded[2] = member("i-4", "us-east-1c", fleet.Initial)
	f := &scriptedFleet{capacity: fleet.Capacity{Desired: 3, Min: 3, Max: 9}, lists: [][]fleet.Instance{degraded}}

	var out bytes.Buffer
	o := &statusOpts{stack: "aws", open: opener(f, "http://lb.example/")}
	if err := o.Execute(context.Background(), streams{out: &out, err: &out}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"desired 3 (min 3, max 9), healthy 2", "DEGRADED: 1 missing", "us-east-1c 0/1", "i-4", "initial", "ami-1", "lt-1:4"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("status output lacks %q:\n%s", want, out.String())
		}
	}

	out.Reset()
	o.json = true
	if err := o.Execute(context.Background(), streams{out: &out, err: &out}); err != nil {
		t.Fatal(err)
	}
	var got fleetStatus
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if got.InService != 2 || got.Capacity.Desired != 3 || len(got.Instances) != 3 || got.Zones["us-east-1a"].Healthy != 1 || !got.Rollout.Reached {
		t.Errorf("status JSON %+v", got)
	}
}

// The pinned OS image is shown, and a zone the stack is deployed over
// that has lost its only instance shows as empty, not as missing.
func TestStatusShowsThePinsAndAnEmptyZone(t *testing.T) {
	t.Parallel()
	two := wholeFleet()[:2]
	f := &scriptedFleet{capacity: fleet.Capacity{Desired: 3, Min: 3, Max: 9}, lists: [][]fleet.Instance{two}}
	open := func(context.Context, string, string) (*stackFleet, error) {
		return &stackFleet{Fleet: f, URL: "http://lb.example/", Cloud: "aws", BaseImage: "ami-0123456789abcdef0",
			Zones: []string{"us-east-1a", "us-east-1b", "us-east-1c"}, Close: func() {}}, nil
	}
	var out bytes.Buffer
	o := &statusOpts{stack: "aws", open: open}
	if err := o.Execute(context.Background(), streams{out: &out, err: &out}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"us-east-1c 0/0", "OS image: ami-0123456789abcdef0 (stayup:baseImage)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("status output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestStatusRestoresStaleHoldsFirst(t *testing.T) {
	t.Parallel()
	hf := &holdingFleet{scriptedFleet: &scriptedFleet{capacity: fleet.Capacity{Desired: 3, Min: 3, Max: 9}, lists: [][]fleet.Instance{wholeFleet()}}}
	var out, errOut bytes.Buffer
	o := &statusOpts{stack: "azure", open: opener(hf, "http://gw.example/")}
	if err := o.Execute(context.Background(), streams{out: &out, err: &errOut}); err != nil {
		t.Fatal(err)
	}
	if hf.restored != 1 || hf.readFirst || hf.reads == 0 {
		t.Errorf("restored %d times, fleet read %d times: want one restore, then the read", hf.restored, hf.reads)
	}
	if !strings.Contains(errOut.String(), "stayup: restored the minimum") || strings.Contains(out.String(), "restored") {
		t.Errorf("stdout %q, stderr %q: want the restore said on stderr only", out.String(), errOut.String())
	}
}

func TestStatusNeedsStack(t *testing.T) {
	t.Parallel()
	code, _, errOut := runCLI("status")
	if code != 2 || !strings.Contains(errOut, "--stack") {
		t.Errorf("exit %d, stderr %q: want 2 naming --stack", code, errOut)
	}
}

func TestFleetFromOutputs(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		out  map[string]any
		want string
	}{
		{"not deployed", map[string]any{"cloud": "aws"}, "no fleet output"},
		{"aws keys missing", map[string]any{"cloud": "aws", "fleet": map[string]any{"asgName": "a"}}, "targetGroupArn"},
		{"gcp keys missing", map[string]any{"cloud": "gcp", "fleet": map[string]any{"project": "p"}}, "instanceGroupManager"},
		{"azure keys missing", map[string]any{"cloud": "azure", "fleet": map[string]any{"subscriptionId": "s"}}, "scaleSetName"},
		{"unknown cloud", map[string]any{"cloud": "ibm", "fleet": map[string]any{}}, "want aws, gcp or azure"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := fleetFromOutputs(context.Background(), "s", tc.out)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %v, want %q", err, tc.want)
			}
		})
	}
}

// A fleet that keeps the load balancer's view (Azure's backend health) has
// status and chaos's live view say how old it is; one that reads it with
// the instances prints no such line.
func TestHealthViewAgeIsLabelled(t *testing.T) {
	t.Parallel()
	read := time.Date(2026, 12, 1, 9, 0, 23, 0, time.UTC)
	old := wholeFleet()
	for i := range old {
		old[i].HealthAsOf = read.Add(-23 * time.Second)
	}
	old[1].HealthAsOf = read.Add(-53 * time.Second) // the oldest counts

	var b bytes.Buffer
	v := newFleetView(&b)
	v.status(chaos.Status{Time: read, Elapsed: time.Minute, Capacity: fleet.Capacity{Desired: 3}, Instances: old})
	if want := "LB health as of 08:59:30 (53s old"; !strings.Contains(b.String(), want) {
		t.Errorf("live view lacks %q:\n%s", want, b.String())
	}
	// The next read differs only in age: not printed again.
	b.Reset()
	v.status(chaos.Status{Time: read.Add(5 * time.Second), Elapsed: time.Minute, Capacity: fleet.Capacity{Desired: 3}, Instances: old})
	if b.Len() != 0 {
		t.Errorf("an unchanged fleet was printed again:\n%s", b.String())
	}

	b.Reset()
	v = newFleetView(&b)
	v.status(chaos.Status{Time: read, Capacity: fleet.Capacity{Desired: 3}, Instances: wholeFleet()})
	if strings.Contains(b.String(), "LB health as of") {
		t.Errorf("health read with the instances is labelled as old:\n%s", b.String())
	}

	var out bytes.Buffer
	f := &scriptedFleet{capacity: fleet.Capacity{Desired: 3, Min: 3, Max: 9}, lists: [][]fleet.Instance{old}}
	o := &statusOpts{stack: "aws", open: opener(f, "http://lb.example/")}
	if err := o.Execute(context.Background(), streams{out: &out, err: &out}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "LB health as of 08:59:30 (") {
		t.Errorf("status does not say how old the LB view is:\n%s", out.String())
	}
}

// ec2Images answers DescribeImages for the pinned AMI as EC2 does: the
// image with its state and deprecation time, or no image at all.
type ec2Images struct{ images []ec2types.Image }

func (f ec2Images) DescribeImages(context.Context, *ec2.DescribeImagesInput, ...func(*ec2.Options)) (*ec2.DescribeImagesOutput, error) {
	return &ec2.DescribeImagesOutput{Images: f.images}, nil
}

// status says on stderr when the pinned image is ageing out, and how to
// move off it; its JSON carries the state and the date; a lookup that
// fails is said and leaves the rest of status as it was.
func TestStatusBaseImageState(t *testing.T) {
	t.Parallel()
	ami := func(state ec2types.ImageState, deprecation string) ec2Images {
		img := ec2types.Image{ImageId: sdkaws.String("ami-1"), State: state}
		if deprecation != "" {
			img.DeprecationTime = sdkaws.String(deprecation)
		}
		return ec2Images{images: []ec2types.Image{img}}
	}
	for _, tc := range []struct {
		name      string
		api       ec2Images
		err       error
		state     string
		date      string
		stderr    string // "" for no warning
		stdoutHas string
	}{
		{"active", ami(ec2types.ImageStateAvailable, ""), nil, "active", "", "", "(stayup:baseImage, active)"},
		{"scheduled", ami(ec2types.ImageStateAvailable, "2099-01-01T00:00:00.000Z"), nil, "scheduled", "2099-01-01T00:00:00Z", "scheduled for deprecation on 2099-01-01", "(stayup:baseImage, scheduled)"},
		{"deprecated", ami(ec2types.ImageStateAvailable, "2025-01-01T00:00:00.000Z"), nil, "deprecated", "2025-01-01T00:00:00Z", "was deprecated on 2025-01-01", "(stayup:baseImage, deprecated)"},
		{"deregistered", ami(ec2types.ImageStateDeregistered, ""), nil, "gone", "", "scale-out and repair will fail", "(stayup:baseImage, gone)"},
		{"gone without a trace", ec2Images{}, nil, "gone", "", "no longer exists", "(stayup:baseImage, gone)"},
		{"unreadable", ec2Images{}, errors.New("no credentials"), "unknown", "", "could not tell whether the OS image ami-1 is deprecated: no credentials", "(stayup:baseImage, unknown)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &scriptedFleet{capacity: fleet.Capacity{Desired: 3, Min: 3, Max: 9}, lists: [][]fleet.Instance{wholeFleet()}}
			open := func(context.Context, string, string) (*stackFleet, error) {
				return &stackFleet{Fleet: f, Cloud: "aws", BaseImage: "ami-1", Close: func() {}}, nil
			}
			lookup := func(ctx context.Context, sf *stackFleet, _, _ string) (stackops.ImageState, error) {
				if tc.err != nil {
					return stackops.ImageState{}, tc.err
				}
				return stackops.AWSImageState(ctx, tc.api, sf.BaseImage, time.Now())
			}
			for _, asJSON := range []bool{false, true} {
				var out, errOut bytes.Buffer
				o := &statusOpts{stack: "aws", open: open, imageState: lookup, json: asJSON}
				if err := o.Execute(context.Background(), streams{out: &out, err: &errOut}); err != nil {
					t.Fatal(err)
				}
				if tc.stderr == "" && errOut.Len() > 0 || !strings.Contains(errOut.String(), tc.stderr) {
					t.Errorf("json=%v stderr %q, want %q", asJSON, errOut.String(), tc.stderr)
				}
				if tc.stderr != "" && tc.err == nil && !strings.Contains(errOut.String(), "stayup up --refresh-base-image") {
					t.Errorf("warning %q does not say how to move the pin", errOut.String())
				}
				if !asJSON {
					if !strings.Contains(out.String(), tc.stdoutHas) {
						t.Errorf("stdout lacks %q:\n%s", tc.stdoutHas, out.String())
					}
					continue
				}
				var got fleetStatus
				if err := json.Unmarshal(out.Bytes(), &got); err != nil {
					t.Fatal(err)
				}
				if got.BaseImageState != tc.state || got.BaseImageDeprecation != tc.date {
					t.Errorf("JSON base_image_state %q, base_image_deprecation %q; want %q, %q", got.BaseImageState, got.BaseImageDeprecation, tc.state, tc.date)
				}
			}
		})
	}
}
