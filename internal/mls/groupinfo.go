package mls

import (
	"golang.org/x/crypto/cryptobyte"

	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
)

// GroupInfo is the signed description of a group's current epoch that new
// members join from (RFC 9420 §12.4.3). Its extensions may carry the
// ratchet tree and the external_pub key.
type GroupInfo struct {
	GroupContext    GroupContext
	Extensions      Extensions
	ConfirmationTag []byte
	Signer          uint32
	Signature       []byte
}

// MarshalMLS implements codec.Marshaler.
func (g *GroupInfo) MarshalMLS(b *cryptobyte.Builder) {
	g.marshalContent(b)
	codec.AddOpaque(b, g.Signature)
}

// marshalContent writes every field but the signature (GroupInfoTBS).
func (g *GroupInfo) marshalContent(b *cryptobyte.Builder) {
	g.GroupContext.MarshalMLS(b)
	g.Extensions.MarshalMLS(b)
	codec.AddOpaque(b, g.ConfirmationTag)
	b.AddUint32(g.Signer)
}

// UnmarshalMLS implements codec.Unmarshaler.
func (g *GroupInfo) UnmarshalMLS(d *codec.Decoder) {
	g.GroupContext.UnmarshalMLS(d)
	g.Extensions.UnmarshalMLS(d)
	g.ConfirmationTag = d.Opaque()
	g.Signer = d.Uint32()
	g.Signature = d.Opaque()
}

// TBS returns the content g's signature covers.
func (g *GroupInfo) TBS() *GroupInfoTBS { return &GroupInfoTBS{GroupInfo: g} }

// GroupInfoTBS is what a group info's signature covers, with label
// "GroupInfoTBS" (RFC 9420 §12.4.3): the group info without signature.
type GroupInfoTBS struct {
	GroupInfo *GroupInfo
}

// MarshalMLS implements codec.Marshaler.
func (t *GroupInfoTBS) MarshalMLS(b *cryptobyte.Builder) { t.GroupInfo.marshalContent(b) }
