package cipher

import (
	"encoding/binary"
	"fmt"

	"golang.org/x/crypto/cryptobyte"

	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
)

// labelPrefix starts every label MLS feeds to its labeled operations
// (RFC 9420 §5.1.2, §5.1.3, §8). RefHash labels carry it in their text.
const labelPrefix = "MLS 1.0 "

// addLabel writes opaque label<V> = "MLS 1.0 " + label.
func addLabel(b *cryptobyte.Builder, label string) {
	codec.AddVarint(b, len(labelPrefix)+len(label))
	b.AddBytes([]byte(labelPrefix))
	b.AddBytes([]byte(label))
}

// KDFLabel is the info of ExpandWithLabel (RFC 9420 §8). Label is the
// caller's label; the encoding prefixes it with "MLS 1.0 ".
type KDFLabel struct {
	Length  uint16
	Label   string
	Context []byte
}

// MarshalMLS implements codec.Marshaler.
func (l *KDFLabel) MarshalMLS(b *cryptobyte.Builder) {
	if len(labelPrefix)+len(l.Label) > codec.MaxVarint || len(l.Context) > codec.MaxVarint {
		b.SetError(fmt.Errorf("mls cipher: KDFLabel of %d and %d octets", len(l.Label), len(l.Context)))
		return
	}
	b.AddBytes(l.append(nil))
}

// append appends the encoding of l to dst, whose label and context lengths
// fit a varint: ExpandWithLabel encodes it on the stack this way.
func (l *KDFLabel) append(dst []byte) []byte {
	dst = binary.BigEndian.AppendUint16(dst, l.Length)
	dst = codec.AppendVarint(dst, len(labelPrefix)+len(l.Label))
	dst = append(dst, labelPrefix...)
	dst = append(dst, l.Label...)
	dst = codec.AppendVarint(dst, len(l.Context))
	return append(dst, l.Context...)
}

// signContent is what SignWithLabel signs (RFC 9420 §5.1.2): the label,
// prefixed with "MLS 1.0 ", then the encoded content as opaque<V>. The
// content is a structure, encoded in place.
type signContent struct {
	label   string
	content codec.Marshaler
}

// MarshalMLS implements codec.Marshaler.
func (c *signContent) MarshalMLS(b *cryptobyte.Builder) {
	addLabel(b, c.label)
	codec.AddVector(b, c.content.MarshalMLS)
}

// rawContent is an encoded structure: it encodes as itself.
type rawContent []byte

// MarshalMLS implements codec.Marshaler.
func (r rawContent) MarshalMLS(b *cryptobyte.Builder) { b.AddBytes(r) }

// MarshalSignContent returns the encoding of SignContent{label, content}
// (RFC 9420 §5.1.2), content encoded in place, and the offset of content's
// encoding in it: for callers that hash that encoding for other purposes
// as well (see Signer.SignMessage and Suite.VerifyMessage). It fails when
// content cannot be encoded.
func MarshalSignContent(label string, content codec.Marshaler) ([]byte, int, error) {
	var msg []byte
	err := codec.Encode(&signContent{label: label, content: content}, func(enc []byte) {
		msg = append(make([]byte, 0, len(enc)), enc...)
	})
	if err != nil {
		return nil, 0, err
	}
	d := codec.NewDecoder(msg)
	d.Opaque()
	return msg, len(msg) - len(d.Opaque()), nil
}

// EncryptContext is the HPKE info of EncryptWithLabel (RFC 9420 §5.1.3).
// Label is the caller's label; the encoding prefixes it with "MLS 1.0 ".
type EncryptContext struct {
	Label   string
	Context []byte
}

// MarshalMLS implements codec.Marshaler.
func (c *EncryptContext) MarshalMLS(b *cryptobyte.Builder) {
	addLabel(b, c.Label)
	codec.AddOpaque(b, c.Context)
}

// RefHashInput is what RefHash hashes (RFC 9420 §5.2). Label is used as
// given, without a prefix.
type RefHashInput struct {
	Label string
	Value []byte
}

// MarshalMLS implements codec.Marshaler.
func (r *RefHashInput) MarshalMLS(b *cryptobyte.Builder) {
	codec.AddOpaque(b, []byte(r.Label))
	codec.AddOpaque(b, r.Value)
}

// ExpandWithLabel is KDF.Expand(secret, KDFLabel{length, label, context},
// length) (RFC 9420 §8). It fails with ErrInvalidLength when length is
// beyond what KDFLabel and HKDF can carry.
func (s *Suite) ExpandWithLabel(secret []byte, label string, context []byte, length int) ([]byte, error) {
	if length < 0 || length > 0xffff || length > 255*s.hashLen {
		return nil, fmt.Errorf("%w: %d bytes from ExpandWithLabel", ErrInvalidLength, length)
	}
	return s.expandWithLabel(secret, label, context, length), nil
}

// expandWithLabel is ExpandWithLabel for a length known to be in range.
// A short KDFLabel is encoded on the stack.
func (s *Suite) expandWithLabel(secret []byte, label string, context []byte, length int) []byte {
	var stack [shortInput]byte
	l := KDFLabel{Length: uint16(length), Label: label, Context: context}
	return s.kdf.expand(secret, l.append(stack[:0]), length)
}

// DeriveSecret is ExpandWithLabel(secret, label, "", HashLen) (RFC 9420 §8).
func (s *Suite) DeriveSecret(secret []byte, label string) []byte {
	return s.expandWithLabel(secret, label, nil, s.hashLen)
}

// DeriveTreeSecret is ExpandWithLabel(secret, label, generation, length),
// generation encoded as a uint32 (RFC 9420 §9.1). Length is an AEAD key or
// nonce length in the secret tree; a length out of range fails as in
// ExpandWithLabel.
func (s *Suite) DeriveTreeSecret(secret []byte, label string, generation uint32, length int) ([]byte, error) {
	var context [4]byte
	binary.BigEndian.PutUint32(context[:], generation)
	return s.ExpandWithLabel(secret, label, context[:], length)
}

// RefHash is Hash(RefHashInput{label, value}) (RFC 9420 §5.2).
func (s *Suite) RefHash(label string, value []byte) []byte {
	return s.Hash(codec.Marshal(&RefHashInput{Label: label, Value: value}))
}

// MakeKeyPackageRef returns the KeyPackageRef of an encoded KeyPackage
// (RFC 9420 §5.2).
func (s *Suite) MakeKeyPackageRef(keyPackage []byte) []byte {
	return s.RefHash("MLS 1.0 KeyPackage Reference", keyPackage)
}

// MakeProposalRef returns the ProposalRef of an encoded
// AuthenticatedContent carrying a proposal (RFC 9420 §5.2).
func (s *Suite) MakeProposalRef(authenticatedContent []byte) []byte {
	return s.RefHash("MLS 1.0 Proposal Reference", authenticatedContent)
}
