package mls

import (
	"bytes"

	"golang.org/x/crypto/cryptobyte"

	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
)

// PathSecret is the path secret a Welcome gives a new member for the
// lowest common ancestor of its leaf and the committer's (RFC 9420 §12.4.3.1).
type PathSecret struct {
	PathSecret []byte
}

// MarshalMLS implements codec.Marshaler.
func (p *PathSecret) MarshalMLS(b *cryptobyte.Builder) { codec.AddOpaque(b, p.PathSecret) }

// UnmarshalMLS implements codec.Unmarshaler.
func (p *PathSecret) UnmarshalMLS(d *codec.Decoder) { p.PathSecret = d.Opaque() }

// GroupSecrets is what a Welcome encrypts to each new member
// (RFC 9420 §12.4.3.1).
type GroupSecrets struct {
	JoinerSecret []byte
	PathSecret   *PathSecret
	PSKs         []PreSharedKeyID
}

// MarshalMLS implements codec.Marshaler.
func (g *GroupSecrets) MarshalMLS(b *cryptobyte.Builder) {
	codec.AddOpaque(b, g.JoinerSecret)
	codec.AddOptional(b, g.PathSecret != nil, func(b *cryptobyte.Builder) { g.PathSecret.MarshalMLS(b) })
	addList(b, g.PSKs)
}

// UnmarshalMLS implements codec.Unmarshaler.
func (g *GroupSecrets) UnmarshalMLS(d *codec.Decoder) {
	g.JoinerSecret = d.Opaque()
	g.PathSecret = nil
	if d.Optional() {
		g.PathSecret = readNew[PathSecret](d)
	}
	g.PSKs = readList[PreSharedKeyID](d)
}

// EncryptedGroupSecrets is a GroupSecrets encrypted to the init key of the
// key package NewMember references (RFC 9420 §12.4.3.1).
type EncryptedGroupSecrets struct {
	NewMember             []byte
	EncryptedGroupSecrets HPKECiphertext
}

// MarshalMLS implements codec.Marshaler.
func (e *EncryptedGroupSecrets) MarshalMLS(b *cryptobyte.Builder) {
	codec.AddOpaque(b, e.NewMember)
	e.EncryptedGroupSecrets.MarshalMLS(b)
}

// UnmarshalMLS implements codec.Unmarshaler.
func (e *EncryptedGroupSecrets) UnmarshalMLS(d *codec.Decoder) {
	e.NewMember = d.Opaque()
	e.EncryptedGroupSecrets.UnmarshalMLS(d)
}

// Welcome invites new members into a group (RFC 9420 §12.4.3.1).
type Welcome struct {
	CipherSuite        CipherSuite
	Secrets            []EncryptedGroupSecrets
	EncryptedGroupInfo []byte
}

// MarshalMLS implements codec.Marshaler.
func (w *Welcome) MarshalMLS(b *cryptobyte.Builder) {
	b.AddUint16(uint16(w.CipherSuite))
	addList(b, w.Secrets)
	codec.AddOpaque(b, w.EncryptedGroupInfo)
}

// UnmarshalMLS implements codec.Unmarshaler.
func (w *Welcome) UnmarshalMLS(d *codec.Decoder) {
	w.CipherSuite = CipherSuite(d.Uint16())
	w.Secrets = readList[EncryptedGroupSecrets](d)
	w.EncryptedGroupInfo = d.Opaque()
}

// SecretsFor returns the entry for the key package whose reference is ref,
// or nil.
func (w *Welcome) SecretsFor(ref []byte) *EncryptedGroupSecrets {
	for i := range w.Secrets {
		if bytes.Equal(w.Secrets[i].NewMember, ref) {
			return &w.Secrets[i]
		}
	}
	return nil
}
