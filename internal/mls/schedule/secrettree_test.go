package schedule_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/matrix-org/dendrite/msc4244/internal/mls/mlstest"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/schedule"
)

type secretTreeCase struct {
	CipherSuite uint16 `json:"cipher_suite"`
	SenderData  struct {
		SenderDataSecret mlstest.Hex `json:"sender_data_secret"`
		Ciphertext       mlstest.Hex `json:"ciphertext"`
		Key              mlstest.Hex `json:"key"`
		Nonce            mlstest.Hex `json:"nonce"`
	} `json:"sender_data"`
	EncryptionSecret mlstest.Hex `json:"encryption_secret"`
	Leaves           [][]struct {
		Generation       uint32      `json:"generation"`
		HandshakeKey     mlstest.Hex `json:"handshake_key"`
		HandshakeNonce   mlstest.Hex `json:"handshake_nonce"`
		ApplicationKey   mlstest.Hex `json:"application_key"`
		ApplicationNonce mlstest.Hex `json:"application_nonce"`
	} `json:"leaves"`
}

// TestSecretTreeVectors checks the sender data key and nonce and every
// leaf's handshake and application keys of secret-tree.json, consuming
// each generation as a receiver would (so generation 15 is reached by
// skipping ahead).
func TestSecretTreeVectors(t *testing.T) {
	var cases []secretTreeCase
	mlstest.Load(t, "secret-tree.json", &cases)
	keys := 0
	for i, c := range cases {
		s := suite(t, c.CipherSuite)
		at := fmt.Sprintf("case %d (suite %d, %d leaves)", i, c.CipherSuite, len(c.Leaves))
		key, nonce := schedule.SenderDataKey(s, c.SenderData.SenderDataSecret, c.SenderData.Ciphertext)
		equal(t, at+" sender data key", key, c.SenderData.Key)
		equal(t, at+" sender data nonce", nonce, c.SenderData.Nonce)

		tree, err := schedule.NewSecretTree(s, c.EncryptionSecret, uint32(len(c.Leaves)), schedule.DefaultLimits())
		if err != nil {
			t.Fatalf("%s: %v", at, err)
		}
		for leaf, gens := range c.Leaves {
			for _, g := range gens {
				for _, r := range []struct {
					typ        schedule.RatchetType
					key, nonce []byte
				}{
					{schedule.HandshakeRatchet, g.HandshakeKey, g.HandshakeNonce},
					{schedule.ApplicationRatchet, g.ApplicationKey, g.ApplicationNonce},
				} {
					where := fmt.Sprintf("%s leaf %d %s generation %d", at, leaf, r.typ, g.Generation)
					k, err := tree.Key(uint32(leaf), r.typ, g.Generation)
					if err != nil {
						t.Fatalf("%s: %v", where, err)
					}
					if k.Generation != g.Generation {
						t.Errorf("%s: key of generation %d", where, k.Generation)
					}
					equal(t, where+" key", k.Key, r.key)
					equal(t, where+" nonce", k.Nonce, r.nonce)
					if err := tree.Consume(uint32(leaf), r.typ, g.Generation); err != nil {
						t.Fatalf("%s: %v", where, err)
					}
					keys++
				}
			}
		}
	}
	if keys != 1148 {
		t.Errorf("checked %d keys, want 1148", keys)
	}
}

// newTree returns a cs1 secret tree of 8 leaves with limits.
func newTree(t *testing.T, limits schedule.Limits) *schedule.SecretTree {
	t.Helper()
	s := suite(t, 1)
	tree, err := schedule.NewSecretTree(s, make([]byte, s.HashLen()), 8, limits)
	if err != nil {
		t.Fatal(err)
	}
	return tree
}

// TestSecretTreeSenderReceiver checks that what a sender gets from Next is
// what a receiver's tree gives for the same generations.
func TestSecretTreeSenderReceiver(t *testing.T) {
	sender := newTree(t, schedule.DefaultLimits())
	receiver := newTree(t, schedule.DefaultLimits())
	for gen := range uint32(5) {
		sent, err := sender.Next(3, schedule.ApplicationRatchet)
		if err != nil {
			t.Fatal(err)
		}
		if sent.Generation != gen {
			t.Fatalf("Next gave generation %d, want %d", sent.Generation, gen)
		}
		got, err := receiver.Key(3, schedule.ApplicationRatchet, gen)
		if err != nil {
			t.Fatal(err)
		}
		equal(t, fmt.Sprintf("generation %d key", gen), got.Key, sent.Key)
		equal(t, fmt.Sprintf("generation %d nonce", gen), got.Nonce, sent.Nonce)
		if err := receiver.Consume(3, schedule.ApplicationRatchet, gen); err != nil {
			t.Fatal(err)
		}
	}
	hs, err := sender.Next(3, schedule.HandshakeRatchet)
	if err != nil || hs.Generation != 0 {
		t.Fatalf("handshake ratchet: generation %d, %v; want 0: the ratchets are independent", hs.Generation, err)
	}
}

