package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"maps"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"

	"stayup/internal/rollout"
	"stayup/internal/stackops"
)

// pinStack is a stack's config and outputs in memory, pinning as
// stackops.Stack does (its SeedPins and StorePins over DeployedPins).
type pinStack struct {
	cfg     map[string]string
	outputs map[string]any
	calls   []string
}

func (p *pinStack) Config(context.Context) (map[string]auto.ConfigValue, error) {
	out := map[string]auto.ConfigValue{}
	for k, v := range p.cfg {
		out[k] = auto.ConfigValue{Value: v}
	}
	return out, nil
}

func (p *pinStack) Outputs(context.Context) (map[string]any, error) { return p.outputs, nil }

func (p *pinStack) SeedPins(_ context.Context, cloud string) ([]stackops.PinChange, error) {
	p.calls = append(p.calls, "seed")
	if len(p.outputs) == 0 {
		return nil, nil
	}
	d, _ := stackops.DeployedPins(cloud, p.outputs, nil)
	return p.set(d, "what the deployed fleet runs", false)
}

func (p *pinStack) StorePins(_ context.Context, cloud string, outputs map[string]any) ([]stackops.PinChange, error) {
	p.calls = append(p.calls, "store")
	d, _ := stackops.DeployedPins(cloud, outputs, nil)
	return p.set(d, "resolved by this up", true)
}

func (p *pinStack) set(d stackops.Pins, why string, replace bool) ([]stackops.PinChange, error) {
	var set []stackops.PinChange
	if v, ok := p.cfg[stackops.BaseImageKey]; d.BaseImage != "" && (!ok || replace && v != d.BaseImage) {
		p.cfg[stackops.BaseImageKey] = d.BaseImage
		set = append(set, stackops.PinChange{Key: stackops.BaseImageKey, Value: d.BaseImage, Why: why})
	}
	if _, ok := p.cfg[stackops.ZoneNamesKey]; !ok && len(d.Zones) > 0 {
		p.cfg[stackops.ZoneNamesKey] = d.ZoneText()
		set = append(set, stackops.PinChange{Key: stackops.ZoneNamesKey, Value: d.ZoneText(), Why: why})
	}
	return set, nil
}

func (p *pinStack) SetConfig(_ context.Context, key, value string, _ bool) error {
	p.calls = append(p.calls, "set "+key)
	p.cfg[key] = value
	return nil
}

func (p *pinStack) RemoveConfig(_ context.Context, key string) error {
	p.calls = append(p.calls, "remove "+key)
	delete(p.cfg, key)
	return nil
}

func noAzure(context.Context, map[string]string) (string, error) {
	return "", errors.New("no Azure lookup in this test")
}

