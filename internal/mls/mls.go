// Package mls holds the wire format of every RFC 9420 structure: Go types
// that encode to and decode from the TLS presentation language (RFC 9420
// §2.1) through package codec, plus the to-be-signed and to-be-hashed
// encodings the protocol layers need. It does no cryptography and enforces
// no protocol rule beyond what is needed to parse: a select on an unknown
// enum value cannot be parsed and is rejected with an error wrapping
// codec.ErrInvalidValue; everything else (unknown cipher suites, extension
// types, GREASE values in capabilities) is kept as is.
//
// Decoding then encoding any accepted input gives back the same bytes.
// Decoded byte slices alias the input, so callers must not modify the input
// while they hold a decoded value. After a decoding error the destination
// value is partially filled and must be discarded.
package mls

import (
	"fmt"

	"golang.org/x/crypto/cryptobyte"

	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
)

// ProtocolVersion identifies an MLS protocol version (RFC 9420 §6).
type ProtocolVersion uint16

// MLS10 is the only protocol version defined by RFC 9420.
const MLS10 ProtocolVersion = 1

var protocolVersionNames = []string{1: "mls10"}

// String returns the RFC 9420 name of v.
func (v ProtocolVersion) String() string { return enumName("ProtocolVersion", protocolVersionNames, v) }

// CipherSuite identifies an MLS cipher suite (RFC 9420 §5.1, §17.1). Values
// outside the ones below are carried unchanged.
type CipherSuite uint16

// The cipher suites registered by RFC 9420 §17.1.
const (
	MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519        CipherSuite = 1
	MLS_128_DHKEMP256_AES128GCM_SHA256_P256             CipherSuite = 2
	MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519 CipherSuite = 3
	MLS_256_DHKEMX448_AES256GCM_SHA512_Ed448            CipherSuite = 4
	MLS_256_DHKEMP521_AES256GCM_SHA512_P521             CipherSuite = 5
	MLS_256_DHKEMX448_CHACHA20POLY1305_SHA512_Ed448     CipherSuite = 6
	MLS_256_DHKEMP384_AES256GCM_SHA384_P384             CipherSuite = 7
)

// enum is the constraint of the enumerations this package checks on decode.
type enum interface {
	~uint8 | ~uint16
	fmt.Stringer
}

// checkEnum records an ErrInvalidValue in d when v is not in 1..highest:
// every checked MLS enum reserves 0 and numbers its values contiguously.
func checkEnum[E enum](d *codec.Decoder, v, highest E) E {
	if v == 0 || v > highest {
		d.Invalid("unknown %v", v)
	}
	return v
}

// enumName returns names[v] or a "Type(v)" fallback for unnamed values.
func enumName[E ~uint8 | ~uint16](typ string, names []string, v E) string {
	if int(v) < len(names) && names[v] != "" {
		return names[v]
	}
	return fmt.Sprintf("%s(%d)", typ, uint16(v))
}

// addList writes a vector of structures.
func addList[T any, P interface {
	*T
	codec.Marshaler
}](b *cryptobyte.Builder, list []T) {
	codec.AddVector(b, func(b *cryptobyte.Builder) {
		for i := range list {
			P(&list[i]).MarshalMLS(b)
		}
	})
}

// readList reads a vector of structures. An empty vector gives nil.
func readList[T any, P interface {
	*T
	codec.Unmarshaler
}](d *codec.Decoder) []T {
	var list []T
	d.Vector(func(d *codec.Decoder) {
		for !d.Empty() {
			list = append(list, *new(T))
			P(&list[len(list)-1]).UnmarshalMLS(d)
		}
	})
	return list
}

// addUint16s writes a vector of uint16 values.
func addUint16s[T ~uint16](b *cryptobyte.Builder, list []T) {
	codec.AddVector(b, func(b *cryptobyte.Builder) {
		for _, v := range list {
			b.AddUint16(uint16(v))
		}
	})
}

// readUint16s reads a vector of uint16 values without checking them, so that
// unknown and GREASE values (RFC 9420 §13.5) survive a round trip.
func readUint16s[T ~uint16](d *codec.Decoder) []T {
	var list []T
	d.Vector(func(d *codec.Decoder) {
		list = make([]T, 0, d.Len()/2)
		for !d.Empty() {
			list = append(list, T(d.Uint16()))
		}
	})
	return list
}

// errUnencodable is the encoding error for a select whose discriminator has
// no branch. codec.Marshal panics with it: building such a value is a
// programming error, since decoding never produces one.
func errUnencodable(what string, v fmt.Stringer) error {
	return fmt.Errorf("mls: cannot encode %s of %v", what, v)
}

// readNew decodes a new T.
func readNew[T any, P interface {
	*T
	codec.Unmarshaler
}](d *codec.Decoder) P {
	v := P(new(T))
	v.UnmarshalMLS(d)
	return v
}
