package tree

import (
	"slices"

	"github.com/matrix-org/dendrite/msc4244/internal/mls/treemath"
)

// Resolution returns the resolution of node x (RFC 9420 §4.1.1): x itself
// followed by its unmerged leaves when x is not blank, nothing for a blank
// leaf, and the resolutions of its children for a blank parent. It is nil
// for a node outside the tree.
func (t *Tree) Resolution(x NodeIndex) []NodeIndex {
	if int(x) >= t.nodeCount {
		return nil
	}
	return t.appendResolution(nil, x)
}

// appendResolution appends the resolution of x to dst. Subtrees whose
// resolution is empty are skipped, so it costs O(size of the resolution).
func (t *Tree) appendResolution(dst []NodeIndex, x NodeIndex) []NodeIndex {
	switch node := t.node(x); {
	case node.Leaf != nil:
		return append(dst, x)
	case node.Parent != nil:
		dst = append(dst, x)
		for _, u := range node.Parent.UnmergedLeaves {
			dst = append(dst, LeafIndex(u).NodeIndex())
		}
		return dst
	case x.IsLeaf() || t.resolutionSize(x) == 0:
		return dst
	}
	left, _ := x.Left()
	right, _ := x.Right()
	return t.appendResolution(t.appendResolution(dst, left), right)
}

// resolutionSize returns the number of nodes in the resolution of x, which
// is cached.
func (t *Tree) resolutionSize(x NodeIndex) int {
	if c, i := t.at(x); c.valid[i]&resValid != 0 {
		return int(c.resLen[i])
	}
	var n int
	switch node := t.node(x); {
	case node.Leaf != nil:
		n = 1
	case node.Parent != nil:
		n = 1 + len(node.Parent.UnmergedLeaves)
	case !x.IsLeaf():
		left, _ := x.Left()
		right, _ := x.Right()
		n = t.resolutionSize(left) + t.resolutionSize(right)
	}
	c, i := t.writable(x)
	c.resLen[i], c.valid[i] = uint32(n), c.valid[i]|resValid
	return n
}

// FilteredDirectPath returns the filtered direct path of leaf l
// (RFC 9420 §4.1.2): the nodes of its direct path whose child on l's copath
// has a non-empty resolution, from the leaf up.
func (t *Tree) FilteredDirectPath(l LeafIndex) []NodeIndex {
	path, _ := t.filteredPath(l)
	return path
}

// filteredPath returns l's filtered direct path and, for each of its nodes,
// the child on l's copath (the sibling S of RFC 9420 §7.9).
func (t *Tree) filteredPath(l LeafIndex) (path, copath []NodeIndex) {
	w := t.width()
	n := treemath.PathLen(w)
	path, copath = make([]NodeIndex, 0, n), make([]NodeIndex, 0, n)
	x := l.NodeIndex()
	for {
		p, ok := x.Parent(w)
		if !ok {
			return path, copath
		}
		s, _ := x.Sibling(w)
		if t.resolutionSize(s) > 0 {
			path, copath = append(path, p), append(copath, s)
		}
		x = p
	}
}

// resolutionWithout returns the resolution of x without the leaves of
// added (sorted), the new members a commit's UpdatePath does not encrypt to
// (RFC 9420 §7.6).
func (t *Tree) resolutionWithout(x NodeIndex, added []LeafIndex) []NodeIndex {
	r := t.appendResolution(make([]NodeIndex, 0, t.resolutionSize(x)), x)
	if len(added) == 0 {
		return r
	}
	return slices.DeleteFunc(r, func(y NodeIndex) bool {
		l, ok := y.LeafIndex()
		return ok && containsLeafIndex(added, l)
	})
}

// resolutionSizeWithout is len(resolutionWithout(x, added)) in
// O(log |added|): every leaf a commit adds below x is in x's resolution,
// since adding a leaf makes it unmerged at every non-blank node above it.
func (t *Tree) resolutionSizeWithout(x NodeIndex, added []LeafIndex) int {
	first, last := leafSpan(x)
	lo, _ := slices.BinarySearch(added, first)
	hi, _ := slices.BinarySearch(added, last+1)
	return t.resolutionSize(x) - (hi - lo)
}

// containsLeafIndex reports whether the sorted list holds l.
func containsLeafIndex(list []LeafIndex, l LeafIndex) bool {
	_, ok := slices.BinarySearch(list, l)
	return ok
}
