package mls_test

import (
	"bytes"
	"testing"

	"golang.org/x/crypto/cryptobyte"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
)

// withoutSignature strips the trailing opaque signature from enc.
func withoutSignature(t *testing.T, enc, sig []byte) []byte {
	t.Helper()
	trailer := build(func(b *cryptobyte.Builder) { codec.AddOpaque(b, sig) })
	if !bytes.HasSuffix(enc, trailer) {
		t.Fatalf("encoding does not end with the signature")
	}
	return enc[:len(enc)-len(trailer)]
}

// TestLeafNodeTBS checks that group_id and leaf_index follow the leaf's
// content exactly when the source is update or commit (RFC 9420 §7.2).
func TestLeafNodeTBS(t *testing.T) {
	groupID := []byte("!room:example.org")
	for _, src := range []mls.LeafNodeSource{mls.LeafNodeSourceKeyPackage, mls.LeafNodeSourceUpdate, mls.LeafNodeSourceCommit} {
		leaf := testLeaf(src)
		want := withoutSignature(t, codec.Marshal(&leaf), leaf.Signature)
		if src != mls.LeafNodeSourceKeyPackage {
			want = append(want, build(func(b *cryptobyte.Builder) {
				codec.AddOpaque(b, groupID)
				b.AddUint32(7)
			})...)
		}
		if got := codec.Marshal(leaf.TBS(groupID, 7)); !bytes.Equal(got, want) {
			t.Errorf("%v: LeafNodeTBS\n got %x\nwant %x", src, got, want)
		}
	}
}

func TestKeyPackageTBS(t *testing.T) {
	kp := testKeyPackage()
	want := withoutSignature(t, codec.Marshal(kp), kp.Signature)
	if got := codec.Marshal(kp.TBS()); !bytes.Equal(got, want) {
		t.Errorf("KeyPackageTBS\n got %x\nwant %x", got, want)
	}
}
