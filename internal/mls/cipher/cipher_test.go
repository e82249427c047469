package cipher_test

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	enchex "encoding/hex"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/matrix-org/dendrite/msc4244/internal/mls/cipher"
)

func eachSuite(t *testing.T, f func(t *testing.T, s *cipher.Suite)) {
	for _, id := range cipher.IDs() {
		s := lookup(t, id)
		t.Run(s.Name(), func(t *testing.T) { f(t, s) })
	}
}

func TestLookup(t *testing.T) {
	want := []struct {
		name                       string
		hashLen, keyLen, nonceLen  int
		hpkePubLen, signPrivLength int
	}{
		{"MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519", 32, 16, 12, 32, 32},
		{"MLS_128_DHKEMP256_AES128GCM_SHA256_P256", 32, 16, 12, 65, 32},
		{"MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519", 32, 32, 12, 32, 32},
		{"MLS_256_DHKEMX448_AES256GCM_SHA512_Ed448", 64, 32, 12, 56, 57},
		{"MLS_256_DHKEMP521_AES256GCM_SHA512_P521", 64, 32, 12, 133, 66},
		{"MLS_256_DHKEMX448_CHACHA20POLY1305_SHA512_Ed448", 64, 32, 12, 56, 57},
		{"MLS_256_DHKEMP384_AES256GCM_SHA384_P384", 48, 32, 12, 97, 48},
	}
	if ids := cipher.IDs(); len(ids) != len(want) {
		t.Fatalf("IDs() = %v", ids)
	}
	for i, w := range want {
		id := cipher.SuiteID(i + 1)
		s := lookup(t, id)
		byName, err := cipher.LookupName(w.name)
		if err != nil || byName != s || s.ID() != id || s.Name() != w.name || id.String() != w.name {
			t.Errorf("suite %d: name %q, String %q, LookupName(%q) = %v, %v", id, s.Name(), id, w.name, byName, err)
		}
		if s.HashLen() != w.hashLen || s.AEADKeyLen() != w.keyLen || s.AEADNonceLen() != w.nonceLen {
			t.Errorf("%s: hash %d, key %d, nonce %d", w.name, s.HashLen(), s.AEADKeyLen(), s.AEADNonceLen())
		}
		priv, pub, err := s.GenerateHPKEKeyPair()
		if err != nil || len(pub) != w.hpkePubLen {
			t.Errorf("%s: HPKE public key of %d bytes, %v", w.name, len(pub), err)
		}
		if got, err := s.HPKEPublicKey(priv); err != nil || !bytes.Equal(got, pub) {
			t.Errorf("%s: HPKEPublicKey of a generated key: %v", w.name, err)
		}
		if err := s.ValidateHPKEPublicKey(pub); err != nil {
			t.Errorf("%s: generated HPKE public key invalid: %v", w.name, err)
		}
		priv, pub, err = s.GenerateSignatureKeyPair()
		if err != nil || len(priv) != w.signPrivLength {
			t.Errorf("%s: signature private key of %d bytes, %v", w.name, len(priv), err)
		}
		if got, err := s.SignaturePublicKey(priv); err != nil || !bytes.Equal(got, pub) {
			t.Errorf("%s: SignaturePublicKey of a generated key: %v", w.name, err)
		}
		if err := s.ValidateSignaturePublicKey(pub); err != nil {
			t.Errorf("%s: generated signature public key invalid: %v", w.name, err)
		}
	}
	for _, id := range []cipher.SuiteID{0, 8, 0x0a0a, 0xffff} {
		if _, err := cipher.Lookup(id); !errors.Is(err, cipher.ErrUnsupportedSuite) {
			t.Errorf("Lookup(%d): %v", id, err)
		}
	}
	if _, err := cipher.LookupName("MLS_128_DHKEMX25519_AES128GCM_SHA256_ED25519"); !errors.Is(err, cipher.ErrUnsupportedSuite) {
		t.Errorf("LookupName of a misspelt name: %v", err)
	}
	if got := cipher.SuiteID(0x0a0a).String(); got != "SuiteID(0x0a0a)" {
		t.Errorf("String of an unknown suite: %q", got)
	}
}

