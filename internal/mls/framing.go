package mls

import (
	"golang.org/x/crypto/cryptobyte"

	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
)

// ContentType tells what a framed message carries (RFC 9420 §6).
type ContentType uint8

// Content types of RFC 9420 §6.
const (
	ContentApplication ContentType = 1
	ContentProposal    ContentType = 2
	ContentCommit      ContentType = 3
)

var contentTypeNames = []string{1: "application", 2: "proposal", 3: "commit"}

// String returns the RFC 9420 name of t.
func (t ContentType) String() string { return enumName("ContentType", contentTypeNames, t) }

// SenderType tells who sent a framed message (RFC 9420 §6).
type SenderType uint8

// Sender types of RFC 9420 §6.
const (
	SenderMember            SenderType = 1
	SenderExternal          SenderType = 2
	SenderNewMemberProposal SenderType = 3
	SenderNewMemberCommit   SenderType = 4
)

var senderTypeNames = []string{1: "member", 2: "external", 3: "new_member_proposal", 4: "new_member_commit"}

// String returns the RFC 9420 name of t.
func (t SenderType) String() string { return enumName("SenderType", senderTypeNames, t) }

// Sender identifies the sender of a framed message (RFC 9420 §6). Index is
// the leaf_index of a member or the sender_index of an external sender into
// the external_senders extension; it is not encoded for new members.
type Sender struct {
	Type  SenderType
	Index uint32
}

// hasIndex reports whether the sender type carries an index.
func (s *Sender) hasIndex() bool { return s.Type == SenderMember || s.Type == SenderExternal }

// MarshalMLS implements codec.Marshaler.
func (s *Sender) MarshalMLS(b *cryptobyte.Builder) {
	b.AddUint8(uint8(s.Type))
	if s.hasIndex() {
		b.AddUint32(s.Index)
	}
}

// UnmarshalMLS implements codec.Unmarshaler.
func (s *Sender) UnmarshalMLS(d *codec.Decoder) {
	*s = Sender{Type: checkEnum(d, SenderType(d.Uint8()), SenderNewMemberCommit)}
	if s.hasIndex() {
		s.Index = d.Uint32()
	}
}

// Content is the select on content_type that FramedContent and
// PrivateMessageContent share (RFC 9420 §6, §6.3.1): ApplicationData,
// Proposal or Commit, as ContentType says.
type Content struct {
	ContentType     ContentType
	ApplicationData []byte
	Proposal        *Proposal
	Commit          *Commit
}

// marshalBody writes the branch ContentType selects, not ContentType.
func (c *Content) marshalBody(b *cryptobyte.Builder) {
	switch {
	case c.ContentType == ContentApplication:
		codec.AddOpaque(b, c.ApplicationData)
	case c.ContentType == ContentProposal && c.Proposal != nil:
		c.Proposal.MarshalMLS(b)
	case c.ContentType == ContentCommit && c.Commit != nil:
		c.Commit.MarshalMLS(b)
	default:
		b.SetError(errUnencodable("content", c.ContentType))
	}
}

// unmarshalBody reads the branch the already set ContentType selects.
func (c *Content) unmarshalBody(d *codec.Decoder) {
	c.ApplicationData, c.Proposal, c.Commit = nil, nil, nil
	switch checkEnum(d, c.ContentType, ContentCommit) {
	case ContentApplication:
		c.ApplicationData = d.Opaque()
	case ContentProposal:
		c.Proposal = readNew[Proposal](d)
	case ContentCommit:
		c.Commit = readNew[Commit](d)
	}
}

// FramedContent is a message's content with the group, epoch and sender it
// belongs to (RFC 9420 §6).
type FramedContent struct {
	GroupID           []byte
	Epoch             uint64
	Sender            Sender
	AuthenticatedData []byte
	Content
}

// MarshalMLS implements codec.Marshaler.
func (c *FramedContent) MarshalMLS(b *cryptobyte.Builder) {
	codec.AddOpaque(b, c.GroupID)
	b.AddUint64(c.Epoch)
	c.Sender.MarshalMLS(b)
	codec.AddOpaque(b, c.AuthenticatedData)
	b.AddUint8(uint8(c.ContentType))
	c.marshalBody(b)
}

// UnmarshalMLS implements codec.Unmarshaler.
func (c *FramedContent) UnmarshalMLS(d *codec.Decoder) {
	c.GroupID = d.Opaque()
	c.Epoch = d.Uint64()
	c.Sender.UnmarshalMLS(d)
	c.AuthenticatedData = d.Opaque()
	c.ContentType = ContentType(d.Uint8())
	c.unmarshalBody(d)
}

// FramedContentAuthData authenticates a FramedContent (RFC 9420 §6.1):
// the sender's signature over FramedContentTBS and, for commits only, the
// confirmation tag. Its encoding depends on the content type, so it is
// encoded as part of the structures that hold it.
type FramedContentAuthData struct {
	Signature       []byte
	ConfirmationTag []byte
}

