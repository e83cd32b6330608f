package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"

	"stayup/infra/spec"
	"stayup/internal/project"
	"stayup/internal/stackops"
)

// pinner is what up and rollout need to keep a stack's base image and
// zones pinned (stackops.Stack).
type pinner interface {
	Config(ctx context.Context) (map[string]auto.ConfigValue, error)
	Outputs(ctx context.Context) (map[string]any, error)
	SeedPins(ctx context.Context, cloud string) ([]stackops.PinChange, error)
	StorePins(ctx context.Context, cloud string, outputs map[string]any) ([]stackops.PinChange, error)
	SetConfig(ctx context.Context, key, value string, secret bool) error
	RemoveConfig(ctx context.Context, key string) error
}

var _ pinner = (*stackops.Stack)(nil)

// newestAzureImage resolves the newest version of the Azure instances'
// marketplace image in a location; tests replace it.
type newestAzureImage func(ctx context.Context, cfg map[string]string) (string, error)

func resolveAzureImage(ctx context.Context, cfg map[string]string) (string, error) {
	sub := stackops.AzureSubscription(ctx, cfg, os.Getenv)
	if sub == "" {
		return "", errors.New("cannot tell which Azure subscription this deploys to (set azure-native:subscriptionId or ARM_SUBSCRIPTION_ID)")
	}
	arm, err := stackops.NewFeatureChecker()
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	a := spec.AzureImage
	return arm.NewestImageVersion(ctx, sub, cfg[spec.RegionKey[spec.Azure]], a.Publisher, a.Offer, a.SKU)
}

// azureWatcherFinder returns the resource id of the Network Watcher in the
// stack's region, "" when there is none; tests replace it.
type azureWatcherFinder func(ctx context.Context, cfg map[string]string) (string, error)

