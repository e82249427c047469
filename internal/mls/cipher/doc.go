// Package cipher implements the cryptography of the MLS cipher suites 1 to 7
// (RFC 9420 §5, §17.1): hashing, HKDF, HMAC, the AEADs, the labeled
// operations MLS builds on them (ExpandWithLabel, DeriveSecret,
// DeriveTreeSecret, RefHash, SignWithLabel, EncryptWithLabel), signatures
// and HPKE.
//
// Keys are byte strings in the serialised forms RFC 9420 puts on the wire:
// HPKE public keys as SerializePublicKey of RFC 9180 §7.1.1, HPKE private
// keys as SerializePrivateKey, Ed25519/Ed448 private keys as the RFC 8032
// seed and public keys as RFC 8032 encodings, ECDSA private keys as the
// big-endian scalar and public keys as uncompressed SEC 1 points. They can be
// stored and sent as they are. A NIST-curve private key is read as a
// big-endian integer, so one that lost its leading zero bytes (vectors carry
// 65-byte P-521 keys) is accepted. A malformed key is an error wrapping
// ErrInvalidKey, never a panic.
//
// # Why this package implements HPKE itself
//
// RFC 9420 encrypts with HPKE (RFC 9180) in base mode. The standard
// library's crypto/hpke covers the KEMs of suites 1, 2, 3, 5 and 7, but not
// X448 (suites 4 and 6), and its KEM interface has unexported methods, so it
// cannot be extended from outside the standard library. Second, MLS needs an
// operation crypto/hpke does not offer: a Welcome encrypts one GroupSecrets
// per new member with the same HPKE info (an EncryptContext that holds the
// whole encrypted GroupInfo, ratchet tree included). The HPKE key schedule
// (RFC 9180 §5.1) hashes info once per encryption; that hash is the same for
// every recipient, so LabeledSealer computes it once and a commit adding N
// members costs O(N) rather than O(N·|GroupInfo|). So this package builds
// DHKEM on crypto/ecdh (P-256, P-384, P-521) and circl (X25519, X448: for
// X25519 circl is about twice as fast as crypto/ecdh, see kem.go), and the
// key schedule on crypto/hkdf; the tests use crypto/hpke (and circl's HPKE
// for X448) as oracles.
//
// DeriveKeyPair follows RFC 9180 §7.1.3 for every KEM, including the
// rejection sampling of the NIST curves; circl's implementation cannot be
// used because it panics on X448 seeds that are not 56 bytes long and on
// P-521 seeds (circl#486), and MLS derives node keys from secrets of the
// suite's hash length.
//
// # Performance
//
// A Suite is immutable and safe for concurrent use, and so is a
// LabeledSealer and a Signer. Parse a signature private key once with
// NewSigner when signing repeatedly: for Ed25519 and ECDSA parsing costs as
// much as signing.
package cipher
