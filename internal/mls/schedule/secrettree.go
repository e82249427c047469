package schedule

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/matrix-org/dendrite/msc4244/internal/mls/cipher"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/treemath"
)

// Errors of the secret tree. Errors returned by SecretTree wrap one of them.
var (
	// ErrUnknownLeaf means a leaf index is outside the tree.
	ErrUnknownLeaf = errors.New("mls secret tree: leaf outside the tree")
	// ErrGenerationTooFar means a generation is further ahead of the
	// ratchet than Limits.MaxForward allows.
	ErrGenerationTooFar = errors.New("mls secret tree: generation too far ahead")
	// ErrGenerationUsed means the key of a generation is gone: it was used
	// already (a replay), or it was skipped and dropped out of the window of
	// retained keys, or the ratchet has used up all 2^32 generations.
	ErrGenerationUsed = errors.New("mls secret tree: generation already used or expired")
)

// RatchetType selects one of the two ratchets of a leaf (RFC 9420 §9.1).
type RatchetType uint8

// The ratchets of a leaf: handshake keys protect proposals and commits,
// application keys application messages.
const (
	HandshakeRatchet RatchetType = iota
	ApplicationRatchet
)

// String returns the RFC 9420 name of the ratchet.
func (r RatchetType) String() string {
	switch r {
	case HandshakeRatchet:
		return "handshake"
	case ApplicationRatchet:
		return "application"
	}
	return fmt.Sprintf("RatchetType(%d)", uint8(r))
}

// Limits bound how far out of order received messages may arrive
// (RFC 9420 §9.2): each is a trade-off between tolerance and forward
// secrecy, and between tolerance and the work a forged generation costs.
type Limits struct {
	// MaxForward is how many generations a received message may skip
	// ahead of the next one expected from its sender.
	MaxForward uint32
	// MaxRetained is how many keys of skipped generations each ratchet
	// keeps for messages that arrive late; the oldest go first. Zero
	// accepts messages in order only (gaps are still allowed).
	MaxRetained int
}

// DefaultLimits allows skipping 1,000 generations and keeps the keys of
// the 64 most recent skipped ones per ratchet.
func DefaultLimits() Limits { return Limits{MaxForward: 1000, MaxRetained: 64} }

// Key is the AEAD key and nonce of one generation of a ratchet.
type Key struct {
	Generation uint32
	Key        []byte
	Nonce      []byte
}

// SecretTree derives the per-sender keys of an epoch from its encryption
// secret (RFC 9420 §9). It is lazy: a leaf's ratchets are derived the first
// time they are used, at the cost of log2(leaves) expansions, and the tree
// holds only the secrets not used up yet — nodes whose children are not
// derived, ratchet heads and retained keys of skipped generations. Every
// secret is deleted as soon as what it derives has been derived (§9.2).
//
// A SecretTree is not safe for concurrent use.
type SecretTree struct {
	suite  *cipher.Suite
	leaves uint32
	limits Limits
	// nodes holds the secrets of nodes whose children are not derived yet.
	nodes map[treemath.NodeIndex][]byte
	// ratchets holds the two ratchets of every leaf derived so far.
	ratchets map[treemath.LeafIndex]*[2]ratchet
}

// ratchet is one hash ratchet of a leaf (RFC 9420 §9.1).
type ratchet struct {
	// next is the generation whose secret is secret; 1<<32 once the ratchet
	// has used up every generation.
	next   uint64
	secret []byte
	// retained holds keys of skipped generations, oldest first.
	retained []Key
}

// NewSecretTree returns the secret tree of an epoch with the given
// encryption secret, for a ratchet tree of leaves leaves (a power of two,
// as RFC 9420 trees are). The tree keeps its own copy of the secret.
func NewSecretTree(s *cipher.Suite, encryptionSecret []byte, leaves uint32, limits Limits) (*SecretTree, error) {
	if leaves == 0 || leaves&(leaves-1) != 0 {
		return nil, fmt.Errorf("mls secret tree: %d leaves, want a power of two", leaves)
	}
	if limits.MaxRetained < 0 {
		return nil, fmt.Errorf("mls secret tree: negative MaxRetained %d", limits.MaxRetained)
	}
	return &SecretTree{
		suite:    s,
		leaves:   leaves,
		limits:   limits,
		nodes:    map[treemath.NodeIndex][]byte{treemath.Root(leaves): append([]byte(nil), encryptionSecret...)},
		ratchets: make(map[treemath.LeafIndex]*[2]ratchet),
	}, nil
}

