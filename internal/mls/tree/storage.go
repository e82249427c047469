package tree

import (
	"sync/atomic"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
)

// The nodes of a tree and their caches are stored in chunks of chunkSize
// consecutive nodes, shared copy-on-write between clones: Clone copies the
// chunk table and nothing else, and the first write to a shared chunk
// copies that chunk. A change along one path writes to about log2(n)-6
// chunks, each a few kilobytes.
const (
	chunkBits = 6
	chunkSize = 1 << chunkBits
)

// chunk holds chunkSize nodes. Nodes past the tree's width are blank, with
// no valid cache.
type chunk struct {
	// owner is the id of the tree that may write to the chunk; a chunk
	// whose owner is no tree's id is shared and immutable.
	owner  uint64
	nodes  [chunkSize]mls.Node
	valid  [chunkSize]cacheState
	resLen [chunkSize]uint32 // size of the node's resolution
	hashes []byte            // the tree hash of each node
}

// cacheState flags which caches of a node hold a current value.
type cacheState uint8

const (
	hashValid cacheState = 1 << iota
	resValid
)

// treeIDs numbers trees: a tree owns the chunks whose owner is its id.
var treeIDs atomic.Uint64

// newChunk returns a blank chunk owned by t.
func (t *Tree) newChunk() *chunk {
	return &chunk{owner: t.id, hashes: make([]byte, chunkSize*t.suite.HashLen())}
}

// at returns node x's chunk and position in it, for reading.
func (t *Tree) at(x NodeIndex) (*chunk, int) {
	return t.chunks[x>>chunkBits], int(x & (chunkSize - 1))
}

// writable returns node x's chunk and position in it, copying the chunk
// first when t does not own it.
func (t *Tree) writable(x NodeIndex) (*chunk, int) {
	c, i := t.at(x)
	if c.owner != t.id {
		d := *c
		d.owner = t.id
		d.hashes = append([]byte(nil), c.hashes...)
		c = &d
		t.chunks[x>>chunkBits] = c
	}
	return c, i
}

// node returns node x, which must be in the tree, for reading only: the
// chunk may be shared.
func (t *Tree) node(x NodeIndex) *mls.Node {
	c, i := t.at(x)
	return &c.nodes[i]
}

// setNode replaces node x and invalidates the caches that depend on it.
func (t *Tree) setNode(x NodeIndex, n mls.Node) {
	c, i := t.writable(x)
	c.nodes[i] = n
	t.touch(x)
}

// touch invalidates the caches of x and of every node above it: what
// depends on x's content.
func (t *Tree) touch(x NodeIndex) {
	w := t.width()
	for {
		if c, i := t.at(x); c.valid[i] != 0 {
			c, i = t.writable(x)
			c.valid[i] = 0
		}
		p, ok := x.Parent(w)
		if !ok {
			return
		}
		x = p
	}
}

// resize grows the tree with blank nodes or drops nodes at its right end
// to width nodes (RFC 9420 §7.7). Nodes that stay keep their caches: their
// subtrees do not change.
func (t *Tree) resize(width int) {
	old := t.nodeCount
	for x := width; x < old; x++ {
		t.unindex(NodeIndex(x))
	}
	chunks := (width + chunkSize - 1) / chunkSize
	for len(t.chunks) < chunks {
		t.chunks = append(t.chunks, t.newChunk())
	}
	clear(t.chunks[chunks:])
	t.chunks = t.chunks[:chunks]
	if width < old && width%chunkSize != 0 {
		// Keep the nodes past the end of the last chunk blank.
		c, i := t.writable(NodeIndex(width))
		clear(c.nodes[i:])
		clear(c.valid[i:])
	}
	t.nodeCount = width
}
