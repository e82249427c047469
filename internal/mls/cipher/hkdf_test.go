package cipher_test

import (
	"bytes"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/sha512"
	"hash"
	"testing"

	"github.com/matrix-org/dendrite/msc4244/internal/mls/cipher"
)

// TestHKDFAgainstStdlib checks Extract and Expand, whose short inputs and
// one-block outputs take a fast path, against crypto/hkdf around every
// boundary: keys longer than the hash's block, inputs that just fit or
// just do not fit the stack, outputs of up to two blocks.
func TestHKDFAgainstStdlib(t *testing.T) {
	hashes := map[int]func() hash.Hash{32: sha256.New, 48: sha512.New384, 64: sha512.New}
	sizes := []int{0, 1, 31, 32, 64, 127, 128, 129, 200, 255, 256, 257, 1000}
	eachSuite(t, func(t *testing.T, s *cipher.Suite) {
		h := hashes[s.HashLen()]
		for _, keyLen := range sizes {
			key := bytes.Repeat([]byte{byte(keyLen)}, keyLen)
			for _, inLen := range sizes {
				in := bytes.Repeat([]byte{byte(inLen + 1)}, inLen)
				want, err := hkdf.Extract(h, in, key)
				if err != nil {
					t.Fatal(err)
				}
				if got := s.Extract(key, in); !bytes.Equal(got, want) {
					t.Errorf("Extract(salt %d, ikm %d octets) = %x, want %x", keyLen, inLen, got, want)
				}
				for _, length := range []int{0, 1, 12, s.HashLen() - 1, s.HashLen(), s.HashLen() + 1, 2 * s.HashLen()} {
					want, err := hkdf.Expand(h, key, string(in), length)
					if err != nil {
						t.Fatal(err)
					}
					got, err := s.Expand(key, in, length)
					if err != nil || !bytes.Equal(got, want) {
						t.Errorf("Expand(prk %d, info %d octets, %d) = %x, %v; want %x", keyLen, inLen, length, got, err, want)
					}
				}
			}
		}
	})
}
