package stackops

import (
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

// cliFailure is how a failed CLI run reads through the Automation API.
func cliFailure(stderr string) error {
	return errors.New("failed to run update: exit status 255\ncode: 255\nstdout: Updating (dev):\nstderr: " + stderr + "\n")
}

func TestExplain(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		stderr string
		is     error
		says   []string
	}{
		{"aws credentials", "error: unable to validate AWS credentials.\nDetails: No valid credential sources found", ErrCredentials, []string{"AWS", "aws sso login", "AWS_PROFILE"}},
		{"gcp credentials", "google: could not find default credentials. See https://cloud.google.com/docs/authentication", ErrCredentials, []string{"Google Cloud", "gcloud auth application-default login"}},
		{"azure credentials", "error: building account: could not acquire access token: Please run 'az login' to setup account.", ErrCredentials, []string{"Azure", "az login", "ARM_CLIENT_ID"}},
		{"azure feature", "error: Code=\"SubscriptionNotRegisteredForFeature\" Message=\"The subscription is not registered for feature Microsoft.Compute/MaxSurgeRollingUpgrade required to carry out the requested operation.\"",
			ErrFeature, []string{"az feature register --namespace Microsoft.Compute --name MaxSurgeRollingUpgrade", "az provider register --namespace Microsoft.Compute"}},
		{"passphrase", "error: passphrase must be set with PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE environment variables", ErrNoPassphrase, []string{"export PULUMI_CONFIG_PASSPHRASE="}},
		{"wrong passphrase", "error: incorrect passphrase", nil, []string{"not the one this stack was created with"}},
		{"other", "error: something else\n  with detail", nil, []string{"up dev: error: something else\n  with detail"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := explain("up", "dev", cliFailure(tc.stderr))
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("%v is not %v", err, tc.is)
			}
			for _, want := range tc.says {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("message %q does not say %q", err, want)
				}
			}
			if strings.Contains(err.Error(), "stdout:") {
				t.Errorf("message %q repeats the progress output", err)
			}
		})
	}
}

// The generated key is an OpenSSH RSA public key of at least 3072 bits.
func TestNewSSHPublicKey(t *testing.T) {
	t.Parallel()
	k, err := newSSHPublicKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, comment, _, _, err := ssh.ParseAuthorizedKey([]byte(k))
	if err != nil {
		t.Fatalf("%q does not parse: %v", k, err)
	}
	if pub.Type() != ssh.KeyAlgoRSA || comment != "stayup-no-private-key" {
		t.Errorf("type %s, comment %q", pub.Type(), comment)
	}
	rsaKey, ok := pub.(ssh.CryptoPublicKey).CryptoPublicKey().(*rsa.PublicKey)
	if !ok || rsaKey.N.BitLen() < 3072 {
		t.Errorf("key %s, want RSA of 3072 bits or more", k)
	}
}
