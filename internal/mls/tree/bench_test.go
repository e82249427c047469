package tree

import (
	"fmt"
	"testing"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
)

// The benchmarks run on groups of 10 to 10,000 members of two shapes:
// fresh (added by one commit without a path: every parent blank, so a path
// encrypts to everyone) and steady (every member has committed once: a path
// encrypts to about log2(n) nodes). The committer is leaf 0 and the
// receiver leaf 1, which derives the longest chain of path secrets.
func benchGroups(b *testing.B, f func(b *testing.B, g *group)) {
	for _, shape := range []string{"fresh", "steady"} {
		for _, n := range []int{10, 100, 1000, 10000} {
			b.Run(fmt.Sprintf("%s/%d", shape, n), func(b *testing.B) {
				g := sharedGroup(b, shape, n)
				b.ReportAllocs()
				f(b, g)
			})
		}
	}
}

// createPath has leaf 0 commit on a copy of g's tree.
func createPath(b *testing.B, g *group) (*Tree, *Path) {
	t := g.tree.Clone()
	p, err := t.CreateUpdatePath(0, *t.Leaf(0), g.signers[0], g.gc, nil)
	if err != nil {
		b.Fatal(err)
	}
	return t, p
}

// BenchmarkTreeHash measures the tree hash after a change to one leaf's
// direct path: the O(log n) nodes on it are hashed again.
func BenchmarkTreeHash(b *testing.B) {
	benchGroups(b, func(b *testing.B, g *group) {
		t := g.tree.Clone()
		t.TreeHash()
		for b.Loop() {
			t.touch(1)
			t.TreeHash()
		}
	})
}

// BenchmarkCreateUpdatePath measures a committer staging its path: clone
// the tree, make and merge the UpdatePath, compute the new tree hash.
func BenchmarkCreateUpdatePath(b *testing.B) {
	benchGroups(b, func(b *testing.B, g *group) {
		for b.Loop() {
			t, _ := createPath(b, g)
			t.TreeHash()
		}
	})
}

// BenchmarkMergeUpdatePath measures the public view (the Delivery Service)
// validating and applying a path on a copy of its tree: path shape, keys,
// parent hash, leaf signature, merge, new tree hash.
func BenchmarkMergeUpdatePath(b *testing.B) {
	benchGroups(b, func(b *testing.B, g *group) {
		_, p := createPath(b, g)
		for b.Loop() {
			t := g.tree.Clone()
			if err := t.MergeUpdatePath(0, p.UpdatePath, nil, g.params); err != nil {
				b.Fatal(err)
			}
			t.TreeHash()
		}
	})
}

// BenchmarkProcessUpdatePath measures a member processing a path: what
// BenchmarkMergeUpdatePath does, then decrypting its path secret and
// deriving the keys above it.
func BenchmarkProcessUpdatePath(b *testing.B) {
	benchGroups(b, func(b *testing.B, g *group) {
		_, p := createPath(b, g)
		k := g.private(b, 1)
		for b.Loop() {
			t := g.tree.Clone()
			if err := t.MergeUpdatePath(0, p.UpdatePath, nil, g.params); err != nil {
				b.Fatal(err)
			}
			if _, err := k.Clone().DecryptUpdatePath(t, 0, p.UpdatePath, nil, g.gc); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkVerify measures what a joiner does with the tree of a Welcome:
// build it from the node list, hash it, check parent hashes and every
// leaf's signature.
func BenchmarkVerify(b *testing.B) {
	benchGroups(b, func(b *testing.B, g *group) {
		nodes := g.tree.RatchetTree()
		for b.Loop() {
			t, err := New(g.tree.Suite(), nodes)
			if err != nil {
				b.Fatal(err)
			}
			t.TreeHash()
			if err := t.Verify(g.params); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkAddAll measures the tree's part of a commit adding n-1 members
// to a group of one: n-1 Adds, then the committer's path, which encrypts to
// nobody (new members get their path secret in the Welcome).
func BenchmarkAddAll(b *testing.B) {
	for _, n := range []int{10, 100, 1000, 10000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			g := sharedGroup(b, "fresh", n)
			first, err := New(g.tree.Suite(), mls.RatchetTree{{Leaf: g.tree.Leaf(0)}})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				t := first.Clone()
				added := make([]LeafIndex, 0, n-1)
				for l := LeafIndex(1); l < LeafIndex(n); l++ {
					at, err := t.Add(g.tree.Leaf(l))
					if err != nil {
						b.Fatal(err)
					}
					added = append(added, at)
				}
				if _, err := t.CreateUpdatePath(0, *t.Leaf(0), g.signers[0], g.gc, added); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkClone measures staging a copy of the tree.
func BenchmarkClone(b *testing.B) {
	benchGroups(b, func(b *testing.B, g *group) {
		g.tree.TreeHash()
		for b.Loop() {
			g.tree.Clone()
		}
	})
}
