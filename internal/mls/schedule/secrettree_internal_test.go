package schedule

import (
	"bytes"
	"errors"
	"testing"

	"github.com/matrix-org/dendrite/msc4244/internal/mls/cipher"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/treemath"
)

func newInternalTree(t *testing.T, leaves uint32) *SecretTree {
	t.Helper()
	s, err := cipher.Lookup(1)
	if err != nil {
		t.Fatal(err)
	}
	tree, err := NewSecretTree(s, bytes.Repeat([]byte{1}, s.HashLen()), leaves, DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	return tree
}

// TestSecretTreeLazy checks that using one leaf derives only its path: the
// tree then holds one secret per level (the copath), not one per leaf.
func TestSecretTreeLazy(t *testing.T) {
	const leaves = 1 << 14
	tree := newInternalTree(t, leaves)
	if _, err := tree.Next(12345, ApplicationRatchet); err != nil {
		t.Fatal(err)
	}
	if got, want := len(tree.nodes), treemath.PathLen(leaves); got != want {
		t.Errorf("after one leaf the tree holds %d node secrets, want %d (its copath)", got, want)
	}
	if _, ok := tree.nodes[treemath.Root(leaves)]; ok {
		t.Error("root secret kept after it was split")
	}
	if len(tree.ratchets) != 1 {
		t.Errorf("%d leaves' ratchets derived, want 1", len(tree.ratchets))
	}
	// Every leaf eventually: no node secret is left.
	for leaf := range uint32(leaves) {
		if _, err := tree.Key(leaf, HandshakeRatchet, 0); err != nil {
			t.Fatal(err)
		}
	}
	if len(tree.nodes) != 0 {
		t.Errorf("%d node secrets left after deriving every leaf", len(tree.nodes))
	}
}

// TestSecretTreeDeletes checks that used ratchet secrets and consumed keys
// are overwritten, not only dropped (RFC 9420 §9.2).
func TestSecretTreeDeletes(t *testing.T) {
	tree := newInternalTree(t, 4)
	r, err := tree.ratchet(2, ApplicationRatchet)
	if err != nil {
		t.Fatal(err)
	}
	head := r.secret
	if err := tree.Consume(2, ApplicationRatchet, 3); err != nil {
		t.Fatal(err)
	}
	if !allZero(head) {
		t.Error("ratchet secret of generation 0 not overwritten")
	}
	k1, err := tree.Key(2, ApplicationRatchet, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := tree.Consume(2, ApplicationRatchet, 1); err != nil {
		t.Fatal(err)
	}
	if !allZero(k1.Key) || !allZero(k1.Nonce) {
		t.Error("consumed retained key not overwritten")
	}
}

// TestSecretTreeExhausted checks the end of a ratchet at generation 2^32-1.
func TestSecretTreeExhausted(t *testing.T) {
	tree := newInternalTree(t, 2)
	r, err := tree.ratchet(1, HandshakeRatchet)
	if err != nil {
		t.Fatal(err)
	}
	r.next = maxGeneration
	k, err := tree.Next(1, HandshakeRatchet)
	if err != nil || k.Generation != maxGeneration {
		t.Fatalf("last generation: %d, %v", k.Generation, err)
	}
	if _, err := tree.Next(1, HandshakeRatchet); !errors.Is(err, ErrGenerationUsed) {
		t.Errorf("after the last generation: %v, want ErrGenerationUsed", err)
	}
	if _, err := tree.Key(1, HandshakeRatchet, maxGeneration); !errors.Is(err, ErrGenerationUsed) {
		t.Errorf("receiving the last generation again: %v, want ErrGenerationUsed", err)
	}
}

func allZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return len(b) > 0
}
