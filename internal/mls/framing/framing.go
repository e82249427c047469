// Package framing protects and unprotects MLS messages (RFC 9420 §6):
// signing framed content, PublicMessage with its membership tag,
// PrivateMessage with its sender data and content encryption, and the
// encryption of Welcome messages (§12.4.3.1).
//
// It holds no group state. Every function takes what it needs explicitly —
// the suite, the group context of the message's epoch, that epoch's secrets
// or secret tree, the sender's signature key — so the member view of a
// group and the Delivery Service's non-member view compose the same
// functions. Rules that need the group's state (is the sender a member, is
// the confirmation tag right) are theirs.
package framing

import (
	"bytes"
	"errors"
	"fmt"

	"golang.org/x/crypto/cryptobyte"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/cipher"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
)

// Errors callers branch on. Errors returned by this package wrap one of
// them, or an error of the secret tree (schedule.ErrGenerationUsed,
// schedule.ErrGenerationTooFar, schedule.ErrUnknownLeaf) or of a caller's
// SignatureKeyFunc.
var (
	// ErrWrongGroup means a message is for another group than the context's.
	ErrWrongGroup = errors.New("mls framing: message for another group")
	// ErrWrongEpoch means a message is for another epoch than the context's.
	ErrWrongEpoch = errors.New("mls framing: message for another epoch")
	// ErrBadMembershipTag means a member's PublicMessage has a membership
	// tag that is missing or does not verify (RFC 9420 §6.2).
	ErrBadMembershipTag = errors.New("mls framing: bad membership tag")
	// ErrBadSignature means the signature over FramedContentTBS does not
	// verify with the sender's key (RFC 9420 §6.1).
	ErrBadSignature = errors.New("mls framing: bad signature")
	// ErrDecrypt means a PrivateMessage's sender data or content does not
	// decrypt: it was tampered with or sealed under other keys.
	ErrDecrypt = errors.New("mls framing: decryption failed")
	// ErrMalformed means decrypted sender data or content does not parse.
	ErrMalformed = errors.New("mls framing: malformed plaintext")
	// ErrApplicationPublic means application data in a PublicMessage, which
	// RFC 9420 §6.2 forbids.
	ErrApplicationPublic = errors.New("mls framing: application data in a public message")
	// ErrInvalidContent means content cannot be protected as asked: a wire
	// format other than public or private message, a sender other than a
	// member in a PrivateMessage, a commit without confirmation tag, a
	// member's content without group context, content that cannot be
	// encoded.
	ErrInvalidContent = errors.New("mls framing: content cannot be protected this way")
)

// signLabel is the label of the signature over FramedContentTBS
// (RFC 9420 §6.1).
const signLabel = "FramedContentTBS"

// Authenticated is content with its authentication data, as its sender
// signed it (RFC 9420 §6.1), and the encoding the signature covers. The
// membership tag and the confirmed transcript hash cover the same wire
// format and FramedContent: they are hashed from that encoding, so that a
// large commit (a path to thousands of members is a megabyte) is encoded
// once. The content must not be modified once signed or verified; the
// confirmation tag, which the signature does not cover, is set after
// signing.
type Authenticated struct {
	mls.AuthenticatedContent
	// signed is SignContent{"FramedContentTBS", FramedContentTBS}. The
	// FramedContentTBS starts at tbs with the protocol version, then the
	// wire format and the FramedContent, which end at framedEnd.
	signed         []byte
	tbs, framedEnd int
}

// newAuthenticated encodes what the signature of ac covers; ctx is the
// group context of its epoch, which the signature covers for member and
// new_member_commit senders.
func newAuthenticated(ac *mls.AuthenticatedContent, ctx *mls.GroupContext) (*Authenticated, error) {
	a := &Authenticated{AuthenticatedContent: *ac}
	signed, tbs, err := cipher.MarshalSignContent(signLabel, a.TBS(ctx))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidContent, err)
	}
	a.signed, a.tbs, a.framedEnd = signed, tbs, len(signed)
	if needsContext(ac.Content.Sender.Type) {
		// The group context encoded at the end of signed.
		_ = codec.Encode(ctx, func(enc []byte) { a.framedEnd -= len(enc) })
	}
	return a, nil
}

// Framed returns the encoding of the wire format and the FramedContent,
// with which AuthenticatedContent and ConfirmedTranscriptHashInput start
// (RFC 9420 §6.1, §8.2). It must not be modified.
func (a *Authenticated) Framed() []byte {
	return a.signed[a.tbs+2 : a.framedEnd]
}

// membershipTag is the MAC of AuthenticatedContentTBM under the
// membership key (RFC 9420 §6.2): FramedContentTBS, then the
// authentication data.
func (a *Authenticated) membershipTag(s *cipher.Suite, membershipKey []byte) []byte {
	var auth cryptobyte.Builder
	a.MarshalAuth(&auth)
	return s.MAC(membershipKey, a.signed[a.tbs:], auth.BytesOrPanic())
}

