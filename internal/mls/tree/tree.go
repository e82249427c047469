// Package tree is the ratchet tree of RFC 9420 §4 and §7 and TreeKEM on it:
// the public state every member and the Delivery Service keep (Tree), the
// private keys a member holds for its direct path (Private), the proposals
// that change the tree (Add, Update, Remove), leaf node validation, tree and
// parent hashes, and creating and processing UpdatePaths.
//
// A Tree is built from the node list of a ratchet_tree extension and
// exported back to it byte for byte. It keeps per-node caches (tree hash,
// resolution size) and indexes of the members' keys and credential types,
// so that a change along one path costs O(log n) hashes and a key or leaf
// lookup O(1). Clone is O(n/64) words: nodes and caches are shared
// copy-on-write in chunks, which is how the group layer stages a commit
// before accepting it.
//
// The LeafNode and ParentNode values a Tree holds are immutable: the tree
// replaces them, never modifies them. Values passed in (to New, Add, Update
// and the UpdatePath functions) are kept, so the caller must not modify them
// afterwards, and values read out (RatchetTree, Leaf, Node) must not be
// modified either.
//
// A Tree is not safe for concurrent use, not even by read-only methods: they
// fill caches. ValidateLeaf is the exception: it only reads, so calls may run
// in parallel with each other (to check the key packages of many Adds). Clone counts as a write to the tree cloned (both trees then
// share their storage copy-on-write); after it the two trees are
// independent and may be used by different goroutines.
package tree

import (
	"fmt"
	"hash"
	"iter"
	"slices"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/cipher"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/treemath"
)

// NodeIndex and LeafIndex are the tree math indices (RFC 9420 Appendix C).
type (
	NodeIndex = treemath.NodeIndex
	LeafIndex = treemath.LeafIndex
)

// maxNodes bounds the node list New accepts: node indices are uint32 and
// the width of the tree is at most twice the list.
const maxNodes = 1 << 31

// Tree is the public state of a ratchet tree (RFC 9420 §7).
type Tree struct {
	suite *cipher.Suite
	// The NodeWidth(leaf count) nodes in array order, a blank node being
	// mls.Node{}, with their caches, in copy-on-write chunks (storage.go).
	chunks    []*chunk
	nodeCount int
	id        uint64

	encKeys keyIndex // HPKE public key -> node index
	sigKeys keyIndex // signature key -> node index of the leaf
	creds   credentialStats
	members int
	// freeHint is a leaf index with no blank leaf to its left.
	freeHint LeafIndex

	// Scratch space of this tree, not shared by clones.
	hasher hash.Hash
	buf    []byte
}

// New builds a tree from a ratchet_tree extension's node list
// (RFC 9420 §12.4.3.3), extended to the right with blank nodes to a full
// tree. It checks the list's shape, the unmerged_leaves lists of parent
// nodes and that encryption and signature keys are unique; it does not check
// signatures or parent hashes (see Verify) or the tree hash.
func New(suite *cipher.Suite, nodes mls.RatchetTree) (*Tree, error) {
	n := len(nodes)
	if n == 0 || nodes[n-1].Blank() {
		return nil, fmt.Errorf("%w: empty or ending with a blank node", ErrMalformedTree)
	}
	if n > maxNodes {
		return nil, fmt.Errorf("%w: %d nodes", ErrMalformedTree, n)
	}
	leaves := uint32(1)
	for int(treemath.NodeWidth(leaves)) < n {
		leaves *= 2
	}
	t := newTree(suite, leaves, n)
	for i := range nodes {
		x := NodeIndex(i)
		node := nodes[i]
		if node.Leaf != nil && (node.Parent != nil || !x.IsLeaf()) || node.Parent != nil && x.IsLeaf() {
			return nil, fmt.Errorf("%w: node %d is not a %s", ErrMalformedTree, x, kind(x))
		}
		c, j := t.writable(x)
		c.nodes[j] = node
		if err := t.index(x); err != nil {
			return nil, err
		}
	}
	if err := t.checkUnmerged(); err != nil {
		return nil, err
	}
	return t, nil
}

func kind(x NodeIndex) string {
	if x.IsLeaf() {
		return "leaf"
	}
	return "parent"
}

// newTree returns an all-blank tree of the given number of leaves, with
// room in its key indexes for the keys of nodes nodes.
func newTree(suite *cipher.Suite, leaves uint32, nodes int) *Tree {
	t := &Tree{
		suite:   suite,
		id:      treeIDs.Add(1),
		encKeys: newKeyIndex(nodes),
		sigKeys: newKeyIndex(nodes/2 + 1),
		creds:   newCredentialStats(),
	}
	t.resize(int(treemath.NodeWidth(leaves)))
	return t
}

