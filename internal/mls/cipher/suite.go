package cipher

import (
	"crypto/aes"
	stdcipher "crypto/cipher"
	"crypto/fips140"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"hash"

	"golang.org/x/crypto/chacha20poly1305"
)

// Errors callers branch on. Errors returned by this package wrap one of
// them where it applies.
var (
	// ErrUnsupportedSuite means a cipher suite id is not one of 1 to 7, or
	// the process runs in FIPS 140-only mode, which forbids several of the
	// suites' algorithms.
	ErrUnsupportedSuite = errors.New("mls cipher: unsupported cipher suite")
	// ErrInvalidKey means a public or private key does not parse for the
	// suite: wrong length, not a point on the curve, a scalar out of range,
	// or a Diffie-Hellman input of low order.
	ErrInvalidKey = errors.New("mls cipher: invalid key")
	// ErrInvalidSignature means a signature did not verify.
	ErrInvalidSignature = errors.New("mls cipher: invalid signature")
	// ErrDecrypt means an AEAD or HPKE ciphertext did not decrypt: it, its
	// key, nonce, associated data or KEM output is wrong.
	ErrDecrypt = errors.New("mls cipher: decryption failed")
	// ErrInvalidLength means a requested output length is out of range for
	// the suite's KDF (more than 255 times its hash length).
	ErrInvalidLength = errors.New("mls cipher: invalid output length")
)

// SuiteID is an MLS cipher suite identifier (RFC 9420 §17.1), as it appears
// on the wire.
type SuiteID uint16

// The cipher suites of RFC 9420 §17.1, all of which this package implements.
const (
	MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519        SuiteID = 1
	MLS_128_DHKEMP256_AES128GCM_SHA256_P256             SuiteID = 2
	MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519 SuiteID = 3
	MLS_256_DHKEMX448_AES256GCM_SHA512_Ed448            SuiteID = 4
	MLS_256_DHKEMP521_AES256GCM_SHA512_P521             SuiteID = 5
	MLS_256_DHKEMX448_CHACHA20POLY1305_SHA512_Ed448     SuiteID = 6
	MLS_256_DHKEMP384_AES256GCM_SHA384_P384             SuiteID = 7
)

// String returns the RFC 9420 name of id, or "SuiteID(0x...)" for an id this
// package does not implement.
func (id SuiteID) String() string {
	if s, err := Lookup(id); err == nil {
		return s.name
	}
	return fmt.Sprintf("SuiteID(0x%04x)", uint16(id))
}

// Suite is one MLS cipher suite. It is immutable and safe for concurrent use.
type Suite struct {
	id      SuiteID
	name    string
	newHash func() hash.Hash
	sum     func(data []byte) []byte
	hashLen int
	kdf     kdfHash
	aead    aeadAlg
	kem     *kem
	sig     signatureScheme
	hpke    hpkeSuite
}

var suites = func() []*Suite {
	type row struct {
		id      SuiteID
		name    string
		newHash func() hash.Hash
		sum     func(data []byte) []byte
		aead    aeadAlg
		kem     *kem
		sig     signatureScheme
	}
	rows := []row{
		{MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519, "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519", sha256.New, sum256, aes128GCM, kemX25519, ed25519Scheme},
		{MLS_128_DHKEMP256_AES128GCM_SHA256_P256, "MLS_128_DHKEMP256_AES128GCM_SHA256_P256", sha256.New, sum256, aes128GCM, kemP256, ecdsaP256},
		{MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519, "MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519", sha256.New, sum256, chaCha20Poly1305, kemX25519, ed25519Scheme},
		{MLS_256_DHKEMX448_AES256GCM_SHA512_Ed448, "MLS_256_DHKEMX448_AES256GCM_SHA512_Ed448", sha512.New, sum512, aes256GCM, kemX448, ed448Scheme},
		{MLS_256_DHKEMP521_AES256GCM_SHA512_P521, "MLS_256_DHKEMP521_AES256GCM_SHA512_P521", sha512.New, sum512, aes256GCM, kemP521, ecdsaP521},
		{MLS_256_DHKEMX448_CHACHA20POLY1305_SHA512_Ed448, "MLS_256_DHKEMX448_CHACHA20POLY1305_SHA512_Ed448", sha512.New, sum512, chaCha20Poly1305, kemX448, ed448Scheme},
		{MLS_256_DHKEMP384_AES256GCM_SHA384_P384, "MLS_256_DHKEMP384_AES256GCM_SHA384_P384", sha512.New384, sum384, aes256GCM, kemP384, ecdsaP384},
	}
	list := make([]*Suite, len(rows))
	for i, r := range rows {
		s := &Suite{id: r.id, name: r.name, newHash: r.newHash, sum: r.sum, hashLen: r.newHash().Size(), kdf: newKDFHash(r.newHash), aead: r.aead, kem: r.kem, sig: r.sig}
		s.hpke = newHPKESuite(s)
		list[i] = s
	}
	return list
}()

// Lookup returns the cipher suite id, or an error wrapping
// ErrUnsupportedSuite.
func Lookup(id SuiteID) (*Suite, error) {
	if id == 0 || int(id) > len(suites) {
		return nil, fmt.Errorf("%w: 0x%04x", ErrUnsupportedSuite, uint16(id))
	}
	if fips140.Enforced() {
		return nil, fmt.Errorf("%w: FIPS 140-only mode", ErrUnsupportedSuite)
	}
	return suites[id-1], nil
}

