package cipher

// HPKE in base mode (RFC 9180 §5) and MLS's EncryptWithLabel and
// DecryptWithLabel on top of it (RFC 9420 §5.1.3).

import (
	"encoding/binary"
	"fmt"

	"golang.org/x/crypto/cryptobyte"

	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
)

// hpkeSuite is the HPKE cipher suite of an MLS suite, with what the base
// mode key schedule has in common for every encryption precomputed.
type hpkeSuite struct {
	kdf labeledKDF
	// pskIDHash is LabeledExtract("", "psk_id_hash", "") for base mode's
	// empty psk_id.
	pskIDHash []byte
}

// hpkeKDFIDs maps a hash length to its HPKE KDF id (RFC 9180 §7.2).
var hpkeKDFIDs = map[int]uint16{32: 0x0001, 48: 0x0002, 64: 0x0003}

func newHPKESuite(s *Suite) hpkeSuite {
	id := []byte("HPKE")
	id = binary.BigEndian.AppendUint16(id, s.kem.id)
	id = binary.BigEndian.AppendUint16(id, hpkeKDFIDs[s.hashLen])
	id = binary.BigEndian.AppendUint16(id, s.aead.id)
	h := hpkeSuite{kdf: labeledKDF{hash: s.kdf, suiteID: id}}
	h.pskIDHash = h.kdf.extract(nil, "psk_id_hash", nil)
	return h
}

// modeBase is HPKE's mode_base (RFC 9180 §5).
const modeBase = 0x00

// keyScheduleContext is mode || psk_id_hash || info_hash (RFC 9180 §5.1):
// everything of the key schedule that depends on info and not on the
// shared secret. info is the concatenation of the parts given.
func (h *hpkeSuite) keyScheduleContext(info ...[]byte) []byte {
	infoHash := h.kdf.extract(nil, "info_hash", info...)
	c := make([]byte, 0, 1+len(h.pskIDHash)+len(infoHash))
	c = append(c, modeBase)
	c = append(c, h.pskIDHash...)
	return append(c, infoHash...)
}

// secret is the key schedule's secret for a shared secret (the psk is empty
// in base mode).
func (h *hpkeSuite) secret(sharedSecret []byte) []byte {
	return h.kdf.extract(sharedSecret, "secret", nil)
}

// keyAndNonce derives the AEAD key and base nonce of the context that the
// key schedule makes from sharedSecret and ksContext. MLS seals one message
// per context, with the base nonce and empty aad.
func (s *Suite) keyAndNonce(sharedSecret, ksContext []byte) (key, nonce []byte) {
	secret := s.hpke.secret(sharedSecret)
	key = s.hpke.kdf.expand(secret, "key", ksContext, s.aead.keyLen)
	nonce = s.hpke.kdf.expand(secret, "base_nonce", ksContext, s.aead.nonceLen)
	return key, nonce
}

// export is Context.Export(exporterContext, length) (RFC 9180 §5.3).
func (s *Suite) export(sharedSecret, ksContext, exporterContext []byte, length int) []byte {
	exporterSecret := s.hpke.kdf.expand(s.hpke.secret(sharedSecret), "exp", ksContext, s.hashLen)
	return s.hpke.kdf.expand(exporterSecret, "sec", exporterContext, length)
}

// LabeledSealer encrypts with EncryptWithLabel under one label and context
// to any number of recipients. It hashes the EncryptContext once, when it
// is made, where EncryptWithLabel hashes it on every call: use it for a
// Welcome's GroupSecrets (the context is the encrypted GroupInfo, the same
// for every new member) and an UpdatePath's path secrets (the context is
// the GroupContext). It is immutable and safe for concurrent use.
type LabeledSealer struct {
	suite     *Suite
	ksContext []byte
}

// NewLabeledSealer returns a LabeledSealer for label and context.
func (s *Suite) NewLabeledSealer(label string, context []byte) *LabeledSealer {
	return &LabeledSealer{suite: s, ksContext: s.labeledContext(label, context)}
}

// labeledContext is the key schedule context of EncryptWithLabel's HPKE
// info, EncryptContext{label, context}, which is hashed in two parts, the
// context where it is: it can be a Welcome's whole encrypted GroupInfo.
func (s *Suite) labeledContext(label string, context []byte) []byte {
	var header cryptobyte.Builder
	addLabel(&header, label)
	codec.AddVarint(&header, len(context))
	return s.hpke.keyScheduleContext(header.BytesOrPanic(), context)
}

