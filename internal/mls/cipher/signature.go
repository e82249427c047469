package cipher

// Signatures (RFC 9420 §5.1.2): Ed25519 and Ed448 (RFC 8032, pure, empty
// context) and ECDSA over P-256/SHA-256, P-384/SHA-384 and P-521/SHA-512
// with DER-encoded signatures, as the TLS 1.3 signature schemes that
// RFC 9420 §17.1 names.

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"hash"

	"github.com/cloudflare/circl/sign/ed448"

	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
)

// signatureScheme is the signature algorithm of a suite.
type signatureScheme interface {
	generate() (priv, pub []byte, err error)
	newSigningKey(priv []byte) (signingKey, error)
	checkPublic(pub []byte) error
	// verifyMessage reports whether sig is a valid signature of msg under
	// pub, or why pub is malformed.
	verifyMessage(pub, msg, sig []byte) (bool, error)
}

// signingKey is a parsed signature private key.
type signingKey interface {
	public() []byte
	sign(msg []byte) ([]byte, error)
}

// Signer is a parsed signature private key of a suite. Signing through a
// Signer saves parsing the key (which costs about as much as signing) on
// every signature. It is safe for concurrent use.
type Signer struct {
	key signingKey
}

// NewSigner parses a signature private key, or fails with ErrInvalidKey.
func (s *Suite) NewSigner(priv []byte) (*Signer, error) {
	key, err := s.sig.newSigningKey(priv)
	if err != nil {
		return nil, fmt.Errorf("%w: signature private key: %v", ErrInvalidKey, err)
	}
	return &Signer{key: key}, nil
}

// PublicKey returns the signature public key of the signer.
func (k *Signer) PublicKey() []byte { return k.key.public() }

// SignWithLabel signs SignContent{label, content} (RFC 9420 §5.1.2).
// content is the encoded structure being signed.
func (k *Signer) SignWithLabel(label string, content []byte) ([]byte, error) {
	return k.SignValueWithLabel(label, rawContent(content))
}

// SignValueWithLabel signs SignContent{label, content}, encoding the
// structure content in place: a large structure (a GroupInfo with the
// ratchet tree) is neither encoded on its own nor copied. It fails when
// content cannot be encoded.
func (k *Signer) SignValueWithLabel(label string, content codec.Marshaler) ([]byte, error) {
	var sig []byte
	var signErr error
	err := codec.Encode(&signContent{label: label, content: content}, func(msg []byte) {
		sig, signErr = k.key.sign(msg)
	})
	if err != nil {
		return nil, err
	}
	return sig, signErr
}

// SignMessage signs an encoded SignContent (see MarshalSignContent).
func (k *Signer) SignMessage(signContent []byte) ([]byte, error) {
	return k.key.sign(signContent)
}

// SignWithLabel signs SignContent{label, content} with the private key
// priv. Use NewSigner to sign more than once with a key.
func (s *Suite) SignWithLabel(priv []byte, label string, content []byte) ([]byte, error) {
	k, err := s.NewSigner(priv)
	if err != nil {
		return nil, err
	}
	return k.SignWithLabel(label, content)
}

// VerifyWithLabel checks that sig is a signature by pub of
// SignContent{label, content} (RFC 9420 §5.1.2). It returns nil or an error
// wrapping ErrInvalidSignature, and also ErrInvalidKey when pub is
// malformed.
func (s *Suite) VerifyWithLabel(pub []byte, label string, content, sig []byte) error {
	return s.VerifyValueWithLabel(pub, label, rawContent(content), sig)
}

// VerifyValueWithLabel is VerifyWithLabel for the structure content,
// encoded in place as by SignValueWithLabel. It also fails, with the
// encoding error, when content cannot be encoded.
func (s *Suite) VerifyValueWithLabel(pub []byte, label string, content codec.Marshaler, sig []byte) error {
	var verifyErr error
	err := codec.Encode(&signContent{label: label, content: content}, func(msg []byte) {
		verifyErr = s.VerifyMessage(pub, msg, sig)
	})
	switch {
	case err != nil:
		return err
	case verifyErr != nil:
		return fmt.Errorf("%w (%s)", verifyErr, label)
	}
	return nil
}