func TestPinBefore(t *testing.T) {
	t.Parallel()
	awsOut := map[string]any{"baseImage": "ami-0aaaaaaaaaaaaaaaa", "zones": []any{"eu-west-1a", "eu-west-1b", "eu-west-1c"}}
	for _, tc := range []struct {
		name    string
		cfg     map[string]string
		outputs map[string]any
		refresh bool
		azure   newestAzureImage
		want    map[string]string // config after
		say     string
		err     string
	}{
		{name: "a deployed stack gets what it runs", cfg: map[string]string{"stayup:cloud": "aws"}, outputs: awsOut,
			want: map[string]string{stackops.BaseImageKey: "ami-0aaaaaaaaaaaaaaaa", stackops.ZoneNamesKey: "eu-west-1a,eu-west-1b,eu-west-1c"},
			say:  "set stayup:baseImage = ami-0aaaaaaaaaaaaaaaa (what the deployed fleet runs)"},
		{name: "a new AWS stack resolves in its first up", cfg: map[string]string{"stayup:cloud": "aws"},
			want: map[string]string{}},
		{name: "a new Azure stack pins the newest before its first up", cfg: map[string]string{"stayup:cloud": "azure"},
			azure: func(context.Context, map[string]string) (string, error) { return "24.04.202409120", nil },
			want:  map[string]string{stackops.BaseImageKey: "24.04.202409120"}, say: "pinned before the first up"},
		{name: "a new Azure stack without a lookup says what to set", cfg: map[string]string{"stayup:cloud": "azure"},
			err: "or set stayup:baseImage yourself"},
		{name: "an Azure stack deployed at latest stays there, with a warning", cfg: map[string]string{"stayup:cloud": "azure"},
			outputs: map[string]any{"baseImage": "latest", "zones": []any{"1", "2", "3"}},
			want:    map[string]string{stackops.BaseImageKey: "latest", stackops.ZoneNamesKey: "1,2,3"}, say: "pin it with `stayup up --refresh-base-image`"},
		{name: "refresh drops an AWS pin for the up to resolve", cfg: map[string]string{"stayup:cloud": "aws", stackops.BaseImageKey: "ami-0bbbbbbbbbbbbbbbb", stackops.ZoneNamesKey: "eu-west-1a,eu-west-1b,eu-west-1c"},
			outputs: awsOut, refresh: true,
			want: map[string]string{stackops.ZoneNamesKey: "eu-west-1a,eu-west-1b,eu-west-1c"}, say: "dropped stayup:baseImage ami-0bbbbbbbbbbbbbbbb"},
		{name: "a change of a deployed stack's zones is refused", cfg: map[string]string{"stayup:cloud": "aws", stackops.ZoneNamesKey: "eu-west-1a,eu-west-1b"},
			outputs: awsOut, err: "does not move a running fleet between zones"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st := &pinStack{cfg: maps.Clone(tc.cfg), outputs: tc.outputs}
			azure := tc.azure
			if azure == nil {
				azure = noAzure
			}
			var errb bytes.Buffer
			err := pinBefore(context.Background(), st, "s", "/p", tc.refresh, azure, streams{err: &errb})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tc.want {
				if st.cfg[k] != v {
					t.Errorf("%s = %q, want %q", k, st.cfg[k], v)
				}
			}
			for _, k := range []string{stackops.BaseImageKey, stackops.ZoneNamesKey} {
				if _, want := tc.want[k]; !want && st.cfg[k] != "" {
					t.Errorf("%s = %q, want it unset", k, st.cfg[k])
				}
			}
			if !strings.Contains(errb.String(), tc.say) {
				t.Errorf("stderr %q does not say %q", errb.String(), tc.say)
			}
		})
	}
}

// After the up: what it resolved is kept; a pin the program had to
// re-resolve is replaced; after a failed up, what the state holds.
func TestPinAfter(t *testing.T) {
	t.Parallel()
	st := &pinStack{cfg: map[string]string{"stayup:cloud": "aws"}}
	var errb bytes.Buffer
	pinAfter(context.Background(), st, "s", "/p", map[string]any{"baseImage": "ami-0aaaaaaaaaaaaaaaa", "zones": []any{"eu-west-1a", "eu-west-1b"}}, nil, streams{err: &errb})
	if st.cfg[stackops.BaseImageKey] != "ami-0aaaaaaaaaaaaaaaa" || st.cfg[stackops.ZoneNamesKey] != "eu-west-1a,eu-west-1b" {
		t.Errorf("config %v, want the resolved pins", st.cfg)
	}
	st.calls = nil
	pinAfter(context.Background(), st, "s", "/p", nil, errors.New("up failed"), streams{err: &errb})
	if len(st.calls) != 1 || st.calls[0] != "seed" {
		t.Errorf("after a failed up: %v, want the pins seeded from the state", st.calls)
	}
}

// retainStack answers Export with a state holding one instance template.
type retainStack struct {
	rollout.Stack
	retained bool
}

func (e retainStack) Export(context.Context) (json.RawMessage, error) {
	r := map[string]any{"urn": "urn:pulumi:gcp::stayup::gcp:compute/instanceTemplate:InstanceTemplate::stayup-fleet", "type": "gcp:compute/instanceTemplate:InstanceTemplate", "custom": true}
	if e.retained {
		r["retainOnDelete"] = true
	}
	return json.Marshal(map[string]any{"version": 3, "deployment": map[string]any{"resources": []any{r}}})
}

