package cipher_test

// HPKE cross-checks against independent implementations: crypto/hpke for
// the KEMs it has (suites 1, 2, 3, 5, 7) and circl's HPKE for X448 (suites
// 4 and 6).

import (
	"bytes"
	"crypto/ecdh"
	"crypto/hpke"
	"crypto/rand"
	"fmt"
	"testing"

	circlhpke "github.com/cloudflare/circl/hpke"

	"github.com/matrix-org/dendrite/msc4244/internal/mls/cipher"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
)

// oracle is an HPKE implementation in base mode for one suite.
type oracle struct {
	name string
	// seedLen is the length of DeriveKeyPair inputs the oracle accepts, 0
	// for any.
	seedLen int
	// clampsX25519 is set when the oracle serialises X25519 private keys
	// clamped (RFC 9180 §7.1.2), where this package, like RFC 9180's test
	// vectors, keeps them as derived.
	clampsX25519  bool
	seal          func(pub, info, plaintext []byte) (enc, ciphertext []byte, err error)
	open          func(priv, enc, info, ciphertext []byte) ([]byte, error)
	exportSend    func(pub, info, exporterContext []byte, length int) (enc, secret []byte, err error)
	exportReceive func(priv, enc, info, exporterContext []byte, length int) ([]byte, error)
	deriveKeyPair func(ikm []byte) (priv, pub []byte, err error)
}

// stdlibOracle is crypto/hpke; ok is false for the X448 suites.
func stdlibOracle(t *testing.T, s *cipher.Suite) (o oracle, ok bool) {
	curves := map[cipher.SuiteID]ecdh.Curve{1: ecdh.X25519(), 2: ecdh.P256(), 3: ecdh.X25519(), 5: ecdh.P521(), 7: ecdh.P384()}
	kdfs := map[int]hpke.KDF{32: hpke.HKDFSHA256(), 48: hpke.HKDFSHA384(), 64: hpke.HKDFSHA512()}
	aeads := map[cipher.SuiteID]hpke.AEAD{1: hpke.AES128GCM(), 2: hpke.AES128GCM(), 3: hpke.ChaCha20Poly1305(), 5: hpke.AES256GCM(), 7: hpke.AES256GCM()}
	curve, ok := curves[s.ID()]
	if !ok {
		return oracle{}, false
	}
	kem, kdf, aead := hpke.DHKEM(curve), kdfs[s.HashLen()], aeads[s.ID()]
	return oracle{
		name:         "crypto/hpke",
		clampsX25519: curve == ecdh.X25519(),
		seal: func(pub, info, plaintext []byte) ([]byte, []byte, error) {
			pk, err := kem.NewPublicKey(pub)
			if err != nil {
				return nil, nil, err
			}
			out, err := hpke.Seal(pk, kdf, aead, info, plaintext)
			if err != nil {
				return nil, nil, err
			}
			return out[:len(pub)], out[len(pub):], nil
		},
		open: func(priv, enc, info, ciphertext []byte) ([]byte, error) {
			sk, err := kem.NewPrivateKey(priv)
			if err != nil {
				return nil, err
			}
			return hpke.Open(sk, kdf, aead, info, append(bytes.Clone(enc), ciphertext...))
		},
		exportSend: func(pub, info, exporterContext []byte, length int) ([]byte, []byte, error) {
			pk, err := kem.NewPublicKey(pub)
			if err != nil {
				return nil, nil, err
			}
			enc, sender, err := hpke.NewSender(pk, kdf, aead, info)
			if err != nil {
				return nil, nil, err
			}
			secret, err := sender.Export(string(exporterContext), length)
			return enc, secret, err
		},
		exportReceive: func(priv, enc, info, exporterContext []byte, length int) ([]byte, error) {
			sk, err := kem.NewPrivateKey(priv)
			if err != nil {
				return nil, err
			}
			r, err := hpke.NewRecipient(enc, sk, kdf, aead, info)
			if err != nil {
				return nil, err
			}
			return r.Export(string(exporterContext), length)
		},
		deriveKeyPair: func(ikm []byte) ([]byte, []byte, error) {
			sk, err := kem.DeriveKeyPair(ikm)
			if err != nil {
				return nil, nil, err
			}
			priv, err := sk.Bytes()
			return priv, sk.PublicKey().Bytes(), err
		},
	}, true
}

