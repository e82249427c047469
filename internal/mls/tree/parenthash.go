package tree

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
)

// parentHash is the parent hash of the non-blank parent p with copath
// child s (RFC 9420 §7.9).
func (t *Tree) parentHash(p, s NodeIndex) []byte {
	node := t.node(p).Parent
	return t.hashParent(node.EncryptionKey, node.ParentHash, t.originalHash(s, node.UnmergedLeaves))
}

// hashParent hashes a ParentHashInput.
func (t *Tree) hashParent(encryptionKey, parentHash, siblingHash []byte) []byte {
	h := make([]byte, t.suite.HashLen())
	t.hashInto(h, &mls.ParentHashInput{EncryptionKey: encryptionKey, ParentHash: parentHash, OriginalSiblingTreeHash: siblingHash})
	return h
}

// storedParentHash is the parent_hash field of a non-blank node: nil for a
// leaf whose source is not commit, which no parent hash ever matches.
func (t *Tree) storedParentHash(x NodeIndex) []byte {
	node := t.node(x)
	if leaf := node.Leaf; leaf != nil {
		if leaf.Source != mls.LeafNodeSourceCommit {
			return nil
		}
		return leaf.ParentHash
	}
	return node.Parent.ParentHash
}

// VerifyParentHashes checks that every non-blank parent node is parent-hash
// valid (RFC 9420 §7.9.2), top down: for each such node P exactly one
// descendant D links to it, where D is in the resolution of a child C of P,
// the rest of that resolution is exactly P's unmerged leaves below C, and
// D's parent_hash is the parent hash of P with the other child as copath
// child. Each link is checked once, so a chain always ends at a leaf.
func (t *Tree) VerifyParentHashes() error {
	for i := 1; i < t.nodeCount; i += 2 {
		p := NodeIndex(i)
		if t.node(p).Parent == nil {
			continue
		}
		left, _ := p.Left()
		right, _ := p.Right()
		links := 0
		for _, c := range [2][2]NodeIndex{{left, right}, {right, left}} {
			if t.linksTo(p, c[0], c[1]) {
				links++
			}
		}
		if links != 1 {
			return fmt.Errorf("%w: node %d has %d descendants linking to it", ErrParentHash, p, links)
		}
	}
	return nil
}

// linksTo reports whether some node in the resolution of p's child c is
// parent-hash valid with respect to p, s being p's other child.
func (t *Tree) linksTo(p, c, s NodeIndex) bool {
	unmerged := t.node(p).Parent.UnmergedLeaves
	first, last := leafSpan(c)
	lo, _ := slices.BinarySearch(unmerged, uint32(first))
	hi, _ := slices.BinarySearch(unmerged, uint32(last)+1)
	// The resolution minus D must be exactly P's unmerged leaves under C:
	// one more node than those, and a single node that is not one of them.
	if t.resolutionSize(c) != hi-lo+1 {
		return false
	}
	d, found := NodeIndex(0), false
	for _, y := range t.Resolution(c) {
		if l, ok := y.LeafIndex(); ok && containsLeaf(unmerged[lo:hi], l) {
			continue
		}
		if found {
			return false
		}
		d, found = y, true
	}
	return found && bytes.Equal(t.storedParentHash(d), t.parentHash(p, s))
}
