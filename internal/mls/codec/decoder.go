package codec

import (
	"fmt"

	"golang.org/x/crypto/cryptobyte"
)

// Decoder reads MLS-encoded values from a byte string. The first error is
// kept; later reads return zero values and do not advance.
type Decoder struct {
	s   cryptobyte.String
	err error
}

// NewDecoder returns a Decoder over data. Byte slices returned by the
// Decoder alias data: callers that keep them must not modify data.
func NewDecoder(data []byte) *Decoder {
	return &Decoder{s: cryptobyte.String(data)}
}

// Err reports the first error seen, or nil.
func (d *Decoder) Err() error { return d.err }

// Empty reports whether all input has been consumed or an error occurred.
func (d *Decoder) Empty() bool { return d.err != nil || d.s.Empty() }

// Len is the number of unread bytes.
func (d *Decoder) Len() int { return len(d.s) }

// Finish returns the first error, or ErrTrailingData when input remains.
func (d *Decoder) Finish() error {
	if d.err == nil && !d.s.Empty() {
		d.err = fmt.Errorf("%w: %d bytes", ErrTrailingData, len(d.s))
	}
	return d.err
}

// Fail records err unless an earlier error is already recorded. Structure
// decoders use it to reject semantically invalid values; err should wrap
// ErrInvalidValue (see Invalid).
func (d *Decoder) Fail(err error) {
	if d.err == nil {
		d.err = err
	}
}

// Invalid records an ErrInvalidValue with a description.
func (d *Decoder) Invalid(format string, args ...any) {
	d.Fail(fmt.Errorf("%w: %s", ErrInvalidValue, fmt.Sprintf(format, args...)))
}

func (d *Decoder) truncated(what string) {
	d.Fail(fmt.Errorf("%w: reading %s", ErrTruncated, what))
}

// Uint8 reads one octet.
func (d *Decoder) Uint8() uint8 {
	var v uint8
	if d.err == nil && !d.s.ReadUint8(&v) {
		d.truncated("uint8")
	}
	return v
}

// Uint16 reads a big-endian uint16.
func (d *Decoder) Uint16() uint16 {
	var v uint16
	if d.err == nil && !d.s.ReadUint16(&v) {
		d.truncated("uint16")
	}
	return v
}

// Uint32 reads a big-endian uint32.
func (d *Decoder) Uint32() uint32 {
	var v uint32
	if d.err == nil && !d.s.ReadUint32(&v) {
		d.truncated("uint32")
	}
	return v
}

// Uint64 reads a big-endian uint64.
func (d *Decoder) Uint64() uint64 {
	var v uint64
	if d.err == nil && !d.s.ReadUint64(&v) {
		d.truncated("uint64")
	}
	return v
}

// Bool reads a TLS boolean; any octet but 0 or 1 is invalid.
func (d *Decoder) Bool() bool {
	switch d.Uint8() {
	case 0:
		return false
	case 1:
		return true
	default:
		d.Invalid("boolean octet is neither 0 nor 1")
		return false
	}
}

// Optional reads the presence octet of optional<T>.
func (d *Decoder) Optional() bool {
	switch d.Uint8() {
	case 0:
		return false
	case 1:
		return true
	default:
		d.Invalid("optional presence octet is neither 0 nor 1")
		return false
	}
}

// Varint reads an MLS variable-length integer (RFC 9420 §2.1.2), rejecting
// the reserved 0b11 prefix and non-minimal encodings.
func (d *Decoder) Varint() int {
	if d.err != nil {
		return 0
	}
	if d.s.Empty() {
		d.truncated("varint")
		return 0
	}
	prefix := d.s[0] >> 6
	var v uint32
	switch prefix {
	case 0:
		var b uint8
		d.s.ReadUint8(&b)
		return int(b)
	case 1:
		var b uint16
		if !d.s.ReadUint16(&b) {
			d.truncated("varint")
			return 0
		}
		v = uint32(b & 0x3fff)
		if v < 1<<6 {
			d.Fail(fmt.Errorf("%w: %d not minimally encoded", ErrInvalidVarint, v))
			return 0
		}
	case 2:
		if !d.s.ReadUint32(&v) {
			d.truncated("varint")
			return 0
		}
		v &= 0x3fffffff
		if v < 1<<14 {
			d.Fail(fmt.Errorf("%w: %d not minimally encoded", ErrInvalidVarint, v))
			return 0
		}
	default:
		d.Fail(fmt.Errorf("%w: reserved prefix 0b11", ErrInvalidVarint))
		return 0
	}
	return int(v)
}

// Fixed reads exactly n bytes.
func (d *Decoder) Fixed(n int) []byte {
	var v []byte
	if d.err == nil && !d.s.ReadBytes(&v, n) {
		d.truncated(fmt.Sprintf("%d fixed bytes", n))
	}
	return v
}

// Opaque reads opaque<V>. A zero-length vector yields an empty, non-nil
// slice so that re-encoding keeps the same bytes.
func (d *Decoder) Opaque() []byte {
	n := d.Varint()
	if d.err != nil {
		return nil
	}
	if n > len(d.s) {
		d.truncated("opaque vector")
		return nil
	}
	v := d.Fixed(n)
	return v[:len(v):len(v)]
}

// Vector reads a variable-length vector and calls f with a Decoder over its
// body. f typically loops `for !sub.Empty() { ... }`. Errors in the body
// propagate to d; bytes f leaves unread are ErrTrailingData. The Decoder f
// gets is d itself, confined to the body until f returns: nesting costs no
// allocation.
func (d *Decoder) Vector(f func(sub *Decoder)) {
	body := d.Opaque()
	if d.err != nil {
		return
	}
	rest := d.s
	d.s = cryptobyte.String(body)
	f(d)
	d.Finish()
	d.s = rest
}

// Value decodes a nested structure in place.
func (d *Decoder) Value(v Unmarshaler) {
	if d.err == nil {
		v.UnmarshalMLS(d)
	}
}
