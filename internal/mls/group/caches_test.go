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
// through the cache's pruning, and the client counts are the members',
// through removals, updates, paths, adds and foldings.
func TestEpochCaches(t *testing.T) {
	f := newFresh(t, 20)
	f.ds.clients()
	check := func(g *PublicGroup) {
		t.Helper()
		if got, want := g.enc.encode(g.tree), codec.Marshal(g.tree.RatchetTree()); !bytes.Equal(got, want) {
			t.Fatalf("epoch %d: the cached encoding differs from the codec's", g.Epoch())
		}
		if g.cfg.ClientID == nil {
			return
		}
		want := map[string]int{}
		for _, leaf := range g.tree.Members() {
			want[g.cfg.ClientID(&leaf.Credential)]++
		}
		counts := g.clients()
		for id, n := range want {
			if counts.count(id) != n {
				t.Fatalf("epoch %d: client %q counted %d times, is %d", g.Epoch(), id, counts.count(id), n)
			}
		}
		for id := range counts.delta {
			if _, ok := want[id]; !ok && counts.count(id) != 0 {
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
		} else if i%4 == 0 {
			opts.Adds = keyPackages(newBenchMembers(t, f.suite, 100+i, 3))
		}
		pc, err := committer.Commit(opts)
		if err != nil {
			t.Fatal(err)
		}
		f.accept(t, pc, committer)
		check(f.ds)
		check(f.creator.public)
	}
	if n := len(f.ds.enc.leaves) + len(f.ds.enc.parents); n > 2*int(2*f.ds.tree.LeafCount())+64 {
		t.Fatalf("the cache holds %d nodes", n)
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
