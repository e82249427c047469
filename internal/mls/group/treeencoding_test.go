package group

import (
	"bytes"
	"testing"

	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
)

// TestTreeEncoder checks that the cached encoding of ratchet trees is the
// codec's, epoch after epoch, through the cache's pruning.
func TestTreeEncoder(t *testing.T) {
	f := newFresh(t, 20)
	check := func(g *PublicGroup) {
		t.Helper()
		if got, want := g.enc.encode(g.tree), codec.Marshal(g.tree.RatchetTree()); !bytes.Equal(got, want) {
			t.Fatalf("epoch %d: the cached encoding differs from the codec's", g.Epoch())
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
}
