// Package keypackagetest makes signed MLS KeyPackages for tests of the
// keyserver, valid ones and ones broken in one chosen way.
package keypackagetest

import (
	"time"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/cipher"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
	"github.com/matrix-org/dendrite/msc4244/internal/mlsidentity"
)

// LastResort is the last_resort KeyPackage extension type.
const LastResort mls.ExtensionType = 0x000a

// Options describe a KeyPackage. The zero value gives a valid one-time
// KeyPackage of suite 1 for the device, valid from an hour ago for 30 days.
type Options struct {
	// Suite is the KeyPackage's cipher suite. Keys and signatures of a
	// suite the cipher package lacks are made with suite 1.
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

// Build returns a signed KeyPackage of userID's device deviceID. It panics
// when the cipher package fails to make keys or signatures.
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
	suite, err := cipher.Lookup(cipher.SuiteID(o.Suite))
	if err != nil {
		suite = must(cipher.Lookup(cipher.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519))
	}
	signPrivate, signPublic := must2(suite.GenerateSignatureKeyPair())
	_, initKey := must2(suite.GenerateHPKEKeyPair())
	_, encryptionKey := must2(suite.GenerateHPKEKeyPair())
	kp := &mls.KeyPackage{
		Version:     mls.MLS10,
		CipherSuite: o.Suite,
		InitKey:     initKey,
		LeafNode: mls.LeafNode{
			EncryptionKey: encryptionKey,
			SignatureKey:  signPublic,
			Credential:    mlsidentity.Credential(userID, deviceID),
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
	kp.LeafNode.Signature = must(suite.SignWithLabel(signPrivate, "LeafNodeTBS", codec.Marshal(kp.LeafNode.TBS(nil, 0))))
	kp.Signature = must(suite.SignWithLabel(signPrivate, "KeyPackageTBS", codec.Marshal(kp.TBS())))
	if o.BreakLeafSignature {
		kp.LeafNode.Signature[0] ^= 1
	}
	if o.BreakSignature {
		kp.Signature[0] ^= 1
	}
	return kp
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func must2[T, U any](v T, w U, err error) (T, U) {
	if err != nil {
		panic(err)
	}
	return v, w
}
