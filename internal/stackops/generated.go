package stackops

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"io"
	"strings"

	"golang.org/x/crypto/ssh"
)

// AzureSSHKey is the config key holding the Azure instances' admin SSH
// public key. Azure's Linux images refuse to start without a password or a
// key; a key whose private half nobody keeps is neither a password to leak
// nor a way in (SSH is never opened), so stayup generates one.
const AzureSSHKey = "stayup:sshPublicKey"

// generatedValue is config a stack needs once and must keep: generated on
// the first up and stored as secret config in the stack's file, so every
// later up passes the same value (a new one would replace the instances).
type generatedValue struct {
	key      string
	cloud    string // generated only for stacks of this cloud
	generate func(rand io.Reader) (string, error)
}

var generatedValues = []generatedValue{
	{key: AzureSSHKey, cloud: "azure", generate: newSSHPublicKey},
}

// EnsureGenerated generates and stores the values the stack needs once and
// does not have yet; it returns the keys it set.
func (s *Stack) EnsureGenerated(ctx context.Context) ([]string, error) {
	cfg, err := s.Config(ctx)
	if err != nil {
		return nil, err
	}
	var set []string
	for _, g := range generatedValues {
		if cfg["stayup:cloud"].Value != g.cloud {
			continue
		}
		if _, ok := cfg[g.key]; ok {
			continue
		}
		v, err := g.generate(rand.Reader)
		if err != nil {
			return set, fmt.Errorf("generate %s: %w", g.key, err)
		}
		if err := s.SetConfig(ctx, g.key, v, true); err != nil {
			return set, err
		}
		set = append(set, g.key)
	}
	return set, nil
}

// newSSHPublicKey returns an OpenSSH public key of a new RSA key pair and
// forgets the private key. RSA because it is the type every Azure image
// accepts; 3072 bits as NIST advises past 2030.
func newSSHPublicKey(random io.Reader) (string, error) {
	priv, err := rsa.GenerateKey(random, 3072)
	if err != nil {
		return "", err
	}
	pub, err := ssh.NewPublicKey(&priv.PublicKey)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub))) + " stayup-no-private-key", nil
}
