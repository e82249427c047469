package group

import (
	"bytes"

	"golang.org/x/crypto/cryptobyte"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/tree"
)

// treeEncoder encodes ratchet trees as the ratchet_tree extension carries
// them (RFC 9420 §12.4.3.3), remembering the encoding of every run of
// encoderChunk nodes. A tree holds immutable node values and a commit
// replaces only O(log n) of them, so the trees of a group's successive
// epochs re-encode only what changed: the GroupInfo of each commit carries
// the whole tree, and encoding 10,000 leaves from scratch costs more than
// the rest of the commit. A run whose nodes are the ones it was encoded
// from (the same pointers) is reused as it is; in a run that changed, each
// unchanged node's encoding is copied from the run's old one.
//
// An encoder is shared by a group's successive epochs and the commits
// staged from them, like the rest of a PublicGroup not safe for concurrent
// use.
type treeEncoder struct {
	runs []encodedRun
}

// encoderChunk is the number of nodes of a run.
const encoderChunk = 64

// encodedRun is the encoding of up to encoderChunk consecutive nodes, each
// as optional<Node>, and the nodes it was made from. The nodes are kept,
// so no other node can reuse their addresses.
type encodedRun struct {
	nodes []mls.Node
	// ends[i] is where the encoding of nodes[i] ends in enc.
	ends []int
	enc  []byte
}

func newTreeEncoder() *treeEncoder { return &treeEncoder{} }

// encode returns the encoding of t's RatchetTree.
func (e *treeEncoder) encode(t *tree.Tree) []byte {
	total := e.update(t)
	b := cryptobyte.NewFixedBuilder(make([]byte, 0, codec.VarintSize(total)+total))
	e.write(b, total)
	return b.BytesOrPanic()
}

// add writes the encoding of t's RatchetTree to b.
func (e *treeEncoder) add(b *cryptobyte.Builder, t *tree.Tree) {
	e.write(b, e.update(t))
}

// write writes the runs, which update made current and which are total
// octets long, as a vector.
func (e *treeEncoder) write(b *cryptobyte.Builder, total int) {
	codec.AddVarint(b, total)
	for i := range e.runs {
		b.AddBytes(e.runs[i].enc)
	}
}

// equal reports whether data is the encoding of t's RatchetTree, without
// making it.
func (e *treeEncoder) equal(t *tree.Tree, data []byte) bool {
	total := e.update(t)
	d := codec.NewDecoder(data)
	if d.Varint() != total || d.Len() != total {
		return false
	}
	data = data[len(data)-total:]
	for i := range e.runs {
		enc := e.runs[i].enc
		if !bytes.Equal(data[:len(enc)], enc) {
			return false
		}
		data = data[len(enc):]
	}
	return true
}

// update brings the runs up to date with t and returns the length of their
// encodings.
func (e *treeEncoder) update(t *tree.Tree) int {
	end := t.RatchetTreeLen()
	n := (end + encoderChunk - 1) / encoderChunk
	for len(e.runs) < n {
		e.runs = append(e.runs, encodedRun{})
	}
	clear(e.runs[n:])
	e.runs = e.runs[:n]
	total := 0
	for i := range e.runs {
		first := i * encoderChunk
		e.runs[i].update(t, tree.NodeIndex(first), min(end-first, encoderChunk))
		total += len(e.runs[i].enc)
	}
	return total
}

// update makes r the encoding of the count nodes of t from first.
func (r *encodedRun) update(t *tree.Tree, first tree.NodeIndex, count int) {
	same := len(r.nodes) == count
	for i := 0; same && i < count; i++ {
		same = t.Node(first+tree.NodeIndex(i)) == r.nodes[i]
	}
	if same {
		return
	}
	next := encodedRun{nodes: make([]mls.Node, count), ends: make([]int, count), enc: make([]byte, 0, len(r.enc))}
	for i := range count {
		node := t.Node(first + tree.NodeIndex(i))
		next.nodes[i] = node
		switch {
		case i < len(r.nodes) && node == r.nodes[i]:
			start := 0
			if i > 0 {
				start = r.ends[i-1]
			}
			next.enc = append(next.enc, r.enc[start:r.ends[i]]...)
		case node.Blank():
			next.enc = append(next.enc, 0)
		default:
			next.enc = codec.MarshalTo(append(next.enc, 1), &node)
		}
		next.ends[i] = len(next.enc)
	}
	*r = next
}
