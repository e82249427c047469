// Package treemath is the arithmetic of MLS ratchet trees laid out as arrays
// (RFC 9420 §4.1, §7.1 and Appendix C).
//
// A tree with n leaves is stored left to right in an array of 2n-1 nodes:
// leaves at even node indices, parents at odd ones. A node's level is the
// number of trailing one bits of its index (leaves are level 0), which makes
// every relation between nodes a few bit operations on the index.
//
// RFC 9420 trees are always full: the number of leaves is a power of two
// (§7.7 extends a tree by doubling it, §7.8 truncates it by halves). The
// functions taking a leaf count n expect such an n; LeafCountFor rounds a
// member count up to it. Functions that have no answer for a node (the
// parent of the root, the children of a leaf) report it with ok == false,
// never by panicking.
package treemath

import "math/bits"

// NodeIndex is the position of a node in the array representation of a tree.
type NodeIndex uint32

// LeafIndex numbers the leaves of a tree from the left, starting at 0. It is
// the index MLS puts on the wire (Sender, LeafNodeTBS, TreeHashInput).
type LeafIndex uint32

// NodeIndex returns the node index of leaf l.
func (l LeafIndex) NodeIndex() NodeIndex { return NodeIndex(l) * 2 }

// IsLeaf reports whether x is a leaf node.
func (x NodeIndex) IsLeaf() bool { return x&1 == 0 }

// LeafIndex returns the leaf index of x, or ok == false if x is a parent.
func (x NodeIndex) LeafIndex() (l LeafIndex, ok bool) {
	return LeafIndex(x / 2), x.IsLeaf()
}

// Level is the height of x above the leaves: 0 for leaves, 1 for their
// parents, and so on. It is the number of trailing one bits of x.
func (x NodeIndex) Level() int { return bits.TrailingZeros32(^uint32(x)) }

// Left returns the left child of x, or ok == false if x is a leaf.
func (x NodeIndex) Left() (NodeIndex, bool) {
	k := x.Level()
	if k == 0 {
		return 0, false
	}
	return x ^ 1<<(k-1), true
}

// Right returns the right child of x, or ok == false if x is a leaf. In a
// full tree the right child of an in-tree node is always in the tree.
func (x NodeIndex) Right() (NodeIndex, bool) {
	k := x.Level()
	if k == 0 {
		return 0, false
	}
	return x ^ 3<<(k-1), true
}

// NodeWidth is the number of nodes in a tree with n leaves: 2n-1, or 0.
func NodeWidth(n uint32) uint32 {
	if n == 0 {
		return 0
	}
	return 2*(n-1) + 1
}

// LeafCountFor returns the number of leaves of the smallest full tree that
// holds members leaves: the next power of two, and at least 1.
func LeafCountFor(members uint32) uint32 {
	if members <= 1 {
		return 1
	}
	return 1 << bits.Len32(members-1)
}

// Root returns the root of a tree with n leaves (n > 0).
func Root(n uint32) NodeIndex {
	w := NodeWidth(n)
	if w == 0 {
		return 0
	}
	return NodeIndex(1)<<(bits.Len32(w)-1) - 1
}

// InTree reports whether x is a node of a tree with n leaves.
func (x NodeIndex) InTree(n uint32) bool { return uint32(x) < NodeWidth(n) }

// InTree reports whether l is a leaf of a tree with n leaves.
func (l LeafIndex) InTree(n uint32) bool { return uint32(l) < n }

// Parent returns the parent of x in a tree with n leaves, or ok == false if
// x is the root or not in the tree.
func (x NodeIndex) Parent(n uint32) (NodeIndex, bool) {
	if !x.InTree(n) || x == Root(n) {
		return 0, false
	}
	return x.parent(), true
}

// parent is the parent of x in a tree large enough to hold it.
func (x NodeIndex) parent() NodeIndex {
	k := x.Level()
	b := (x >> (k + 1)) & 1
	return (x | 1<<k) ^ b<<(k+1)
}

// Sibling returns the other child of x's parent in a tree with n leaves, or
// ok == false if x is the root or not in the tree.
func (x NodeIndex) Sibling(n uint32) (NodeIndex, bool) {
	if !x.InTree(n) || x == Root(n) {
		return 0, false
	}
	return x.sibling(), true
}

// sibling is the sibling of x in a tree large enough to hold x's parent.
func (x NodeIndex) sibling() NodeIndex {
	return x ^ 1<<(x.Level()+1)
}

// PathLen is the length of the direct path (and of the copath) of a leaf in
// a tree with n leaves: log2(n).
func PathLen(n uint32) int { return Root(n).Level() }

// DirectPath returns the direct path of x in a tree with n leaves: its
// parent, its parent's parent, and so on up to and including the root
// (RFC 9420 §4.1). It is empty for the root and for nodes outside the tree.
func DirectPath(x NodeIndex, n uint32) []NodeIndex {
	return AppendDirectPath(nil, x, n)
}

// AppendDirectPath appends the direct path of x to dst, for callers that
// reuse a buffer.
func AppendDirectPath(dst []NodeIndex, x NodeIndex, n uint32) []NodeIndex {
	return appendWalk(dst, x, n, NodeIndex.parent)
}

// Copath returns the copath of x in a tree with n leaves: the sibling of x
// and of every node on its direct path except the root, in that order
// (RFC 9420 §4.1). Entry i is the sibling of the child of DirectPath(x)[i]
// on the way from x.
func Copath(x NodeIndex, n uint32) []NodeIndex {
	return AppendCopath(nil, x, n)
}

// AppendCopath appends the copath of x to dst, for callers that reuse a
// buffer.
func AppendCopath(dst []NodeIndex, x NodeIndex, n uint32) []NodeIndex {
	return appendWalk(dst, x, n, NodeIndex.sibling)
}

// appendWalk walks from x up to the root of a tree with n leaves and appends
// f(y) for every node y before the root.
func appendWalk(dst []NodeIndex, x NodeIndex, n uint32, f func(NodeIndex) NodeIndex) []NodeIndex {
	if !x.InTree(n) {
		return dst
	}
	r := Root(n)
	if need := r.Level() - x.Level(); cap(dst)-len(dst) < need {
		dst = append(make([]NodeIndex, 0, len(dst)+need), dst...)
	}
	for ; x != r; x = x.parent() {
		dst = append(dst, f(x))
	}
	return dst
}

// IsAncestor reports whether a is x or a node above x (x is in the subtree
// rooted at a).
func (a NodeIndex) IsAncestor(x NodeIndex) bool {
	k := a.Level()
	if x.Level() > k {
		return false
	}
	// The subtree of a spans a-(2^k-1) ..= a+(2^k-1); all its nodes share
	// the bits of a above bit k.
	return x>>(k+1) == a>>(k+1)
}

// CommonAncestor returns the lowest node that has both x and y in its
// subtree: x itself when x is an ancestor of y, and for two distinct leaves
// the lowest node on both their direct paths (RFC 9420 Appendix C).
func CommonAncestor(x, y NodeIndex) NodeIndex {
	if x.IsAncestor(y) {
		return x
	}
	if y.IsAncestor(x) {
		return y
	}
	// Drop low bits until the indices agree; the ancestor is the parent-level
	// node with that prefix: prefix, a zero bit, then k-1 one bits.
	k := bits.Len32(uint32(x ^ y))
	return (x>>k)<<k | (1<<(k-1) - 1)
}