// VerifyMessage checks that sig is a signature by pub of an encoded
// SignContent (see MarshalSignContent), with the errors of
// VerifyWithLabel.
func (s *Suite) VerifyMessage(pub, signContent, sig []byte) error {
	ok, err := s.sig.verifyMessage(pub, signContent, sig)
	switch {
	case err != nil:
		return fmt.Errorf("%w: %w: signature public key: %v", ErrInvalidSignature, ErrInvalidKey, err)
	case !ok:
		return ErrInvalidSignature
	}
	return nil
}

// GenerateSignatureKeyPair returns a fresh random signature key pair.
func (s *Suite) GenerateSignatureKeyPair() (priv, pub []byte, err error) {
	return s.sig.generate()
}

// SignaturePublicKey returns the public key of a signature private key, or
// an error wrapping ErrInvalidKey.
func (s *Suite) SignaturePublicKey(priv []byte) ([]byte, error) {
	k, err := s.NewSigner(priv)
	if err != nil {
		return nil, err
	}
	return k.PublicKey(), nil
}

// ValidateSignaturePublicKey checks that pub is a signature public key of
// the suite: an uncompressed point on the curve for ECDSA, the right length
// for EdDSA (whose points are decoded when verifying). It returns an error
// wrapping ErrInvalidKey otherwise.
func (s *Suite) ValidateSignaturePublicKey(pub []byte) error {
	if err := s.sig.checkPublic(pub); err != nil {
		return fmt.Errorf("%w: signature public key: %v", ErrInvalidKey, err)
	}
	return nil
}

// eddsaScheme is Ed25519 or Ed448 (RFC 8032, pure, empty context).
// Private keys are seeds.
type eddsaScheme struct {
	name          string
	seedSize      int
	publicKeySize int
	// fromSeed expands a seed into the key the sign function takes and the
	// public key.
	fromSeed func(seed []byte) (key, pub []byte)
	sign     func(key, msg []byte) []byte
	verify   func(pub, msg, sig []byte) bool
}

var (
	ed25519Scheme = &eddsaScheme{
		name:          "Ed25519",
		seedSize:      ed25519.SeedSize,
		publicKeySize: ed25519.PublicKeySize,
		fromSeed: func(seed []byte) ([]byte, []byte) {
			key := ed25519.NewKeyFromSeed(seed)
			return key, key.Public().(ed25519.PublicKey)
		},
		sign:   func(key, msg []byte) []byte { return ed25519.Sign(key, msg) },
		verify: func(pub, msg, sig []byte) bool { return ed25519.Verify(pub, msg, sig) },
	}
	ed448Scheme = &eddsaScheme{
		name:          "Ed448",
		seedSize:      ed448.SeedSize,
		publicKeySize: ed448.PublicKeySize,
		fromSeed: func(seed []byte) ([]byte, []byte) {
			key := ed448.NewKeyFromSeed(seed)
			return key, key.Public().(ed448.PublicKey)
		},
		sign:   func(key, msg []byte) []byte { return ed448.Sign(key, msg, "") },
		verify: func(pub, msg, sig []byte) bool { return ed448.Verify(pub, msg, sig, "") },
	}
)

type eddsaKey struct {
	scheme   *eddsaScheme
	key, pub []byte
}

func (e *eddsaScheme) generate() (priv, pub []byte, err error) {
	seed := make([]byte, e.seedSize)
	if _, err := rand.Read(seed); err != nil {
		return nil, nil, err
	}
	_, pub = e.fromSeed(seed)
	return seed, pub, nil
}