// A GCP stack whose state does not keep replaced templates would fail its
// rollout's up (Compute refuses to delete a template in use): refused, with
// the one up that fixes it named.
func TestRolloutRefusesUntilTemplatesAreRetained(t *testing.T) {
	t.Parallel()
	err := templatesRetained(context.Background(), retainStack{}, "gcp", "gcp")
	if err == nil || !strings.Contains(err.Error(), "run `stayup up --stack gcp` once") {
		t.Errorf("state without retainOnDelete: %v, want a refusal naming the up", err)
	}
	if err := templatesRetained(context.Background(), retainStack{retained: true}, "gcp", "gcp"); err != nil {
		t.Errorf("state with retainOnDelete: %v", err)
	}
	if err := templatesRetained(context.Background(), retainStack{}, "aws", "aws"); err != nil {
		t.Errorf("aws: %v", err)
	}
}

// The Network Watcher is looked up before every Azure up: pinned where it
// is, moved when the pinned one is gone, dropped when the region has none
// (the program creates one), left alone when it is where the pin says, and
// never looked up for another cloud.
func TestPinWatcher(t *testing.T) {
	t.Parallel()
	const policy = "/subscriptions/s/resourceGroups/policy-watchers/providers/Microsoft.Network/networkWatchers/nw-westeurope"
	const gone = "/subscriptions/s/resourceGroups/NetworkWatcherRG/providers/Microsoft.Network/networkWatchers/NetworkWatcher_westeurope"
	for _, tc := range []struct {
		name, cloud, pinned, found string
		want                       string // the pin after; "" none
		calls, say                 string
	}{
		{"found, unpinned", "azure", "", policy, policy, "set stayup:networkWatcher", "the region's Network Watcher"},
		{"pinned one gone", "azure", gone, policy, policy, "set stayup:networkWatcher", "is gone: the flow log moves"},
		{"where the pin says", "azure", policy, policy, policy, "", ""},
		{"none in the region", "azure", "", "", "", "", "this up creates one"},
		{"none, stale pin", "azure", gone, "", "", "remove stayup:networkWatcher", "dropped"},
		{"another cloud", "aws", "", "unused", "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st := &pinStack{cfg: map[string]string{"stayup:cloud": tc.cloud, "azure-native:location": "westeurope"}}
			if tc.pinned != "" {
				st.cfg[stackops.NetworkWatcherKey] = tc.pinned
			}
			looked := false
			find := func(_ context.Context, cfg map[string]string) (string, error) {
				looked = true
				if cfg["azure-native:location"] != "westeurope" {
					t.Errorf("looked up in %q", cfg["azure-native:location"])
				}
				return tc.found, nil
			}
			var errb bytes.Buffer
			if err := pinWatcher(context.Background(), st, "s", "/p", find, streams{err: &errb}); err != nil {
				t.Fatal(err)
			}
			if looked != (tc.cloud == "azure") {
				t.Errorf("looked up %v for cloud %s", looked, tc.cloud)
			}
			if got := st.cfg[stackops.NetworkWatcherKey]; got != tc.want {
				t.Errorf("pin = %q, want %q", got, tc.want)
			}
			if got := strings.Join(st.calls, ", "); got != tc.calls {
				t.Errorf("calls %q, want %q", got, tc.calls)
			}
			if tc.say != "" && !strings.Contains(errb.String(), tc.say) {
				t.Errorf("said %q, want %q", errb.String(), tc.say)
			}
		})
	}
	failing := func(context.Context, map[string]string) (string, error) { return "", errors.New("AuthorizationFailed") }
	err := pinWatcher(context.Background(), &pinStack{cfg: map[string]string{"stayup:cloud": "azure"}}, "s", "/p", failing, streams{err: &bytes.Buffer{}})
	if err == nil || !strings.Contains(err.Error(), stackops.NetworkWatcherKey) {
		t.Errorf("a failed lookup gave %v, want an error naming %s", err, stackops.NetworkWatcherKey)
	}
}
