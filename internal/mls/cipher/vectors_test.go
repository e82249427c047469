package cipher_test

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"golang.org/x/crypto/cryptobyte"

	"github.com/matrix-org/dendrite/msc4244/internal/mls/cipher"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/mlstest"
)

type hex = mlstest.Hex

func lookup(t testing.TB, id cipher.SuiteID) *cipher.Suite {
	t.Helper()
	s, err := cipher.Lookup(id)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestCryptoBasics runs every check of crypto-basics.json, for every suite.
func TestCryptoBasics(t *testing.T) {
	var cases []struct {
		CipherSuite cipher.SuiteID `json:"cipher_suite"`
		RefHash     struct {
			Label      string
			Value, Out hex
		} `json:"ref_hash"`
		ExpandWithLabel struct {
			Secret  hex
			Label   string
			Context hex
			Length  int
			Out     hex
		} `json:"expand_with_label"`
		DeriveSecret struct {
			Secret hex
			Label  string
			Out    hex
		} `json:"derive_secret"`
		DeriveTreeSecret struct {
			Secret     hex
			Label      string
			Generation uint32
			Length     int
			Out        hex
		} `json:"derive_tree_secret"`
		SignWithLabel struct {
			Priv, Pub, Content hex
			Label              string
			Signature          hex
		} `json:"sign_with_label"`
		EncryptWithLabel struct {
			Priv, Pub                      hex
			Label                          string
			Context, Plaintext, Ciphertext hex
			KEMOutput                      hex `json:"kem_output"`
		} `json:"encrypt_with_label"`
	}
	mlstest.Load(t, "crypto-basics.json", &cases)
	var seen []cipher.SuiteID
	for _, c := range cases {
		seen = append(seen, c.CipherSuite)
		s := lookup(t, c.CipherSuite)
		t.Run(s.Name(), func(t *testing.T) {
			if got := s.RefHash(c.RefHash.Label, c.RefHash.Value); !bytes.Equal(got, c.RefHash.Out) {
				t.Errorf("RefHash = %x, want %x", got, []byte(c.RefHash.Out))
			}

			e := c.ExpandWithLabel
			if got, err := s.ExpandWithLabel(e.Secret, e.Label, e.Context, e.Length); err != nil || !bytes.Equal(got, e.Out) {
				t.Errorf("ExpandWithLabel = %x, %v; want %x", got, err, []byte(e.Out))
			}

			d := c.DeriveSecret
			if got := s.DeriveSecret(d.Secret, d.Label); !bytes.Equal(got, d.Out) {
				t.Errorf("DeriveSecret = %x, want %x", got, []byte(d.Out))
			}

			ts := c.DeriveTreeSecret
			if got, err := s.DeriveTreeSecret(ts.Secret, ts.Label, ts.Generation, ts.Length); err != nil || !bytes.Equal(got, ts.Out) {
				t.Errorf("DeriveTreeSecret = %x, %v; want %x", got, err, []byte(ts.Out))
			}

			checkSignWithLabel(t, s, c.SignWithLabel.Priv, c.SignWithLabel.Pub, c.SignWithLabel.Label, c.SignWithLabel.Content, c.SignWithLabel.Signature)

			x := c.EncryptWithLabel
			checkEncryptWithLabel(t, s, x.Priv, x.Pub, x.Label, x.Context, x.Plaintext, x.KEMOutput, x.Ciphertext)
		})
	}
	if !slices.Equal(seen, cipher.IDs()) {
		t.Errorf("vectors cover suites %v, want %v", seen, cipher.IDs())
	}
}

func checkSignWithLabel(t *testing.T, s *cipher.Suite, priv, pub []byte, label string, content, sig []byte) {
	t.Helper()
	if got, err := s.SignaturePublicKey(priv); err != nil || !bytes.Equal(got, pub) {
		t.Errorf("SignaturePublicKey = %x, %v; want %x", got, err, pub)
	}
	if err := s.ValidateSignaturePublicKey(pub); err != nil {
		t.Errorf("ValidateSignaturePublicKey: %v", err)
	}
	if err := s.VerifyWithLabel(pub, label, content, sig); err != nil {
		t.Errorf("VerifyWithLabel of the vector's signature: %v", err)
	}
	mine, err := s.SignWithLabel(priv, label, content)
	if err != nil {
		t.Fatalf("SignWithLabel: %v", err)
	}
	if err := s.VerifyWithLabel(pub, label, content, mine); err != nil {
		t.Errorf("VerifyWithLabel of our signature: %v", err)
	}
	// The label and the content are both signed.
	if err := s.VerifyWithLabel(pub, label+"x", content, sig); !errors.Is(err, cipher.ErrInvalidSignature) {
		t.Errorf("VerifyWithLabel under another label: %v", err)
	}
	if err := s.VerifyWithLabel(pub, label, append(content, 0), sig); !errors.Is(err, cipher.ErrInvalidSignature) {
		t.Errorf("VerifyWithLabel of other content: %v", err)
	}
}

func checkEncryptWithLabel(t *testing.T, s *cipher.Suite, priv, pub []byte, label string, context, plaintext, kemOutput, ciphertext []byte) {
	t.Helper()
	if got, err := s.HPKEPublicKey(priv); err != nil || !bytes.Equal(got, pub) {
		t.Errorf("HPKEPublicKey = %x, %v; want %x", got, err, pub)
	}
	if err := s.ValidateHPKEPublicKey(pub); err != nil {
		t.Errorf("ValidateHPKEPublicKey: %v", err)
	}
	if got, err := s.DecryptWithLabel(priv, label, context, kemOutput, ciphertext); err != nil || !bytes.Equal(got, plaintext) {
		t.Errorf("DecryptWithLabel of the vector = %x, %v; want %x", got, err, plaintext)
	}
	kemOutput2, ciphertext2, err := s.EncryptWithLabel(pub, label, context, plaintext)
	if err != nil {
		t.Fatalf("EncryptWithLabel: %v", err)
	}
	if got, err := s.DecryptWithLabel(priv, label, context, kemOutput2, ciphertext2); err != nil || !bytes.Equal(got, plaintext) {
		t.Errorf("DecryptWithLabel of our encryption = %x, %v; want %x", got, err, plaintext)
	}
	if _, err := s.DecryptWithLabel(priv, label, append(context, 0), kemOutput, ciphertext); !errors.Is(err, cipher.ErrDecrypt) {
		t.Errorf("DecryptWithLabel under another context: %v", err)
	}
}

// TestDeriveKeyPairTreeKEM derives node key pairs from the path secrets of
// treekem.json (RFC 9420 §7.4) and checks that each public key is in the
// vector's ratchet tree, or, for the path secrets a member decrypts from an
// UpdatePath, in that UpdatePath. It also checks the leaves' encryption and
// signature private keys against the tree.
func TestDeriveKeyPairTreeKEM(t *testing.T) {
	var cases []struct {
		CipherSuite   cipher.SuiteID `json:"cipher_suite"`
		RatchetTree   hex            `json:"ratchet_tree"`
		LeavesPrivate []struct {
			EncryptionPriv hex `json:"encryption_priv"`
			SignaturePriv  hex `json:"signature_priv"`
			PathSecrets    []struct {
				PathSecret hex `json:"path_secret"`
			} `json:"path_secrets"`
		} `json:"leaves_private"`
		UpdatePaths []struct {
			UpdatePath  hex   `json:"update_path"`
			PathSecrets []hex `json:"path_secrets"`
		} `json:"update_paths"`
	}
	mlstest.Load(t, "treekem.json", &cases)
	derived := map[cipher.SuiteID]int{}
	for i, c := range cases {
		s := lookup(t, c.CipherSuite)
		inTree := func(what string, priv []byte, pub []byte, err error, in []byte) {
			t.Helper()
			if err != nil {
				t.Fatalf("case %d (%s): %s: %v", i, s.Name(), what, err)
			}
			if !bytes.Contains(in, opaque(pub)) {
				t.Errorf("case %d (%s): %s: public key %x of private key %x not found", i, s.Name(), what, pub, priv)
			}
		}
		for _, leaf := range c.LeavesPrivate {
			pub, err := s.HPKEPublicKey(leaf.EncryptionPriv)
			inTree("leaf encryption key", leaf.EncryptionPriv, pub, err, c.RatchetTree)
			pub, err = s.SignaturePublicKey(leaf.SignaturePriv)
			inTree("leaf signature key", leaf.SignaturePriv, pub, err, c.RatchetTree)
			for _, p := range leaf.PathSecrets {
				priv, pub, err := s.DeriveHPKEKeyPair(s.DeriveSecret(p.PathSecret, "node"))
				inTree("node key", priv, pub, err, c.RatchetTree)
				derived[c.CipherSuite]++
			}
		}
		for _, u := range c.UpdatePaths {
			for _, p := range u.PathSecrets {
				if len(p) == 0 { // null: the sender itself
					continue
				}
				priv, pub, err := s.DeriveHPKEKeyPair(s.DeriveSecret(p, "node"))
				inTree("UpdatePath node key", priv, pub, err, u.UpdatePath)
				derived[c.CipherSuite]++
			}
		}
	}
	for _, id := range cipher.IDs() {
		if derived[id] == 0 {
			t.Errorf("no key pair derived for %v", id)
		}
	}
}

// TestWelcomeInitKeys checks that each welcome.json init_priv belongs to
// the init key of its KeyPackage.
func TestWelcomeInitKeys(t *testing.T) {
	var cases []struct {
		CipherSuite cipher.SuiteID `json:"cipher_suite"`
		InitPriv    hex            `json:"init_priv"`
		KeyPackage  hex            `json:"key_package"`
	}
	mlstest.Load(t, "welcome.json", &cases)
	for _, c := range cases {
		s := lookup(t, c.CipherSuite)
		pub, err := s.HPKEPublicKey(c.InitPriv)
		if err != nil || !bytes.Contains(c.KeyPackage, opaque(pub)) {
			t.Errorf("%s: init key %x (%v) not in the KeyPackage", s.Name(), pub, err)
		}
	}
}

// opaque is the encoding of b as opaque<V>, which is how keys appear
// inside MLS structures.
func opaque(b []byte) []byte {
	var builder cryptobyte.Builder
	codec.AddOpaque(&builder, b)
	return builder.BytesOrPanic()
}
