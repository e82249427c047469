package group

import (
	"bytes"
	"slices"
	"time"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/cipher"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
)

// keyPackageTBSLabel is the signature label of KeyPackageTBS (RFC 9420 §10).
const keyPackageTBSLabel = "KeyPackageTBS"

// checkKeyPackage makes the checks of RFC 9420 §10.1 that do not need the
// tree: version and cipher suite are the group's, the init key is a valid
// key distinct from the leaf's encryption key, the KeyPackage's extensions
// are in the leaf's capabilities, and the signature.
func checkKeyPackage(suite *cipher.Suite, ctx *mls.GroupContext, kp *mls.KeyPackage) error {
	switch {
	case kp.Version != ctx.Version:
		return ruled(ErrKeyPackage, "version %v in a group of %v", kp.Version, ctx.Version)
	case kp.CipherSuite != ctx.CipherSuite:
		return ruled(ErrKeyPackage, "cipher suite %v in a group of %v", kp.CipherSuite, ctx.CipherSuite)
	case bytes.Equal(kp.InitKey, kp.LeafNode.EncryptionKey):
		return ruled(ErrKeyPackage, "the init key is the leaf's encryption key")
	}
	if err := suite.ValidateHPKEPublicKey(kp.InitKey); err != nil {
		return ruled(ErrKeyPackage, "init key: %v", err)
	}
	if err := checkUniqueExtensions(kp.Extensions); err != nil {
		return ruled(ErrKeyPackage, "%v", err)
	}
	for i := range kp.Extensions {
		if typ := kp.Extensions[i].Type; !defaultExtension(typ) && !kp.LeafNode.Capabilities.SupportsExtension(typ) {
			return ruled(ErrKeyPackage, "extension %v is not in the leaf's capabilities", typ)
		}
	}
	if err := suite.VerifyWithLabel(kp.LeafNode.SignatureKey, keyPackageTBSLabel, codec.Marshal(kp.TBS()), kp.Signature); err != nil {
		return ruled(ErrKeyPackage, "signature: %v", err)
	}
	return nil
}

// KeyPackageOptions shape a new KeyPackage.
type KeyPackageOptions struct {
	// Lifetime is how long the KeyPackage's leaf is valid, starting an hour
	// before now to allow for clock skew; zero means 90 days.
	Lifetime time.Duration
	// Capabilities replaces the default capabilities: version mls10, the
	// KeyPackage's cipher suite, the credential's type, and the last_resort
	// extension when LastResort is set. The credential's type and any
	// extension used must be listed.
	Capabilities *mls.Capabilities
	// LastResort adds the last_resort extension.
	LastResort bool
	// LeafExtensions and Extensions are added to the leaf and to the
	// KeyPackage.
	LeafExtensions mls.Extensions
	Extensions     mls.Extensions
	// Now is the start of the lifetime; zero means time.Now.
	Now time.Time
}

// KeyPackageBundle is a KeyPackage with the private keys its owner needs
// to join a group it is added with: the init key's and the leaf
// encryption key's.
type KeyPackageBundle struct {
	KeyPackage     *mls.KeyPackage
	InitPriv       []byte
	EncryptionPriv []byte
}

// Ref returns the KeyPackageRef of the bundle's KeyPackage (RFC 9420 §5.2).
func (b *KeyPackageBundle) Ref() ([]byte, error) {
	suite, err := cipher.Lookup(cipher.SuiteID(b.KeyPackage.CipherSuite))
	if err != nil {
		return nil, err
	}
	return suite.MakeKeyPackageRef(codec.Marshal(b.KeyPackage)), nil
}

// NewKeyPackage makes and signs a KeyPackage for the client with
// credential cred and signature key signer (RFC 9420 §10), with fresh init
// and encryption keys.
func NewKeyPackage(suite *cipher.Suite, cred mls.Credential, signer *cipher.Signer, opts KeyPackageOptions) (*KeyPackageBundle, error) {
	initPriv, initPub, err := suite.GenerateHPKEKeyPair()
	if err != nil {
		return nil, err
	}
	encPriv, encPub, err := suite.GenerateHPKEKeyPair()
	if err != nil {
		return nil, err
	}
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	lifetime := opts.Lifetime
	if lifetime == 0 {
		lifetime = 90 * 24 * time.Hour
	}
	start := now.Add(-time.Hour)
	kp := &mls.KeyPackage{
		Version:     mls.MLS10,
		CipherSuite: mls.CipherSuite(suite.ID()),
		InitKey:     initPub,
		LeafNode: mls.LeafNode{
			EncryptionKey: encPub,
			SignatureKey:  signer.PublicKey(),
			Credential:    cred,
			Capabilities:  keyPackageCapabilities(suite, cred.Type, opts),
			Source:        mls.LeafNodeSourceKeyPackage,
			Lifetime:      mls.Lifetime{NotBefore: uint64(start.Unix()), NotAfter: uint64(start.Add(lifetime).Unix())},
			Extensions:    slices.Clone(opts.LeafExtensions),
		},
		Extensions: slices.Clone(opts.Extensions),
	}
	if opts.LastResort {
		kp.Extensions = append(kp.Extensions, mls.Extension{Type: ExtensionLastResort, Data: []byte{}})
	}
	kp.LeafNode.Signature, err = signer.SignWithLabel(leafNodeTBSLabel, codec.Marshal(kp.LeafNode.TBS(nil, 0)))
	if err != nil {
		return nil, err
	}
	kp.Signature, err = signer.SignWithLabel(keyPackageTBSLabel, codec.Marshal(kp.TBS()))
	if err != nil {
		return nil, err
	}
	return &KeyPackageBundle{KeyPackage: kp, InitPriv: initPriv, EncryptionPriv: encPriv}, nil
}

// leafNodeTBSLabel is the signature label of LeafNodeTBS (RFC 9420 §7.2).
const leafNodeTBSLabel = "LeafNodeTBS"

// keyPackageCapabilities returns opts.Capabilities or the defaults.
func keyPackageCapabilities(suite *cipher.Suite, cred mls.CredentialType, opts KeyPackageOptions) mls.Capabilities {
	if opts.Capabilities != nil {
		return *opts.Capabilities
	}
	return defaultCapabilities(suite, cred, opts.LastResort)
}

// defaultCapabilities lists what a leaf of this package supports: mls10,
// the group's suite, its own credential type and, for a last-resort
// KeyPackage, the last_resort extension.
func defaultCapabilities(suite *cipher.Suite, cred mls.CredentialType, lastResort bool) mls.Capabilities {
	c := mls.Capabilities{
		Versions:     []mls.ProtocolVersion{mls.MLS10},
		CipherSuites: []mls.CipherSuite{mls.CipherSuite(suite.ID())},
		Extensions:   []mls.ExtensionType{},
		Proposals:    []mls.ProposalType{},
		Credentials:  []mls.CredentialType{cred},
	}
	if lastResort {
		c.Extensions = append(c.Extensions, ExtensionLastResort)
	}
	return c
}
