package mls

import (
	"golang.org/x/crypto/cryptobyte"

	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
)

// GroupContext is the summary of a group's state in one epoch that every
// member agrees on (RFC 9420 §8.1).
type GroupContext struct {
	Version                 ProtocolVersion
	CipherSuite             CipherSuite
	GroupID                 []byte
	Epoch                   uint64
	TreeHash                []byte
	ConfirmedTranscriptHash []byte
	Extensions              Extensions
}

// MarshalMLS implements codec.Marshaler.
func (g *GroupContext) MarshalMLS(b *cryptobyte.Builder) {
	b.AddUint16(uint16(g.Version))
	b.AddUint16(uint16(g.CipherSuite))
	codec.AddOpaque(b, g.GroupID)
	b.AddUint64(g.Epoch)
	codec.AddOpaque(b, g.TreeHash)
	codec.AddOpaque(b, g.ConfirmedTranscriptHash)
	g.Extensions.MarshalMLS(b)
}

// UnmarshalMLS implements codec.Unmarshaler.
func (g *GroupContext) UnmarshalMLS(d *codec.Decoder) {
	g.Version = ProtocolVersion(d.Uint16())
	g.CipherSuite = CipherSuite(d.Uint16())
	g.GroupID = d.Opaque()
	g.Epoch = d.Uint64()
	g.TreeHash = d.Opaque()
	g.ConfirmedTranscriptHash = d.Opaque()
	g.Extensions.UnmarshalMLS(d)
}
