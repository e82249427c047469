package tree

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/cipher"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
)

var updateFuzzSeeds = flag.Bool("update-fuzz-seeds", false, "rewrite testdata/fuzz from freshly built trees")

// ourErrors are the errors this package's functions may return.
var ourErrors = []error{
	ErrMalformedTree, ErrUnmergedLeaves, ErrDuplicateEncryptionKey, ErrDuplicateSignatureKey,
	ErrParentHash, ErrPublicKey, ErrBlankLeaf, ErrLeafSignature, ErrLeafSource, ErrCapabilities,
	ErrUnsupportedExtension, ErrCredentialType, ErrLifetime, ErrPathLength, ErrPathCiphertexts,
	ErrPathSecret, ErrPrivateKey, ErrNoPrivateKey,
}

// checkOurs fails unless err is nil or one of ours.
func checkOurs(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	for _, e := range ourErrors {
		if errors.Is(err, e) {
			return
		}
	}
	t.Fatalf("error of no known kind: %v", err)
}

// FuzzNew builds a tree from any node list (the first octet picks the
// cipher suite) and, when that succeeds, exercises every read-only
// operation and the proposals on it: nothing may panic, the export must
// give the input back, and errors must name a rule.
func FuzzNew(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		suite, err := cipher.Lookup(cipher.SuiteID(data[0]%7 + 1))
		if err != nil {
			t.Fatal(err)
		}
		var rt mls.RatchetTree
		if codec.Unmarshal(data[1:], &rt) != nil {
			return
		}
		tr, err := New(suite, rt)
		checkOurs(t, err)
		if err != nil {
			return
		}
		if got := codec.Marshal(tr.RatchetTree()); !bytes.Equal(got, data[1:]) {
			t.Fatalf("export differs:\n got %x\nwant %x", got, data[1:])
		}
		hash := tr.TreeHash()
		for x := range NodeIndex(tr.nodeCount) {
			tr.Resolution(x)
		}
		checkOurs(t, tr.Verify(&Params{}))
		c := tr.Clone()
		for l, leaf := range tr.Members() {
			tr.FilteredDirectPath(l)
			checkOurs(t, tr.ValidateLeaf(leaf, leaf.Source, l, &Params{}))
			checkOurs(t, c.Remove(l))
		}
		if c.MemberCount() != 0 || c.LeafCount() != 1 {
			t.Fatalf("%d members in %d leaves after removing all", c.MemberCount(), c.LeafCount())
		}
		for _, leaf := range tr.Members() {
			if _, err := c.Add(leaf); err != nil {
				t.Fatalf("adding back: %v", err)
			}
		}
		c.TreeHash()
		if !bytes.Equal(tr.TreeHash(), hash) {
			t.Fatal("tree hash changed by operations on a clone")
		}
	})
}

// fuzzGroup is the group FuzzUpdatePath merges paths into.
func fuzzGroup(tb testing.TB) *group { return sharedGroup(tb, "steady", 5) }

// FuzzUpdatePath merges any UpdatePath from any sender (the first octet)
// into a group's tree and decrypts it as member 0: nothing may panic, and
// errors must name a rule. A freshly made valid path is a seed.
func FuzzUpdatePath(f *testing.F) {
	g := fuzzGroup(f)
	p, err := g.tree.Clone().CreateUpdatePath(3, *g.tree.Leaf(3), g.signers[3], g.gc, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(append([]byte{3}, codec.Marshal(p.UpdatePath)...))
	k := g.private(f, 0)
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		sender := LeafIndex(data[0] % 10)
		var path mls.UpdatePath
		if codec.Unmarshal(data[1:], &path) != nil {
			return
		}
		tr := g.tree.Clone()
		_, err := k.Clone().DecryptUpdatePath(tr, sender, &path, nil, g.gc)
		checkOurs(t, err)
		if err := tr.MergeUpdatePath(sender, &path, []LeafIndex{1}, g.params); err != nil {
			checkOurs(t, err)
			return
		}
		_, err = k.Clone().DecryptUpdatePath(tr, sender, &path, nil, g.gc)
		checkOurs(t, err)
	})
}

// writeSeed writes a seed of the fuzz target named target.
func writeSeed(t *testing.T, target, name string, data []byte) {
	dir := filepath.Join("testdata", "fuzz", target)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	seed := fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", data)
	if err := os.WriteFile(filepath.Join(dir, name), seed, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestFuzzSeeds checks that every seed of FuzzNew builds a valid tree, and
// with -update-fuzz-seeds writes the seeds: trees of both shapes and the
// tree of a group with unmerged leaves and blanks, and an UpdatePath of
// FuzzUpdatePath's group (whose keys are new on every run).
func TestFuzzSeeds(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzNew")
	if *updateFuzzSeeds {
		g := fuzzGroup(t)
		p, err := g.tree.Clone().CreateUpdatePath(1, *g.tree.Leaf(1), g.signers[1], g.gc, nil)
		if err != nil {
			t.Fatal(err)
		}
		writeSeed(t, "FuzzUpdatePath", "path", append([]byte{1}, codec.Marshal(p.UpdatePath)...))
		writeSeed(t, "FuzzUnmarshalPrivate", "steady", codec.Marshal(g.private(t, 2)))
		writeSeed(t, "FuzzUnmarshalPrivate", "committer", codec.Marshal(p.Private))
		withUnmerged := sharedGroup(t, "steady", 6).tree.Clone()
		if err := withUnmerged.Remove(2); err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			leaf, _, _ := testLeaf(t, withUnmerged.Suite(), fmt.Sprint("new", i))
			if _, err := withUnmerged.Add(leaf); err != nil {
				t.Fatal(err)
			}
		}
		for name, tr := range map[string]*Tree{
			"fresh3":   sharedGroup(t, "fresh", 3).tree,
			"steady5":  sharedGroup(t, "steady", 5).tree,
			"unmerged": withUnmerged,
			"single":   sharedGroup(t, "fresh", 1).tree,
		} {
			writeSeed(t, "FuzzNew", name, append([]byte{0}, codec.Marshal(tr.RatchetTree())...))
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) == 0 {
		t.Fatalf("no seeds in %s (run with -update-fuzz-seeds): %v", dir, err)
	}
	for _, e := range entries {
		raw, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		var data []byte
		if _, err := fmt.Sscanf(string(raw), "go test fuzz v1\n[]byte(%q)\n", &data); err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		var rt mls.RatchetTree
		if err := codec.Unmarshal(data[1:], &rt); err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		suite, err := cipher.Lookup(cipher.SuiteID(data[0]%7 + 1))
		if err != nil {
			t.Fatal(err)
		}
		tr, err := New(suite, rt)
		if err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		if err := tr.Verify(&Params{GroupID: []byte("!shape:example.org")}); err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
	}
}

// FuzzUnmarshalPrivate decodes any stored private state: what decodes
// encodes back to the same bytes.
func FuzzUnmarshalPrivate(f *testing.F) {
	suite, err := cipher.Lookup(cipher.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := UnmarshalPrivate(suite, data)
		if err != nil {
			if !errors.Is(err, codec.ErrInvalidValue) && !errors.Is(err, codec.ErrTruncated) &&
				!errors.Is(err, codec.ErrTrailingData) && !errors.Is(err, codec.ErrInvalidVarint) {
				t.Fatalf("error of no known kind: %v", err)
			}
			return
		}
		if got := codec.Marshal(k); !bytes.Equal(got, data) {
			t.Fatalf("re-encoding differs:\n got %x\nwant %x", got, data)
		}
	})
}
