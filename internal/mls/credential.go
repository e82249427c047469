package mls

import (
	"golang.org/x/crypto/cryptobyte"

	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
)

// CredentialType identifies the kind of a Credential (RFC 9420 §5.3).
type CredentialType uint16

// Credential types of RFC 9420 §5.3.
const (
	CredentialBasic CredentialType = 1
	CredentialX509  CredentialType = 2
)

var credentialTypeNames = []string{1: "basic", 2: "x509"}

// String returns the RFC 9420 name of t.
func (t CredentialType) String() string { return enumName("CredentialType", credentialTypeNames, t) }

// Credential binds an identity to a signature key (RFC 9420 §5.3). Identity
// is set for basic credentials, Certificates (each a DER certificate, leaf
// first) for x509 ones. A Credential of any other type cannot be decoded:
// its select has no branch to parse.
type Credential struct {
	Type         CredentialType
	Identity     []byte
	Certificates [][]byte
}

// MarshalMLS implements codec.Marshaler.
func (c *Credential) MarshalMLS(b *cryptobyte.Builder) {
	b.AddUint16(uint16(c.Type))
	switch c.Type {
	case CredentialBasic:
		codec.AddOpaque(b, c.Identity)
	case CredentialX509:
		codec.AddVector(b, func(b *cryptobyte.Builder) {
			for _, cert := range c.Certificates {
				codec.AddOpaque(b, cert)
			}
		})
	default:
		b.SetError(errUnencodable("credential", c.Type))
	}
}

// UnmarshalMLS implements codec.Unmarshaler.
func (c *Credential) UnmarshalMLS(d *codec.Decoder) {
	*c = Credential{Type: checkEnum(d, CredentialType(d.Uint16()), CredentialX509)}
	switch c.Type {
	case CredentialBasic:
		c.Identity = d.Opaque()
	case CredentialX509:
		d.Vector(func(d *codec.Decoder) {
			for !d.Empty() {
				c.Certificates = append(c.Certificates, d.Opaque())
			}
		})
	}
}
