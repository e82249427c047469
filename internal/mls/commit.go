package mls

import (
	"golang.org/x/crypto/cryptobyte"

	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
)

// HPKECiphertext is the output of EncryptWithLabel (RFC 9420 §5.1.3, §7.6).
type HPKECiphertext struct {
	KEMOutput  []byte
	Ciphertext []byte
}

// MarshalMLS implements codec.Marshaler.
func (c *HPKECiphertext) MarshalMLS(b *cryptobyte.Builder) {
	codec.AddOpaque(b, c.KEMOutput)
	codec.AddOpaque(b, c.Ciphertext)
}

// UnmarshalMLS implements codec.Unmarshaler.
func (c *HPKECiphertext) UnmarshalMLS(d *codec.Decoder) {
	c.KEMOutput = d.Opaque()
	c.Ciphertext = d.Opaque()
}

// UpdatePathNode is one node of an UpdatePath (RFC 9420 §7.6): the node's new
// public key and its path secret encrypted to each node of the copath
// child's resolution.
type UpdatePathNode struct {
	EncryptionKey       []byte
	EncryptedPathSecret []HPKECiphertext
}

// MarshalMLS implements codec.Marshaler.
func (n *UpdatePathNode) MarshalMLS(b *cryptobyte.Builder) {
	codec.AddOpaque(b, n.EncryptionKey)
	addList(b, n.EncryptedPathSecret)
}

// UnmarshalMLS implements codec.Unmarshaler.
func (n *UpdatePathNode) UnmarshalMLS(d *codec.Decoder) {
	n.EncryptionKey = d.Opaque()
	n.EncryptedPathSecret = readList[HPKECiphertext](d)
}

// UpdatePath is the committer's new leaf and the new keys of its filtered
// direct path (RFC 9420 §7.6).
type UpdatePath struct {
	LeafNode LeafNode
	Nodes    []UpdatePathNode
}

// MarshalMLS implements codec.Marshaler.
func (p *UpdatePath) MarshalMLS(b *cryptobyte.Builder) {
	p.LeafNode.MarshalMLS(b)
	addList(b, p.Nodes)
}

// UnmarshalMLS implements codec.Unmarshaler.
func (p *UpdatePath) UnmarshalMLS(d *codec.Decoder) {
	p.LeafNode.UnmarshalMLS(d)
	p.Nodes = readList[UpdatePathNode](d)
}
