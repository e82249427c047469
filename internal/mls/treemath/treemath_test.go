package treemath_test

import (
	"slices"
	"testing"

	"github.com/matrix-org/dendrite/msc4244/internal/mls/mlstest"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/treemath"
)

// TestVectors checks every field of every case of tree-math.json.
func TestVectors(t *testing.T) {
	var cases []struct {
		NLeaves uint32             `json:"n_leaves"`
		NNodes  uint32             `json:"n_nodes"`
		Root    treemath.NodeIndex `json:"root"`
		Left    []*treemath.NodeIndex
		Right   []*treemath.NodeIndex
		Parent  []*treemath.NodeIndex
		Sibling []*treemath.NodeIndex
	}
	mlstest.Load(t, "tree-math.json", &cases)
	if len(cases) == 0 {
		t.Fatal("no cases")
	}
	for _, c := range cases {
		if got := treemath.NodeWidth(c.NLeaves); got != c.NNodes {
			t.Errorf("n=%d: treemath.NodeWidth %d, want %d", c.NLeaves, got, c.NNodes)
		}
		if got := treemath.Root(c.NLeaves); got != c.Root {
			t.Errorf("n=%d: treemath.Root %d, want %d", c.NLeaves, got, c.Root)
		}
		for name, field := range map[string]struct {
			want []*treemath.NodeIndex
			f    func(treemath.NodeIndex) (treemath.NodeIndex, bool)
		}{
			"left":    {c.Left, treemath.NodeIndex.Left},
			"right":   {c.Right, treemath.NodeIndex.Right},
			"parent":  {c.Parent, func(x treemath.NodeIndex) (treemath.NodeIndex, bool) { return x.Parent(c.NLeaves) }},
			"sibling": {c.Sibling, func(x treemath.NodeIndex) (treemath.NodeIndex, bool) { return x.Sibling(c.NLeaves) }},
		} {
			if uint32(len(field.want)) != c.NNodes {
				t.Fatalf("n=%d: %s has %d entries, want %d", c.NLeaves, name, len(field.want), c.NNodes)
			}
			for i, want := range field.want {
				got, ok := field.f(treemath.NodeIndex(i))
				if ok != (want != nil) || ok && got != *want {
					t.Errorf("n=%d: %s(%d) = %d, %v; want %v", c.NLeaves, name, i, got, ok, describe(want))
				}
			}
		}
	}
}

func describe(x *treemath.NodeIndex) any {
	if x == nil {
		return "none"
	}
	return *x
}

func TestLeafConversion(t *testing.T) {
	for l := treemath.LeafIndex(0); l < 100; l++ {
		x := l.NodeIndex()
		if !x.IsLeaf() || x.Level() != 0 {
			t.Fatalf("leaf %d: node %d not a leaf", l, x)
		}
		if back, ok := x.LeafIndex(); !ok || back != l {
			t.Fatalf("leaf %d: round trip gave %d, %v", l, back, ok)
		}
		if _, ok := (x + 1).LeafIndex(); ok {
			t.Fatalf("node %d is a parent, treemath.LeafIndex said ok", x+1)
		}
	}
	if treemath.LeafIndex(4).InTree(4) || !treemath.LeafIndex(3).InTree(4) {
		t.Error("treemath.LeafIndex.InTree wrong at the boundary")
	}
}

func TestLevel(t *testing.T) {
	for x, want := range []int{0, 1, 0, 2, 0, 1, 0, 3, 0, 1, 0, 2, 0, 1, 0, 4} {
		if got := treemath.NodeIndex(x).Level(); got != want {
			t.Errorf("level(%d) = %d, want %d", x, got, want)
		}
	}
	if got := treemath.NodeIndex(1<<31 - 1).Level(); got != 31 {
		t.Errorf("level(2^31-1) = %d", got)
	}
}

func TestLeafCountFor(t *testing.T) {
	for members, want := range map[uint32]uint32{0: 1, 1: 1, 2: 2, 3: 4, 4: 4, 5: 8, 1000: 1024, 1024: 1024, 1025: 2048} {
		if got := treemath.LeafCountFor(members); got != want {
			t.Errorf("treemath.LeafCountFor(%d) = %d, want %d", members, got, want)
		}
	}
	if treemath.NodeWidth(0) != 0 {
		t.Error("treemath.NodeWidth(0) != 0")
	}
}