// TestHashAndMAC checks Hash against the standard library and MAC against
// RFC 4231 test case 2.
func TestHashAndMAC(t *testing.T) {
	data := []byte("what do ya want for nothing?")
	sum256, sum384, sum512 := sha256.Sum256(data), sha512.Sum384(data), sha512.Sum512(data)
	macs := map[int]string{
		32: "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
		48: "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649",
		64: "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
	}
	hashes := map[int][]byte{32: sum256[:], 48: sum384[:], 64: sum512[:]}
	eachSuite(t, func(t *testing.T, s *cipher.Suite) {
		if got := s.Hash(data); !bytes.Equal(got, hashes[s.HashLen()]) {
			t.Errorf("Hash = %x", got)
		}
		h := s.NewHash()
		h.Write(data)
		if got := h.Sum(nil); !bytes.Equal(got, hashes[s.HashLen()]) {
			t.Errorf("NewHash sum = %x", got)
		}
		mac := s.MAC([]byte("Jefe"), data)
		if got := enchex.EncodeToString(mac); got != macs[s.HashLen()] {
			t.Errorf("MAC = %s", got)
		}
		if !s.VerifyMAC([]byte("Jefe"), data, mac) || s.VerifyMAC([]byte("Jeff"), data, mac) || s.VerifyMAC([]byte("Jefe"), data, mac[1:]) {
			t.Error("VerifyMAC wrong")
		}
		ref := s.RefHash("MLS 1.0 KeyPackage Reference", data)
		if !bytes.Equal(s.MakeKeyPackageRef(data), ref) || bytes.Equal(s.MakeProposalRef(data), ref) {
			t.Error("MakeKeyPackageRef/MakeProposalRef labels wrong")
		}
	})
}

func TestLengthLimits(t *testing.T) {
	eachSuite(t, func(t *testing.T, s *cipher.Suite) {
		secret := random(t, s.HashLen())
		max := 255 * s.HashLen()
		if out, err := s.ExpandWithLabel(secret, "l", nil, max); err != nil || len(out) != max {
			t.Errorf("ExpandWithLabel of the maximum length: %d bytes, %v", len(out), err)
		}
		for _, n := range []int{-1, max + 1, 1 << 16} {
			if _, err := s.ExpandWithLabel(secret, "l", nil, n); !errors.Is(err, cipher.ErrInvalidLength) {
				t.Errorf("ExpandWithLabel(%d): %v", n, err)
			}
			if _, err := s.Expand(secret, nil, n); !errors.Is(err, cipher.ErrInvalidLength) {
				t.Errorf("Expand(%d): %v", n, err)
			}
			if _, err := s.DeriveTreeSecret(secret, "l", 1, n); !errors.Is(err, cipher.ErrInvalidLength) {
				t.Errorf("DeriveTreeSecret(%d): %v", n, err)
			}
			if _, _, err := s.HPKEExportSend(random(t, 1), nil, nil, n); !errors.Is(err, cipher.ErrInvalidLength) {
				t.Errorf("HPKEExportSend(%d): %v", n, err)
			}
		}
		if out, err := s.Expand(s.Extract(nil, secret), []byte("info"), 42); err != nil || len(out) != 42 {
			t.Errorf("Expand: %d bytes, %v", len(out), err)
		}
	})
}

func TestAEAD(t *testing.T) {
	eachSuite(t, func(t *testing.T, s *cipher.Suite) {
		key, nonce, aad, pt := random(t, s.AEADKeyLen()), random(t, s.AEADNonceLen()), []byte("aad"), []byte("plaintext")
		ct, err := s.Seal(key, nonce, aad, pt)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := s.Open(key, nonce, aad, ct); err != nil || !bytes.Equal(got, pt) {
			t.Errorf("Open = %q, %v", got, err)
		}
		for name, c := range map[string]struct{ key, nonce, aad, ct []byte }{
			"other aad":        {key, nonce, []byte("aab"), ct},
			"other nonce":      {key, random(t, len(nonce)), aad, ct},
			"tampered":         {key, nonce, aad, append(bytes.Clone(ct[:len(ct)-1]), ct[len(ct)-1]^1)},
			"truncated":        {key, nonce, aad, ct[:len(ct)-1]},
			"shorter than tag": {key, nonce, aad, ct[:3]},
		} {
			if _, err := s.Open(c.key, c.nonce, c.aad, c.ct); !errors.Is(err, cipher.ErrDecrypt) {
				t.Errorf("Open with %s: %v", name, err)
			}
		}
		if _, err := s.Seal(key[1:], nonce, aad, pt); !errors.Is(err, cipher.ErrInvalidKey) {
			t.Errorf("Seal with a short key: %v", err)
		}
		if _, err := s.Open(key, nonce[1:], aad, ct); !errors.Is(err, cipher.ErrInvalidLength) {
			t.Errorf("Open with a short nonce: %v", err)
		}
	})
}

