// Package codec implements the TLS presentation language as profiled by
// RFC 9420 §2.1: fixed-width big-endian integers, opaque fixed-length byte
// strings, and variable-length vectors whose length is a QUIC-style
// variable-length integer (§2.1.2). It is a thin layer over
// golang.org/x/crypto/cryptobyte that adds the MLS varint and typed errors.
//
// Decoding uses a Decoder with a sticky error: after the first failure every
// read returns a zero value, so struct decoders read field after field and
// check Err once, the way bufio.Scanner is used.
package codec

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"golang.org/x/crypto/cryptobyte"
)

// Decoding errors. Every error returned by a Decoder wraps exactly one of
// these, so callers can classify failures with errors.Is.
var (
	// ErrTruncated means the input ended before a field was complete.
	ErrTruncated = errors.New("mls codec: input truncated")
	// ErrTrailingData means bytes were left over after a complete value.
	ErrTrailingData = errors.New("mls codec: trailing data")
	// ErrInvalidVarint means a vector length header used the reserved 0b11
	// prefix or was not minimally encoded (RFC 9420 §2.1.2).
	ErrInvalidVarint = errors.New("mls codec: invalid variable-length integer")
	// ErrInvalidValue means a field held a value outside its allowed range:
	// an unknown enum, a bad optional marker, a wrong fixed length.
	ErrInvalidValue = errors.New("mls codec: invalid value")
)

// MaxVarint is the largest value the MLS varint can carry: 30 bits.
const MaxVarint = 1<<30 - 1

// Marshaler is implemented by every MLS structure.
type Marshaler interface {
	MarshalMLS(b *cryptobyte.Builder)
}

// Unmarshaler is implemented by every decodable MLS structure. It reads its
// fields from d; failures are recorded in d (see Decoder.Fail).
type Unmarshaler interface {
	UnmarshalMLS(d *Decoder)
}

// Marshal encodes v. MLS structures cannot fail to encode except for
// programming errors (a vector longer than MaxVarint), which panic.
//
// v is encoded into a reused buffer and copied out at its exact size: a
// buffer grown from nothing would be allocated again at every growth, about
// five times the size of a large encoding in all.
func Marshal(v Marshaler) []byte {
	var out []byte
	err := Encode(v, func(enc []byte) {
		if len(enc) > 0 {
			out = append(make([]byte, 0, len(enc)), enc...)
		}
	})
	if err != nil {
		panic(err)
	}
	return out
}

// Encode calls f with the encoding of v in a reused buffer, which f must
// not keep or use after it returns: for encodings that are only hashed,
// signed, encrypted or copied. It returns the encoding error, without
// calling f, when v cannot be encoded.
func Encode(v Marshaler, f func(enc []byte)) error {
	s := scratch.Get().(*scratchSpace)
	s.b = *cryptobyte.NewBuilder(s.buf[:0])
	v.MarshalMLS(&s.b)
	enc, err := s.b.Bytes()
	if err != nil {
		return err
	}
	f(enc)
	if cap(enc) <= maxScratch {
		s.buf = enc[:0]
		scratch.Put(s)
	}
	return nil
}

// scratchSpace is a builder and a buffer for it, reused: a Builder passed
// to an interface method escapes, so making one per encoding would
// allocate.
type scratchSpace struct {
	b   cryptobyte.Builder
	buf []byte
}

// scratch holds scratchSpaces for Encode, with buffers of up to maxScratch
// bytes: a group of 10,000 members has a GroupInfo of about 3 MB.
var scratch = sync.Pool{New: func() any { return new(scratchSpace) }}

const maxScratch = 8 << 20

// MarshalTo appends the encoding of v to dst.
func MarshalTo(dst []byte, v Marshaler) []byte {
	s := scratch.Get().(*scratchSpace)
	defer scratch.Put(s)
	s.b = *cryptobyte.NewBuilder(dst)
	v.MarshalMLS(&s.b)
	out := s.b.BytesOrPanic()
	s.b = cryptobyte.Builder{} // keep no reference to the caller's dst
	return out
}

// Unmarshal decodes exactly one v from data; bytes left over are an error.
func Unmarshal(data []byte, v Unmarshaler) error {
	d := NewDecoder(data)
	v.UnmarshalMLS(d)
	return d.Finish()
}

// AddVarint writes n as an MLS variable-length integer in its minimal form.
func AddVarint(b *cryptobyte.Builder, n int) {
	if n < 0 || n > MaxVarint {
		b.SetError(fmt.Errorf("mls codec: length %d does not fit a varint", n))
		return
	}
	var enc [4]byte
	b.AddBytes(AppendVarint(enc[:0], n))
}

// AppendVarint appends n, which must be in [0, MaxVarint], to dst as an MLS
// variable-length integer in its minimal form (RFC 9420 §2.1.2).
func AppendVarint(dst []byte, n int) []byte {
	switch {
	case n < 1<<6:
		return append(dst, uint8(n))
	case n < 1<<14:
		return binary.BigEndian.AppendUint16(dst, uint16(n)|0x4000)
	default:
		return binary.BigEndian.AppendUint32(dst, uint32(n)|0x80000000)
	}
}

// AddOpaque writes data as opaque<V>.
func AddOpaque(b *cryptobyte.Builder, data []byte) {
	AddVarint(b, len(data))
	b.AddBytes(data)
}

// AddVector writes the bytes produced by f as a variable-length vector.
//
// f writes straight into b after room for the longest length header (four
// octets); the header is then written in its minimal form and the body moved
// back over the room left, which needs no move for bodies of 16 KiB or more.
// Nested vectors thus cost no extra buffer and copy, which for a large
// structure (a commit or a GroupInfo of thousands of members, five or more
// levels deep) would cost several times its size in allocations.
func AddVector(b *cryptobyte.Builder, f func(b *cryptobyte.Builder)) {
	before, err := b.Bytes()
	if err != nil {
		return
	}
	start := len(before)
	b.AddUint32(0) // room for the header
	f(b)
	out, err := b.Bytes()
	if err != nil {
		return
	}
	n := len(out) - start - 4
	if n > MaxVarint {
		b.SetError(fmt.Errorf("mls codec: length %d does not fit a varint", n))
		return
	}
	size := VarintSize(n)
	AppendVarint(out[start:start], n) // over the room, in place
	if size < 4 {
		copy(out[start+size:], out[start+4:])
		b.Unwrite(4 - size)
	}
}

// AddOptional writes optional<T>: a presence octet, then T when present.
func AddOptional(b *cryptobyte.Builder, present bool, f func(b *cryptobyte.Builder)) {
	if !present {
		b.AddUint8(0)
		return
	}
	b.AddUint8(1)
	f(b)
}

// AddBool writes a TLS boolean (one octet, 0 or 1).
func AddBool(b *cryptobyte.Builder, v bool) {
	if v {
		b.AddUint8(1)
	} else {
		b.AddUint8(0)
	}
}

// VarintSize is the number of octets AddVarint uses for n.
func VarintSize(n int) int {
	switch {
	case n < 1<<6:
		return 1
	case n < 1<<14:
		return 2
	default:
		return 4
	}
}
