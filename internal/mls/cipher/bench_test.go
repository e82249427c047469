package cipher_test

import (
	"testing"

	"github.com/matrix-org/dendrite/msc4244/internal/mls/cipher"
)

// benchSuites runs f once per suite as a sub-benchmark named by suite id.
func benchSuites(b *testing.B, f func(b *testing.B, s *cipher.Suite)) {
	for _, id := range cipher.IDs() {
		s := lookup(b, id)
		b.Run(s.Name(), func(b *testing.B) {
			b.ReportAllocs()
			f(b, s)
		})
	}
}

func hpkeKeyPair(b *testing.B, s *cipher.Suite) (priv, pub []byte) {
	priv, pub, err := s.GenerateHPKEKeyPair()
	if err != nil {
		b.Fatal(err)
	}
	return priv, pub
}

// groupContext stands in for an encoded GroupContext, the context of an
// UpdatePath's encryptions.
var groupContext = make([]byte, 200)

// BenchmarkEncryptWithLabel is one path secret encryption of a commit.
func BenchmarkEncryptWithLabel(b *testing.B) {
	benchSuites(b, func(b *testing.B, s *cipher.Suite) {
		_, pub := hpkeKeyPair(b, s)
		secret := make([]byte, s.HashLen())
		for b.Loop() {
			if _, _, err := s.EncryptWithLabel(pub, "UpdatePathNode", groupContext, secret); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkDecryptWithLabel is the path secret decryption of processing a
// commit.
func BenchmarkDecryptWithLabel(b *testing.B) {
	benchSuites(b, func(b *testing.B, s *cipher.Suite) {
		priv, pub := hpkeKeyPair(b, s)
		kemOutput, ct, err := s.EncryptWithLabel(pub, "UpdatePathNode", groupContext, make([]byte, s.HashLen()))
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := s.DecryptWithLabel(priv, "UpdatePathNode", groupContext, kemOutput, ct); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkWelcomeSeal measures one GroupSecrets encryption of a Welcome
// whose encrypted GroupInfo (the HPKE info) is 2 MB, about a 10,000-member
// ratchet tree: through a LabeledSealer made once for all recipients
// ("sealer", the cost per member), and through EncryptWithLabel, which
// hashes the info again for every member ("each").
func BenchmarkWelcomeSeal(b *testing.B) {
	encryptedGroupInfo := make([]byte, 2<<20)
	groupSecrets := make([]byte, 100)
	for _, id := range []cipher.SuiteID{cipher.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519, cipher.MLS_128_DHKEMP256_AES128GCM_SHA256_P256} {
		s := lookup(b, id)
		_, pub := hpkeKeyPair(b, s)
		b.Run(s.Name()+"/sealer", func(b *testing.B) {
			b.ReportAllocs()
			sealer := s.NewLabeledSealer("Welcome", encryptedGroupInfo)
			for b.Loop() {
				if _, _, err := sealer.Seal(pub, groupSecrets); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(s.Name()+"/each", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := s.EncryptWithLabel(pub, "Welcome", encryptedGroupInfo, groupSecrets); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// leafNodeTBS stands in for an encoded LeafNodeTBS, the most common signed
// content.
var leafNodeTBS = make([]byte, 300)

// BenchmarkSignWithLabel signs through a Signer, as a client signing with
// its own key does.
func BenchmarkSignWithLabel(b *testing.B) {
	benchSuites(b, func(b *testing.B, s *cipher.Suite) {
		priv, _, err := s.GenerateSignatureKeyPair()
		if err != nil {
			b.Fatal(err)
		}
		signer, err := s.NewSigner(priv)
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := signer.SignWithLabel("LeafNodeTBS", leafNodeTBS); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkSuiteSignWithLabel signs with a private key given as bytes,
// which parses it every time.
func BenchmarkSuiteSignWithLabel(b *testing.B) {
	benchSuites(b, func(b *testing.B, s *cipher.Suite) {
		priv, _, err := s.GenerateSignatureKeyPair()
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := s.SignWithLabel(priv, "LeafNodeTBS", leafNodeTBS); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkVerifyWithLabel is one leaf signature check of a join.
func BenchmarkVerifyWithLabel(b *testing.B) {
	benchSuites(b, func(b *testing.B, s *cipher.Suite) {
		priv, pub, err := s.GenerateSignatureKeyPair()
		if err != nil {
			b.Fatal(err)
		}
		sig, err := s.SignWithLabel(priv, "LeafNodeTBS", leafNodeTBS)
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if err := s.VerifyWithLabel(pub, "LeafNodeTBS", leafNodeTBS, sig); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkDeriveHPKEKeyPair is the node key derivation of every path
// secret.
func BenchmarkDeriveHPKEKeyPair(b *testing.B) {
	benchSuites(b, func(b *testing.B, s *cipher.Suite) {
		secret := make([]byte, s.HashLen())
		for b.Loop() {
			if _, _, err := s.DeriveHPKEKeyPair(secret); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkDeriveTreeSecret is one step of the secret tree's ratchets.
func BenchmarkDeriveTreeSecret(b *testing.B) {
	s := lookup(b, cipher.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519)
	secret := make([]byte, s.HashLen())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.DeriveTreeSecret(secret, "key", 7, s.AEADKeyLen()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDeriveSecret is one step of the key schedule or of a path.
func BenchmarkDeriveSecret(b *testing.B) {
	s := lookup(b, cipher.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519)
	secret := make([]byte, s.HashLen())
	b.ReportAllocs()
	for b.Loop() {
		s.DeriveSecret(secret, "path")
	}
}

// BenchmarkAEAD is an application message's encryption (1 KB).
func BenchmarkAEAD(b *testing.B) {
	benchSuites(b, func(b *testing.B, s *cipher.Suite) {
		key, nonce, pt := make([]byte, s.AEADKeyLen()), make([]byte, s.AEADNonceLen()), make([]byte, 1024)
		for b.Loop() {
			if _, err := s.Seal(key, nonce, nil, pt); err != nil {
				b.Fatal(err)
			}
		}
	})
}
