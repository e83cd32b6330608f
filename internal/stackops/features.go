package stackops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// A Feature is an Azure subscription feature (a preview the subscription
// must register) the deployment needs.
type Feature struct {
	Namespace, Name string
	// Why says what in the deployment needs it.
	Why string
}

func (f Feature) String() string { return f.Namespace + "/" + f.Name }

// AzureFeatures lists the features an Azure stack's config needs: max
// surge in rolling upgrades always, encryption at host unless turned off.
func AzureFeatures(cfg map[string]string) []Feature {
	out := []Feature{{"Microsoft.Compute", "MaxSurgeRollingUpgrade", "rolling upgrades that add new instances before removing old ones"}}
	if v := strings.ToLower(strings.TrimSpace(cfg["stayup:encryptionAtHost"])); v != "false" && v != "0" {
		out = append(out, Feature{"Microsoft.Compute", "EncryptionAtHost", "stayup:encryptionAtHost (set it to false to do without)"})
	}
	return out
}

// ErrFeatureMissing is returned when the subscription has not registered a
// feature the deployment needs.
var ErrFeatureMissing = errors.New("subscription feature not registered")

// FeatureChecker asks Azure Resource Manager whether features are registered.
type FeatureChecker struct {
	// Endpoint is Resource Manager's address; tests point it at a local server.
	Endpoint string
	Token    func(ctx context.Context) (string, error)
	Client   *http.Client
}

// NewFeatureChecker uses the default Azure credential chain (environment,
// workload identity, managed identity, the az CLI's login), as the
// provider itself does.
func NewFeatureChecker() (*FeatureChecker, error) {
	cred, err := azidentity.NewDefaultAzureCredential(nil)
	if err != nil {
		return nil, fmt.Errorf("Azure credentials: %w", err)
	}
	return &FeatureChecker{
		Endpoint: "https://management.azure.com",
		Token: func(ctx context.Context) (string, error) {
			tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"https://management.azure.com/.default"}})
			return tok.Token, err
		},
		Client: &http.Client{Timeout: 30 * time.Second},
	}, nil
}

// Check returns an error wrapping ErrFeatureMissing that names every
// feature of the list the subscription has not registered, with the
// commands that register them.
func (c *FeatureChecker) Check(ctx context.Context, subscription string, features []Feature) error {
	token, err := c.Token(ctx)
	if err != nil {
		return fmt.Errorf("Azure credentials: %w", err)
	}
	var missing []string
	for _, f := range features {
		state, err := c.state(ctx, token, subscription, f)
		if err != nil {
			return fmt.Errorf("read feature %s of subscription %s: %w", f, subscription, err)
		}
		if state != "Registered" {
			missing = append(missing, fmt.Sprintf("%s (%s; it is %s): az feature register --namespace %s --name %s",
				f, f.Why, state, f.Namespace, f.Name))
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("%w in subscription %s:\n  %s\nregistration takes a few minutes; when `az feature show` says Registered, run `az provider register --namespace Microsoft.Compute`, then deploy again",
		ErrFeatureMissing, subscription, strings.Join(missing, "\n  "))
}

func (c *FeatureChecker) state(ctx context.Context, token, subscription string, f Feature) (string, error) {
	url := fmt.Sprintf("%s/subscriptions/%s/providers/Microsoft.Features/providers/%s/features/%s?api-version=2021-07-01",
		strings.TrimSuffix(c.Endpoint, "/"), subscription, f.Namespace, f.Name)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return "NotRegistered", nil
	case resp.StatusCode == http.StatusForbidden:
		return "", fmt.Errorf("permission denied (Microsoft.Features/providers/features/read): %s", strings.TrimSpace(string(body)))
	case resp.StatusCode != http.StatusOK:
		return "", fmt.Errorf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))
	}
	var doc struct {
		Properties struct {
			State string `json:"state"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return "", fmt.Errorf("unreadable answer: %w", err)
	}
	return doc.Properties.State, nil
}

// AzureSubscription finds the subscription the provider will deploy to, in
// the provider's own order: its config, its environment variables, then
// the az CLI's default account. Empty when none says.
func AzureSubscription(ctx context.Context, cfg map[string]string, getenv func(string) string) string {
	if s := cfg["azure-native:subscriptionId"]; s != "" {
		return s
	}
	for _, k := range []string{"ARM_SUBSCRIPTION_ID", "AZURE_SUBSCRIPTION_ID"} {
		if s := getenv(k); s != "" {
			return s
		}
	}
	if _, err := exec.LookPath("az"); err != nil {
		return ""
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "az", "account", "show", "--query", "id", "--output", "tsv").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// NewestImageVersion is the newest version of a marketplace image in a
// location, as Resource Manager lists them ("Virtual Machine Images -
// List", Compute REST API): what a new Azure stack pins before its first
// up, since a scale set model left at latest boots whatever is newest
// whenever it creates a VM.
func (c *FeatureChecker) NewestImageVersion(ctx context.Context, subscription, location, publisher, offer, sku string) (string, error) {
	token, err := c.Token(ctx)
	if err != nil {
		return "", fmt.Errorf("Azure credentials: %w", err)
	}
	url := fmt.Sprintf("%s/subscriptions/%s/providers/Microsoft.Compute/locations/%s/publishers/%s/artifacttypes/vmimage/offers/%s/skus/%s/versions?api-version=2024-07-01",
		c.Endpoint, subscription, location, publisher, offer, sku)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := c.Client.Do(req)
	if err != nil {
		return "", fmt.Errorf("list the versions of %s:%s:%s in %s: %w", publisher, offer, sku, location, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 4<<20))
	if res.StatusCode != http.StatusOK {
		return "", fmt.Errorf("list the versions of %s:%s:%s in %s (%s): %s: %s", publisher, offer, sku, location, actImageVersionsRead, res.Status, strings.TrimSpace(string(body)))
	}
	var versions []struct {
		Name string `json:"name"`
	}
	if err := json.Unmarshal(body, &versions); err != nil {
		return "", fmt.Errorf("read the versions of %s:%s:%s: %w", publisher, offer, sku, err)
	}
	newest := ""
	for _, v := range versions {
		if newerVersion(v.Name, newest) {
			newest = v.Name
		}
	}
	if newest == "" {
		return "", fmt.Errorf("%s:%s:%s has no version in %s", publisher, offer, sku, location)
	}
	return newest, nil
}

// actImageVersionsRead is what listing an image's versions needs.
const actImageVersionsRead = "Microsoft.Compute/locations/publishers/artifacttypes/offers/skus/versions/read"

// newerVersion compares dotted versions number by number (24.04.202409120
// is newer than 24.04.202408290); anything is newer than "".
func newerVersion(a, b string) bool {
	if b == "" {
		return a != ""
	}
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(pa) && i < len(pb); i++ {
		x, errx := strconv.Atoi(pa[i])
		y, erry := strconv.Atoi(pb[i])
		if errx != nil || erry != nil {
			return pa[i] > pb[i]
		}
		if x != y {
			return x > y
		}
	}
	return len(pa) > len(pb)
}