// circlOracle is circl's HPKE, for the X448 suites.
func circlOracle(t *testing.T, s *cipher.Suite) oracle {
	aeads := map[cipher.SuiteID]circlhpke.AEAD{4: circlhpke.AEAD_AES256GCM, 6: circlhpke.AEAD_ChaCha20Poly1305}
	suite := circlhpke.NewSuite(circlhpke.KEM_X448_HKDF_SHA512, circlhpke.KDF_HKDF_SHA512, aeads[s.ID()])
	scheme := circlhpke.KEM_X448_HKDF_SHA512.Scheme()
	sender := func(pub, info []byte) ([]byte, circlhpke.Sealer, error) {
		pk, err := scheme.UnmarshalBinaryPublicKey(pub)
		if err != nil {
			return nil, nil, err
		}
		snd, err := suite.NewSender(pk, info)
		if err != nil {
			return nil, nil, err
		}
		return snd.Setup(rand.Reader)
	}
	receiver := func(priv, enc, info []byte) (circlhpke.Opener, error) {
		sk, err := scheme.UnmarshalBinaryPrivateKey(priv)
		if err != nil {
			return nil, err
		}
		rcv, err := suite.NewReceiver(sk, info)
		if err != nil {
			return nil, err
		}
		return rcv.Setup(enc)
	}
	return oracle{
		name:    "circl/hpke",
		seedLen: scheme.SeedSize(),
		seal: func(pub, info, plaintext []byte) ([]byte, []byte, error) {
			enc, sealer, err := sender(pub, info)
			if err != nil {
				return nil, nil, err
			}
			ct, err := sealer.Seal(plaintext, nil)
			return enc, ct, err
		},
		open: func(priv, enc, info, ciphertext []byte) ([]byte, error) {
			opener, err := receiver(priv, enc, info)
			if err != nil {
				return nil, err
			}
			return opener.Open(ciphertext, nil)
		},
		exportSend: func(pub, info, exporterContext []byte, length int) ([]byte, []byte, error) {
			enc, sealer, err := sender(pub, info)
			if err != nil {
				return nil, nil, err
			}
			return enc, sealer.Export(exporterContext, uint(length)), nil
		},
		exportReceive: func(priv, enc, info, exporterContext []byte, length int) ([]byte, error) {
			opener, err := receiver(priv, enc, info)
			if err != nil {
				return nil, err
			}
			return opener.Export(exporterContext, uint(length)), nil
		},
		deriveKeyPair: func(ikm []byte) ([]byte, []byte, error) {
			pk, sk := scheme.DeriveKeyPair(ikm)
			priv, err := sk.MarshalBinary()
			if err != nil {
				return nil, nil, err
			}
			pub, err := pk.MarshalBinary()
			return priv, pub, err
		},
	}
}

func clampX25519(k []byte) []byte {
	k = bytes.Clone(k)
	k[0] &= 248
	k[31] &= 127
	k[31] |= 64
	return k
}

func oracleFor(t *testing.T, s *cipher.Suite) oracle {
	if o, ok := stdlibOracle(t, s); ok {
		return o
	}
	return circlOracle(t, s)
}

func random(t testing.TB, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestHPKEOracle checks, for every suite, that EncryptWithLabel, a
// LabeledSealer and the exporter interoperate with the oracle both ways,
// and that DeriveHPKEKeyPair agrees with it.
func TestHPKEOracle(t *testing.T) {
	for _, id := range cipher.IDs() {
		s := lookup(t, id)
		o := oracleFor(t, s)
		t.Run(fmt.Sprintf("%s/%s", s.Name(), o.name), func(t *testing.T) {
			priv, pub, err := s.GenerateHPKEKeyPair()
			if err != nil {
				t.Fatal(err)
			}
			label, context, plaintext := "Welcome", random(t, 300), random(t, 100)
			info := codec.Marshal(&cipher.EncryptContext{Label: label, Context: context})

			// Ours to the oracle, one shot and batched.
			kemOutput, ct, err := s.EncryptWithLabel(pub, label, context, plaintext)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := o.open(priv, kemOutput, info, ct); err != nil || !bytes.Equal(got, plaintext) {
				t.Errorf("oracle open of EncryptWithLabel: %x, %v", got, err)
			}
			sealer := s.NewLabeledSealer(label, context)
			for range 3 {
				priv, pub, err := s.GenerateHPKEKeyPair()
				if err != nil {
					t.Fatal(err)
				}
				kemOutput, ct, err := sealer.Seal(pub, plaintext)
				if err != nil {
					t.Fatal(err)
				}
				if got, err := o.open(priv, kemOutput, info, ct); err != nil || !bytes.Equal(got, plaintext) {
					t.Errorf("oracle open of LabeledSealer.Seal: %x, %v", got, err)
				}
			}

			// The oracle to ours.
			enc, ct, err := o.seal(pub, info, plaintext)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := s.DecryptWithLabel(priv, label, context, enc, ct); err != nil || !bytes.Equal(got, plaintext) {
				t.Errorf("DecryptWithLabel of the oracle's seal: %x, %v", got, err)
			}

			// The exporter, both ways, as an external commit uses it.
			exporterContext := []byte("MLS 1.0 external init secret")
			enc, secret, err := s.HPKEExportSend(pub, nil, exporterContext, s.HashLen())
			if err != nil {
				t.Fatal(err)
			}
			if got, err := o.exportReceive(priv, enc, nil, exporterContext, s.HashLen()); err != nil || !bytes.Equal(got, secret) {
				t.Errorf("oracle export = %x, %v; want %x", got, err, secret)
			}
			enc, secret, err = o.exportSend(pub, info, exporterContext, 100)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := s.HPKEExportReceive(priv, enc, info, exporterContext, 100); err != nil || !bytes.Equal(got, secret) {
				t.Errorf("HPKEExportReceive = %x, %v; want %x", got, err, secret)
			}

			// DeriveKeyPair, on seeds of the lengths MLS uses.
			lengths := []int{s.HashLen(), 1, 32, 66, 100}
			if o.seedLen != 0 {
				lengths = []int{o.seedLen}
			}
			for _, n := range lengths {
				for range 20 {
					ikm := random(t, n)
					priv, pub, err := s.DeriveHPKEKeyPair(ikm)
					wantPriv, wantPub, wantErr := o.deriveKeyPair(ikm)
					if o.clampsX25519 {
						priv = clampX25519(priv)
					}
					if err != nil || wantErr != nil || !bytes.Equal(priv, wantPriv) || !bytes.Equal(pub, wantPub) {
						t.Fatalf("DeriveHPKEKeyPair(%x) = %x, %x, %v; oracle %x, %x, %v", ikm, priv, pub, err, wantPriv, wantPub, wantErr)
					}
				}
			}
		})
	}
}
