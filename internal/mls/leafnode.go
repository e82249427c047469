package mls

import (
	"slices"

	"golang.org/x/crypto/cryptobyte"

	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
)

// Capabilities lists what a client supports (RFC 9420 §7.2). Unknown and
// GREASE values are kept. The Supports methods only look the value up: the
// rule that default extensions and proposals are implicitly supported
// (§7.2) is the caller's.
type Capabilities struct {
	Versions     []ProtocolVersion
	CipherSuites []CipherSuite
	Extensions   []ExtensionType
	Proposals    []ProposalType
	Credentials  []CredentialType
}

// MarshalMLS implements codec.Marshaler.
func (c *Capabilities) MarshalMLS(b *cryptobyte.Builder) {
	addUint16s(b, c.Versions)
	addUint16s(b, c.CipherSuites)
	addUint16s(b, c.Extensions)
	addUint16s(b, c.Proposals)
	addUint16s(b, c.Credentials)
}

// UnmarshalMLS implements codec.Unmarshaler.
func (c *Capabilities) UnmarshalMLS(d *codec.Decoder) {
	c.Versions = readUint16s[ProtocolVersion](d)
	c.CipherSuites = readUint16s[CipherSuite](d)
	c.Extensions = readUint16s[ExtensionType](d)
	c.Proposals = readUint16s[ProposalType](d)
	c.Credentials = readUint16s[CredentialType](d)
}

// SupportsVersion reports whether v is listed.
func (c *Capabilities) SupportsVersion(v ProtocolVersion) bool {
	return slices.Contains(c.Versions, v)
}

// SupportsCipherSuite reports whether s is listed.
func (c *Capabilities) SupportsCipherSuite(s CipherSuite) bool {
	return slices.Contains(c.CipherSuites, s)
}

// SupportsExtension reports whether t is listed.
func (c *Capabilities) SupportsExtension(t ExtensionType) bool {
	return slices.Contains(c.Extensions, t)
}

// SupportsProposal reports whether t is listed.
func (c *Capabilities) SupportsProposal(t ProposalType) bool {
	return slices.Contains(c.Proposals, t)
}

// SupportsCredential reports whether t is listed.
func (c *Capabilities) SupportsCredential(t CredentialType) bool {
	return slices.Contains(c.Credentials, t)
}

// Lifetime bounds the validity of a key package's leaf (RFC 9420 §7.2), in
// seconds since the Unix epoch, both inclusive.
type Lifetime struct {
	NotBefore uint64
	NotAfter  uint64
}

// MarshalMLS implements codec.Marshaler.
func (l *Lifetime) MarshalMLS(b *cryptobyte.Builder) {
	b.AddUint64(l.NotBefore)
	b.AddUint64(l.NotAfter)
}

// UnmarshalMLS implements codec.Unmarshaler.
func (l *Lifetime) UnmarshalMLS(d *codec.Decoder) {
	l.NotBefore = d.Uint64()
	l.NotAfter = d.Uint64()
}

// LeafNodeSource tells how a leaf node was made (RFC 9420 §7.2).
type LeafNodeSource uint8

// Leaf node sources of RFC 9420 §7.2.
const (
	LeafNodeSourceKeyPackage LeafNodeSource = 1
	LeafNodeSourceUpdate     LeafNodeSource = 2
	LeafNodeSourceCommit     LeafNodeSource = 3
)

var leafNodeSourceNames = []string{1: "key_package", 2: "update", 3: "commit"}

// String returns the RFC 9420 name of s.
func (s LeafNodeSource) String() string { return enumName("LeafNodeSource", leafNodeSourceNames, s) }

// LeafNode is a member's leaf in the ratchet tree (RFC 9420 §7.2). Lifetime
// is meaningful when Source is key_package, ParentHash when it is commit.
type LeafNode struct {
	EncryptionKey []byte
	SignatureKey  []byte
	Credential    Credential
	Capabilities  Capabilities
	Source        LeafNodeSource
	Lifetime      Lifetime
	ParentHash    []byte
	Extensions    Extensions
	Signature     []byte
}

// MarshalMLS implements codec.Marshaler.
func (n *LeafNode) MarshalMLS(b *cryptobyte.Builder) {
	n.marshalContent(b)
	codec.AddOpaque(b, n.Signature)
}

// marshalContent writes every field but the signature: the part LeafNode
// shares with LeafNodeTBS.
func (n *LeafNode) marshalContent(b *cryptobyte.Builder) {
	codec.AddOpaque(b, n.EncryptionKey)
	codec.AddOpaque(b, n.SignatureKey)
	n.Credential.MarshalMLS(b)
	n.Capabilities.MarshalMLS(b)
	b.AddUint8(uint8(n.Source))
	switch n.Source {
	case LeafNodeSourceKeyPackage:
		n.Lifetime.MarshalMLS(b)
	case LeafNodeSourceUpdate:
	case LeafNodeSourceCommit:
		codec.AddOpaque(b, n.ParentHash)
	default:
		b.SetError(errUnencodable("leaf node", n.Source))
	}
	n.Extensions.MarshalMLS(b)
}

// UnmarshalMLS implements codec.Unmarshaler.
func (n *LeafNode) UnmarshalMLS(d *codec.Decoder) {
	*n = LeafNode{}
	n.EncryptionKey = d.Opaque()
	n.SignatureKey = d.Opaque()
	n.Credential.UnmarshalMLS(d)
	n.Capabilities.UnmarshalMLS(d)
	n.Source = checkEnum(d, LeafNodeSource(d.Uint8()), LeafNodeSourceCommit)
	switch n.Source {
	case LeafNodeSourceKeyPackage:
		n.Lifetime.UnmarshalMLS(d)
	case LeafNodeSourceCommit:
		n.ParentHash = d.Opaque()
	}
	n.Extensions.UnmarshalMLS(d)
	n.Signature = d.Opaque()
}

// TBS returns the content n's signature covers. groupID and leafIndex are
// only encoded for leaves from an update or a commit (RFC 9420 §7.2).
func (n *LeafNode) TBS(groupID []byte, leafIndex uint32) *LeafNodeTBS {
	return &LeafNodeTBS{Leaf: n, GroupID: groupID, LeafIndex: leafIndex}
}

// LeafNodeTBS is the structure a leaf node's signature covers, with label
// "LeafNodeTBS" (RFC 9420 §7.2).
type LeafNodeTBS struct {
	Leaf      *LeafNode
	GroupID   []byte
	LeafIndex uint32
}

// MarshalMLS implements codec.Marshaler.
func (t *LeafNodeTBS) MarshalMLS(b *cryptobyte.Builder) {
	t.Leaf.marshalContent(b)
	switch t.Leaf.Source {
	case LeafNodeSourceUpdate, LeafNodeSourceCommit:
		codec.AddOpaque(b, t.GroupID)
		b.AddUint32(t.LeafIndex)
	}
}

// Extension returns the data of n's first extension of type t.
func (n *LeafNode) Extension(t ExtensionType) ([]byte, bool) { return n.Extensions.Find(t) }
