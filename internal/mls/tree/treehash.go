package tree

import (
	"slices"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
)

// TreeHash returns the tree hash of the root (RFC 9420 §7.8), the value of
// GroupContext.tree_hash. Only nodes changed since the last call are hashed
// again: O(log n) after a path change.
func (t *Tree) TreeHash() []byte {
	return slices.Clone(t.nodeHash(t.Root()))
}

// nodeHash returns the tree hash of node x. The slice points into the
// cache: it changes when x does.
func (t *Tree) nodeHash(x NodeIndex) []byte {
	n := t.suite.HashLen()
	if c, i := t.at(x); c.valid[i]&hashValid != 0 {
		return c.hashes[i*n : (i+1)*n]
	}
	in := mls.TreeHashInput{NodeType: mls.NodeTypeLeaf}
	if l, ok := x.LeafIndex(); ok {
		in.Leaf = mls.LeafNodeHashInput{LeafIndex: uint32(l), LeafNode: t.node(x).Leaf}
	} else {
		left, _ := x.Left()
		right, _ := x.Right()
		// The children's hashes stay where they are while x's is written:
		// in a chunk t owns, or in a shared one, which never changes.
		in.NodeType = mls.NodeTypeParent
		in.Parent = mls.ParentNodeHashInput{ParentNode: t.node(x).Parent, LeftHash: t.nodeHash(left), RightHash: t.nodeHash(right)}
	}
	c, i := t.writable(x)
	h := c.hashes[i*n : (i+1)*n]
	t.hashInto(h, &in)
	c.valid[i] |= hashValid
	// Fill the resolution size cache too, in O(1) from the children's,
	// which their hashes filled: while t owns the chunk. Once the tree is
	// cloned (a commit staged), filling it would copy every chunk.
	t.resolutionSize(x)
	return h
}

// hashInto writes the hash of v's encoding into dst, which has room for
// exactly one hash, reusing the tree's encoding buffer and hash state.
func (t *Tree) hashInto(dst []byte, v codec.Marshaler) {
	if t.hasher == nil {
		t.hasher = t.suite.NewHash()
	}
	t.buf = codec.MarshalTo(t.buf[:0], v)
	t.hasher.Reset()
	t.hasher.Write(t.buf)
	t.hasher.Sum(dst[:0])
}

// originalHash is the tree hash of x in the tree where the leaves of
// without (sorted leaf indices: a parent's unmerged_leaves) are blank and
// missing from every unmerged_leaves list: the original_sibling_tree_hash of
// RFC 9420 §7.9. Subtrees that hold none of them keep their cached hash.
func (t *Tree) originalHash(x NodeIndex, without []uint32) []byte {
	first, last := leafSpan(x)
	lo, _ := slices.BinarySearch(without, uint32(first))
	hi, _ := slices.BinarySearch(without, uint32(last)+1)
	without = without[lo:hi]
	if len(without) == 0 {
		return t.nodeHash(x)
	}
	in := mls.TreeHashInput{NodeType: mls.NodeTypeLeaf}
	if l, ok := x.LeafIndex(); ok {
		// x is one of the leaves: blank.
		in.Leaf.LeafIndex = uint32(l)
	} else {
		left, _ := x.Left()
		right, _ := x.Right()
		in.NodeType = mls.NodeTypeParent
		in.Parent = mls.ParentNodeHashInput{LeftHash: t.originalHash(left, without), RightHash: t.originalHash(right, without)}
		if p := t.node(x).Parent; p != nil {
			q := *p
			q.UnmergedLeaves = slices.DeleteFunc(slices.Clone(p.UnmergedLeaves), func(u uint32) bool {
				_, found := slices.BinarySearch(without, u)
				return found
			})
			in.Parent.ParentNode = &q
		}
	}
	h := make([]byte, t.suite.HashLen())
	t.hashInto(h, &in)
	return h
}
