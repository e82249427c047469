package cipher

// HKDF (RFC 5869) with a fast path for what MLS and HPKE derive most: one
// block of output from a short info, and an extract from short input.

import (
	"bytes"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"hash"
)

// kdfHash is the hash function of an HKDF.
type kdfHash struct {
	newHash   func() hash.Hash
	size      int // HashLen
	blockSize int // the block size HMAC pads keys to
}

func newKDFHash(newHash func() hash.Hash) kdfHash {
	h := newHash()
	return kdfHash{newHash: newHash, size: h.Size(), blockSize: h.BlockSize()}
}

// maxBlock and maxSize bound the block and output sizes of the hashes MLS
// suites use (SHA-256, SHA-384, SHA-512).
const (
	maxBlock = sha512.BlockSize
	maxSize  = sha512.Size
)

// shortInput is how much HMAC input the fast paths hold on the stack,
// after the padded key: KDFLabels and HPKE's labeled inputs fit, with a
// GroupContext or a KEM context as context.
const shortInput = 256

// digest returns the hash of data in the first h.size octets. It calls
// the one-shot functions directly, which keeps data on the caller's stack.
func (h *kdfHash) digest(data []byte) (d [maxSize]byte) {
	switch h.size {
	case sha256.Size:
		s := sha256.Sum256(data)
		copy(d[:], s[:])
	case sha512.Size384:
		s := sha512.Sum384(data)
		copy(d[:], s[:])
	default:
		s := sha512.Sum512(data)
		copy(d[:], s[:])
	}
	return d
}

// hmacPadded returns HMAC(key, msg) (RFC 2104) in its first h.size
// octets, where buf is h.blockSize octets of room, which it overwrites,
// followed by msg: both hashes are one-shot, with no hash.Hash allocated.
func (h *kdfHash) hmacPadded(key, buf []byte) [maxSize]byte {
	if len(key) > h.blockSize {
		d := h.digest(key)
		key = d[:h.size]
	}
	var k [maxBlock]byte
	copy(k[:], key)
	for i := range h.blockSize {
		buf[i] = k[i] ^ 0x36
	}
	inner := h.digest(buf)
	var outer [maxBlock + maxSize]byte
	for i := range h.blockSize {
		outer[i] = k[i] ^ 0x5c
	}
	copy(outer[h.blockSize:], inner[:h.size])
	return h.digest(outer[:h.blockSize+h.size])
}

// extract is HKDF-Extract(salt, ikm), ikm being the concatenation of the
// parts given: HMAC(salt, ikm), an empty salt standing for HashLen zeros
// as it does for HMAC (RFC 5869 §2.2). Short input is hashed from the
// stack; long input (the info of a Welcome's HPKE, which holds the
// encrypted GroupInfo) is streamed where it is.
func (h *kdfHash) extract(salt []byte, ikm ...[]byte) []byte {
	n := 0
	for _, part := range ikm {
		n += len(part)
	}
	if n > shortInput {
		m := hmac.New(h.newHash, salt)
		for _, part := range ikm {
			m.Write(part)
		}
		return m.Sum(make([]byte, 0, h.size))
	}
	var stack [maxBlock + shortInput]byte
	buf := stack[:h.blockSize]
	for _, part := range ikm {
		buf = append(buf, part...)
	}
	prk := h.hmacPadded(salt, buf)
	return bytes.Clone(prk[:h.size])
}

// expand is HKDF-Expand(prk, info, length) for a length the caller has
// checked (at most 255·HashLen). When length fits one block and info is
// short, the output is the first block, T(1) = HMAC(prk, info || 0x01)
// (RFC 5869 §2.3), computed from the stack: every secret of the key
// schedule, the secret tree and TreeKEM's paths is derived this way.
// crypto/hkdf computes the rest; it fails only on a length out of range or
// in FIPS 140-only mode, which Lookup refuses.
func (h *kdfHash) expand(prk, info []byte, length int) []byte {
	if length > h.size || len(info) >= shortInput {
		out, err := hkdf.Expand(h.newHash, prk, string(info), length)
		if err != nil {
			panic("mls cipher: " + err.Error())
		}
		return out
	}
	var stack [maxBlock + shortInput]byte
	buf := append(stack[:h.blockSize], info...)
	t1 := h.hmacPadded(prk, append(buf, 1))
	return bytes.Clone(t1[:length])
}
