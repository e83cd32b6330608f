package stackops

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
)

// Errors a caller may test for with errors.Is. Each comes wrapped in a
// message that says what to do.
var (
	ErrStackNotFound = errors.New("stack not found")
	ErrCredentials   = errors.New("cloud credentials missing or invalid")
	ErrFeature       = errors.New("subscription feature not registered")
	ErrLocked        = errors.New("stack locked by another update")
	ErrInterrupted   = errors.New("interrupted")
)

// credentialHints match what each provider prints when it has no usable
// credentials, and say how to get some.
var credentialHints = []struct {
	cloud    string
	patterns []string
	fix      string
}{
	{"AWS", []string{"no valid credential sources", "unable to validate aws credentials", "nocredentialproviders", "failed to refresh cached credentials", "the security token included in the request is invalid", "expiredtoken"},
		"sign in with `aws sso login` or `aws configure`, or set AWS_PROFILE (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), then run it again"},
	{"Google Cloud", []string{"could not find default credentials", "application default credentials", "google: could not find", "invalid_grant"},
		"run `gcloud auth application-default login` (or set GOOGLE_APPLICATION_CREDENTIALS to a key file), then run it again"},
	{"Azure", []string{"az login", "could not find azure credentials", "defaultazurecredential", "building account", "no subscription found", "azurecli"},
		"run `az login` and `az account set --subscription ID` (or set ARM_CLIENT_ID, ARM_CLIENT_SECRET, ARM_TENANT_ID and ARM_SUBSCRIPTION_ID), then run it again"},
}

// featureRE finds the Azure feature a subscription lacks, as in "The
// subscription is not registered for feature Microsoft.Compute/MaxSurgeRollingUpgrade".
var featureRE = regexp.MustCompile(`(?i)feature[^A-Za-z]{1,20}(Microsoft\.[A-Za-z]+)/([A-Za-z0-9]+)`)

// explain turns a failed CLI run into one message that says what happened
// and what to do; what the CLI printed stays in the wrapped error only when
// no better message is known.
func explain(op, stack string, err error) error {
	if err == nil {
		return nil
	}
	text := err.Error()
	lower := strings.ToLower(text)
	switch {
	case auto.IsSelectStack404Error(err):
		return fmt.Errorf("%s %s: %w: create it with `stayup up --stack %s`", op, stack, ErrStackNotFound, stack)
	case auto.IsConcurrentUpdateError(err):
		return fmt.Errorf("%s %s: %w: another update is running; wait for it, or if none is, run `pulumi cancel --stack %s`", op, stack, ErrLocked, stack)
	case strings.Contains(lower, "passphrase must be set") || strings.Contains(lower, "pulumi_config_passphrase"):
		return fmt.Errorf("%s %s: %w", op, stack, ErrNoPassphrase)
	case strings.Contains(lower, "incorrect passphrase"):
		return fmt.Errorf("%s %s: the passphrase in PULUMI_CONFIG_PASSPHRASE is not the one this stack was created with", op, stack)
	}
	if m := featureRE.FindStringSubmatch(text); m != nil && strings.Contains(lower, "not registered") {
		ns, name := m[1], m[2]
		return fmt.Errorf("%s %s: %w: the Azure subscription lacks the feature %s/%s: run `az feature register --namespace %s --name %s`, "+
			"wait until `az feature show --namespace %s --name %s` says Registered, run `az provider register --namespace %s`, then run it again",
			op, stack, ErrFeature, ns, name, ns, name, ns, name, ns)
	}
	for _, h := range credentialHints {
		for _, p := range h.patterns {
			if strings.Contains(lower, p) {
				return fmt.Errorf("%s %s: %w: %s: %s", op, stack, ErrCredentials, h.cloud, h.fix)
			}
		}
	}
	return fmt.Errorf("%s %s: %w", op, stack, cliError{err})
}

// cliError shortens an Automation API error to what the CLI printed on
// stderr: the progress already went to the terminal.
type cliError struct{ err error }

func (e cliError) Unwrap() error { return e.err }

func (e cliError) Error() string {
	text := e.err.Error()
	if _, stderr, ok := strings.Cut(text, "\nstderr: "); ok && strings.TrimSpace(stderr) != "" {
		return strings.TrimSpace(stderr)
	}
	first, _, _ := strings.Cut(text, "\n")
	return first
}