// LookupName returns the cipher suite with the RFC 9420 name name (for
// example "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519"), or an error
// wrapping ErrUnsupportedSuite.
func LookupName(name string) (*Suite, error) {
	for _, s := range suites {
		if s.name == name {
			return Lookup(s.id)
		}
	}
	return nil, fmt.Errorf("%w: %q", ErrUnsupportedSuite, name)
}

// IDs lists the implemented cipher suites in ascending order.
func IDs() []SuiteID {
	ids := make([]SuiteID, len(suites))
	for i, s := range suites {
		ids[i] = s.id
	}
	return ids
}

// ID returns the suite's identifier.
func (s *Suite) ID() SuiteID { return s.id }

// Name returns the suite's RFC 9420 name.
func (s *Suite) Name() string { return s.name }

// HashLen is the output length of the suite's hash, which is also KDF.Nh.
func (s *Suite) HashLen() int { return s.hashLen }

// NewHash returns a new hash.Hash of the suite's hash function.
func (s *Suite) NewHash() hash.Hash { return s.newHash() }

// Hash returns the digest of data under the suite's hash function.
func (s *Suite) Hash(data []byte) []byte { return s.sum(data) }

// One-shot digests, which save allocating a hash.Hash per call.
func sum256(data []byte) []byte { d := sha256.Sum256(data); return d[:] }
func sum384(data []byte) []byte { d := sha512.Sum384(data); return d[:] }
func sum512(data []byte) []byte { d := sha512.Sum512(data); return d[:] }

// Extract is HKDF-Extract(salt, ikm) with the suite's hash (RFC 5869).
func (s *Suite) Extract(salt, ikm []byte) []byte {
	return s.kdf.extract(salt, ikm)
}

// Expand is HKDF-Expand(prk, info, length) with the suite's hash. It fails
// with ErrInvalidLength when length exceeds 255·HashLen.
func (s *Suite) Expand(prk, info []byte, length int) ([]byte, error) {
	if length < 0 || length > 255*s.hashLen {
		return nil, fmt.Errorf("%w: %d bytes from HKDF-Expand", ErrInvalidLength, length)
	}
	return s.kdf.expand(prk, info, length), nil
}

// MAC returns HMAC(key, data) with the suite's hash, data being the
// concatenation of the parts given.
func (s *Suite) MAC(key []byte, data ...[]byte) []byte {
	m := hmac.New(s.newHash, key)
	for _, part := range data {
		m.Write(part)
	}
	return m.Sum(make([]byte, 0, s.hashLen))
}

// VerifyMAC reports, in constant time, whether tag is MAC(key, data).
func (s *Suite) VerifyMAC(key, data, tag []byte) bool {
	return hmac.Equal(s.MAC(key, data), tag)
}

// aeadAlg is an AEAD algorithm with its HPKE identifier (RFC 9180 §7.3).
type aeadAlg struct {
	id       uint16
	keyLen   int
	nonceLen int
	new      func(key []byte) (stdcipher.AEAD, error)
}

func newGCM(key []byte) (stdcipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return stdcipher.NewGCM(block)
}

var (
	aes128GCM        = aeadAlg{id: 0x0001, keyLen: 16, nonceLen: 12, new: newGCM}
	aes256GCM        = aeadAlg{id: 0x0002, keyLen: 32, nonceLen: 12, new: newGCM}
	chaCha20Poly1305 = aeadAlg{id: 0x0003, keyLen: chacha20poly1305.KeySize, nonceLen: chacha20poly1305.NonceSize, new: chacha20poly1305.New}
)

// instance returns the AEAD keyed with key after checking key and nonce
// lengths, which the standard interfaces would otherwise panic on.
func (a aeadAlg) instance(key, nonce []byte) (stdcipher.AEAD, error) {
	if len(key) != a.keyLen {
		return nil, fmt.Errorf("%w: AEAD key of %d bytes, want %d", ErrInvalidKey, len(key), a.keyLen)
	}
	if len(nonce) != a.nonceLen {
		return nil, fmt.Errorf("%w: AEAD nonce of %d bytes, want %d", ErrInvalidLength, len(nonce), a.nonceLen)
	}
	return a.new(key)
}

func (a aeadAlg) seal(key, nonce, aad, plaintext []byte) ([]byte, error) {
	c, err := a.instance(key, nonce)
	if err != nil {
		return nil, err
	}
	return c.Seal(make([]byte, 0, len(plaintext)+c.Overhead()), nonce, plaintext, aad), nil
}

func (a aeadAlg) open(key, nonce, aad, ciphertext []byte) ([]byte, error) {
	c, err := a.instance(key, nonce)
	if err != nil {
		return nil, err
	}
	pt, err := c.Open(nil, nonce, ciphertext, aad)
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt, nil
}

// AEADKeyLen is the key length of the suite's AEAD (AEAD.Nk).
func (s *Suite) AEADKeyLen() int { return s.aead.keyLen }

// AEADNonceLen is the nonce length of the suite's AEAD (AEAD.Nn).
func (s *Suite) AEADNonceLen() int { return s.aead.nonceLen }

// Seal encrypts and authenticates plaintext and authenticates aad with the
// suite's AEAD. It fails only on a key or nonce of the wrong length.
func (s *Suite) Seal(key, nonce, aad, plaintext []byte) ([]byte, error) {
	return s.aead.seal(key, nonce, aad, plaintext)
}

// Open decrypts ciphertext sealed by Seal. It fails with ErrDecrypt when the
// ciphertext or aad is not authentic under key and nonce.
func (s *Suite) Open(key, nonce, aad, ciphertext []byte) ([]byte, error) {
	return s.aead.open(key, nonce, aad, ciphertext)
}
