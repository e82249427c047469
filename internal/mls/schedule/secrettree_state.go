package schedule

import (
	"maps"
	"math"
	"slices"

	"golang.org/x/crypto/cryptobyte"

	"github.com/matrix-org/dendrite/msc4244/internal/mls/cipher"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/treemath"
)

// A secret tree is stored with the member's state between messages. Its
// encoding, in the presentation language of RFC 9420 §2.1, holds the
// secrets the tree still has and nothing it deleted:
//
//	struct {
//	    uint16 cipher_suite;
//	    uint32 leaves;
//	    uint32 max_forward;
//	    uint32 max_retained;
//	    NodeSecret nodes<V>;        // ascending node index
//	    LeafRatchets ratchets<V>;   // ascending leaf index
//	} SecretTreeState;
//
//	struct { uint32 node; opaque secret<V>; } NodeSecret;
//	struct { uint32 leaf; Ratchet handshake; Ratchet application; } LeafRatchets;
//	struct { uint64 next; opaque secret<V>; RetainedKey retained<V>; } Ratchet;
//	struct { uint32 generation; opaque key<V>; opaque nonce<V>; } RetainedKey;
//
// The encoding is canonical: decoding then encoding gives the same bytes.

// MarshalMLS implements codec.Marshaler.
func (t *SecretTree) MarshalMLS(b *cryptobyte.Builder) {
	b.AddUint16(uint16(t.suite.ID()))
	b.AddUint32(t.leaves)
	b.AddUint32(t.limits.MaxForward)
	b.AddUint32(uint32(t.limits.MaxRetained))
	codec.AddVector(b, func(b *cryptobyte.Builder) {
		for _, n := range slices.Sorted(maps.Keys(t.nodes)) {
			b.AddUint32(uint32(n))
			codec.AddOpaque(b, t.nodes[n])
		}
	})
	codec.AddVector(b, func(b *cryptobyte.Builder) {
		for _, l := range slices.Sorted(maps.Keys(t.ratchets)) {
			b.AddUint32(uint32(l))
			for i := range t.ratchets[l] {
				t.ratchets[l][i].marshal(b)
			}
		}
	})
}

func (r *ratchet) marshal(b *cryptobyte.Builder) {
	b.AddUint64(r.next)
	codec.AddOpaque(b, r.secret)
	codec.AddVector(b, func(b *cryptobyte.Builder) {
		for _, k := range r.retained {
			b.AddUint32(k.Generation)
			codec.AddOpaque(b, k.Key)
			codec.AddOpaque(b, k.Nonce)
		}
	})
}

// UnmarshalMLS implements codec.Unmarshaler. It rejects states this
// package cannot have written: an unknown suite, a tree that is not full,
// nodes or leaves outside it or out of order, secrets and keys of the
// wrong length, retained keys out of order, not behind their ratchet or
// more than MaxRetained. The tree copies the secrets out of the input.
func (t *SecretTree) UnmarshalMLS(d *codec.Decoder) {
	suite, err := cipher.Lookup(cipher.SuiteID(d.Uint16()))
	if err != nil && d.Err() == nil {
		d.Invalid("secret tree: %v", err)
	}
	*t = SecretTree{
		suite:    suite,
		leaves:   d.Uint32(),
		limits:   Limits{MaxForward: d.Uint32()},
		nodes:    make(map[treemath.NodeIndex][]byte),
		ratchets: make(map[treemath.LeafIndex]*[2]ratchet),
	}
	maxRetained := d.Uint32()
	if d.Err() != nil {
		return
	}
	if t.leaves == 0 || t.leaves&(t.leaves-1) != 0 || maxRetained > math.MaxInt32 {
		d.Invalid("secret tree: %d leaves, MaxRetained %d", t.leaves, maxRetained)
		return
	}
	t.limits.MaxRetained = int(maxRetained)
	var last int64 = -1
	d.Vector(func(d *codec.Decoder) {
		for !d.Empty() {
			n := d.Uint32()
			secret := t.secret(d, t.suite.HashLen())
			if int64(n) <= last || !treemath.NodeIndex(n).InTree(t.leaves) {
				d.Invalid("secret tree: node %d out of order or outside the tree", n)
			}
			last = int64(n)
			t.nodes[treemath.NodeIndex(n)] = secret
		}
	})
	last = -1
	d.Vector(func(d *codec.Decoder) {
		for !d.Empty() {
			l := d.Uint32()
			if int64(l) <= last || !treemath.LeafIndex(l).InTree(t.leaves) {
				d.Invalid("secret tree: leaf %d out of order or outside the tree", l)
				return
			}
			last = int64(l)
			r := new([2]ratchet)
			for i := range r {
				t.unmarshalRatchet(d, &r[i])
			}
			t.ratchets[treemath.LeafIndex(l)] = r
		}
	})
}

func (t *SecretTree) unmarshalRatchet(d *codec.Decoder, r *ratchet) {
	r.next = d.Uint64()
	r.secret = t.secret(d, t.suite.HashLen())
	if r.next > maxGeneration+1 {
		d.Invalid("secret tree: ratchet at generation %d", r.next)
		return
	}
	d.Vector(func(d *codec.Decoder) {
		for !d.Empty() {
			k := Key{Generation: d.Uint32()}
			k.Key = t.secret(d, t.suite.AEADKeyLen())
			k.Nonce = t.secret(d, t.suite.AEADNonceLen())
			n := len(r.retained)
			if uint64(k.Generation) >= r.next || n > 0 && k.Generation <= r.retained[n-1].Generation || n == t.limits.MaxRetained {
				d.Invalid("secret tree: retained generation %d out of order, not behind %d, or beyond MaxRetained", k.Generation, r.next)
				return
			}
			r.retained = append(r.retained, k)
		}
	})
}

// secret reads an opaque<V> of length n and copies it, since the tree
// overwrites secrets it deletes.
func (t *SecretTree) secret(d *codec.Decoder, n int) []byte {
	b := d.Opaque()
	if d.Err() == nil && len(b) != n {
		d.Invalid("secret tree: secret of %d octets, want %d", len(b), n)
	}
	return append([]byte(nil), b...)
}
