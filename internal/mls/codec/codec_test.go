package codec_test

import (
	"bytes"
	"errors"
	"testing"

	"golang.org/x/crypto/cryptobyte"

	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/mlstest"
)

// TestDeserializationVectors checks the varint header of every case in the
// working group's deserialization.json, both ways.
func TestDeserializationVectors(t *testing.T) {
	var cases []struct {
		Header mlstest.Hex `json:"vlbytes_header"`
		Length int         `json:"length"`
	}
	mlstest.Load(t, "deserialization.json", &cases)
	for _, c := range cases {
		d := codec.NewDecoder(c.Header)
		if got := d.Varint(); got != c.Length {
			t.Errorf("header %x: got %d, want %d", []byte(c.Header), got, c.Length)
		}
		if err := d.Finish(); err != nil {
			t.Errorf("header %x: %v", []byte(c.Header), err)
		}
		var b cryptobyte.Builder
		codec.AddVarint(&b, c.Length)
		if enc := b.BytesOrPanic(); !bytes.Equal(enc, c.Header) {
			t.Errorf("length %d: encoded %x, want %x", c.Length, enc, []byte(c.Header))
		}
	}
}

func TestVarintRejects(t *testing.T) {
	for _, tc := range []struct {
		in   []byte
		want error
	}{
		{[]byte{0xc0, 0, 0, 0, 0, 0, 0, 1}, codec.ErrInvalidVarint}, // reserved prefix
		{[]byte{0x40, 0x3f}, codec.ErrInvalidVarint},                // 63 in two bytes
		{[]byte{0x80, 0x00, 0x3f, 0xff}, codec.ErrInvalidVarint},    // 16383 in four bytes
		{[]byte{0x40}, codec.ErrTruncated},
		{[]byte{0x80, 0, 0x40}, codec.ErrTruncated},
		{nil, codec.ErrTruncated},
	} {
		d := codec.NewDecoder(tc.in)
		d.Varint()
		if err := d.Err(); !errors.Is(err, tc.want) {
			t.Errorf("%x: got %v, want %v", tc.in, err, tc.want)
		}
	}
}

type pair struct {
	A uint16
	B []byte
	C []uint32
	D *uint8
}

func (p *pair) MarshalMLS(b *cryptobyte.Builder) {
	b.AddUint16(p.A)
	codec.AddOpaque(b, p.B)
	codec.AddVector(b, func(b *cryptobyte.Builder) {
		for _, c := range p.C {
			b.AddUint32(c)
		}
	})
	codec.AddOptional(b, p.D != nil, func(b *cryptobyte.Builder) { b.AddUint8(*p.D) })
}

func (p *pair) UnmarshalMLS(d *codec.Decoder) {
	p.A = d.Uint16()
	p.B = d.Opaque()
	d.Vector(func(d *codec.Decoder) {
		for !d.Empty() {
			p.C = append(p.C, d.Uint32())
		}
	})
	if d.Optional() {
		v := d.Uint8()
		p.D = &v
	}
}

func TestRoundTripAndErrors(t *testing.T) {
	seven := uint8(7)
	in := pair{A: 513, B: bytes.Repeat([]byte{9}, 70), C: []uint32{1, 2, 3}, D: &seven}
	enc := codec.Marshal(&in)
	var out pair
	if err := codec.Unmarshal(enc, &out); err != nil {
		t.Fatal(err)
	}
	if re := codec.Marshal(&out); !bytes.Equal(re, enc) {
		t.Fatalf("re-encoding differs: %x vs %x", re, enc)
	}
	if err := codec.Unmarshal(append(enc, 0), &out); !errors.Is(err, codec.ErrTrailingData) {
		t.Errorf("trailing byte: got %v", err)
	}
	if err := codec.Unmarshal(enc[:len(enc)-1], &out); !errors.Is(err, codec.ErrTruncated) {
		t.Errorf("truncated: got %v", err)
	}
	bad := bytes.Clone(enc)
	bad[len(bad)-2] = 2 // optional marker
	if err := codec.Unmarshal(bad, &out); !errors.Is(err, codec.ErrInvalidValue) {
		t.Errorf("bad optional: got %v", err)
	}
	// A vector whose body does not divide into whole elements.
	bad = []byte{0, 1, 0, 3, 0, 0, 0, 0}
	if err := codec.Unmarshal(bad, &out); !errors.Is(err, codec.ErrTruncated) {
		t.Errorf("ragged vector: got %v", err)
	}
}

