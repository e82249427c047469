package keypackage

import (
	"fmt"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/cipher"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
)

// DefaultCipherSuite is the profile's default suite, which a claim that
// names none accepts.
const DefaultCipherSuite = uint16(cipher.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519)

// CipherSuiteByName returns the suite with an RFC 9420 §17.1 name, if this
// server implements it.
func CipherSuiteByName(name string) (uint16, bool) {
	s, err := cipher.LookupName(name)
	if err != nil {
		return 0, false
	}
	return uint16(s.ID()), true
}

// CipherSuiteName returns the RFC 9420 name of a suite.
func CipherSuiteName(id uint16) string { return cipher.SuiteID(id).String() }

func lookupSuite(id mls.CipherSuite) (*cipher.Suite, error) {
	s, err := cipher.Lookup(cipher.SuiteID(id))
	if err != nil {
		return nil, fmt.Errorf("cipher suite 0x%04x is not supported", uint16(id))
	}
	return s, nil
}

// checkKeys checks that the KeyPackage's public keys are keys of its suite
// and that both signatures verify under the leaf's signature key: the
// leaf's over LeafNodeTBS (RFC 9420 §7.2; no group context for a
// key_package leaf) and the KeyPackage's over KeyPackageTBS (§10).
func checkKeys(s *cipher.Suite, kp *mls.KeyPackage) error {
	leaf := &kp.LeafNode
	if err := s.ValidateHPKEPublicKey(kp.InitKey); err != nil {
		return fmt.Errorf("init_key: %w", err)
	}
	if err := s.ValidateHPKEPublicKey(leaf.EncryptionKey); err != nil {
		return fmt.Errorf("leaf encryption_key: %w", err)
	}
	if err := s.ValidateSignaturePublicKey(leaf.SignatureKey); err != nil {
		return fmt.Errorf("leaf signature_key: %w", err)
	}
	if err := s.VerifyWithLabel(leaf.SignatureKey, "LeafNodeTBS", codec.Marshal(leaf.TBS(nil, 0)), leaf.Signature); err != nil {
		return fmt.Errorf("leaf node signature: %w", err)
	}
	if err := s.VerifyWithLabel(leaf.SignatureKey, "KeyPackageTBS", codec.Marshal(kp.TBS()), kp.Signature); err != nil {
		return fmt.Errorf("KeyPackage signature: %w", err)
	}
	return nil
}
