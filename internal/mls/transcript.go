package mls

import (
	"golang.org/x/crypto/cryptobyte"

	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
)

// ConfirmedTranscriptHashInput is what the confirmed transcript hash
// covers of a commit, after the previous interim transcript hash
// (RFC 9420 §8.2).
type ConfirmedTranscriptHashInput struct {
	WireFormat WireFormat
	Content    *FramedContent
	Signature  []byte
}

// MarshalMLS implements codec.Marshaler.
func (in *ConfirmedTranscriptHashInput) MarshalMLS(b *cryptobyte.Builder) {
	b.AddUint16(uint16(in.WireFormat))
	in.Content.MarshalMLS(b)
	codec.AddOpaque(b, in.Signature)
}

// ConfirmedTranscriptHashInput returns the confirmed transcript hash input
// of a, which must hold a commit.
func (a *AuthenticatedContent) ConfirmedTranscriptHashInput() *ConfirmedTranscriptHashInput {
	return &ConfirmedTranscriptHashInput{WireFormat: a.WireFormat, Content: &a.Content, Signature: a.Auth.Signature}
}

// InterimTranscriptHashInput is what the interim transcript hash covers
// after the confirmed transcript hash (RFC 9420 §8.2).
type InterimTranscriptHashInput struct {
	ConfirmationTag []byte
}

// MarshalMLS implements codec.Marshaler.
func (in *InterimTranscriptHashInput) MarshalMLS(b *cryptobyte.Builder) {
	codec.AddOpaque(b, in.ConfirmationTag)
}