// TestSecretTreeOutOfOrder checks that keys of skipped generations are kept
// for late messages, that Key alone changes nothing, and that every key
// can be used once.
func TestSecretTreeOutOfOrder(t *testing.T) {
	tree := newTree(t, schedule.DefaultLimits())
	const leaf, typ = 5, schedule.ApplicationRatchet
	k0, err := tree.Key(leaf, typ, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tree.Key(leaf, typ, 7); err != nil { // peek only
		t.Fatal(err)
	}
	again, err := tree.Key(leaf, typ, 0)
	if err != nil {
		t.Fatalf("generation 0 after peeking at 7: %v", err)
	}
	equal(t, "generation 0 key", again.Key, k0.Key)

	k7, _ := tree.Key(leaf, typ, 7)
	if err := tree.Consume(leaf, typ, 7); err != nil {
		t.Fatal(err)
	}
	for _, gen := range []uint32{3, 0, 6, 1, 2, 5, 4} {
		if _, err := tree.Key(leaf, typ, gen); err != nil {
			t.Fatalf("late generation %d: %v", gen, err)
		}
		if err := tree.Consume(leaf, typ, gen); err != nil {
			t.Fatalf("late generation %d: %v", gen, err)
		}
	}
	for gen := range uint32(8) {
		if _, err := tree.Key(leaf, typ, gen); !errors.Is(err, schedule.ErrGenerationUsed) {
			t.Errorf("replayed generation %d: %v, want ErrGenerationUsed", gen, err)
		}
		if err := tree.Consume(leaf, typ, gen); !errors.Is(err, schedule.ErrGenerationUsed) {
			t.Errorf("consuming generation %d twice: %v, want ErrGenerationUsed", gen, err)
		}
	}
	k8, err := tree.Key(leaf, typ, 8)
	if err != nil {
		t.Fatal(err)
	}
	if string(k8.Key) == string(k7.Key) {
		t.Error("generations 7 and 8 share a key")
	}
}

// TestSecretTreeLimits checks MaxForward and the eviction of the oldest
// retained keys beyond MaxRetained.
func TestSecretTreeLimits(t *testing.T) {
	tree := newTree(t, schedule.Limits{MaxForward: 10, MaxRetained: 2})
	const leaf, typ = 0, schedule.HandshakeRatchet
	if _, err := tree.Key(leaf, typ, 11); !errors.Is(err, schedule.ErrGenerationTooFar) {
		t.Fatalf("generation 11 with MaxForward 10: %v, want ErrGenerationTooFar", err)
	}
	if err := tree.Consume(leaf, typ, 11); !errors.Is(err, schedule.ErrGenerationTooFar) {
		t.Fatalf("consuming generation 11 with MaxForward 10: %v, want ErrGenerationTooFar", err)
	}
	if _, err := tree.Key(leaf, typ, 10); err != nil {
		t.Fatalf("generation 10 with MaxForward 10: %v", err)
	}
	if err := tree.Consume(leaf, typ, 10); err != nil {
		t.Fatal(err)
	}
	// Retained: 8 and 9 only.
	for gen := range uint32(8) {
		if _, err := tree.Key(leaf, typ, gen); !errors.Is(err, schedule.ErrGenerationUsed) {
			t.Errorf("evicted generation %d: %v, want ErrGenerationUsed", gen, err)
		}
	}
	if err := tree.Consume(leaf, typ, 12); err != nil { // skips 11: evicts 8
		t.Fatal(err)
	}
	if _, err := tree.Key(leaf, typ, 8); !errors.Is(err, schedule.ErrGenerationUsed) {
		t.Errorf("generation 8 after skipping 11: %v, want ErrGenerationUsed", err)
	}
	for _, gen := range []uint32{9, 11} {
		if _, err := tree.Key(leaf, typ, gen); err != nil {
			t.Errorf("retained generation %d: %v", gen, err)
		}
	}
	// The forward limit counts from the next generation, 13.
	if _, err := tree.Key(leaf, typ, 23); err != nil {
		t.Errorf("generation 23, 10 past the next: %v", err)
	}

	strict := newTree(t, schedule.Limits{MaxForward: 5})
	if err := strict.Consume(leaf, typ, 3); err != nil {
		t.Fatal(err)
	}
	if _, err := strict.Key(leaf, typ, 2); !errors.Is(err, schedule.ErrGenerationUsed) {
		t.Errorf("MaxRetained 0 kept generation 2: %v", err)
	}
}

// TestSecretTreeBadInput checks the errors for leaves outside the tree and
// trees that are not full.
func TestSecretTreeBadInput(t *testing.T) {
	tree := newTree(t, schedule.DefaultLimits())
	if _, err := tree.Next(8, schedule.ApplicationRatchet); !errors.Is(err, schedule.ErrUnknownLeaf) {
		t.Errorf("leaf 8 of 8: %v, want ErrUnknownLeaf", err)
	}
	if _, err := tree.Key(1<<31, schedule.HandshakeRatchet, 0); !errors.Is(err, schedule.ErrUnknownLeaf) {
		t.Errorf("leaf 2^31 of 8: %v, want ErrUnknownLeaf", err)
	}
	if _, err := tree.Key(0, 2, 0); err == nil {
		t.Error("ratchet type 2 accepted")
	}
	s := suite(t, 1)
	for _, n := range []uint32{0, 3, 12} {
		if _, err := schedule.NewSecretTree(s, nil, n, schedule.DefaultLimits()); err == nil {
			t.Errorf("tree of %d leaves accepted", n)
		}
	}
	if _, err := schedule.NewSecretTree(s, nil, 4, schedule.Limits{MaxRetained: -1}); err == nil {
		t.Error("negative MaxRetained accepted")
	}
}