// TestShortScalars checks that NIST-curve private keys are accepted without
// their leading zero bytes, as some vectors carry P-521 keys.
func TestShortScalars(t *testing.T) {
	s := lookup(t, cipher.MLS_256_DHKEMP521_AES256GCM_SHA512_P521)
	// The top byte of a P-521 scalar is 0 or 1, so a key that starts with
	// zero comes up about every other time.
	for _, kind := range []string{"HPKE", "signature"} {
		for {
			var priv, pub []byte
			var err error
			if kind == "HPKE" {
				priv, pub, err = s.GenerateHPKEKeyPair()
			} else {
				priv, pub, err = s.GenerateSignatureKeyPair()
			}
			if err != nil {
				t.Fatal(err)
			}
			if priv[0] != 0 {
				continue
			}
			for _, variant := range [][]byte{priv[1:], append([]byte{0}, priv...)} {
				var got []byte
				if kind == "HPKE" {
					got, err = s.HPKEPublicKey(variant)
				} else {
					got, err = s.SignaturePublicKey(variant)
				}
				if err != nil || !bytes.Equal(got, pub) {
					t.Errorf("%s key of %d bytes: %x, %v", kind, len(variant), got, err)
				}
			}
			if kind == "HPKE" {
				kemOutput, ct, err := s.EncryptWithLabel(pub, "l", nil, []byte("pt"))
				if err != nil {
					t.Fatal(err)
				}
				if _, err := s.DecryptWithLabel(priv[1:], "l", nil, kemOutput, ct); err != nil {
					t.Errorf("DecryptWithLabel with a 65-byte key: %v", err)
				}
			}
			if _, err := s.HPKEPublicKey(append([]byte{1}, priv...)); !errors.Is(err, cipher.ErrInvalidKey) {
				t.Errorf("%s key of 67 significant bytes: %v", kind, err)
			}
			break
		}
	}
}

// badPublicKeys returns malformed HPKE or signature public keys based on a
// valid one.
func badPublicKeys(pub []byte) map[string][]byte {
	bad := map[string][]byte{
		"empty":      {},
		"short":      pub[:len(pub)-1],
		"long":       append(bytes.Clone(pub), 0),
		"all zeroes": make([]byte, len(pub)),
	}
	if pub[0] == 4 && len(pub)%2 == 1 { // an uncompressed NIST point
		offCurve := bytes.Clone(pub)
		offCurve[len(offCurve)-1] ^= 1
		bad["off the curve"] = offCurve
		compressed := bytes.Clone(pub[:1+len(pub)/2])
		compressed[0] = 2
		bad["compressed"] = compressed
		infinity := []byte{0}
		bad["infinity"] = infinity
	}
	return bad
}

// badPrivateKeys returns malformed private keys based on a valid one. A
// NIST-curve scalar can be zero or out of range; a shorter one is a valid
// integer (see TestShortScalars), where for the other curves it is too
// short.
func badPrivateKeys(priv []byte, nist bool) map[string][]byte {
	bad := map[string][]byte{"empty": {}, "long": append([]byte{1}, priv...)}
	if nist {
		bad["zero"] = make([]byte, len(priv))
		bad["all ones"] = bytes.Repeat([]byte{0xff}, len(priv))
	} else {
		bad["short"] = priv[:len(priv)-2]
	}
	return bad
}

