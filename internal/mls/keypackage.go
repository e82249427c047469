package mls

import (
	"golang.org/x/crypto/cryptobyte"

	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
)

// KeyPackage is a client's signed offer to be added to groups
// (RFC 9420 §10). Its reference is RefHash("MLS 1.0 KeyPackage Reference",
// encoding) (§5.2), computed by the cipher package.
type KeyPackage struct {
	Version     ProtocolVersion
	CipherSuite CipherSuite
	InitKey     []byte
	LeafNode    LeafNode
	Extensions  Extensions
	Signature   []byte
}

// MarshalMLS implements codec.Marshaler.
func (k *KeyPackage) MarshalMLS(b *cryptobyte.Builder) {
	k.marshalContent(b)
	codec.AddOpaque(b, k.Signature)
}

// marshalContent writes every field but the signature (KeyPackageTBS).
func (k *KeyPackage) marshalContent(b *cryptobyte.Builder) {
	b.AddUint16(uint16(k.Version))
	b.AddUint16(uint16(k.CipherSuite))
	codec.AddOpaque(b, k.InitKey)
	k.LeafNode.MarshalMLS(b)
	k.Extensions.MarshalMLS(b)
}

// UnmarshalMLS implements codec.Unmarshaler.
func (k *KeyPackage) UnmarshalMLS(d *codec.Decoder) {
	k.Version = ProtocolVersion(d.Uint16())
	k.CipherSuite = CipherSuite(d.Uint16())
	k.InitKey = d.Opaque()
	k.LeafNode.UnmarshalMLS(d)
	k.Extensions.UnmarshalMLS(d)
	k.Signature = d.Opaque()
}

// TBS returns the content k's signature covers.
func (k *KeyPackage) TBS() *KeyPackageTBS { return &KeyPackageTBS{KeyPackage: k} }

// KeyPackageTBS is the structure a key package's signature covers, with
// label "KeyPackageTBS" (RFC 9420 §10): the key package without signature.
type KeyPackageTBS struct {
	KeyPackage *KeyPackage
}

// MarshalMLS implements codec.Marshaler.
func (t *KeyPackageTBS) MarshalMLS(b *cryptobyte.Builder) { t.KeyPackage.marshalContent(b) }