// MarshalAuth writes a's authentication data, with which
// AuthenticatedContent and AuthenticatedContentTBM end (RFC 9420 §6.1,
// §6.2).
func (a *AuthenticatedContent) MarshalAuth(b *cryptobyte.Builder) {
	a.Auth.marshal(b, a.Content.ContentType)
}

func (a *FramedContentAuthData) marshal(b *cryptobyte.Builder, ct ContentType) {
	codec.AddOpaque(b, a.Signature)
	if ct == ContentCommit {
		codec.AddOpaque(b, a.ConfirmationTag)
	}
}

func (a *FramedContentAuthData) unmarshal(d *codec.Decoder, ct ContentType) {
	a.Signature = d.Opaque()
	a.ConfirmationTag = nil
	if ct == ContentCommit {
		a.ConfirmationTag = d.Opaque()
	}
}

// AuthenticatedContent is a framed content with its authentication data
// and the wire format it was sent in (RFC 9420 §6.1); the transcript hashes
// (§8.2) are computed over it.
type AuthenticatedContent struct {
	WireFormat WireFormat
	Content    FramedContent
	Auth       FramedContentAuthData
}

// MarshalMLS implements codec.Marshaler.
func (a *AuthenticatedContent) MarshalMLS(b *cryptobyte.Builder) {
	b.AddUint16(uint16(a.WireFormat))
	a.Content.MarshalMLS(b)
	a.Auth.marshal(b, a.Content.ContentType)
}

// UnmarshalMLS implements codec.Unmarshaler.
func (a *AuthenticatedContent) UnmarshalMLS(d *codec.Decoder) {
	a.WireFormat = checkEnum(d, WireFormat(d.Uint16()), WireFormatKeyPackage)
	a.Content.UnmarshalMLS(d)
	a.Auth.unmarshal(d, a.Content.ContentType)
}

// TBS returns what a's signature covers; ctx is the sender's group context,
// encoded only for member and new_member_commit senders.
func (a *AuthenticatedContent) TBS(ctx *GroupContext) *FramedContentTBS {
	return &FramedContentTBS{WireFormat: a.WireFormat, Content: &a.Content, Context: ctx}
}

// FramedContentTBS is what the signature of a framed message covers, with
// label "FramedContentTBS" (RFC 9420 §6.1). Version is always mls10.
// Context must be set when the sender is a member or a new_member_commit.
type FramedContentTBS struct {
	WireFormat WireFormat
	Content    *FramedContent
	Context    *GroupContext
}

// MarshalMLS implements codec.Marshaler.
func (t *FramedContentTBS) MarshalMLS(b *cryptobyte.Builder) {
	b.AddUint16(uint16(MLS10))
	b.AddUint16(uint16(t.WireFormat))
	t.Content.MarshalMLS(b)
	switch t.Content.Sender.Type {
	case SenderMember, SenderNewMemberCommit:
		if t.Context == nil {
			b.SetError(errUnencodable("FramedContentTBS without group context for sender", t.Content.Sender.Type))
			return
		}
		t.Context.MarshalMLS(b)
	}
}

// AuthenticatedContentTBM is what the membership tag of a PublicMessage is
// the MAC of (RFC 9420 §6.2).
type AuthenticatedContentTBM struct {
	ContentTBS FramedContentTBS
	Auth       *FramedContentAuthData
}

// MarshalMLS implements codec.Marshaler.
func (t *AuthenticatedContentTBM) MarshalMLS(b *cryptobyte.Builder) {
	t.ContentTBS.MarshalMLS(b)
	t.Auth.marshal(b, t.ContentTBS.Content.ContentType)
}

// PublicMessage is a signed, unencrypted handshake message (RFC 9420 §6.2).
// MembershipTag is present exactly when the sender is a member.
type PublicMessage struct {
	Content       FramedContent
	Auth          FramedContentAuthData
	MembershipTag []byte
}

// MarshalMLS implements codec.Marshaler.
func (m *PublicMessage) MarshalMLS(b *cryptobyte.Builder) {
	m.Content.MarshalMLS(b)
	m.Auth.marshal(b, m.Content.ContentType)
	if m.Content.Sender.Type == SenderMember {
		codec.AddOpaque(b, m.MembershipTag)
	}
}

// UnmarshalMLS implements codec.Unmarshaler.
func (m *PublicMessage) UnmarshalMLS(d *codec.Decoder) {
	m.Content.UnmarshalMLS(d)
	m.Auth.unmarshal(d, m.Content.ContentType)
	m.MembershipTag = nil
	if m.Content.Sender.Type == SenderMember {
		m.MembershipTag = d.Opaque()
	}
}

// AuthenticatedContent returns m's content and authentication data as sent
// in wire format mls_public_message. It shares m's memory.
func (m *PublicMessage) AuthenticatedContent() *AuthenticatedContent {
	return &AuthenticatedContent{WireFormat: WireFormatPublicMessage, Content: m.Content, Auth: m.Auth}
}

// TBM returns what m's membership tag is the MAC of; ctx is the group
// context of m's epoch.
func (m *PublicMessage) TBM(ctx *GroupContext) *AuthenticatedContentTBM {
	return &AuthenticatedContentTBM{
		ContentTBS: FramedContentTBS{WireFormat: WireFormatPublicMessage, Content: &m.Content, Context: ctx},
		Auth:       &m.Auth,
	}
}