func TestBadHPKEKeys(t *testing.T) {
	eachSuite(t, func(t *testing.T, s *cipher.Suite) {
		priv, pub, err := s.GenerateHPKEKeyPair()
		if err != nil {
			t.Fatal(err)
		}
		for name, bad := range badPublicKeys(pub) {
			// X25519 and X448 accept any string of the right length as a
			// public key; the all-zero one is of low order and fails in DH.
			if !(name == "all zeroes" && len(pub) <= 56) {
				if err := s.ValidateHPKEPublicKey(bad); !errors.Is(err, cipher.ErrInvalidKey) {
					t.Errorf("ValidateHPKEPublicKey(%s): %v", name, err)
				}
			}
			if _, _, err := s.EncryptWithLabel(bad, "l", nil, nil); !errors.Is(err, cipher.ErrInvalidKey) {
				t.Errorf("EncryptWithLabel to %s: %v", name, err)
			}
			if _, _, err := s.HPKEExportSend(bad, nil, nil, 32); !errors.Is(err, cipher.ErrInvalidKey) {
				t.Errorf("HPKEExportSend to %s: %v", name, err)
			}
		}
		for name, bad := range badPrivateKeys(priv, len(pub) > 56) {
			if _, err := s.HPKEPublicKey(bad); !errors.Is(err, cipher.ErrInvalidKey) {
				t.Errorf("HPKEPublicKey(%s): %v", name, err)
			}
			if _, err := s.DecryptWithLabel(bad, "l", nil, pub, make([]byte, 32)); !errors.Is(err, cipher.ErrInvalidKey) {
				t.Errorf("DecryptWithLabel with private key %s: %v", name, err)
			}
		}
	})
}

func TestDecryptFailures(t *testing.T) {
	eachSuite(t, func(t *testing.T, s *cipher.Suite) {
		priv, pub, err := s.GenerateHPKEKeyPair()
		if err != nil {
			t.Fatal(err)
		}
		otherPriv, _, err := s.GenerateHPKEKeyPair()
		if err != nil {
			t.Fatal(err)
		}
		context, pt := []byte("context"), []byte("path secret")
		kemOutput, ct, err := s.EncryptWithLabel(pub, "UpdatePathNode", context, pt)
		if err != nil {
			t.Fatal(err)
		}
		type input struct {
			priv             []byte
			label            string
			context, kem, ct []byte
		}
		cases := map[string]input{
			"other key":       {otherPriv, "UpdatePathNode", context, kemOutput, ct},
			"other label":     {priv, "Welcome", context, kemOutput, ct},
			"other context":   {priv, "UpdatePathNode", []byte("contexT"), kemOutput, ct},
			"truncated ct":    {priv, "UpdatePathNode", context, kemOutput, ct[:len(ct)-1]},
			"empty ct":        {priv, "UpdatePathNode", context, kemOutput, nil},
			"tampered ct":     {priv, "UpdatePathNode", context, kemOutput, append([]byte{ct[0] ^ 0x80}, ct[1:]...)},
			"long kem output": {priv, "UpdatePathNode", context, append(bytes.Clone(kemOutput), 0), ct},
		}
		for n := range len(kemOutput) {
			cases[fmt.Sprintf("kem output cut to %d", n)] = input{priv, "UpdatePathNode", context, kemOutput[:n], ct}
		}
		for name, bad := range badPublicKeys(kemOutput) {
			cases["kem output "+name] = input{priv, "UpdatePathNode", context, bad, ct}
		}
		for name, c := range cases {
			if _, err := s.DecryptWithLabel(c.priv, c.label, c.context, c.kem, c.ct); !errors.Is(err, cipher.ErrDecrypt) {
				t.Errorf("DecryptWithLabel with %s: %v", name, err)
			}
		}
		if _, err := s.HPKEExportReceive(priv, kemOutput[:5], nil, nil, 32); !errors.Is(err, cipher.ErrDecrypt) {
			t.Errorf("HPKEExportReceive with a truncated KEM output: %v", err)
		}
		if got, err := s.DecryptWithLabel(priv, "UpdatePathNode", context, kemOutput, ct); err != nil || !bytes.Equal(got, pt) {
			t.Errorf("DecryptWithLabel of the untouched input: %q, %v", got, err)
		}
	})
}

