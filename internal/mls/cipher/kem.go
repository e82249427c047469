package cipher

// DHKEM (RFC 9180 §4.1) over X25519, X448, P-256, P-384 and P-521.

import (
	"bytes"
	"crypto/ecdh"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"

	"github.com/cloudflare/circl/dh/x25519"
	"github.com/cloudflare/circl/dh/x448"
)

// hpkeVersion starts every labeled HPKE input (RFC 9180 §4).
const hpkeVersion = "HPKE-v1"

// labeledKDF is HKDF with the labels of RFC 9180 §4: every input is
// prefixed with "HPKE-v1" and a suite_id, which differs between the KEM
// ("KEM" || kem_id) and the HPKE key schedule ("HPKE" || kem_id || kdf_id
// || aead_id).
type labeledKDF struct {
	hash    kdfHash
	suiteID []byte
}

// extract is LabeledExtract(salt, label, ikm), ikm being the
// concatenation of the parts given: HKDF-Extract is HMAC(salt, ikm)
// (RFC 5869 §2.2, an empty salt standing for HashLen zeros as it does for
// HMAC), so a large ikm (the info of a Welcome's HPKE, which holds the
// encrypted GroupInfo) is hashed where it is rather than copied.
func (k *labeledKDF) extract(salt []byte, label string, ikm ...[]byte) []byte {
	parts := append([][]byte{[]byte(hpkeVersion), k.suiteID, []byte(label)}, ikm...)
	return k.hash.extract(salt, parts...)
}

// expand is LabeledExpand(prk, label, info, length). Callers keep length
// within 255 times the hash length.
func (k *labeledKDF) expand(prk []byte, label string, info []byte, length int) []byte {
	var stack [shortInput]byte
	in := binary.BigEndian.AppendUint16(stack[:0], uint16(length))
	in = append(in, hpkeVersion...)
	in = append(in, k.suiteID...)
	in = append(in, label...)
	in = append(in, info...)
	return k.hash.expand(prk, in, length)
}

// dhPrivateKey is a parsed KEM private key.
type dhPrivateKey interface {
	// bytes is SerializePrivateKey.
	bytes() []byte
	// publicBytes is SerializePublicKey of the matching public key.
	publicBytes() []byte
	// dh is DH(sk, pk) for a serialised pk, which it validates.
	dh(pk []byte) ([]byte, error)
}

// dhGroup is the Diffie-Hellman group of a DHKEM.
type dhGroup interface {
	generate() (dhPrivateKey, error)
	// newPrivate parses a private key of exactly Nsk bytes.
	newPrivate(sk []byte) (dhPrivateKey, error)
	checkPublic(pk []byte) error
}

// kem is a DHKEM with its parameters (RFC 9180 §7.1).
type kem struct {
	id      uint16
	kdf     labeledKDF
	nsecret int // Nsecret, the KDF's hash length
	nsk     int // Nsk
	npk     int // Npk = Nenc
	// bitmask is the mask DeriveKeyPair applies to the first byte of a
	// candidate scalar on NIST curves, 0 for X25519 and X448 (§7.1.3).
	bitmask byte
	group   dhGroup
}

func newKEM(id uint16, newHash func() hash.Hash, nsk, npk int, bitmask byte, group dhGroup) *kem {
	return &kem{
		id:      id,
		kdf:     labeledKDF{hash: newKDFHash(newHash), suiteID: binary.BigEndian.AppendUint16([]byte("KEM"), id)},
		nsecret: newHash().Size(),
		nsk:     nsk,
		npk:     npk,
		bitmask: bitmask,
		group:   group,
	}
}

// The DHKEMs of RFC 9180 §7.1 that MLS cipher suites use.
var (
	kemP256   = newKEM(0x0010, sha256.New, 32, 65, 0xff, ecdhGroup{ecdh.P256()})
	kemP384   = newKEM(0x0011, sha512.New384, 48, 97, 0xff, ecdhGroup{ecdh.P384()})
	kemP521   = newKEM(0x0012, sha512.New, 66, 133, 0x01, ecdhGroup{ecdh.P521()})
	kemX25519 = newKEM(0x0020, sha256.New, x25519.Size, x25519.Size, 0, x25519Group)
	kemX448   = newKEM(0x0021, sha512.New, x448.Size, x448.Size, 0, x448Group)
)

