package stackops

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestAzureFeatures(t *testing.T) {
	t.Parallel()
	names := func(fs []Feature) string {
		var out []string
		for _, f := range fs {
			out = append(out, f.Name)
		}
		return strings.Join(out, ",")
	}
	if got := names(AzureFeatures(map[string]string{})); got != "MaxSurgeRollingUpgrade,EncryptionAtHost" {
		t.Errorf("default features = %s", got)
	}
	if got := names(AzureFeatures(map[string]string{"stayup:encryptionAtHost": "false"})); got != "MaxSurgeRollingUpgrade" {
		t.Errorf("without encryption at host: %s", got)
	}
}

// armFeatures serves Resource Manager's feature API on loopback: the
// states by feature name, 404 for a feature it does not know.
func armFeatures(t *testing.T, states map[string]string, status int) *FeatureChecker {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			http.Error(w, "no token", http.StatusUnauthorized)
			return
		}
		if !strings.HasPrefix(r.URL.Path, "/subscriptions/sub-1/providers/Microsoft.Features/providers/Microsoft.Compute/features/") {
			http.NotFound(w, r)
			return
		}
		if status != 0 {
			http.Error(w, `{"error":{"code":"AuthorizationFailed"}}`, status)
			return
		}
		name := r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
		state, ok := states[name]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(`{"properties":{"state":"` + state + `"},"name":"Microsoft.Compute/` + name + `"}`))
	}))
	t.Cleanup(srv.Close)
	return &FeatureChecker{Endpoint: srv.URL, Token: func(context.Context) (string, error) { return "tok", nil }, Client: srv.Client()}
}

func TestFeatureCheck(t *testing.T) {
	t.Parallel()
	features := AzureFeatures(nil)
	ok := armFeatures(t, map[string]string{"MaxSurgeRollingUpgrade": "Registered", "EncryptionAtHost": "Registered"}, 0)
	if err := ok.Check(context.Background(), "sub-1", features); err != nil {
		t.Errorf("both registered: %v", err)
	}

	missing := armFeatures(t, map[string]string{"MaxSurgeRollingUpgrade": "Pending"}, 0)
	err := missing.Check(context.Background(), "sub-1", features)
	if !errors.Is(err, ErrFeatureMissing) {
		t.Fatalf("error = %v, want ErrFeatureMissing", err)
	}
	for _, want := range []string{"MaxSurgeRollingUpgrade", "it is Pending", "EncryptionAtHost", "it is NotRegistered",
		"az feature register --namespace Microsoft.Compute --name EncryptionAtHost", "az provider register"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message lacks %q:\n%v", want, err)
		}
	}

	denied := armFeatures(t, nil, http.StatusForbidden)
	if err := denied.Check(context.Background(), "sub-1", features); err == nil || errors.Is(err, ErrFeatureMissing) || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("403: error = %v, want a permission error, not a missing feature", err)
	}
}

func TestAzureSubscriptionOrder(t *testing.T) {
	t.Parallel()
	env := map[string]string{"ARM_SUBSCRIPTION_ID": "from-arm", "AZURE_SUBSCRIPTION_ID": "from-azure"}
	getenv := func(k string) string { return env[k] }
	if got := AzureSubscription(context.Background(), map[string]string{"azure-native:subscriptionId": "from-config"}, getenv); got != "from-config" {
		t.Errorf("config first: %q", got)
	}
	if got := AzureSubscription(context.Background(), nil, getenv); got != "from-arm" {
		t.Errorf("then ARM_SUBSCRIPTION_ID: %q", got)
	}
}