func (e *eddsaScheme) newSigningKey(priv []byte) (signingKey, error) {
	if len(priv) != e.seedSize {
		return nil, fmt.Errorf("%s seed of %d bytes, want %d", e.name, len(priv), e.seedSize)
	}
	key, pub := e.fromSeed(priv)
	return &eddsaKey{scheme: e, key: key, pub: pub}, nil
}

// checkPublic checks the length only: the point is decoded (and rejected
// when invalid) by verify.
func (e *eddsaScheme) checkPublic(pub []byte) error {
	if len(pub) != e.publicKeySize {
		return fmt.Errorf("%s public key of %d bytes, want %d", e.name, len(pub), e.publicKeySize)
	}
	return nil
}

func (e *eddsaScheme) verifyMessage(pub, msg, sig []byte) (bool, error) {
	if err := e.checkPublic(pub); err != nil {
		return false, err
	}
	return e.verify(pub, msg, sig), nil
}

func (k *eddsaKey) public() []byte { return bytes.Clone(k.pub) }

func (k *eddsaKey) sign(msg []byte) ([]byte, error) { return k.scheme.sign(k.key, msg), nil }

// ecdsaScheme is ECDSA on a NIST curve with the hash RFC 9420 pairs with
// it. Private keys are big-endian scalars, public keys uncompressed points,
// signatures DER.
type ecdsaScheme struct {
	curve     elliptic.Curve
	newHash   func() hash.Hash
	scalarLen int
}

var (
	ecdsaP256 = ecdsaScheme{elliptic.P256(), sha256.New, 32}
	ecdsaP384 = ecdsaScheme{elliptic.P384(), sha512.New384, 48}
	ecdsaP521 = ecdsaScheme{elliptic.P521(), sha512.New, 66}
)

type ecdsaKey struct {
	scheme ecdsaScheme
	key    *ecdsa.PrivateKey
	pub    []byte
}

func (e ecdsaScheme) generate() (priv, pub []byte, err error) {
	key, err := ecdsa.GenerateKey(e.curve, rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	if priv, err = key.Bytes(); err != nil {
		return nil, nil, err
	}
	if pub, err = key.PublicKey.Bytes(); err != nil {
		return nil, nil, err
	}
	return priv, pub, nil
}

// newSigningKey parses a scalar, accepting it without its leading zero
// bytes as for HPKE keys.
func (e ecdsaScheme) newSigningKey(priv []byte) (signingKey, error) {
	scalar, ok := fixedScalar(priv, e.scalarLen)
	if !ok {
		return nil, fmt.Errorf("ECDSA private key of %d bytes, want %d", len(priv), e.scalarLen)
	}
	key, err := ecdsa.ParseRawPrivateKey(e.curve, scalar)
	if err != nil {
		return nil, err
	}
	pub, err := key.PublicKey.Bytes()
	if err != nil {
		return nil, err
	}
	return &ecdsaKey{scheme: e, key: key, pub: pub}, nil
}

func (e ecdsaScheme) checkPublic(pub []byte) error {
	_, err := ecdsa.ParseUncompressedPublicKey(e.curve, pub)
	return err
}

func (e ecdsaScheme) digest(msg []byte) []byte {
	h := e.newHash()
	h.Write(msg)
	return h.Sum(nil)
}

func (e ecdsaScheme) verifyMessage(pub, msg, sig []byte) (bool, error) {
	key, err := ecdsa.ParseUncompressedPublicKey(e.curve, pub)
	if err != nil {
		return false, err
	}
	return ecdsa.VerifyASN1(key, e.digest(msg), sig), nil
}

func (k *ecdsaKey) public() []byte { return bytes.Clone(k.pub) }

func (k *ecdsaKey) sign(msg []byte) ([]byte, error) {
	sig, err := ecdsa.SignASN1(rand.Reader, k.key, k.scheme.digest(msg))
	if err != nil {
		return nil, errors.Join(errors.New("mls cipher: ECDSA signing failed"), err)
	}
	return sig, nil
}
