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

// ProposalOrRefType tells an inline proposal from a reference to one sent
// earlier (RFC 9420 §12.4).
type ProposalOrRefType uint8

// ProposalOrRef types of RFC 9420 §12.4.
const (
	ProposalOrRefProposal  ProposalOrRefType = 1
	ProposalOrRefReference ProposalOrRefType = 2
)

var proposalOrRefTypeNames = []string{1: "proposal", 2: "reference"}

// String returns the RFC 9420 name of t.
func (t ProposalOrRefType) String() string {
	return enumName("ProposalOrRefType", proposalOrRefTypeNames, t)
}

// ProposalOrRef is one proposal a commit covers (RFC 9420 §12.4): Proposal
// when Type is proposal, Reference (a ProposalRef, §5.2) when it is
// reference.
type ProposalOrRef struct {
	Type      ProposalOrRefType
	Proposal  Proposal
	Reference []byte
}

// MarshalMLS implements codec.Marshaler.
func (p *ProposalOrRef) MarshalMLS(b *cryptobyte.Builder) {
	b.AddUint8(uint8(p.Type))
	switch p.Type {
	case ProposalOrRefProposal:
		p.Proposal.MarshalMLS(b)
	case ProposalOrRefReference:
		codec.AddOpaque(b, p.Reference)
	default:
		b.SetError(errUnencodable("proposal or reference", p.Type))
	}
}

// UnmarshalMLS implements codec.Unmarshaler.
func (p *ProposalOrRef) UnmarshalMLS(d *codec.Decoder) {
	*p = ProposalOrRef{Type: checkEnum(d, ProposalOrRefType(d.Uint8()), ProposalOrRefReference)}
	switch p.Type {
	case ProposalOrRefProposal:
		p.Proposal.UnmarshalMLS(d)
	case ProposalOrRefReference:
		p.Reference = d.Opaque()
	}
}

// Commit applies proposals and, with Path, refreshes the committer's keys
// (RFC 9420 §12.4).
type Commit struct {
	Proposals []ProposalOrRef
	Path      *UpdatePath
}

// MarshalMLS implements codec.Marshaler.
func (c *Commit) MarshalMLS(b *cryptobyte.Builder) {
	addList(b, c.Proposals)
	codec.AddOptional(b, c.Path != nil, func(b *cryptobyte.Builder) { c.Path.MarshalMLS(b) })
}

// UnmarshalMLS implements codec.Unmarshaler.
func (c *Commit) UnmarshalMLS(d *codec.Decoder) {
	c.Proposals = readList[ProposalOrRef](d)
	c.Path = nil
	if d.Optional() {
		c.Path = readNew[UpdatePath](d)
	}
}