// parsePrivate is DeserializePrivateKey. On NIST curves a private key is a
// big-endian scalar, and some implementations drop its leading zero bytes
// (vectors carry 65-byte P-521 keys), so it is brought to Nsk bytes first.
func (k *kem) parsePrivate(sk []byte) (dhPrivateKey, error) {
	if k.bitmask != 0 {
		scalar, ok := fixedScalar(sk, k.nsk)
		if !ok {
			return nil, fmt.Errorf("%w: HPKE private key of %d bytes, want %d", ErrInvalidKey, len(sk), k.nsk)
		}
		sk = scalar
	}
	if len(sk) != k.nsk {
		return nil, fmt.Errorf("%w: HPKE private key of %d bytes, want %d", ErrInvalidKey, len(sk), k.nsk)
	}
	key, err := k.group.newPrivate(sk)
	if err != nil {
		return nil, fmt.Errorf("%w: HPKE private key: %v", ErrInvalidKey, err)
	}
	return key, nil
}

// checkPublic is DeserializePublicKey without keeping the result.
func (k *kem) checkPublic(pk []byte) error {
	if len(pk) != k.npk {
		return fmt.Errorf("%w: HPKE public key of %d bytes, want %d", ErrInvalidKey, len(pk), k.npk)
	}
	if err := k.group.checkPublic(pk); err != nil {
		return fmt.Errorf("%w: HPKE public key: %v", ErrInvalidKey, err)
	}
	return nil
}

// fixedScalar returns the big-endian integer b in exactly n bytes, or false
// if it does not fit.
func fixedScalar(b []byte, n int) ([]byte, bool) {
	for len(b) > n && b[0] == 0 {
		b = b[1:]
	}
	switch {
	case len(b) > n:
		return nil, false
	case len(b) == n:
		return b, true
	}
	out := make([]byte, n)
	copy(out[n-len(b):], b)
	return out, true
}

// errDeriveKeyPair is DeriveKeyPairError of RFC 9180 §7.1.3: 256 candidate
// scalars in a row were out of range, which happens with probability below
// 2^-256 on the NIST curves.
var errDeriveKeyPair = errors.New("mls cipher: DeriveKeyPair found no valid scalar")

// deriveKeyPair is DeriveKeyPair(ikm) (RFC 9180 §7.1.3).
func (k *kem) deriveKeyPair(ikm []byte) (dhPrivateKey, error) {
	prk := k.kdf.extract(nil, "dkp_prk", ikm)
	if k.bitmask == 0 {
		return k.group.newPrivate(k.kdf.expand(prk, "sk", nil, k.nsk))
	}
	for counter := range 256 {
		sk := k.kdf.expand(prk, "candidate", []byte{byte(counter)}, k.nsk)
		sk[0] &= k.bitmask
		if key, err := k.group.newPrivate(sk); err == nil {
			return key, nil
		}
	}
	return nil, errDeriveKeyPair
}

// encap is Encap(pkR): a fresh shared secret and its encapsulation enc.
func (k *kem) encap(pkR []byte) (sharedSecret, enc []byte, err error) {
	if len(pkR) != k.npk {
		return nil, nil, fmt.Errorf("%w: HPKE public key of %d bytes, want %d", ErrInvalidKey, len(pkR), k.npk)
	}
	skE, err := k.group.generate()
	if err != nil {
		return nil, nil, err
	}
	dh, err := skE.dh(pkR)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: HPKE public key: %v", ErrInvalidKey, err)
	}
	enc = skE.publicBytes()
	return k.extractAndExpand(dh, enc, pkR), enc, nil
}

// decap is Decap(enc, skR). A malformed enc is an ErrDecrypt: to the
// recipient it is a ciphertext that does not decrypt.
func (k *kem) decap(enc []byte, skR dhPrivateKey) ([]byte, error) {
	if len(enc) != k.npk {
		return nil, fmt.Errorf("%w: KEM output of %d bytes, want %d", ErrDecrypt, len(enc), k.npk)
	}
	dh, err := skR.dh(enc)
	if err != nil {
		return nil, fmt.Errorf("%w: KEM output: %v", ErrDecrypt, err)
	}
	return k.extractAndExpand(dh, enc, skR.publicBytes()), nil
}

// extractAndExpand derives the shared secret from a DH output and the
// kem_context enc || pkRm.
func (k *kem) extractAndExpand(dh, enc, pkR []byte) []byte {
	kemContext := make([]byte, 0, len(enc)+len(pkR))
	kemContext = append(append(kemContext, enc...), pkR...)
	prk := k.kdf.extract(nil, "eae_prk", dh)
	return k.kdf.expand(prk, "shared_secret", kemContext, k.nsecret)
}

// ecdhGroup is a NIST curve of crypto/ecdh. Its NewPrivateKey rejects
// scalars that are zero or not below the group order, and NewPublicKey
// points that are not on the curve.
type ecdhGroup struct{ curve ecdh.Curve }

