package group

import (
	"bytes"
	"errors"
	"testing"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
)

// TestEpochCaches checks what public groups carry from epoch to epoch
// instead of recomputing it: the encoding of ratchet trees is the codec's
// (and holds the current nodes only), and the client counts are the
// members', through removals, updates, paths, adds and foldings.
func TestEpochCaches(t *testing.T) {
	f := newFresh(t, 40) // 79 nodes: more than one run of the tree encoder
	f.ds.clients()
	check := func(g *PublicGroup) {
		t.Helper()
		want := codec.Marshal(g.tree.RatchetTree())
		if got := g.enc.encode(g.tree); !bytes.Equal(got, want) {
			t.Fatalf("epoch %d: the cached encoding differs from the codec's", g.Epoch())
		}
		other := bytes.Clone(want)
		other[len(other)-1] ^= 1
		if !g.enc.equal(g.tree, want) || g.enc.equal(g.tree, other) || g.enc.equal(g.tree, want[:len(want)-1]) {
			t.Fatalf("epoch %d: equal does not tell the encoding from others", g.Epoch())
		}
		held := 0
		for _, r := range g.enc.runs {
			held += len(r.nodes)
		}
		if held != g.tree.RatchetTreeLen() {
			t.Fatalf("epoch %d: the cache holds %d nodes, the tree has %d", g.Epoch(), held, g.tree.RatchetTreeLen())
		}
		if g.cfg.ClientID == nil {
			return
		}
		members := map[string]int{}
		for _, leaf := range g.tree.Members() {
			members[g.cfg.ClientID(&leaf.Credential)]++
		}
		counts := g.clients()
		for id, n := range members {
			if counts.count(id) != n {
				t.Fatalf("epoch %d: client %q counted %d times, is %d", g.Epoch(), id, counts.count(id), n)
			}
		}
		for id := range counts.delta {
			if _, ok := members[id]; !ok && counts.count(id) != 0 {
				t.Fatalf("epoch %d: client %q counted, not a member", g.Epoch(), id)
			}
		}
	}
	check(f.ds)
	for i := range 40 {
		// Leaves 2 to 18 commit once each (their own leaf key is still the
		// KeyPackage's), some removing their neighbour; then the creator.
		committer, opts := f.creator, CommitOptions{ForcePath: true}
		if l := LeafIndex(2 * (i + 1)); l < 20 {
			committer = f.as(t, l)
			if i%3 == 0 {
				opts.Removes = []LeafIndex{l + 1}
			}
		} else if i == 25 {
			// The right half of the tree goes: it shrinks.
			for m := range f.ds.Members() {
				if m.Leaf >= 32 {
					opts.Removes = append(opts.Removes, m.Leaf)
				}
			}
		} else if i%4 == 0 {
			opts.Adds = keyPackages(newBenchMembers(t, f.suite, 100+i, 3))
		}
		pc, err := committer.Commit(opts)
		if err != nil {
			t.Fatal(err)
		}
		f.accept(t, pc, committer)
		if i == 25 && f.ds.tree.LeafCount() != 32 {
			t.Fatalf("%d leaves after removing the right half", f.ds.tree.LeafCount())
		}
		check(f.ds)
		check(f.creator.public)
	}
	// A client already in the group cannot be added again with new keys.
	again, err := newBenchMember(f.suite, string(f.members[5].id.Credential.Identity))
	if err != nil {
		t.Fatal(err)
	}
	staged, err := f.creator.Commit(CommitOptions{Adds: []*mls.KeyPackage{again.bundle.KeyPackage}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.ds.StageCommit(staged.Message.PublicMessage); !errors.Is(err, ErrAlreadyMember) {
		t.Fatalf("a member's client added again: %v", err)
	}
}
