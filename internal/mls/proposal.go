package mls

import (
	"golang.org/x/crypto/cryptobyte"

	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
)

// ProposalType identifies a proposal (RFC 9420 §12.1, §17.4).
type ProposalType uint16

// Proposal types registered by RFC 9420 §17.4.
const (
	ProposalAdd                    ProposalType = 1
	ProposalUpdate                 ProposalType = 2
	ProposalRemove                 ProposalType = 3
	ProposalPSK                    ProposalType = 4
	ProposalReInit                 ProposalType = 5
	ProposalExternalInit           ProposalType = 6
	ProposalGroupContextExtensions ProposalType = 7
)

var proposalTypeNames = []string{
	1: "add", 2: "update", 3: "remove", 4: "psk", 5: "reinit",
	6: "external_init", 7: "group_context_extensions",
}

// String returns the RFC 9420 name of t.
func (t ProposalType) String() string { return enumName("ProposalType", proposalTypeNames, t) }

// Proposal is a proposed change to the group (RFC 9420 §12.1). Type selects
// which one of the pointer fields is set. A proposal of an unregistered type
// cannot be decoded: its select has no branch to parse.
type Proposal struct {
	Type                   ProposalType
	Add                    *Add
	Update                 *Update
	Remove                 *Remove
	PreSharedKey           *PreSharedKey
	ReInit                 *ReInit
	ExternalInit           *ExternalInit
	GroupContextExtensions *GroupContextExtensions
}

// body returns the field Type selects, or nil when it is unset or Type is
// unknown.
func (p *Proposal) body() codec.Marshaler {
	switch p.Type {
	case ProposalAdd:
		return nonNil(p.Add)
	case ProposalUpdate:
		return nonNil(p.Update)
	case ProposalRemove:
		return nonNil(p.Remove)
	case ProposalPSK:
		return nonNil(p.PreSharedKey)
	case ProposalReInit:
		return nonNil(p.ReInit)
	case ProposalExternalInit:
		return nonNil(p.ExternalInit)
	case ProposalGroupContextExtensions:
		return nonNil(p.GroupContextExtensions)
	}
	return nil
}

// nonNil converts p to a Marshaler, keeping nil a nil interface.
func nonNil[T any, P interface {
	*T
	codec.Marshaler
}](p P) codec.Marshaler {
	if p == nil {
		return nil
	}
	return p
}

// MarshalMLS implements codec.Marshaler.
func (p *Proposal) MarshalMLS(b *cryptobyte.Builder) {
	b.AddUint16(uint16(p.Type))
	body := p.body()
	if body == nil {
		b.SetError(errUnencodable("proposal", p.Type))
		return
	}
	body.MarshalMLS(b)
}

// UnmarshalMLS implements codec.Unmarshaler.
func (p *Proposal) UnmarshalMLS(d *codec.Decoder) {
	*p = Proposal{Type: checkEnum(d, ProposalType(d.Uint16()), ProposalGroupContextExtensions)}
	switch p.Type {
	case ProposalAdd:
		p.Add = readNew[Add](d)
	case ProposalUpdate:
		p.Update = readNew[Update](d)
	case ProposalRemove:
		p.Remove = readNew[Remove](d)
	case ProposalPSK:
		p.PreSharedKey = readNew[PreSharedKey](d)
	case ProposalReInit:
		p.ReInit = readNew[ReInit](d)
	case ProposalExternalInit:
		p.ExternalInit = readNew[ExternalInit](d)
	case ProposalGroupContextExtensions:
		p.GroupContextExtensions = readNew[GroupContextExtensions](d)
	}
}

// Add proposes adding the client of KeyPackage (RFC 9420 §12.1.1).
type Add struct {
	KeyPackage KeyPackage
}

// MarshalMLS implements codec.Marshaler.
func (a *Add) MarshalMLS(b *cryptobyte.Builder) { a.KeyPackage.MarshalMLS(b) }

// UnmarshalMLS implements codec.Unmarshaler.
func (a *Add) UnmarshalMLS(d *codec.Decoder) { a.KeyPackage.UnmarshalMLS(d) }

// Update proposes replacing the sender's leaf (RFC 9420 §12.1.2).
type Update struct {
	LeafNode LeafNode
}

// MarshalMLS implements codec.Marshaler.
func (u *Update) MarshalMLS(b *cryptobyte.Builder) { u.LeafNode.MarshalMLS(b) }

// UnmarshalMLS implements codec.Unmarshaler.
func (u *Update) UnmarshalMLS(d *codec.Decoder) { u.LeafNode.UnmarshalMLS(d) }

// Remove proposes removing the member at leaf index Removed
// (RFC 9420 §12.1.3).
type Remove struct {
	Removed uint32
}

// MarshalMLS implements codec.Marshaler.
func (r *Remove) MarshalMLS(b *cryptobyte.Builder) { b.AddUint32(r.Removed) }

// UnmarshalMLS implements codec.Unmarshaler.
func (r *Remove) UnmarshalMLS(d *codec.Decoder) { r.Removed = d.Uint32() }

// PreSharedKey proposes injecting a PSK into the key schedule
// (RFC 9420 §12.1.4).
type PreSharedKey struct {
	PSK PreSharedKeyID
}

// MarshalMLS implements codec.Marshaler.
func (p *PreSharedKey) MarshalMLS(b *cryptobyte.Builder) { p.PSK.MarshalMLS(b) }

// UnmarshalMLS implements codec.Unmarshaler.
func (p *PreSharedKey) UnmarshalMLS(d *codec.Decoder) { p.PSK.UnmarshalMLS(d) }

// ReInit proposes closing the group and starting a new one with these
// parameters (RFC 9420 §12.1.5).
type ReInit struct {
	GroupID     []byte
	Version     ProtocolVersion
	CipherSuite CipherSuite
	Extensions  Extensions
}

// MarshalMLS implements codec.Marshaler.
func (r *ReInit) MarshalMLS(b *cryptobyte.Builder) {
	codec.AddOpaque(b, r.GroupID)
	b.AddUint16(uint16(r.Version))
	b.AddUint16(uint16(r.CipherSuite))
	r.Extensions.MarshalMLS(b)
}

// UnmarshalMLS implements codec.Unmarshaler.
func (r *ReInit) UnmarshalMLS(d *codec.Decoder) {
	r.GroupID = d.Opaque()
	r.Version = ProtocolVersion(d.Uint16())
	r.CipherSuite = CipherSuite(d.Uint16())
	r.Extensions.UnmarshalMLS(d)
}

// ExternalInit carries the KEM output from which an external joiner's
// init secret is derived (RFC 9420 §12.1.6).
type ExternalInit struct {
	KEMOutput []byte
}

// MarshalMLS implements codec.Marshaler.
func (e *ExternalInit) MarshalMLS(b *cryptobyte.Builder) { codec.AddOpaque(b, e.KEMOutput) }

// UnmarshalMLS implements codec.Unmarshaler.
func (e *ExternalInit) UnmarshalMLS(d *codec.Decoder) { e.KEMOutput = d.Opaque() }

// GroupContextExtensions proposes replacing the group context's extensions
// (RFC 9420 §12.1.7).
type GroupContextExtensions struct {
	Extensions Extensions
}

// MarshalMLS implements codec.Marshaler.
func (g *GroupContextExtensions) MarshalMLS(b *cryptobyte.Builder) { g.Extensions.MarshalMLS(b) }

// UnmarshalMLS implements codec.Unmarshaler.
func (g *GroupContextExtensions) UnmarshalMLS(d *codec.Decoder) { g.Extensions.UnmarshalMLS(d) }