type ecdhPrivateKey struct{ key *ecdh.PrivateKey }

func (g ecdhGroup) generate() (dhPrivateKey, error) {
	key, err := g.curve.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	return ecdhPrivateKey{key}, nil
}

func (g ecdhGroup) newPrivate(sk []byte) (dhPrivateKey, error) {
	key, err := g.curve.NewPrivateKey(sk)
	if err != nil {
		return nil, err
	}
	return ecdhPrivateKey{key}, nil
}

func (g ecdhGroup) checkPublic(pk []byte) error {
	_, err := g.curve.NewPublicKey(pk)
	return err
}

func (k ecdhPrivateKey) bytes() []byte       { return k.key.Bytes() }
func (k ecdhPrivateKey) publicBytes() []byte { return k.key.PublicKey().Bytes() }

func (k ecdhPrivateKey) dh(pk []byte) ([]byte, error) {
	pub, err := k.key.Curve().NewPublicKey(pk)
	if err != nil {
		return nil, err
	}
	return k.key.ECDH(pub)
}

// montgomeryGroup is X25519 or X448 (RFC 7748) from circl. circl is used
// for X25519 too, where crypto/ecdh has it, because it is about twice as
// fast on amd64 (fixed-base key generation 14 µs against 35 µs, DH 22 µs
// against 33 µs; see BenchmarkEncryptWithLabel), and every HPKE encryption
// and node key derivation does one or both.
//
// Private keys are kept as derived or generated, not clamped: RFC 9180
// §7.1.2 asks SerializePrivateKey to clamp, but its test vectors (and circl)
// keep the unclamped bytes, and clamping does not change the key since DH
// clamps its input.
type montgomeryGroup struct {
	name string
	size int
	// keyGen and shared are circl's KeyGen and Shared on slices of size
	// bytes; shared reports false for a low-order public key.
	keyGen func(pub, sk []byte)
	shared func(out, sk, pub []byte) bool
}

var (
	x25519Group = &montgomeryGroup{
		name:   "X25519",
		size:   x25519.Size,
		keyGen: func(pub, sk []byte) { x25519.KeyGen((*x25519.Key)(pub), (*x25519.Key)(sk)) },
		shared: func(out, sk, pub []byte) bool {
			return x25519.Shared((*x25519.Key)(out), (*x25519.Key)(sk), (*x25519.Key)(pub))
		},
	}
	x448Group = &montgomeryGroup{
		name:   "X448",
		size:   x448.Size,
		keyGen: func(pub, sk []byte) { x448.KeyGen((*x448.Key)(pub), (*x448.Key)(sk)) },
		shared: func(out, sk, pub []byte) bool {
			return x448.Shared((*x448.Key)(out), (*x448.Key)(sk), (*x448.Key)(pub))
		},
	}
)

// montgomeryPrivateKey holds sk and its public key in one buffer.
type montgomeryPrivateKey struct {
	group  *montgomeryGroup
	sk, pk []byte
}

func (g *montgomeryGroup) generate() (dhPrivateKey, error) {
	sk := make([]byte, g.size)
	if _, err := rand.Read(sk); err != nil {
		return nil, err
	}
	return g.newPrivate(sk)
}

func (g *montgomeryGroup) newPrivate(sk []byte) (dhPrivateKey, error) {
	if len(sk) != g.size {
		return nil, fmt.Errorf("%s private key of %d bytes", g.name, len(sk))
	}
	buf := make([]byte, 2*g.size)
	k := &montgomeryPrivateKey{group: g, sk: buf[:g.size], pk: buf[g.size:]}
	copy(k.sk, sk)
	g.keyGen(k.pk, k.sk)
	return k, nil
}

// checkPublic accepts every string of the right length: each is the
// u-coordinate of a point on the curve or its twist, and low-order points
// are caught by dh.
func (g *montgomeryGroup) checkPublic(pk []byte) error {
	if len(pk) != g.size {
		return fmt.Errorf("%s public key of %d bytes", g.name, len(pk))
	}
	return nil
}

func (k *montgomeryPrivateKey) bytes() []byte       { return bytes.Clone(k.sk) }
func (k *montgomeryPrivateKey) publicBytes() []byte { return bytes.Clone(k.pk) }

func (k *montgomeryPrivateKey) dh(pk []byte) ([]byte, error) {
	if err := k.group.checkPublic(pk); err != nil {
		return nil, err
	}
	out := make([]byte, k.group.size)
	if !k.group.shared(out, k.sk, pk) {
		return nil, fmt.Errorf("%s public key of low order", k.group.name)
	}
	return out, nil
}
