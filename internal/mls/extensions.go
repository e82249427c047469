package mls

import (
	"golang.org/x/crypto/cryptobyte"

	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
)

// ExtensionType identifies an extension (RFC 9420 §13, §17.3).
type ExtensionType uint16

// Extension types registered by RFC 9420 §17.3.
const (
	ExtensionApplicationID        ExtensionType = 1
	ExtensionRatchetTree          ExtensionType = 2
	ExtensionRequiredCapabilities ExtensionType = 3
	ExtensionExternalPub          ExtensionType = 4
	ExtensionExternalSenders      ExtensionType = 5
)

var extensionTypeNames = []string{
	1: "application_id", 2: "ratchet_tree", 3: "required_capabilities",
	4: "external_pub", 5: "external_senders",
}

// String returns the RFC 9420 name of t.
func (t ExtensionType) String() string { return enumName("ExtensionType", extensionTypeNames, t) }

// Extension is one extension of a list (RFC 9420 §13): a type and opaque
// data. The data of known types is decoded on demand with Extensions.Decode,
// so unknown types round-trip untouched.
type Extension struct {
	Type ExtensionType
	Data []byte
}

// MarshalMLS implements codec.Marshaler.
func (e *Extension) MarshalMLS(b *cryptobyte.Builder) {
	b.AddUint16(uint16(e.Type))
	codec.AddOpaque(b, e.Data)
}

// UnmarshalMLS implements codec.Unmarshaler.
func (e *Extension) UnmarshalMLS(d *codec.Decoder) {
	e.Type = ExtensionType(d.Uint16())
	e.Data = d.Opaque()
}

// Extensions is the `Extension extensions<V>` list found in leaf nodes, key
// packages, group contexts, group infos and ReInit proposals.
type Extensions []Extension

// MarshalMLS implements codec.Marshaler.
func (l Extensions) MarshalMLS(b *cryptobyte.Builder) { addList(b, l) }

// UnmarshalMLS implements codec.Unmarshaler.
func (l *Extensions) UnmarshalMLS(d *codec.Decoder) { *l = readList[Extension](d) }

// Find returns the data of the first extension of type t.
func (l Extensions) Find(t ExtensionType) (data []byte, ok bool) {
	for i := range l {
		if l[i].Type == t {
			return l[i].Data, true
		}
	}
	return nil, false
}

// Has reports whether the list holds an extension of type t.
func (l Extensions) Has(t ExtensionType) bool {
	_, ok := l.Find(t)
	return ok
}

// Decode finds the extension of content's type and decodes its data into
// content. It reports whether the extension was present; a present extension
// whose data does not decode exactly is an error.
func (l Extensions) Decode(content interface {
	ExtensionContent
	codec.Unmarshaler
}) (found bool, err error) {
	data, ok := l.Find(content.ExtensionType())
	if !ok {
		return false, nil
	}
	return true, codec.Unmarshal(data, content)
}

// ExtensionContent is the typed data of a known extension type. The types
// of this package that implement it also decode, through a pointer.
type ExtensionContent interface {
	codec.Marshaler
	ExtensionType() ExtensionType
}

// NewExtension encodes content as an Extension of its type.
func NewExtension(content ExtensionContent) Extension {
	return Extension{Type: content.ExtensionType(), Data: codec.Marshal(content)}
}

// ApplicationID is the application_id extension's data (RFC 9420 §5.3.3):
// an application-defined identifier of a leaf.
type ApplicationID []byte

// ExtensionType implements ExtensionContent.
func (ApplicationID) ExtensionType() ExtensionType { return ExtensionApplicationID }

// MarshalMLS implements codec.Marshaler.
func (a ApplicationID) MarshalMLS(b *cryptobyte.Builder) { codec.AddOpaque(b, a) }

// UnmarshalMLS implements codec.Unmarshaler.
func (a *ApplicationID) UnmarshalMLS(d *codec.Decoder) { *a = d.Opaque() }

// RequiredCapabilities is the required_capabilities extension's data
// (RFC 9420 §11.1): what every member's Capabilities must list.
type RequiredCapabilities struct {
	ExtensionTypes  []ExtensionType
	ProposalTypes   []ProposalType
	CredentialTypes []CredentialType
}

// ExtensionType implements ExtensionContent.
func (*RequiredCapabilities) ExtensionType() ExtensionType { return ExtensionRequiredCapabilities }

// MarshalMLS implements codec.Marshaler.
func (r *RequiredCapabilities) MarshalMLS(b *cryptobyte.Builder) {
	addUint16s(b, r.ExtensionTypes)
	addUint16s(b, r.ProposalTypes)
	addUint16s(b, r.CredentialTypes)
}

// UnmarshalMLS implements codec.Unmarshaler.
func (r *RequiredCapabilities) UnmarshalMLS(d *codec.Decoder) {
	r.ExtensionTypes = readUint16s[ExtensionType](d)
	r.ProposalTypes = readUint16s[ProposalType](d)
	r.CredentialTypes = readUint16s[CredentialType](d)
}

// ExternalPub is the external_pub extension's data (RFC 9420 §12.4.3.2):
// the HPKE public key external joiners encrypt to.
type ExternalPub struct {
	ExternalPub []byte
}

// ExtensionType implements ExtensionContent.
func (*ExternalPub) ExtensionType() ExtensionType { return ExtensionExternalPub }

// MarshalMLS implements codec.Marshaler.
func (e *ExternalPub) MarshalMLS(b *cryptobyte.Builder) { codec.AddOpaque(b, e.ExternalPub) }

// UnmarshalMLS implements codec.Unmarshaler.
func (e *ExternalPub) UnmarshalMLS(d *codec.Decoder) { e.ExternalPub = d.Opaque() }

// ExternalSender is one entity allowed to send proposals to the group
// without being a member (RFC 9420 §12.1.8.1).
type ExternalSender struct {
	SignatureKey []byte
	Credential   Credential
}

// MarshalMLS implements codec.Marshaler.
func (e *ExternalSender) MarshalMLS(b *cryptobyte.Builder) {
	codec.AddOpaque(b, e.SignatureKey)
	e.Credential.MarshalMLS(b)
}

// UnmarshalMLS implements codec.Unmarshaler.
func (e *ExternalSender) UnmarshalMLS(d *codec.Decoder) {
	e.SignatureKey = d.Opaque()
	e.Credential.UnmarshalMLS(d)
}

// ExternalSenders is the external_senders extension's data
// (RFC 9420 §12.1.8.1); Sender.Index of an external sender indexes it.
type ExternalSenders []ExternalSender

// ExtensionType implements ExtensionContent.
func (ExternalSenders) ExtensionType() ExtensionType { return ExtensionExternalSenders }

// MarshalMLS implements codec.Marshaler.
func (l ExternalSenders) MarshalMLS(b *cryptobyte.Builder) { addList(b, l) }

// UnmarshalMLS implements codec.Unmarshaler.
func (l *ExternalSenders) UnmarshalMLS(d *codec.Decoder) { *l = readList[ExternalSender](d) }
