package cipher_test

// Fuzz targets for everything that takes keys, KEM outputs, ciphertexts or
// signatures from the wire. Their seeds are in testdata/fuzz; rewrite them
// with: go test -run TestFuzzSeeds -update-fuzz-seeds

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/matrix-org/dendrite/msc4244/internal/mls/cipher"
)

var updateFuzzSeeds = flag.Bool("update-fuzz-seeds", false, "rewrite testdata/fuzz")

const fuzzLabel, fuzzPlaintext = "fuzz", "fuzz plaintext"

// fuzzKey is a fixed HPKE or signature key pair per suite.
type fuzzKey struct{ priv, pub []byte }

var fuzzKeys = sync.OnceValue(func() map[cipher.SuiteID][2]fuzzKey {
	keys := map[cipher.SuiteID][2]fuzzKey{}
	for _, id := range cipher.IDs() {
		s, _ := cipher.Lookup(id)
		hpkePriv, hpkePub, err := s.DeriveHPKEKeyPair([]byte("fuzz"))
		if err != nil {
			panic(err)
		}
		signPriv, signPub, err := s.GenerateSignatureKeyPair()
		if err != nil {
			panic(err)
		}
		keys[id] = [2]fuzzKey{{hpkePriv, hpkePub}, {signPriv, signPub}}
	}
	return keys
})

// fuzzSuite picks a suite by a fuzzed byte.
func fuzzSuite(t *testing.T, b byte) (*cipher.Suite, fuzzKey, fuzzKey) {
	ids := cipher.IDs()
	id := ids[int(b)%len(ids)]
	keys := fuzzKeys()[id]
	return lookup(t, id), keys[0], keys[1]
}

func FuzzDecryptWithLabel(f *testing.F) {
	f.Fuzz(func(t *testing.T, suite byte, kemOutput, ciphertext []byte) {
		s, key, _ := fuzzSuite(t, suite)
		pt, err := s.DecryptWithLabel(key.priv, fuzzLabel, nil, kemOutput, ciphertext)
		switch {
		case err == nil && string(pt) != fuzzPlaintext:
			t.Fatalf("decrypted %q from a forged ciphertext", pt)
		case err != nil && !errors.Is(err, cipher.ErrDecrypt):
			t.Fatalf("error does not wrap ErrDecrypt: %v", err)
		}
		if _, err := s.HPKEExportReceive(key.priv, kemOutput, ciphertext, nil, 32); err != nil && !errors.Is(err, cipher.ErrDecrypt) {
			t.Fatalf("HPKEExportReceive error does not wrap ErrDecrypt: %v", err)
		}
	})
}

func FuzzVerifyWithLabel(f *testing.F) {
	f.Fuzz(func(t *testing.T, suite byte, pub, content, sig []byte) {
		s, _, _ := fuzzSuite(t, suite)
		err := s.VerifyWithLabel(pub, fuzzLabel, content, sig)
		if err != nil && !errors.Is(err, cipher.ErrInvalidSignature) {
			t.Fatalf("error does not wrap ErrInvalidSignature: %v", err)
		}
		if err == nil && s.ValidateSignaturePublicKey(pub) != nil {
			t.Fatalf("signature verified under an invalid key %x", pub)
		}
	})
}

// FuzzKeys feeds one byte string to every function that parses a key.
func FuzzKeys(f *testing.F) {
	f.Fuzz(func(t *testing.T, suite byte, key []byte) {
		s, _, _ := fuzzSuite(t, suite)
		checkKeyErr := func(what string, err error) {
			if err != nil && !errors.Is(err, cipher.ErrInvalidKey) {
				t.Fatalf("%s: error does not wrap ErrInvalidKey: %v", what, err)
			}
		}
		if pub, err := s.HPKEPublicKey(key); err == nil {
			if err := s.ValidateHPKEPublicKey(pub); err != nil {
				t.Fatalf("HPKEPublicKey gave an invalid key: %v", err)
			}
		} else {
			checkKeyErr("HPKEPublicKey", err)
		}
		checkKeyErr("ValidateHPKEPublicKey", s.ValidateHPKEPublicKey(key))
		_, _, err := s.EncryptWithLabel(key, fuzzLabel, nil, []byte(fuzzPlaintext))
		checkKeyErr("EncryptWithLabel", err)
		if pub, err := s.SignaturePublicKey(key); err == nil {
			if err := s.ValidateSignaturePublicKey(pub); err != nil {
				t.Fatalf("SignaturePublicKey gave an invalid key: %v", err)
			}
		} else {
			checkKeyErr("SignaturePublicKey", err)
		}
		checkKeyErr("ValidateSignaturePublicKey", s.ValidateSignaturePublicKey(key))
	})
}

// fuzzSeeds returns seed inputs for each target: valid inputs for every
// suite, which the fuzzer then mutates.
func fuzzSeeds(t *testing.T) map[string][][]any {
	seeds := map[string][][]any{}
	for i, id := range cipher.IDs() {
		s := lookup(t, id)
		keys := fuzzKeys()[id]
		kemOutput, ct, err := s.EncryptWithLabel(keys[0].pub, fuzzLabel, nil, []byte(fuzzPlaintext))
		if err != nil {
			t.Fatal(err)
		}
		content := []byte("content")
		sig, err := s.SignWithLabel(keys[1].priv, fuzzLabel, content)
		if err != nil {
			t.Fatal(err)
		}
		seeds["FuzzDecryptWithLabel"] = append(seeds["FuzzDecryptWithLabel"], []any{byte(i), kemOutput, ct})
		seeds["FuzzVerifyWithLabel"] = append(seeds["FuzzVerifyWithLabel"], []any{byte(i), keys[1].pub, content, sig})
		for _, key := range [][]byte{keys[0].priv, keys[0].pub, keys[1].priv, keys[1].pub} {
			seeds["FuzzKeys"] = append(seeds["FuzzKeys"], []any{byte(i), key})
		}
	}
	return seeds
}

// TestFuzzSeeds checks that testdata/fuzz holds seeds for every target, and
// rewrites them with -update-fuzz-seeds.
func TestFuzzSeeds(t *testing.T) {
	for target, inputs := range fuzzSeeds(t) {
		dir := filepath.Join("testdata", "fuzz", target)
		if *updateFuzzSeeds {
			if err := os.RemoveAll(dir); err != nil {
				t.Fatal(err)
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			for i, args := range inputs {
				var b bytes.Buffer
				b.WriteString("go test fuzz v1\n")
				for _, a := range args {
					switch a := a.(type) {
					case byte:
						fmt.Fprintf(&b, "byte(%q)\n", a)
					case []byte:
						fmt.Fprintf(&b, "[]byte(%q)\n", a)
					}
				}
				if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), b.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
		entries, err := os.ReadDir(dir)
		if err != nil || len(entries) == 0 {
			t.Errorf("%s: no seeds in %s (%v); run with -update-fuzz-seeds", target, dir, err)
		}
	}
}
