// Package keypackagetest makes signed MLS KeyPackages for tests of the
// keyserver, valid ones and ones broken in one chosen way.
package keypackagetest

import (
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"time"

	"golang.org/x/crypto/cryptobyte"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
)

// LastResort is the last_resort KeyPackage extension type.
const LastResort mls.ExtensionType = 0x000a

// Options describe a KeyPackage. The zero value gives a valid one-time
// KeyPackage of suite 1 for the device, valid from an hour ago for 30 days.
type Options struct {
	Suite      mls.CipherSuite
	LastResort bool
	// NotBefore and NotAfter override the lifetime.
	NotBefore, NotAfter time.Time
	// Capabilities extends the leaf's capabilities.
	Extensions  []mls.ExtensionType
	Proposals   []mls.ProposalType
	Credentials []mls.CredentialType
	// Edit changes the KeyPackage after it is built and before it is
	// signed, to break one rule.
	Edit func(*mls.KeyPackage)
	// BreakLeafSignature and BreakSignature flip a bit of a signature.
	BreakLeafSignature, BreakSignature bool
}

// New returns the MLSMessage encoding of a KeyPackage of userID's device
// deviceID, as the keyserver expects it uploaded.
func New(userID, deviceID string, o Options) []byte {
	return codec.Marshal(mls.NewKeyPackage(Build(userID, deviceID, o)))
}

// Build returns a signed KeyPackage of userID's device deviceID.
func Build(userID, deviceID string, o Options) *mls.KeyPackage {
	if o.Suite == 0 {
		o.Suite = mls.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519
	}
	now := time.Now()
	if o.NotBefore.IsZero() {
		o.NotBefore = now.Add(-time.Hour)
	}
	if o.NotAfter.IsZero() {
		o.NotAfter = now.Add(30 * 24 * time.Hour)
	}
	signPublic, signPrivate, _ := ed25519.GenerateKey(rand.Reader)
	kp := &mls.KeyPackage{
		Version:     mls.MLS10,
		CipherSuite: o.Suite,
		InitKey:     hpkePublicKey(),
		LeafNode: mls.LeafNode{
			EncryptionKey: hpkePublicKey(),
			SignatureKey:  signPublic,
			Credential:    mls.Credential{Type: mls.CredentialBasic, Identity: []byte(userID + "|" + deviceID)},
			Capabilities: mls.Capabilities{
				Versions:     []mls.ProtocolVersion{mls.MLS10},
				CipherSuites: []mls.CipherSuite{o.Suite},
				Extensions:   o.Extensions,
				Proposals:    o.Proposals,
				Credentials:  append([]mls.CredentialType{mls.CredentialBasic}, o.Credentials...),
			},
			Source:   mls.LeafNodeSourceKeyPackage,
			Lifetime: mls.Lifetime{NotBefore: uint64(o.NotBefore.Unix()), NotAfter: uint64(o.NotAfter.Unix())},
		},
	}
	if o.LastResort {
		kp.Extensions = mls.Extensions{{Type: LastResort}}
	}
	if o.Edit != nil {
		o.Edit(kp)
	}
	kp.LeafNode.Signature = signWithLabel(signPrivate, "LeafNodeTBS", kp.LeafNode.TBS(nil, 0))
	kp.Signature = signWithLabel(signPrivate, "KeyPackageTBS", kp.TBS())
	if o.BreakLeafSignature {
		kp.LeafNode.Signature[0] ^= 1
	}
	if o.BreakSignature {
		kp.Signature[0] ^= 1
	}
	return kp
}

func hpkePublicKey() []byte {
	key, _ := ecdh.X25519().GenerateKey(rand.Reader)
	return key.PublicKey().Bytes()
}

// signWithLabel signs as RFC 9420 §5.1.2 SignWithLabel does for Ed25519.
func signWithLabel(key ed25519.PrivateKey, label string, content codec.Marshaler) []byte {
	var b cryptobyte.Builder
	codec.AddOpaque(&b, []byte("MLS 1.0 "+label))
	codec.AddOpaque(&b, codec.Marshal(content))
	return ed25519.Sign(key, b.BytesOrPanic())
}