func TestSignatureFailures(t *testing.T) {
	eachSuite(t, func(t *testing.T, s *cipher.Suite) {
		priv, pub, err := s.GenerateSignatureKeyPair()
		if err != nil {
			t.Fatal(err)
		}
		signer, err := s.NewSigner(priv)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(signer.PublicKey(), pub) {
			t.Errorf("Signer.PublicKey = %x, want %x", signer.PublicKey(), pub)
		}
		content := []byte("LeafNodeTBS bytes")
		sig, err := signer.SignWithLabel("LeafNodeTBS", content)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.VerifyWithLabel(pub, "LeafNodeTBS", content, sig); err != nil {
			t.Fatalf("VerifyWithLabel: %v", err)
		}
		_, otherPub, err := s.GenerateSignatureKeyPair()
		if err != nil {
			t.Fatal(err)
		}
		for name, bad := range map[string][]byte{
			"empty":     {},
			"truncated": sig[:len(sig)-1],
			"extended":  append(bytes.Clone(sig), 0),
			"flipped":   append([]byte{sig[0] ^ 1}, sig[1:]...),
			"zeroes":    make([]byte, len(sig)),
		} {
			if err := s.VerifyWithLabel(pub, "LeafNodeTBS", content, bad); !errors.Is(err, cipher.ErrInvalidSignature) || errors.Is(err, cipher.ErrInvalidKey) {
				t.Errorf("VerifyWithLabel of a %s signature: %v", name, err)
			}
		}
		if err := s.VerifyWithLabel(otherPub, "LeafNodeTBS", content, sig); !errors.Is(err, cipher.ErrInvalidSignature) {
			t.Errorf("VerifyWithLabel under another key: %v", err)
		}
		for name, bad := range badPublicKeys(pub) {
			err := s.VerifyWithLabel(bad, "LeafNodeTBS", content, sig)
			if !errors.Is(err, cipher.ErrInvalidSignature) {
				t.Errorf("VerifyWithLabel under a %s key: %v", name, err)
			}
			// An all-zero EdDSA key has the right length; it is rejected
			// as a point only when verifying.
			if name == "all zeroes" && len(pub) <= 57 {
				continue
			}
			if !errors.Is(err, cipher.ErrInvalidKey) {
				t.Errorf("VerifyWithLabel under a %s key does not say ErrInvalidKey: %v", name, err)
			}
			if err := s.ValidateSignaturePublicKey(bad); !errors.Is(err, cipher.ErrInvalidKey) {
				t.Errorf("ValidateSignaturePublicKey(%s): %v", name, err)
			}
		}
		for name, bad := range badPrivateKeys(priv, len(pub) > 57) {
			if _, err := s.SignWithLabel(bad, "l", content); !errors.Is(err, cipher.ErrInvalidKey) {
				t.Errorf("SignWithLabel with a %s key: %v", name, err)
			}
			if _, err := s.SignaturePublicKey(bad); !errors.Is(err, cipher.ErrInvalidKey) {
				t.Errorf("SignaturePublicKey(%s): %v", name, err)
			}
		}
	})
}

// TestConcurrentUse seals, signs and verifies from several goroutines with
// one LabeledSealer and one Signer (run with -race).
func TestConcurrentUse(t *testing.T) {
	eachSuite(t, func(t *testing.T, s *cipher.Suite) {
		priv, pub, err := s.GenerateHPKEKeyPair()
		if err != nil {
			t.Fatal(err)
		}
		signPriv, signPub, err := s.GenerateSignatureKeyPair()
		if err != nil {
			t.Fatal(err)
		}
		signer, err := s.NewSigner(signPriv)
		if err != nil {
			t.Fatal(err)
		}
		sealer := s.NewLabeledSealer("Welcome", []byte("encrypted group info"))
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for i := range 8 {
			wg.Go(func() {
				pt := []byte{byte(i)}
				kemOutput, ct, err := sealer.Seal(pub, pt)
				if err == nil {
					var got []byte
					got, err = s.DecryptWithLabel(priv, "Welcome", []byte("encrypted group info"), kemOutput, ct)
					if err == nil && !bytes.Equal(got, pt) {
						err = fmt.Errorf("decrypted %x, want %x", got, pt)
					}
				}
				if err == nil {
					var sig []byte
					if sig, err = signer.SignWithLabel("l", pt); err == nil {
						err = s.VerifyWithLabel(signPub, "l", pt, sig)
					}
				}
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
	})
}
