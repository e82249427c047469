package group

import (
	"golang.org/x/crypto/cryptobyte"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/tree"
)

// treeEncoder encodes ratchet trees as the ratchet_tree extension carries
// them (RFC 9420 §12.4.3.3), remembering the encoding of every node. A
// tree holds immutable node values and a commit replaces only O(log n) of
// them, so the trees of a group's successive epochs re-encode only what
// changed: the GroupInfo of each commit carries the whole tree, and
// encoding 10,000 leaves from scratch costs more than the rest of the
// commit.
//
// An encoder is shared by a group's successive epochs and the commits
// staged from them, like the rest of a PublicGroup not safe for concurrent
// use.
type treeEncoder struct {
	leaves  map[*mls.LeafNode][]byte
	parents map[*mls.ParentNode][]byte
}

func newTreeEncoder() *treeEncoder {
	return &treeEncoder{leaves: map[*mls.LeafNode][]byte{}, parents: map[*mls.ParentNode][]byte{}}
}

// encode returns the encoding of t's RatchetTree.
func (e *treeEncoder) encode(t *tree.Tree) []byte {
	nodes := t.RatchetTree()
	bodies := make([][]byte, len(nodes))
	total := 0
	for i := range nodes {
		switch n := &nodes[i]; {
		case n.Leaf != nil:
			bodies[i] = e.leaf(n.Leaf)
		case n.Parent != nil:
			bodies[i] = e.parent(n.Parent)
		default:
			total++ // the absent optional
			continue
		}
		total += 2 + len(bodies[i]) // present, node_type, node
	}
	b := cryptobyte.NewFixedBuilder(make([]byte, 0, codec.VarintSize(total)+total))
	codec.AddVarint(b, total)
	for i := range nodes {
		if bodies[i] == nil {
			b.AddUint8(0)
			continue
		}
		b.AddUint8(1)
		b.AddUint8(uint8(nodes[i].Type()))
		b.AddBytes(bodies[i])
	}
	e.prune(nodes)
	return b.BytesOrPanic()
}

func (e *treeEncoder) leaf(n *mls.LeafNode) []byte {
	enc, ok := e.leaves[n]
	if !ok {
		enc = codec.Marshal(n)
		e.leaves[n] = enc
	}
	return enc
}

func (e *treeEncoder) parent(n *mls.ParentNode) []byte {
	enc, ok := e.parents[n]
	if !ok {
		enc = codec.Marshal(n)
		e.parents[n] = enc
	}
	return enc
}

// prune forgets the nodes that are no longer in the tree once they make up
// half the cache, which keeps the cost amortised O(1) per changed node.
func (e *treeEncoder) prune(nodes mls.RatchetTree) {
	if len(e.leaves)+len(e.parents) <= 2*len(nodes)+64 {
		return
	}
	leaves := make(map[*mls.LeafNode][]byte, len(nodes)/2+1)
	parents := make(map[*mls.ParentNode][]byte, len(nodes)/2+1)
	for i := range nodes {
		if l := nodes[i].Leaf; l != nil {
			leaves[l] = e.leaves[l]
		} else if p := nodes[i].Parent; p != nil {
			parents[p] = e.parents[p]
		}
	}
	e.leaves, e.parents = leaves, parents
}