func FuzzDecoder(f *testing.F) {
	f.Add([]byte{0, 1, 0, 4, 0, 0, 0, 1, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		var p pair
		if codec.Unmarshal(data, &p) == nil {
			if re := codec.Marshal(&p); !bytes.Equal(re, data) {
				t.Fatalf("decode→encode not identical: %x vs %x", re, data)
			}
		}
	})
}

// nested writes depth levels of vectors around a body of n octets of 0xab,
// and want builds the same encoding header by header.
func nested(b *cryptobyte.Builder, depth, n int) {
	if depth == 0 {
		b.AddBytes(bytes.Repeat([]byte{0xab}, n))
		return
	}
	codec.AddVector(b, func(b *cryptobyte.Builder) { nested(b, depth-1, n) })
}

func wantNested(depth, n int) []byte {
	body := bytes.Repeat([]byte{0xab}, n)
	for range depth {
		var b cryptobyte.Builder
		codec.AddVarint(&b, len(body))
		body = append(b.BytesOrPanic(), body...)
	}
	return body
}

// TestAddVectorSizes checks vectors whose length headers take one, two and
// four octets, nested, written after other data and into a buffer with
// and without room.
func TestAddVectorSizes(t *testing.T) {
	for _, n := range []int{0, 1, 63, 64, 16383 - 2, 16383, 16384, 70000} {
		for depth := 1; depth <= 3; depth++ {
			want := append([]byte{1, 2, 3}, wantNested(depth, n)...)
			for _, capacity := range []int{0, len(want)} {
				b := cryptobyte.NewBuilder(make([]byte, 0, capacity))
				b.AddBytes([]byte{1, 2, 3})
				nested(b, depth, n)
				if got := b.BytesOrPanic(); !bytes.Equal(got, want) {
					t.Errorf("body %d, depth %d, capacity %d: encoding differs", n, depth, capacity)
				}
			}
		}
	}
}

// TestAddVectorErrors checks that an error set inside a vector fails the
// encoding.
func TestAddVectorErrors(t *testing.T) {
	var b cryptobyte.Builder
	codec.AddVector(&b, func(b *cryptobyte.Builder) {
		b.AddUint8(1)
		b.SetError(errors.New("inner"))
	})
	if _, err := b.Bytes(); err == nil || err.Error() != "inner" {
		t.Errorf("inner error: got %v", err)
	}
}

// BenchmarkNestedVector encodes 1 MiB under five levels of vectors, the
// depth of a commit's encrypted path secrets.
func BenchmarkNestedVector(b *testing.B) {
	const size = 1 << 20
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		var bl cryptobyte.Builder
		nested(&bl, 5, size)
		bl.BytesOrPanic()
	}
}

// TestMarshalReusesNoOutput checks that encodings Marshal returns do not
// share the reused buffer, that an empty encoding is nil, and that Encode
// reports an encoding error without calling its function.
func TestMarshalReusesNoOutput(t *testing.T) {
	seven := uint8(7)
	first := codec.Marshal(&pair{A: 1, B: []byte("first"), D: &seven})
	want := bytes.Clone(first)
	second := codec.Marshal(&pair{A: 2, B: []byte("second")})
	if !bytes.Equal(first, want) || bytes.Equal(first, second) {
		t.Errorf("a later encoding changed an earlier one: %x, then %x", first, second)
	}
	if got := codec.Marshal(emptyValue{}); got != nil {
		t.Errorf("empty encoding %#v, want nil", got)
	}
	called := false
	err := codec.Encode(failing{}, func([]byte) { called = true })
	if err == nil || called {
		t.Errorf("Encode of a failing value: error %v, called %v", err, called)
	}
}

type emptyValue struct{}

func (emptyValue) MarshalMLS(*cryptobyte.Builder) {}

type failing struct{}

func (failing) MarshalMLS(b *cryptobyte.Builder) { b.SetError(errors.New("unencodable")) }