// TestPaths checks direct paths, copaths and common ancestors against
// definitions built from Parent and Sibling alone, for every node of every
// full tree up to 64 leaves.
func TestPaths(t *testing.T) {
	for n := uint32(1); n <= 64; n *= 2 {
		w := treemath.NodeWidth(n)
		if treemath.PathLen(n) != len(treemath.DirectPath(0, n)) {
			t.Errorf("n=%d: treemath.PathLen %d, leaf path %d", n, treemath.PathLen(n), len(treemath.DirectPath(0, n)))
		}
		for x := treemath.NodeIndex(0); uint32(x) < w; x++ {
			var path, copath []treemath.NodeIndex
			for y := x; ; {
				p, ok := y.Parent(n)
				if !ok {
					if y != treemath.Root(n) {
						t.Fatalf("n=%d: walk from %d ended at %d, not the root", n, x, y)
					}
					break
				}
				s, _ := y.Sibling(n)
				path, copath = append(path, p), append(copath, s)
				y = p
			}
			if got := treemath.DirectPath(x, n); !slices.Equal(got, path) {
				t.Errorf("n=%d: treemath.DirectPath(%d) = %v, want %v", n, x, got, path)
			}
			if got := treemath.Copath(x, n); !slices.Equal(got, copath) {
				t.Errorf("n=%d: treemath.Copath(%d) = %v, want %v", n, x, got, copath)
			}
			buf := []treemath.NodeIndex{99}
			if got := treemath.AppendDirectPath(buf, x, n); !slices.Equal(got, append([]treemath.NodeIndex{99}, path...)) {
				t.Errorf("n=%d: treemath.AppendDirectPath(%d) = %v", n, x, got)
			}
			for y := treemath.NodeIndex(0); uint32(y) < w; y++ {
				checkCommonAncestor(t, n, x, y)
			}
		}
		if treemath.DirectPath(treemath.NodeIndex(w), n) != nil || treemath.Copath(treemath.NodeIndex(w), n) != nil {
			t.Errorf("n=%d: paths of a node outside the tree are not empty", n)
		}
	}
}

// checkCommonAncestor compares treemath.CommonAncestor(x, y) with the lowest node of
// x's path (x, then its direct path) that has y in the same walk.
func checkCommonAncestor(t *testing.T, n uint32, x, y treemath.NodeIndex) {
	t.Helper()
	ypath := append([]treemath.NodeIndex{y}, treemath.DirectPath(y, n)...)
	want := treemath.NodeIndex(0)
	for _, a := range append([]treemath.NodeIndex{x}, treemath.DirectPath(x, n)...) {
		if slices.Contains(ypath, a) {
			want = a
			break
		}
	}
	if got := treemath.CommonAncestor(x, y); got != want {
		t.Errorf("n=%d: treemath.CommonAncestor(%d, %d) = %d, want %d", n, x, y, got, want)
	}
	if got := want.IsAncestor(x) && want.IsAncestor(y); !got {
		t.Errorf("n=%d: IsAncestor(%d, {%d, %d}) false", n, want, x, y)
	}
}

func TestNoAnswer(t *testing.T) {
	const n = 8
	if _, ok := treemath.NodeIndex(4).Left(); ok {
		t.Error("Left of a leaf")
	}
	if _, ok := treemath.NodeIndex(4).Right(); ok {
		t.Error("Right of a leaf")
	}
	for _, x := range []treemath.NodeIndex{treemath.Root(n), treemath.NodeIndex(treemath.NodeWidth(n)), 1<<32 - 1} {
		if _, ok := x.Parent(n); ok {
			t.Errorf("Parent(%d) in a tree of %d leaves", x, n)
		}
		if _, ok := x.Sibling(n); ok {
			t.Errorf("Sibling(%d) in a tree of %d leaves", x, n)
		}
	}
	if treemath.NodeIndex(3).IsAncestor(7) || !treemath.NodeIndex(7).IsAncestor(3) || !treemath.NodeIndex(5).IsAncestor(5) {
		t.Error("IsAncestor wrong")
	}
}
