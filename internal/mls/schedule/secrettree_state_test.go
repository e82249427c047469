package schedule_test

import (
	"bytes"
	"testing"

	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/schedule"
)

// usedTree returns a cs1 tree of 8 leaves that has split nodes, skipped
// and consumed generations, and retained keys, and its encoding.
func usedTree(t testing.TB) (*schedule.SecretTree, []byte) {
	t.Helper()
	s := suite(t, 1)
	tree, err := schedule.NewSecretTree(s, bytes.Repeat([]byte{7}, s.HashLen()), 8, schedule.Limits{MaxForward: 50, MaxRetained: 3})
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		leaf uint32
		typ  schedule.RatchetType
		gen  uint32
	}{{2, schedule.ApplicationRatchet, 5}, {2, schedule.ApplicationRatchet, 3}, {6, schedule.HandshakeRatchet, 0}, {2, schedule.HandshakeRatchet, 1}} {
		if err := tree.Consume(step.leaf, step.typ, step.gen); err != nil {
			t.Fatal(err)
		}
	}
	return tree, codec.Marshal(tree)
}

// TestSecretTreeState checks that a stored tree comes back with the same
// secrets: it encodes to the same bytes and gives the same keys.
func TestSecretTreeState(t *testing.T) {
	tree, state := usedTree(t)
	var restored schedule.SecretTree
	if err := codec.Unmarshal(state, &restored); err != nil {
		t.Fatal(err)
	}
	equal(t, "re-encoded state", codec.Marshal(&restored), state)
	for _, leaf := range []uint32{2, 6, 0, 7} {
		for _, typ := range []schedule.RatchetType{schedule.HandshakeRatchet, schedule.ApplicationRatchet} {
			for _, gen := range []uint32{0, 1, 2, 4, 6, 9} {
				a, errA := tree.Key(leaf, typ, gen)
				b, errB := restored.Key(leaf, typ, gen)
				if (errA == nil) != (errB == nil) || !bytes.Equal(a.Key, b.Key) || !bytes.Equal(a.Nonce, b.Nonce) {
					t.Errorf("leaf %d %s generation %d: original %x %v, restored %x %v", leaf, typ, gen, a.Key, errA, b.Key, errB)
				}
			}
		}
	}
	// The restored tree owns its secrets: clearing the input changes nothing.
	clear(state)
	k, err := restored.Next(7, schedule.ApplicationRatchet)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := tree.Next(7, schedule.ApplicationRatchet)
	equal(t, "key after clearing the stored state", k.Key, want.Key)
}

// TestSecretTreeStateRejects checks that corrupted states are refused.
func TestSecretTreeStateRejects(t *testing.T) {
	_, state := usedTree(t)
	for _, c := range []struct {
		what   string
		offset int
		value  byte
	}{
		{"unknown suite", 1, 9},
		{"leaves not a power of two", 5, 3},
		{"first node outside the tree", 17, 99},
	} {
		bad := bytes.Clone(state)
		bad[c.offset] = c.value
		var tree schedule.SecretTree
		if err := codec.Unmarshal(bad, &tree); err == nil {
			t.Errorf("%s: accepted", c.what)
		}
	}
	for n := range len(state) {
		var tree schedule.SecretTree
		if err := codec.Unmarshal(state[:n], &tree); err == nil {
			t.Errorf("state truncated to %d octets accepted", n)
		}
	}
}

// FuzzSecretTreeState decodes arbitrary states: a state that decodes must
// encode back to the same bytes and serve keys without panicking.
func FuzzSecretTreeState(f *testing.F) {
	_, state := usedTree(f)
	f.Add(state)
	f.Fuzz(func(t *testing.T, data []byte) {
		var tree schedule.SecretTree
		if codec.Unmarshal(data, &tree) != nil {
			return
		}
		if re := codec.Marshal(&tree); !bytes.Equal(re, data) {
			t.Fatalf("decode→encode not identical:\n got %x\nwant %x", re, data)
		}
		for leaf := range min(tree.Leaves(), 4) {
			for gen := range uint32(3) {
				if _, err := tree.Key(leaf, schedule.ApplicationRatchet, gen); err == nil {
					if err := tree.Consume(leaf, schedule.ApplicationRatchet, gen); err != nil {
						t.Fatalf("Consume after Key succeeded: %v", err)
					}
				}
			}
			tree.Next(leaf, schedule.HandshakeRatchet)
		}
	})
}