// Sign signs content for sending in wire format wf (RFC 9420 §6.1). ctx is
// the group context of content's epoch; the signature covers it for member
// and new_member_commit senders, which require it. For a commit the caller
// then sets the confirmation tag, which depends on the signature (§8.2),
// before protecting the result.
func Sign(signer *cipher.Signer, wf mls.WireFormat, content *mls.FramedContent, ctx *mls.GroupContext) (*Authenticated, error) {
	if err := checkSendable(wf, content, ctx); err != nil {
		return nil, err
	}
	a, err := newAuthenticated(&mls.AuthenticatedContent{WireFormat: wf, Content: *content}, ctx)
	if err != nil {
		return nil, err
	}
	a.Auth.Signature, err = signer.SignMessage(a.signed)
	if err != nil {
		return nil, fmt.Errorf("mls framing: signing: %w", err)
	}
	return a, nil
}

// VerifySignature checks ac's signature with the sender's signature public
// key; ctx is the group context of ac's epoch. It returns the
// authenticated content, or an error wrapping ErrBadSignature.
func VerifySignature(s *cipher.Suite, signatureKey []byte, ac *mls.AuthenticatedContent, ctx *mls.GroupContext) (*Authenticated, error) {
	if needsContext(ac.Content.Sender.Type) && ctx == nil {
		return nil, fmt.Errorf("%w: no group context for a %v sender", ErrBadSignature, ac.Content.Sender.Type)
	}
	a, err := newAuthenticated(ac, ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadSignature, err)
	}
	return verifyAuthenticated(s, a, signatureKey)
}

// verifyAuthenticated checks a's signature with the sender's signature
// public key.
func verifyAuthenticated(s *cipher.Suite, a *Authenticated, signatureKey []byte) (*Authenticated, error) {
	if err := s.VerifyMessage(signatureKey, a.signed, a.Auth.Signature); err != nil {
		return nil, fmt.Errorf("%w: %w (%s)", ErrBadSignature, err, signLabel)
	}
	return a, nil
}

// checkSendable checks that content can be framed in wire format wf.
func checkSendable(wf mls.WireFormat, content *mls.FramedContent, ctx *mls.GroupContext) error {
	switch {
	case wf == mls.WireFormatPublicMessage && content.ContentType == mls.ContentApplication:
		return ErrApplicationPublic
	case wf != mls.WireFormatPublicMessage && wf != mls.WireFormatPrivateMessage:
		return fmt.Errorf("%w: wire format %v", ErrInvalidContent, wf)
	case wf == mls.WireFormatPrivateMessage && content.Sender.Type != mls.SenderMember:
		return fmt.Errorf("%w: a %v sender cannot send a private message", ErrInvalidContent, content.Sender.Type)
	case needsContext(content.Sender.Type) && ctx == nil:
		return fmt.Errorf("%w: no group context for a %v sender", ErrInvalidContent, content.Sender.Type)
	}
	return nil
}

// checkProtectable checks that signed content can be protected in wire
// format wf: it was signed for it, and a commit carries its confirmation
// tag.
func checkProtectable(wf mls.WireFormat, ac *mls.AuthenticatedContent) error {
	if ac.WireFormat != wf {
		return fmt.Errorf("%w: content signed for %v, protected as %v", ErrInvalidContent, ac.WireFormat, wf)
	}
	if ac.Content.ContentType == mls.ContentCommit && len(ac.Auth.ConfirmationTag) == 0 {
		return fmt.Errorf("%w: commit without confirmation tag", ErrInvalidContent)
	}
	return nil
}

// needsContext reports whether the signature of a sender's content covers
// the group context (RFC 9420 §6.1).
func needsContext(t mls.SenderType) bool {
	return t == mls.SenderMember || t == mls.SenderNewMemberCommit
}

// checkEpoch checks that a received message is for ctx's group and epoch.
func checkEpoch(groupID []byte, epoch uint64, ctx *mls.GroupContext) error {
	if !bytes.Equal(groupID, ctx.GroupID) {
		return fmt.Errorf("%w: %x, not %x", ErrWrongGroup, groupID, ctx.GroupID)
	}
	if epoch != ctx.Epoch {
		return fmt.Errorf("%w: %d, not %d", ErrWrongEpoch, epoch, ctx.Epoch)
	}
	return nil
}

// decodeDecrypted decodes into v the plaintext of what that a decryption
// returned with decryptErr, failing with ErrDecrypt or ErrMalformed.
func decodeDecrypted(what string, plaintext []byte, decryptErr error, v codec.Unmarshaler) error {
	if decryptErr != nil {
		return fmt.Errorf("%w: %s: %w", ErrDecrypt, what, decryptErr)
	}
	if err := codec.Unmarshal(plaintext, v); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrMalformed, what, err)
	}
	return nil
}

// encode encodes v, returning an error wrapping ErrInvalidContent where
// codec.Marshal would panic (a select with no branch set, a vector too
// long).
func encode(v codec.Marshaler) ([]byte, error) {
	var b cryptobyte.Builder
	v.MarshalMLS(&b)
	out, err := b.Bytes()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidContent, err)
	}
	return out, nil
}
