package mls

import (
	"golang.org/x/crypto/cryptobyte"

	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
)

// ParentHashInput is what a parent hash is the hash of (RFC 9420 §7.9).
type ParentHashInput struct {
	EncryptionKey           []byte
	ParentHash              []byte
	OriginalSiblingTreeHash []byte
}

// MarshalMLS implements codec.Marshaler.
func (p *ParentHashInput) MarshalMLS(b *cryptobyte.Builder) {
	codec.AddOpaque(b, p.EncryptionKey)
	codec.AddOpaque(b, p.ParentHash)
	codec.AddOpaque(b, p.OriginalSiblingTreeHash)
}

// LeafNodeHashInput is the leaf branch of TreeHashInput (RFC 9420 §7.8).
// LeafNode is nil for a blank leaf.
type LeafNodeHashInput struct {
	LeafIndex uint32
	LeafNode  *LeafNode
}

// ParentNodeHashInput is the parent branch of TreeHashInput
// (RFC 9420 §7.8). ParentNode is nil for a blank parent.
type ParentNodeHashInput struct {
	ParentNode *ParentNode
	LeftHash   []byte
	RightHash  []byte
}

// TreeHashInput is what a node's tree hash is the hash of (RFC 9420 §7.8):
// Leaf is encoded when NodeType is leaf, Parent when it is parent. It is a
// plain value, so hashing a tree needs no allocation per node for it.
type TreeHashInput struct {
	NodeType NodeType
	Leaf     LeafNodeHashInput
	Parent   ParentNodeHashInput
}

// MarshalMLS implements codec.Marshaler.
func (t *TreeHashInput) MarshalMLS(b *cryptobyte.Builder) {
	b.AddUint8(uint8(t.NodeType))
	switch t.NodeType {
	case NodeTypeLeaf:
		b.AddUint32(t.Leaf.LeafIndex)
		codec.AddOptional(b, t.Leaf.LeafNode != nil, func(b *cryptobyte.Builder) {
			t.Leaf.LeafNode.MarshalMLS(b)
		})
	case NodeTypeParent:
		codec.AddOptional(b, t.Parent.ParentNode != nil, func(b *cryptobyte.Builder) {
			t.Parent.ParentNode.MarshalMLS(b)
		})
		codec.AddOpaque(b, t.Parent.LeftHash)
		codec.AddOpaque(b, t.Parent.RightHash)
	default:
		b.SetError(errUnencodable("tree hash input", t.NodeType))
	}
}
