package tree

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
)

// TestShapes checks the trees the benchmarks use: valid, and every member
// decrypts a commit's path to the committer's commit secret.
func TestShapes(t *testing.T) {
	for _, shape := range []string{"fresh", "steady"} {
		for _, n := range []int{1, 2, 5, 16, 37} {
			t.Run(fmt.Sprint(shape, n), func(t *testing.T) {
				g := sharedGroup(t, shape, n)
				if err := g.tree.Verify(g.params); err != nil {
					t.Fatal(err)
				}
				if g.tree.MemberCount() != n {
					t.Fatalf("%d members", g.tree.MemberCount())
				}
				for _, sender := range []LeafIndex{0, LeafIndex(n / 2), LeafIndex(n - 1)} {
					commitEveryoneDecrypts(t, g, sender)
				}
			})
		}
	}
}

// commitEveryoneDecrypts has sender commit with a path on a copy of g's
// tree, and checks that every other member merges it to the same tree and
// gets the same commit secret, and that the new tree is valid.
func commitEveryoneDecrypts(t *testing.T, g *group, sender LeafIndex) {
	t.Helper()
	created := g.tree.Clone()
	p, err := created.CreateUpdatePath(sender, *g.tree.Leaf(sender), g.signers[sender], g.gc, nil)
	if err != nil {
		t.Fatalf("sender %d: %v", sender, err)
	}
	if err := created.Verify(g.params); err != nil {
		t.Fatalf("sender %d: tree after commit: %v", sender, err)
	}
	enc := codec.Marshal(p.UpdatePath)
	for l := range g.tree.Members() {
		if l == sender {
			continue
		}
		var path mls.UpdatePath
		if err := codec.Unmarshal(enc, &path); err != nil {
			t.Fatal(err)
		}
		merged := g.tree.Clone()
		if err := merged.MergeUpdatePath(sender, &path, nil, g.params); err != nil {
			t.Fatalf("sender %d, receiver %d: %v", sender, l, err)
		}
		if !bytes.Equal(merged.TreeHash(), created.TreeHash()) {
			t.Fatalf("sender %d, receiver %d: tree hash differs", sender, l)
		}
		commitSecret, err := g.private(t, l).DecryptUpdatePath(merged, sender, &path, nil, g.gc)
		if err != nil {
			t.Fatalf("sender %d, receiver %d: %v", sender, l, err)
		}
		if !bytes.Equal(commitSecret, p.CommitSecret) {
			t.Fatalf("sender %d, receiver %d: commit secret differs", sender, l)
		}
	}
}
