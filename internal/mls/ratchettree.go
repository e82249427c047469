package mls

import (
	"golang.org/x/crypto/cryptobyte"

	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
)

// NodeType tells a leaf from a parent (RFC 9420 §7.8, §12.4.3.3).
type NodeType uint8

// Node types of RFC 9420 §7.8.
const (
	NodeTypeLeaf   NodeType = 1
	NodeTypeParent NodeType = 2
)

var nodeTypeNames = []string{1: "leaf", 2: "parent"}

// String returns the RFC 9420 name of t.
func (t NodeType) String() string { return enumName("NodeType", nodeTypeNames, t) }

// ParentNode is the content of a non-blank parent node (RFC 9420 §7.1).
type ParentNode struct {
	EncryptionKey  []byte
	ParentHash     []byte
	UnmergedLeaves []uint32
}

// MarshalMLS implements codec.Marshaler.
func (p *ParentNode) MarshalMLS(b *cryptobyte.Builder) {
	codec.AddOpaque(b, p.EncryptionKey)
	codec.AddOpaque(b, p.ParentHash)
	codec.AddVector(b, func(b *cryptobyte.Builder) {
		for _, leaf := range p.UnmergedLeaves {
			b.AddUint32(leaf)
		}
	})
}

// UnmarshalMLS implements codec.Unmarshaler.
func (p *ParentNode) UnmarshalMLS(d *codec.Decoder) {
	p.EncryptionKey = d.Opaque()
	p.ParentHash = d.Opaque()
	p.UnmergedLeaves = nil
	d.Vector(func(d *codec.Decoder) {
		for !d.Empty() {
			p.UnmergedLeaves = append(p.UnmergedLeaves, d.Uint32())
		}
	})
}

// Node is one node of a ratchet tree as sent in the ratchet_tree extension
// (RFC 9420 §12.4.3.3): exactly one of Leaf and Parent is set. Inside a
// RatchetTree both are nil for a blank node.
type Node struct {
	Leaf   *LeafNode
	Parent *ParentNode
}

// Blank reports whether n is a blank node.
func (n *Node) Blank() bool { return n.Leaf == nil && n.Parent == nil }

// Type is the node_type n encodes with; it is 0 for a blank node.
func (n *Node) Type() NodeType {
	switch {
	case n.Leaf != nil:
		return NodeTypeLeaf
	case n.Parent != nil:
		return NodeTypeParent
	}
	return 0
}

// MarshalMLS implements codec.Marshaler.
func (n *Node) MarshalMLS(b *cryptobyte.Builder) {
	switch {
	case n.Leaf != nil:
		b.AddUint8(uint8(NodeTypeLeaf))
		n.Leaf.MarshalMLS(b)
	case n.Parent != nil:
		b.AddUint8(uint8(NodeTypeParent))
		n.Parent.MarshalMLS(b)
	default:
		b.SetError(errUnencodable("node", NodeType(0)))
	}
}

// UnmarshalMLS implements codec.Unmarshaler.
func (n *Node) UnmarshalMLS(d *codec.Decoder) {
	*n = Node{}
	switch checkEnum(d, NodeType(d.Uint8()), NodeTypeParent) {
	case NodeTypeLeaf:
		n.Leaf = readNew[LeafNode](d)
	case NodeTypeParent:
		n.Parent = readNew[ParentNode](d)
	}
}

// RatchetTree is the ratchet_tree extension's data, `optional<Node>
// ratchet_tree<V>` (RFC 9420 §12.4.3.3): the tree's nodes in left-to-right
// in-order traversal, which is array index order (Appendix C), blank nodes
// as Node{}. Checking its shape (leaves at even
// indices, no trailing blank node) is the tree package's job.
type RatchetTree []Node

// ExtensionType implements ExtensionContent.
func (RatchetTree) ExtensionType() ExtensionType { return ExtensionRatchetTree }

// MarshalMLS implements codec.Marshaler.
func (t RatchetTree) MarshalMLS(b *cryptobyte.Builder) {
	codec.AddVector(b, func(b *cryptobyte.Builder) {
		for i := range t {
			codec.AddOptional(b, !t[i].Blank(), t[i].MarshalMLS)
		}
	})
}

// UnmarshalMLS implements codec.Unmarshaler.
func (t *RatchetTree) UnmarshalMLS(d *codec.Decoder) {
	*t = nil
	d.Vector(func(d *codec.Decoder) {
		for !d.Empty() {
			var n Node
			if d.Optional() {
				n.UnmarshalMLS(d)
			}
			*t = append(*t, n)
		}
	})
}
