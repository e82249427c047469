package mls

import (
	"golang.org/x/crypto/cryptobyte"

	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
)

// WireFormat tells what an MLSMessage carries (RFC 9420 §6, §17.2).
type WireFormat uint16

// Wire formats registered by RFC 9420 §17.2.
const (
	WireFormatPublicMessage  WireFormat = 1
	WireFormatPrivateMessage WireFormat = 2
	WireFormatWelcome        WireFormat = 3
	WireFormatGroupInfo      WireFormat = 4
	WireFormatKeyPackage     WireFormat = 5
)

var wireFormatNames = []string{
	1: "mls_public_message", 2: "mls_private_message", 3: "mls_welcome",
	4: "mls_group_info", 5: "mls_key_package",
}

// String returns the RFC 9420 name of f.
func (f WireFormat) String() string { return enumName("WireFormat", wireFormatNames, f) }

// MLSMessage is the envelope of everything MLS sends (RFC 9420 §6): the
// pointer field WireFormat selects is set. Decoding rejects versions other
// than mls10, since the rest of the encoding belongs to the version.
type MLSMessage struct {
	Version        ProtocolVersion
	WireFormat     WireFormat
	PublicMessage  *PublicMessage
	PrivateMessage *PrivateMessage
	Welcome        *Welcome
	GroupInfo      *GroupInfo
	KeyPackage     *KeyPackage
}

// NewPublicMessage wraps m in an mls10 MLSMessage.
func NewPublicMessage(m *PublicMessage) *MLSMessage {
	return &MLSMessage{Version: MLS10, WireFormat: WireFormatPublicMessage, PublicMessage: m}
}

// NewPrivateMessage wraps m in an mls10 MLSMessage.
func NewPrivateMessage(m *PrivateMessage) *MLSMessage {
	return &MLSMessage{Version: MLS10, WireFormat: WireFormatPrivateMessage, PrivateMessage: m}
}

// NewWelcome wraps w in an mls10 MLSMessage.
func NewWelcome(w *Welcome) *MLSMessage {
	return &MLSMessage{Version: MLS10, WireFormat: WireFormatWelcome, Welcome: w}
}

// NewGroupInfo wraps g in an mls10 MLSMessage.
func NewGroupInfo(g *GroupInfo) *MLSMessage {
	return &MLSMessage{Version: MLS10, WireFormat: WireFormatGroupInfo, GroupInfo: g}
}

// NewKeyPackage wraps k in an mls10 MLSMessage.
func NewKeyPackage(k *KeyPackage) *MLSMessage {
	return &MLSMessage{Version: MLS10, WireFormat: WireFormatKeyPackage, KeyPackage: k}
}

// body returns the field WireFormat selects, or nil when it is unset.
func (m *MLSMessage) body() codec.Marshaler {
	switch m.WireFormat {
	case WireFormatPublicMessage:
		return nonNil(m.PublicMessage)
	case WireFormatPrivateMessage:
		return nonNil(m.PrivateMessage)
	case WireFormatWelcome:
		return nonNil(m.Welcome)
	case WireFormatGroupInfo:
		return nonNil(m.GroupInfo)
	case WireFormatKeyPackage:
		return nonNil(m.KeyPackage)
	}
	return nil
}

// MarshalMLS implements codec.Marshaler.
func (m *MLSMessage) MarshalMLS(b *cryptobyte.Builder) {
	b.AddUint16(uint16(m.Version))
	b.AddUint16(uint16(m.WireFormat))
	body := m.body()
	if body == nil {
		b.SetError(errUnencodable("message", m.WireFormat))
		return
	}
	body.MarshalMLS(b)
}

// UnmarshalMLS implements codec.Unmarshaler.
func (m *MLSMessage) UnmarshalMLS(d *codec.Decoder) {
	*m = MLSMessage{Version: ProtocolVersion(d.Uint16())}
	if d.Err() == nil && m.Version != MLS10 {
		d.Invalid("unsupported %v", m.Version)
		return
	}
	m.WireFormat = checkEnum(d, WireFormat(d.Uint16()), WireFormatKeyPackage)
	switch m.WireFormat {
	case WireFormatPublicMessage:
		m.PublicMessage = readNew[PublicMessage](d)
	case WireFormatPrivateMessage:
		m.PrivateMessage = readNew[PrivateMessage](d)
	case WireFormatWelcome:
		m.Welcome = readNew[Welcome](d)
	case WireFormatGroupInfo:
		m.GroupInfo = readNew[GroupInfo](d)
	case WireFormatKeyPackage:
		m.KeyPackage = readNew[KeyPackage](d)
	}
}

// GroupEpoch returns the group and epoch of a public or private message;
// ok is false for the other wire formats.
func (m *MLSMessage) GroupEpoch() (groupID []byte, epoch uint64, ok bool) {
	switch {
	case m.PublicMessage != nil:
		return m.PublicMessage.Content.GroupID, m.PublicMessage.Content.Epoch, true
	case m.PrivateMessage != nil:
		return m.PrivateMessage.GroupID, m.PrivateMessage.Epoch, true
	}
	return nil, 0, false
}

// ContentType returns the content type of a public or private message, or
// 0 for the other wire formats.
func (m *MLSMessage) ContentType() ContentType {
	switch {
	case m.PublicMessage != nil:
		return m.PublicMessage.Content.ContentType
	case m.PrivateMessage != nil:
		return m.PrivateMessage.ContentType
	}
	return 0
}