// checkUnmerged checks every parent's unmerged_leaves (RFC 9420 §7.1,
// §12.4.3.1): sorted without repetition, each a non-blank leaf below the
// parent, and listed by every non-blank node between the leaf and the
// parent.
func (t *Tree) checkUnmerged() error {
	w := t.width()
	for i := 1; i < t.nodeCount; i += 2 {
		p := t.node(NodeIndex(i)).Parent
		if p == nil {
			continue
		}
		x := NodeIndex(i)
		first, last := leafSpan(x)
		for j, u := range p.UnmergedLeaves {
			switch {
			case j > 0 && u <= p.UnmergedLeaves[j-1]:
				return fmt.Errorf("%w: node %d: not sorted", ErrUnmergedLeaves, x)
			case u < uint32(first) || u > uint32(last):
				return fmt.Errorf("%w: node %d: leaf %d is not below it", ErrUnmergedLeaves, x, u)
			case t.node(LeafIndex(u).NodeIndex()).Leaf == nil:
				return fmt.Errorf("%w: node %d: leaf %d is blank", ErrUnmergedLeaves, x, u)
			}
			for z, _ := LeafIndex(u).NodeIndex().Parent(w); z != x; z, _ = z.Parent(w) {
				if q := t.node(z).Parent; q != nil && !containsLeaf(q.UnmergedLeaves, LeafIndex(u)) {
					return fmt.Errorf("%w: node %d lists leaf %d but node %d below it does not", ErrUnmergedLeaves, x, u, z)
				}
			}
		}
	}
	return nil
}

// containsLeaf reports whether the sorted list of leaf indices holds l.
func containsLeaf(list []uint32, l LeafIndex) bool {
	_, ok := slices.BinarySearch(list, uint32(l))
	return ok
}

// leafSpan returns the first and last leaf of the subtree under x.
func leafSpan(x NodeIndex) (first, last LeafIndex) {
	half := NodeIndex(1)<<x.Level() - 1
	return LeafIndex((x - half) / 2), LeafIndex((x + half) / 2)
}

// RatchetTree returns the tree as a ratchet_tree extension's node list:
// every node in array order, without the trailing blank nodes
// (RFC 9420 §12.4.3.3). Encoding it gives the bytes New was built from when
// the tree has not changed since.
func (t *Tree) RatchetTree() mls.RatchetTree {
	nodes := make(mls.RatchetTree, t.RatchetTreeLen())
	for i := range nodes {
		nodes[i] = *t.node(NodeIndex(i))
	}
	return nodes
}

// RatchetTreeLen is the length of RatchetTree's node list: the nodes up to
// the last non-blank one, which Node reads one by one without copying the
// list.
func (t *Tree) RatchetTreeLen() int {
	end := t.nodeCount
	for end > 0 && t.node(NodeIndex(end-1)).Blank() {
		end--
	}
	return end
}

// Clone returns an independent copy of t. It copies the table of node
// chunks, which both trees then share copy-on-write, and the changes to
// the key indexes since they were last compacted: no node, hash or
// encoding is copied.
func (t *Tree) Clone() *Tree {
	t.id = treeIDs.Add(1) // the chunks are now shared
	return &Tree{
		suite:     t.suite,
		chunks:    slices.Clone(t.chunks),
		nodeCount: t.nodeCount,
		id:        treeIDs.Add(1),
		encKeys:   t.encKeys.clone(),
		sigKeys:   t.sigKeys.clone(),
		creds:     t.creds.clone(),
		members:   t.members,
		freeHint:  t.freeHint,
	}
}

// Suite returns the tree's cipher suite.
func (t *Tree) Suite() *cipher.Suite { return t.suite }

// LeafCount is the number of leaves of the tree, blank or not: a power of
// two.
func (t *Tree) LeafCount() LeafIndex { return LeafIndex((t.nodeCount + 1) / 2) }

// width is the leaf count as treemath takes it.
func (t *Tree) width() uint32 { return uint32(t.LeafCount()) }

// Root is the root node's index.
func (t *Tree) Root() NodeIndex { return treemath.Root(t.width()) }

// MemberCount is the number of non-blank leaves.
func (t *Tree) MemberCount() int { return t.members }

// Node returns node x, which is mls.Node{} when x is blank or outside the
// tree.
func (t *Tree) Node(x NodeIndex) mls.Node {
	if int(x) >= t.nodeCount {
		return mls.Node{}
	}
	return *t.node(x)
}

// Leaf returns the leaf node at l, or nil when l is blank or outside the
// tree.
func (t *Tree) Leaf(l LeafIndex) *mls.LeafNode { return t.Node(l.NodeIndex()).Leaf }

// Members iterates over the non-blank leaves from left to right.
func (t *Tree) Members() iter.Seq2[LeafIndex, *mls.LeafNode] {
	return func(yield func(LeafIndex, *mls.LeafNode) bool) {
		for i := 0; i < t.nodeCount; i += 2 {
			if leaf := t.node(NodeIndex(i)).Leaf; leaf != nil && !yield(LeafIndex(i/2), leaf) {
				return
			}
		}
	}
}

// FindEncryptionKey returns the node whose HPKE public key is key.
func (t *Tree) FindEncryptionKey(key []byte) (NodeIndex, bool) { return t.encKeys.get(key) }

// FindSignatureKey returns the member whose signature key is key.
func (t *Tree) FindSignatureKey(key []byte) (LeafIndex, bool) {
	x, ok := t.sigKeys.get(key)
	return LeafIndex(x / 2), ok
}

// encryptionKey is the HPKE public key of a non-blank node x.
func (t *Tree) encryptionKey(x NodeIndex) []byte {
	node := t.node(x)
	if node.Leaf != nil {
		return node.Leaf.EncryptionKey
	}
	return node.Parent.EncryptionKey
}

// publicKey is the HPKE public key of node x, or nil when x is blank or
// outside the tree.
func (t *Tree) publicKey(x NodeIndex) []byte {
	if int(x) >= t.nodeCount || t.node(x).Blank() {
		return nil
	}
	return t.encryptionKey(x)
}