func resolveAzureWatcher(ctx context.Context, cfg map[string]string) (string, error) {
	sub := stackops.AzureSubscription(ctx, cfg, os.Getenv)
	if sub == "" {
		return "", errors.New("cannot tell which Azure subscription this deploys to (set azure-native:subscriptionId or ARM_SUBSCRIPTION_ID)")
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	return stackops.AzureNetworkWatcher(ctx, sub, cfg[spec.RegionKey[spec.Azure]])
}

// pinWatcher keeps stayup:networkWatcher on the region's Network Watcher
// before an Azure up: there is one per region per subscription, which
// Azure creates some time after the first virtual network wherever it (or a
// policy) puts it, so it is looked up, not assumed. Set when unset, moved
// when the pinned one is gone, dropped when the region has none (the
// program then creates one). Every change is said on stderr.
func pinWatcher(ctx context.Context, st pinner, stack, root string, find azureWatcherFinder, s streams) error {
	values, err := st.Config(ctx)
	if err != nil {
		return err
	}
	cfg := plainConfig(values)
	if cfg["stayup:cloud"] != string(spec.Azure) {
		return nil
	}
	id, err := find(ctx, cfg)
	if err != nil {
		return fmt.Errorf("find the Network Watcher of %s, which the flow log belongs to: %w; or set %s to its resource id", cfg[spec.RegionKey[spec.Azure]], err, stackops.NetworkWatcherKey)
	}
	file := project.StackFile(root, stack)
	old, had := cfg[stackops.NetworkWatcherKey]
	switch {
	case id == "" && had:
		if err := st.RemoveConfig(ctx, stackops.NetworkWatcherKey); err != nil {
			return err
		}
		fmt.Fprintf(s.err, "stayup: dropped %s %s from %s: it is gone, and %s has no Network Watcher; this up creates one\n", stackops.NetworkWatcherKey, old, file, cfg[spec.RegionKey[spec.Azure]])
	case id == "":
		fmt.Fprintf(s.err, "stayup: %s has no Network Watcher yet: this up creates one in the stack's resource group (kept by Pulumi, but deleted with the group on destroy)\n", cfg[spec.RegionKey[spec.Azure]])
	case !strings.EqualFold(id, old):
		if err := st.SetConfig(ctx, stackops.NetworkWatcherKey, id, false); err != nil {
			return err
		}
		why := "the region's Network Watcher, which the flow log belongs to"
		if had {
			why += fmt.Sprintf(" (the pinned %s is gone: the flow log moves to it)", old)
		}
		fmt.Fprintf(s.err, "stayup: %s in %s\n", stackops.PinChange{Key: stackops.NetworkWatcherKey, Value: id, Why: why}, file)
	}
	return nil
}

// pinBefore runs before an up (or a rollout's): it seeds the pins a
// deployed stack lacks from what it runs, resolves a new Azure stack's
// image (its model must not start at latest), moves to the newest image
// when asked, and refuses a change of the zones a deployed stack runs in.
// Every value it writes is said on stderr.
func pinBefore(ctx context.Context, st pinner, stack, root string, refresh bool, azureImage newestAzureImage, s streams) error {
	values, err := st.Config(ctx)
	if err != nil {
		return err
	}
	cfg := plainConfig(values)
	cloud := cfg["stayup:cloud"]
	file := project.StackFile(root, stack)
	say := func(changes []stackops.PinChange) {
		for _, c := range changes {
			fmt.Fprintf(s.err, "stayup: %s in %s\n", c, file)
		}
	}
	out, err := st.Outputs(ctx)
	if err != nil {
		return err
	}
	deployed := len(out) > 0
	changes, err := st.SeedPins(ctx, cloud)
	say(changes)
	if err != nil {
		return fmt.Errorf("pin what stack %s runs: %w", stack, err)
	}
	if values, err = st.Config(ctx); err != nil {
		return err
	}
	cfg = plainConfig(values)
	if refresh {
		// After seeding, so the pin it moves is the one the fleet runs.
		if err := refreshBaseImage(ctx, st, cfg, cloud, file, azureImage, s); err != nil {
			return err
		}
	}
	if cloud == string(spec.Azure) && !deployed && !refresh {
		if _, ok := cfg[stackops.BaseImageKey]; !ok {
			v, err := azureImage(ctx, cfg)
			if err != nil {
				return fmt.Errorf("resolve the Ubuntu image version a new Azure stack boots, to pin it before the first up: %w; or set %s yourself", err, stackops.BaseImageKey)
			}
			if err := st.SetConfig(ctx, stackops.BaseImageKey, v, false); err != nil {
				return err
			}
			say([]stackops.PinChange{{Key: stackops.BaseImageKey, Value: v, Why: "the newest Ubuntu 24.04 image, pinned before the first up"}})
		}
	}
	if deployed {
		p, _ := stackops.DeployedPins(cloud, out, nil)
		if err := stackops.ZoneChange(cloud, p.Zones, splitList(cfg[stackops.ZoneNamesKey])); err != nil {
			return err
		}
	}
	if cloud == string(spec.Azure) && cfg[stackops.BaseImageKey] == "latest" && !refresh {
		fmt.Fprintf(s.err, "stayup: %s is latest: every VM the scale set creates (surge, repair, scale-out) boots the newest Ubuntu image; pin it with `stayup up --refresh-base-image` (a model change: the scale set rolls its VMs once)\n", stackops.BaseImageKey)
	}
	return nil
}

// refreshBaseImage moves the pin to the newest image, when the user asks:
// on Azure resolved here; on AWS and GCP by dropping the pin, so the
// program resolves the newest and StorePins keeps it after the up.
func refreshBaseImage(ctx context.Context, st pinner, cfg map[string]string, cloud, file string, azureImage newestAzureImage, s streams) error {
	old := cfg[stackops.BaseImageKey]
	if cloud == string(spec.Azure) {
		v, err := azureImage(ctx, cfg)
		if err != nil {
			return fmt.Errorf("resolve the newest Ubuntu image version: %w", err)
		}
		if v == old {
			fmt.Fprintf(s.err, "stayup: %s %s is already the newest\n", stackops.BaseImageKey, v)
			return nil
		}
		if err := st.SetConfig(ctx, stackops.BaseImageKey, v, false); err != nil {
			return err
		}
		fmt.Fprintf(s.err, "stayup: set %s = %s in %s (--refresh-base-image; it was %s): the scale set rolls its VMs onto it\n", stackops.BaseImageKey, v, file, orNone(old))
		return nil
	}
	if old == "" {
		return nil
	}
	if err := st.RemoveConfig(ctx, stackops.BaseImageKey); err != nil {
		return err
	}
	fmt.Fprintf(s.err, "stayup: dropped %s %s from %s (--refresh-base-image): this up resolves the newest image and pins it; if it differs, the fleet rolls onto it\n", stackops.BaseImageKey, old, file)
	return nil
}

// pinAfter keeps what an up resolved; after a failed up, what the state
// holds of it. A failure here is said, not returned: the deploy itself is
// what the user asked about, and the next up pins again.
func pinAfter(ctx context.Context, st pinner, stack, root string, outputs map[string]any, upErr error, s streams) {
	values, err := st.Config(ctx)
	if err != nil {
		fmt.Fprintf(s.err, "stayup: warning: could not read stack %s's config to pin what it runs: %v\n", stack, err)
		return
	}
	cloud := values["stayup:cloud"].Value
	var changes []stackops.PinChange
	if upErr == nil {
		changes, err = st.StorePins(ctx, cloud, outputs)
	} else {
		changes, err = st.SeedPins(ctx, cloud)
	}
	for _, c := range changes {
		fmt.Fprintf(s.err, "stayup: %s in %s\n", c, project.StackFile(root, stack))
	}
	if err != nil {
		fmt.Fprintf(s.err, "stayup: warning: could not pin what stack %s runs: %v (the next up tries again)\n", stack, err)
	}
}

func plainConfig(values map[string]auto.ConfigValue) map[string]string {
	cfg := make(map[string]string, len(values))
	for k, v := range values {
		cfg[k] = v.Value
	}
	return cfg
}

// splitList reads a list config value: a JSON list or comma-separated.
func splitList(v string) []string {
	v = strings.Trim(strings.TrimSpace(v), "[]")
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.Trim(strings.TrimSpace(s), `"`); s != "" {
			out = append(out, s)
		}
	}
	return slices.Clip(out)
}

func orNone(s string) string {
	if s == "" {
		return "unset"
	}
	return s
}