// Leaves is the number of leaves of the tree.
func (t *SecretTree) Leaves() uint32 { return t.leaves }

// Next returns the key of the next generation of leaf's ratchet typ and
// deletes it: what a member encrypts its own next message with.
func (t *SecretTree) Next(leaf uint32, typ RatchetType) (Key, error) {
	r, err := t.ratchet(leaf, typ)
	if err != nil {
		return Key{}, err
	}
	if r.next > maxGeneration {
		return Key{}, fmt.Errorf("%w: %s ratchet of leaf %d is exhausted", ErrGenerationUsed, typ, leaf)
	}
	gen := uint32(r.next)
	k := t.key(r.secret, gen)
	t.advance(r, gen)
	return k, nil
}

// Key returns the key of generation gen of leaf's ratchet typ, to decrypt
// a received message. It does not use the key up: call Consume once the
// message has been authenticated, so that a forged message cannot make the
// tree ratchet forward. It fails with ErrGenerationTooFar or
// ErrGenerationUsed as Limits and earlier Consume calls dictate. The bytes
// of a returned key may be overwritten when its generation is consumed.
func (t *SecretTree) Key(leaf uint32, typ RatchetType, gen uint32) (Key, error) {
	r, err := t.ratchet(leaf, typ)
	if err != nil {
		return Key{}, err
	}
	if uint64(gen) < r.next {
		if i := r.retainedIndex(gen); i >= 0 {
			return r.retained[i], nil
		}
		return Key{}, fmt.Errorf("%w: generation %d of leaf %d's %s ratchet", ErrGenerationUsed, gen, leaf, typ)
	}
	if err := t.checkForward(r, leaf, typ, gen); err != nil {
		return Key{}, err
	}
	secret := r.secret
	for g := uint32(r.next); g < gen; g++ {
		next := t.chain(secret, g)
		if g > uint32(r.next) {
			clear(secret)
		}
		secret = next
	}
	k := t.key(secret, gen)
	if gen > uint32(r.next) {
		clear(secret)
	}
	return k, nil
}

// Consume deletes the key of generation gen of leaf's ratchet typ after it
// decrypted an authentic message. When gen is ahead of the ratchet, the
// ratchet moves past it and keeps the keys of the generations it skipped,
// up to Limits.MaxRetained of them.
func (t *SecretTree) Consume(leaf uint32, typ RatchetType, gen uint32) error {
	r, err := t.ratchet(leaf, typ)
	if err != nil {
		return err
	}
	if uint64(gen) < r.next {
		i := r.retainedIndex(gen)
		if i < 0 {
			return fmt.Errorf("%w: generation %d of leaf %d's %s ratchet", ErrGenerationUsed, gen, leaf, typ)
		}
		clearKey(&r.retained[i])
		r.retained = append(r.retained[:i], r.retained[i+1:]...)
		return nil
	}
	if err := t.checkForward(r, leaf, typ, gen); err != nil {
		return err
	}
	// Keys older than the last MaxRetained skipped generations would be
	// evicted at once: skip deriving them.
	keepFrom := uint64(0)
	if skipped := uint64(gen) - r.next; skipped > uint64(t.limits.MaxRetained) {
		keepFrom = uint64(gen) - uint64(t.limits.MaxRetained)
	}
	for g := uint32(r.next); g < gen; g++ {
		if uint64(g) >= keepFrom {
			r.retained = append(r.retained, t.key(r.secret, g))
		}
		t.advance(r, g)
	}
	t.advance(r, gen)
	if extra := len(r.retained) - t.limits.MaxRetained; extra > 0 {
		for i := range extra {
			clearKey(&r.retained[i])
		}
		r.retained = append(r.retained[:0], r.retained[extra:]...)
	}
	return nil
}

// maxGeneration is the last generation a ratchet has: generations are
// uint32 on the wire.
const maxGeneration = 1<<32 - 1

