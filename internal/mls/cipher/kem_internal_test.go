package cipher

import (
	"bytes"
	"crypto/ecdh"
	"errors"
	"testing"
)

// rejectingGroup is P-521 that refuses the first n candidate scalars,
// which real inputs practically never make DeriveKeyPair do.
type rejectingGroup struct {
	ecdhGroup
	n          int
	candidates [][]byte
}

func (g *rejectingGroup) newPrivate(sk []byte) (dhPrivateKey, error) {
	g.candidates = append(g.candidates, bytes.Clone(sk))
	if len(g.candidates) <= g.n {
		return nil, errors.New("rejected")
	}
	return g.ecdhGroup.newPrivate(sk)
}

// TestDeriveKeyPairRejectionSampling checks the candidate loop of RFC 9180
// §7.1.3: each candidate is masked, uses the next counter, and the first
// valid one is the key; after 256 invalid ones derivation fails.
func TestDeriveKeyPairRejectionSampling(t *testing.T) {
	for _, n := range []int{0, 3, 255, 256} {
		g := &rejectingGroup{ecdhGroup: ecdhGroup{ecdh.P521()}, n: n}
		k := newKEM(kemP521.id, kemP521.kdf.hash.newHash, kemP521.nsk, kemP521.npk, kemP521.bitmask, g)
		ikm := []byte("rejection sampling")
		key, err := k.deriveKeyPair(ikm)
		if n == 256 {
			if !errors.Is(err, errDeriveKeyPair) || len(g.candidates) != 256 {
				t.Errorf("%d rejections: %v after %d candidates", n, err, len(g.candidates))
			}
			continue
		}
		if err != nil || len(g.candidates) != n+1 {
			t.Fatalf("%d rejections: %v after %d candidates", n, err, len(g.candidates))
		}
		prk := k.kdf.extract(nil, "dkp_prk", ikm)
		for counter, c := range g.candidates {
			want := k.kdf.expand(prk, "candidate", []byte{byte(counter)}, k.nsk)
			want[0] &= 0x01
			if !bytes.Equal(c, want) {
				t.Fatalf("candidate %d = %x, want %x", counter, c, want)
			}
		}
		if !bytes.Equal(key.bytes(), g.candidates[n]) {
			t.Errorf("%d rejections: key is not the last candidate", n)
		}
		if n == 0 {
			want, err := kemP521.deriveKeyPair(ikm)
			if err != nil || !bytes.Equal(key.bytes(), want.bytes()) {
				t.Errorf("first candidate differs from DeriveHPKEKeyPair: %v", err)
			}
		}
	}
}
