package tree

import (
	"fmt"
	"slices"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/treemath"
)

// Add applies an Add proposal (RFC 9420 §12.1.1): leaf goes to the leftmost
// blank leaf, or to the first leaf of a new right half when there is none
// (§7.7), and its index joins the unmerged_leaves of every non-blank node on
// its direct path. It fails, leaving t unchanged, when a key of leaf is
// already in the tree. The caller validates leaf first (ValidateLeaf).
func (t *Tree) Add(leaf *mls.LeafNode) (LeafIndex, error) {
	l := t.FreeLeaf()
	width := t.nodeCount
	if l == t.LeafCount() {
		t.resize(2*width + 1)
	}
	if err := t.setLeaf(l, leaf); err != nil {
		t.resize(width)
		return 0, err
	}
	for _, y := range treemath.DirectPath(l.NodeIndex(), t.width()) {
		p := t.node(y).Parent
		if p == nil {
			continue
		}
		q := *p
		i, _ := slices.BinarySearch(p.UnmergedLeaves, uint32(l))
		q.UnmergedLeaves = make([]uint32, len(p.UnmergedLeaves)+1)
		copy(q.UnmergedLeaves, p.UnmergedLeaves[:i])
		q.UnmergedLeaves[i] = uint32(l)
		copy(q.UnmergedLeaves[i+1:], p.UnmergedLeaves[i:])
		t.setNode(y, mls.Node{Parent: &q})
	}
	return l, nil
}

// Update applies an Update proposal (RFC 9420 §12.1.2): leaf replaces the
// member at l and l's direct path is blanked. It fails, leaving t
// unchanged, when l is not a member or a key of leaf is used by another
// node.
func (t *Tree) Update(l LeafIndex, leaf *mls.LeafNode) error {
	if t.Leaf(l) == nil {
		return fmt.Errorf("%w: update of leaf %d", ErrBlankLeaf, l)
	}
	if err := t.setLeaf(l, leaf); err != nil {
		return err
	}
	t.blankDirectPath(l)
	return nil
}

// Remove applies a Remove proposal (RFC 9420 §12.1.3): the leaf at l and
// its direct path are blanked and the tree is truncated while its right half
// has no member (§7.7).
func (t *Tree) Remove(l LeafIndex) error {
	if t.Leaf(l) == nil {
		return fmt.Errorf("%w: removal of leaf %d", ErrBlankLeaf, l)
	}
	_ = t.setLeaf(l, nil) // blanking cannot collide
	t.blankDirectPath(l)
	last := t.LeafCount() - 1
	for last > 0 && t.Leaf(last) == nil {
		last--
	}
	t.resize(int(treemath.NodeWidth(treemath.LeafCountFor(uint32(last) + 1))))
	return nil
}

// FreeLeaf returns the leaf an Add would fill: the leftmost blank leaf, or
// LeafCount when there is none. It is also where an external joiner's leaf
// goes (RFC 9420 §12.4.2).
func (t *Tree) FreeLeaf() LeafIndex {
	n := t.LeafCount()
	for l := t.freeHint; l < n; l++ {
		if t.node(l.NodeIndex()).Leaf == nil {
			t.freeHint = l
			return l
		}
	}
	t.freeHint = n
	return n
}

// setLeaf puts leaf (nil for blank) at l, updating the indexes and
// invalidating the caches above it. It fails, leaving t unchanged, when a
// key of leaf is used by another node.
func (t *Tree) setLeaf(l LeafIndex, leaf *mls.LeafNode) error {
	x := l.NodeIndex()
	old := *t.node(x)
	t.unindex(x)
	t.setNode(x, mls.Node{Leaf: leaf})
	if err := t.index(x); err != nil {
		t.setNode(x, old)
		_ = t.index(x) // it was indexed a moment ago
		return err
	}
	if leaf == nil {
		t.freeHint = min(t.freeHint, l)
	}
	return nil
}

// blankDirectPath blanks every node above leaf l.
func (t *Tree) blankDirectPath(l LeafIndex) {
	x := l.NodeIndex()
	for _, y := range treemath.DirectPath(x, t.width()) {
		if !t.node(y).Blank() {
			t.unindex(y)
			c, i := t.writable(y)
			c.nodes[i] = mls.Node{}
		}
	}
	t.touch(x)
}