// checkForward checks that gen, at or after r.next, is within MaxForward.
func (t *SecretTree) checkForward(r *ratchet, leaf uint32, typ RatchetType, gen uint32) error {
	if r.next > maxGeneration {
		return fmt.Errorf("%w: %s ratchet of leaf %d is exhausted", ErrGenerationUsed, typ, leaf)
	}
	if ahead := uint64(gen) - r.next; ahead > uint64(t.limits.MaxForward) {
		return fmt.Errorf("%w: generation %d is %d past the next of leaf %d's %s ratchet (limit %d)",
			ErrGenerationTooFar, gen, ahead, leaf, typ, t.limits.MaxForward)
	}
	return nil
}

// advance replaces r's secret of generation gen == r.next by the next one.
func (t *SecretTree) advance(r *ratchet, gen uint32) {
	next := t.chain(r.secret, gen)
	clear(r.secret)
	r.secret = next
	r.next = uint64(gen) + 1
}

// chain is ratchet_secret_[j+1] = DeriveTreeSecret(ratchet_secret_[j],
// "secret", j, KDF.Nh) (RFC 9420 §9.1).
func (t *SecretTree) chain(secret []byte, gen uint32) []byte {
	return t.treeSecret(secret, "secret", gen, t.suite.HashLen())
}

// key derives the key and nonce of generation gen from its ratchet secret.
func (t *SecretTree) key(secret []byte, gen uint32) Key {
	return Key{
		Generation: gen,
		Key:        t.treeSecret(secret, "key", gen, t.suite.AEADKeyLen()),
		Nonce:      t.treeSecret(secret, "nonce", gen, t.suite.AEADNonceLen()),
	}
}

// treeSecret is DeriveTreeSecret(secret, label, gen, length) (RFC 9420
// §9.1) for a length every suite supports.
func (t *SecretTree) treeSecret(secret []byte, label string, gen uint32, length int) []byte {
	var context [4]byte
	binary.BigEndian.PutUint32(context[:], gen)
	return expandWithLabel(t.suite, secret, label, context[:], length)
}

// ratchet returns leaf's ratchet typ, deriving the leaf's ratchets on first
// use.
func (t *SecretTree) ratchet(leaf uint32, typ RatchetType) (*ratchet, error) {
	if typ > ApplicationRatchet {
		return nil, fmt.Errorf("mls secret tree: unknown ratchet type %d", typ)
	}
	l := treemath.LeafIndex(leaf)
	if r, ok := t.ratchets[l]; ok {
		return &r[typ], nil
	}
	if !l.InTree(t.leaves) {
		return nil, fmt.Errorf("%w: leaf %d of %d", ErrUnknownLeaf, leaf, t.leaves)
	}
	leafSecret := t.leafSecret(l.NodeIndex())
	r := &[2]ratchet{
		HandshakeRatchet:   {secret: expandNh(t.suite, leafSecret, "handshake", nil)},
		ApplicationRatchet: {secret: expandNh(t.suite, leafSecret, "application", nil)},
	}
	clear(leafSecret)
	t.ratchets[l] = r
	return &r[typ], nil
}

// leafSecret derives the secret of leaf x from the lowest ancestor whose
// secret the tree holds, splitting every node on the way down into its two
// children (RFC 9420 §9) and deleting it. It removes x's secret from the
// tree and returns it.
func (t *SecretTree) leafSecret(x treemath.NodeIndex) []byte {
	n := treemath.Root(t.leaves)
	for n != x {
		left, _ := n.Left()
		right, _ := n.Right()
		if secret, ok := t.nodes[n]; ok {
			t.nodes[left] = expandNh(t.suite, secret, "tree", []byte("left"))
			t.nodes[right] = expandNh(t.suite, secret, "tree", []byte("right"))
			clear(secret)
			delete(t.nodes, n)
		}
		if x < n {
			n = left
		} else {
			n = right
		}
	}
	secret := t.nodes[x]
	delete(t.nodes, x)
	return secret
}

// retainedIndex returns the index of gen's key in r.retained, or -1.
func (r *ratchet) retainedIndex(gen uint32) int {
	for i := range r.retained {
		if r.retained[i].Generation == gen {
			return i
		}
	}
	return -1
}

// clearKey overwrites a deleted key's bytes.
func clearKey(k *Key) {
	clear(k.Key)
	clear(k.Nonce)
}