// Seal is EncryptWithLabel(pub, label, context, plaintext) for the sealer's
// label and context. It fails with ErrInvalidKey when pub is not a valid
// HPKE public key of the suite.
func (l *LabeledSealer) Seal(pub, plaintext []byte) (kemOutput, ciphertext []byte, err error) {
	sharedSecret, kemOutput, err := l.suite.kem.encap(pub)
	if err != nil {
		return nil, nil, err
	}
	key, nonce := l.suite.keyAndNonce(sharedSecret, l.ksContext)
	ciphertext, err = l.suite.aead.seal(key, nonce, nil, plaintext)
	if err != nil {
		return nil, nil, err
	}
	return kemOutput, ciphertext, nil
}

// EncryptWithLabel is SealBase(pub, EncryptContext{label, context}, "",
// plaintext) (RFC 9420 §5.1.3). It fails with ErrInvalidKey when pub is not
// a valid HPKE public key of the suite.
func (s *Suite) EncryptWithLabel(pub []byte, label string, context, plaintext []byte) (kemOutput, ciphertext []byte, err error) {
	return s.NewLabeledSealer(label, context).Seal(pub, plaintext)
}

// DecryptWithLabel is OpenBase(kemOutput, priv, EncryptContext{label,
// context}, "", ciphertext) (RFC 9420 §5.1.3). It fails with ErrInvalidKey
// when priv is malformed and with ErrDecrypt when kemOutput or ciphertext
// is.
func (s *Suite) DecryptWithLabel(priv []byte, label string, context, kemOutput, ciphertext []byte) ([]byte, error) {
	sharedSecret, err := s.decap(priv, kemOutput)
	if err != nil {
		return nil, err
	}
	key, nonce := s.keyAndNonce(sharedSecret, s.labeledContext(label, context))
	return s.aead.open(key, nonce, nil, ciphertext)
}

// HPKEExportSend is SetupBaseS(pub, info) followed by Export(exporterContext,
// length) (RFC 9180 §5.3), as an external commit derives its init_secret
// (RFC 9420 §8.3). It returns the KEM output to send and the secret.
func (s *Suite) HPKEExportSend(pub, info, exporterContext []byte, length int) (kemOutput, secret []byte, err error) {
	if err := s.checkExportLength(length); err != nil {
		return nil, nil, err
	}
	sharedSecret, kemOutput, err := s.kem.encap(pub)
	if err != nil {
		return nil, nil, err
	}
	return kemOutput, s.export(sharedSecret, s.hpke.keyScheduleContext(info), exporterContext, length), nil
}

// HPKEExportReceive is SetupBaseR(kemOutput, priv, info) followed by
// Export(exporterContext, length): the secret HPKEExportSend returned.
func (s *Suite) HPKEExportReceive(priv, kemOutput, info, exporterContext []byte, length int) ([]byte, error) {
	if err := s.checkExportLength(length); err != nil {
		return nil, err
	}
	sharedSecret, err := s.decap(priv, kemOutput)
	if err != nil {
		return nil, err
	}
	return s.export(sharedSecret, s.hpke.keyScheduleContext(info), exporterContext, length), nil
}

// decap parses priv and decapsulates kemOutput with it.
func (s *Suite) decap(priv, kemOutput []byte) ([]byte, error) {
	skR, err := s.kem.parsePrivate(priv)
	if err != nil {
		return nil, err
	}
	return s.kem.decap(kemOutput, skR)
}

func (s *Suite) checkExportLength(length int) error {
	if length < 0 || length > 255*s.hashLen {
		return fmt.Errorf("%w: %d bytes from HPKE Export", ErrInvalidLength, length)
	}
	return nil
}

// GenerateHPKEKeyPair returns a fresh random HPKE key pair.
func (s *Suite) GenerateHPKEKeyPair() (priv, pub []byte, err error) {
	key, err := s.kem.group.generate()
	if err != nil {
		return nil, nil, err
	}
	return key.bytes(), key.publicBytes(), nil
}

// DeriveHPKEKeyPair is the KEM's DeriveKeyPair(ikm) (RFC 9180 §7.1.3), as
// MLS derives node keys from node secrets (RFC 9420 §7.4) and the external
// key pair from the external secret (§8.3).
func (s *Suite) DeriveHPKEKeyPair(ikm []byte) (priv, pub []byte, err error) {
	key, err := s.kem.deriveKeyPair(ikm)
	if err != nil {
		return nil, nil, err
	}
	return key.bytes(), key.publicBytes(), nil
}

// HPKEPublicKey returns the public key of priv, or an error wrapping
// ErrInvalidKey.
func (s *Suite) HPKEPublicKey(priv []byte) ([]byte, error) {
	key, err := s.kem.parsePrivate(priv)
	if err != nil {
		return nil, err
	}
	return key.publicBytes(), nil
}

// ValidateHPKEPublicKey checks that pub is an HPKE public key of the suite:
// the right length and, on NIST curves, a point on the curve. It returns an
// error wrapping ErrInvalidKey otherwise.
func (s *Suite) ValidateHPKEPublicKey(pub []byte) error {
	return s.kem.checkPublic(pub)
}
