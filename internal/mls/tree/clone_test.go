package tree

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// consistent checks tr's caches and indexes against a tree built afresh
// from its exported node list: same tree hash and resolution of every
// node, same members and key lookups.
func consistent(t *testing.T, tr *Tree) {
	t.Helper()
	fresh, err := New(tr.Suite(), tr.RatchetTree())
	if err != nil {
		t.Fatalf("exported tree does not build: %v", err)
	}
	if fresh.nodeCount != tr.nodeCount || fresh.MemberCount() != tr.MemberCount() {
		t.Fatalf("%d nodes, %d members; rebuilt %d, %d", tr.nodeCount, tr.MemberCount(), fresh.nodeCount, fresh.MemberCount())
	}
	for x := range NodeIndex(tr.nodeCount) {
		if !bytes.Equal(tr.nodeHash(x), fresh.nodeHash(x)) {
			t.Fatalf("node %d: cached tree hash is stale", x)
		}
		if got, want := tr.Resolution(x), fresh.Resolution(x); !slices.Equal(got, want) || tr.resolutionSize(x) != len(want) {
			t.Fatalf("node %d: resolution %v (size %d), want %v", x, got, tr.resolutionSize(x), want)
		}
		if key := fresh.publicKey(x); key != nil {
			if y, ok := tr.FindEncryptionKey(key); !ok || y != x {
				t.Fatalf("node %d: key index gives %d, %v", x, y, ok)
			}
		}
	}
	for l, leaf := range fresh.Members() {
		if m, ok := tr.FindSignatureKey(leaf.SignatureKey); !ok || m != l {
			t.Fatalf("leaf %d: signature key index gives %d, %v", l, m, ok)
		}
	}
	if tr.FreeLeaf() != fresh.FreeLeaf() {
		t.Fatalf("free leaf %d, rebuilt %d", tr.FreeLeaf(), fresh.FreeLeaf())
	}
}

// TestCloneIndependence applies random proposals and paths to a tree and
// its clones, checking after every step that each tree is consistent and
// that the others did not change: clones share chunks and key indexes
// copy-on-write.
func TestCloneIndependence(t *testing.T) {
	g := sharedGroup(t, "steady", 150)
	rng := rand.New(rand.NewPCG(1, 2))
	trees := []*Tree{g.tree.Clone()}
	hashes := [][]byte{trees[0].TreeHash()}
	signers := map[string]Signer{}
	for l := range LeafIndex(150) {
		signers[string(g.tree.Leaf(l).SignatureKey)] = g.signers[l]
	}
	done := map[string]int{}
	for step := range 120 {
		i := rng.IntN(len(trees))
		tr := trees[i]
		members := slices.Collect(func(yield func(LeafIndex) bool) {
			for l := range tr.Members() {
				if !yield(l) {
					return
				}
			}
		})
		l := members[rng.IntN(len(members))]
		var what string
		switch op := rng.IntN(5); {
		case op == 0 && len(trees) < 6:
			what = "clone"
			trees = append(trees, tr.Clone())
			hashes = append(hashes, nil)
		case op == 1:
			what = fmt.Sprint("add at ", tr.FreeLeaf())
			leaf, _, signer := testLeaf(t, tr.Suite(), fmt.Sprint("step", step))
			signers[string(leaf.SignatureKey)] = signer
			if _, err := tr.Add(leaf); err != nil {
				t.Fatal(err)
			}
		case op == 2 && len(members) > 2:
			what = fmt.Sprint("remove ", l)
			if err := tr.Remove(l); err != nil {
				t.Fatal(err)
			}
		case op == 3:
			what = fmt.Sprint("update ", l)
			leaf := *tr.Leaf(l)
			_, leaf.EncryptionKey = testKeyPair(t, tr.Suite())
			if err := tr.Update(l, &leaf); err != nil {
				t.Fatal(err)
			}
		default:
			what = fmt.Sprint("path from ", l)
			if _, err := tr.CreateUpdatePath(l, *tr.Leaf(l), signers[string(tr.Leaf(l).SignatureKey)], g.gc, nil); err != nil {
				t.Fatal(err)
			}
		}
		done[what[:4]]++
		hashes[i] = tr.TreeHash()
		for j, other := range trees {
			if hashes[j] == nil {
				hashes[j] = other.TreeHash()
			}
			if !bytes.Equal(other.TreeHash(), hashes[j]) {
				t.Fatalf("step %d (%s on tree %d): tree %d changed", step, what, i, j)
			}
		}
		consistent(t, tr)
	}
	if len(done) != 5 || len(trees) < 3 {
		t.Fatalf("operations done: %v on %d trees", done, len(trees))
	}
	t.Logf("operations done: %v on %d trees", done, len(trees))
	for _, tr := range trees {
		if err := tr.VerifyParentHashes(); err != nil {
			t.Fatal(err)
		}
	}
}

// testKeyPair returns a new HPKE key pair of suite 1.
func testKeyPair(t *testing.T, s interface {
	GenerateHPKEKeyPair() ([]byte, []byte, error)
}) (priv, pub []byte) {
	t.Helper()
	priv, pub, err := s.GenerateHPKEKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	return priv, pub
}
