package tree

import (
	"slices"

	"github.com/matrix-org/dendrite/msc4244/internal/mls/treemath"
)

// Resolution returns the resolution of node x (RFC 9420 §4.1.1): x itself
// followed by its unmerged leaves when x is not blank, nothing for a blank
// leaf, and the resolutions of its children for a blank parent. The slice is
// cached and must not be modified. It is nil for a node outside the tree.
func (t *Tree) Resolution(x NodeIndex) []NodeIndex {
	if int(x) >= len(t.nodes) {
		return nil
	}
	return t.resolution(x)
}

func (t *Tree) resolution(x NodeIndex) []NodeIndex {
	if t.valid[x]&resValid != 0 {
		return t.res[x]
	}
	var r []NodeIndex
	switch node := &t.nodes[x]; {
	case node.Leaf != nil:
		r = []NodeIndex{x}
	case node.Parent != nil:
		r = make([]NodeIndex, 1, 1+len(node.Parent.UnmergedLeaves))
		r[0] = x
		for _, u := range node.Parent.UnmergedLeaves {
			r = append(r, LeafIndex(u).NodeIndex())
		}
	case !x.IsLeaf():
		// A blank parent: share a child's slice when the other side is
		// empty, which is the common case in sparse trees.
		left, _ := x.Left()
		right, _ := x.Right()
		rl, rr := t.resolution(left), t.resolution(right)
		switch {
		case len(rl) == 0:
			r = rr
		case len(rr) == 0:
			r = rl
		default:
			r = slices.Concat(rl, rr)
		}
	}
	t.res[x], t.valid[x] = r, t.valid[x]|resValid
	return r
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
		if len(t.resolution(s)) > 0 {
			path, copath = append(path, p), append(copath, s)
		}
		x = p
	}
}

// resolutionWithout returns the resolution of x without the leaves of
// added (sorted), the new members a commit's UpdatePath does not encrypt to
// (RFC 9420 §7.6).
func (t *Tree) resolutionWithout(x NodeIndex, added []LeafIndex) []NodeIndex {
	r := t.resolution(x)
	if len(added) == 0 {
		return r
	}
	var kept []NodeIndex
	dropped := false
	for i, y := range r {
		if l, ok := y.LeafIndex(); ok {
			if _, isNew := slices.BinarySearch(added, l); isNew {
				if !dropped {
					kept, dropped = append(make([]NodeIndex, 0, len(r)-1), r[:i]...), true
				}
				continue
			}
		}
		if dropped {
			kept = append(kept, y)
		}
	}
	if !dropped {
		return r
	}
	return kept
}