// PrivateMessage is an encrypted, signed message (RFC 9420 §6.3).
type PrivateMessage struct {
	GroupID             []byte
	Epoch               uint64
	ContentType         ContentType
	AuthenticatedData   []byte
	EncryptedSenderData []byte
	Ciphertext          []byte
}

// MarshalMLS implements codec.Marshaler.
func (m *PrivateMessage) MarshalMLS(b *cryptobyte.Builder) {
	codec.AddOpaque(b, m.GroupID)
	b.AddUint64(m.Epoch)
	b.AddUint8(uint8(m.ContentType))
	codec.AddOpaque(b, m.AuthenticatedData)
	codec.AddOpaque(b, m.EncryptedSenderData)
	codec.AddOpaque(b, m.Ciphertext)
}

// UnmarshalMLS implements codec.Unmarshaler.
func (m *PrivateMessage) UnmarshalMLS(d *codec.Decoder) {
	m.GroupID = d.Opaque()
	m.Epoch = d.Uint64()
	m.ContentType = checkEnum(d, ContentType(d.Uint8()), ContentCommit)
	m.AuthenticatedData = d.Opaque()
	m.EncryptedSenderData = d.Opaque()
	m.Ciphertext = d.Opaque()
}

// ContentAAD returns the additional data m's ciphertext is sealed with.
func (m *PrivateMessage) ContentAAD() *PrivateContentAAD {
	return &PrivateContentAAD{GroupID: m.GroupID, Epoch: m.Epoch, ContentType: m.ContentType, AuthenticatedData: m.AuthenticatedData}
}

// SenderDataAAD returns the additional data m's sender data is sealed with.
func (m *PrivateMessage) SenderDataAAD() *SenderDataAAD {
	return &SenderDataAAD{GroupID: m.GroupID, Epoch: m.Epoch, ContentType: m.ContentType}
}

// PrivateMessageContent is the plaintext of a PrivateMessage's ciphertext
// (RFC 9420 §6.3.1): the content, its authentication data and Padding zero
// octets. The content type is not encoded: it is PrivateMessage's.
type PrivateMessageContent struct {
	Content
	Auth    FramedContentAuthData
	Padding int
}

// MarshalMLS implements codec.Marshaler.
func (c *PrivateMessageContent) MarshalMLS(b *cryptobyte.Builder) {
	c.marshalBody(b)
	c.Auth.marshal(b, c.ContentType)
	b.AddBytes(make([]byte, c.Padding))
}

// UnmarshalMLS implements codec.Unmarshaler. The caller sets ContentType
// from the PrivateMessage before decoding. The padding is all the input
// left, and must be zeros (§6.3.1).
func (c *PrivateMessageContent) UnmarshalMLS(d *codec.Decoder) {
	c.unmarshalBody(d)
	c.Auth.unmarshal(d, c.ContentType)
	padding := d.Fixed(d.Len())
	for _, octet := range padding {
		if octet != 0 {
			d.Invalid("non-zero padding in private message content")
			return
		}
	}
	c.Padding = len(padding)
}

// PrivateContentAAD is the additional data of a PrivateMessage's content
// encryption (RFC 9420 §6.3.1).
type PrivateContentAAD struct {
	GroupID           []byte
	Epoch             uint64
	ContentType       ContentType
	AuthenticatedData []byte
}

// MarshalMLS implements codec.Marshaler.
func (a *PrivateContentAAD) MarshalMLS(b *cryptobyte.Builder) {
	codec.AddOpaque(b, a.GroupID)
	b.AddUint64(a.Epoch)
	b.AddUint8(uint8(a.ContentType))
	codec.AddOpaque(b, a.AuthenticatedData)
}

// SenderData is the plaintext of a PrivateMessage's encrypted sender data
// (RFC 9420 §6.3.2).
type SenderData struct {
	LeafIndex  uint32
	Generation uint32
	ReuseGuard [4]byte
}

// MarshalMLS implements codec.Marshaler.
func (s *SenderData) MarshalMLS(b *cryptobyte.Builder) {
	b.AddUint32(s.LeafIndex)
	b.AddUint32(s.Generation)
	b.AddBytes(s.ReuseGuard[:])
}

// UnmarshalMLS implements codec.Unmarshaler.
func (s *SenderData) UnmarshalMLS(d *codec.Decoder) {
	s.LeafIndex = d.Uint32()
	s.Generation = d.Uint32()
	copy(s.ReuseGuard[:], d.Fixed(len(s.ReuseGuard)))
}

// SenderDataAAD is the additional data of a PrivateMessage's sender data
// encryption (RFC 9420 §6.3.2).
type SenderDataAAD struct {
	GroupID     []byte
	Epoch       uint64
	ContentType ContentType
}

// MarshalMLS implements codec.Marshaler.
func (a *SenderDataAAD) MarshalMLS(b *cryptobyte.Builder) {
	codec.AddOpaque(b, a.GroupID)
	b.AddUint64(a.Epoch)
	b.AddUint8(uint8(a.ContentType))
}
