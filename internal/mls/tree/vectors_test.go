package tree

import (
	"bytes"
	"fmt"
	"slices"
	"testing"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/cipher"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/mlstest"
)

// decodeTree decodes an encoded ratchet_tree and builds a Tree of suite id.
func decodeTree(t testing.TB, id uint16, enc []byte) *Tree {
	t.Helper()
	var rt mls.RatchetTree
	if err := codec.Unmarshal(enc, &rt); err != nil {
		t.Fatalf("decoding ratchet tree: %v", err)
	}
	tr, err := New(lookup(t, id), rt)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return tr
}

func lookup(t testing.TB, id uint16) *cipher.Suite {
	t.Helper()
	s, err := cipher.Lookup(cipher.SuiteID(id))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// checkExport checks that t exports to the bytes want.
func checkExport(t *testing.T, tr *Tree, want []byte) {
	t.Helper()
	if got := codec.Marshal(tr.RatchetTree()); !bytes.Equal(got, want) {
		t.Errorf("exported tree differs:\n got %x\nwant %x", got, want)
	}
}

// TestTreeValidationVectors checks every case of tree-validation.json: the
// resolution and tree hash of every node, parent hashes and leaf
// signatures, and the byte-identical export.
func TestTreeValidationVectors(t *testing.T) {
	var cases []struct {
		CipherSuite uint16        `json:"cipher_suite"`
		Tree        mlstest.Hex   `json:"tree"`
		GroupID     mlstest.Hex   `json:"group_id"`
		Resolutions [][]uint32    `json:"resolutions"`
		TreeHashes  []mlstest.Hex `json:"tree_hashes"`
	}
	mlstest.Load(t, "tree-validation.json", &cases)
	if len(cases) == 0 {
		t.Fatal("no cases")
	}
	suites := map[uint16]int{}
	for i, c := range cases {
		t.Run(fmt.Sprintf("%d-suite%d", i, c.CipherSuite), func(t *testing.T) {
			tr := decodeTree(t, c.CipherSuite, c.Tree)
			if len(c.TreeHashes) != tr.nodeCount || len(c.Resolutions) != tr.nodeCount {
				t.Fatalf("vector covers %d/%d nodes, tree has %d", len(c.TreeHashes), len(c.Resolutions), tr.nodeCount)
			}
			for x := range tr.nodeCount {
				want := make([]NodeIndex, len(c.Resolutions[x]))
				for j, y := range c.Resolutions[x] {
					want[j] = NodeIndex(y)
				}
				if got := tr.Resolution(NodeIndex(x)); !slices.Equal(got, want) {
					t.Errorf("resolution(%d) = %v, want %v", x, got, want)
				}
				if got := tr.nodeHash(NodeIndex(x)); !bytes.Equal(got, c.TreeHashes[x]) {
					t.Errorf("tree hash(%d) = %x, want %x", x, got, c.TreeHashes[x])
				}
			}
			if err := tr.Verify(&Params{GroupID: c.GroupID}); err != nil {
				t.Errorf("Verify: %v", err)
			}
			checkExport(t, tr, c.Tree)
		})
		suites[c.CipherSuite]++
	}
	if len(suites) != 7 {
		t.Errorf("cases cover suites %v, want all 7", suites)
	}
}

// TestTreeOperationsVectors applies the proposal of every case of
// tree-operations.json and checks the tree hashes and the exact tree after.
func TestTreeOperationsVectors(t *testing.T) {
	var cases []struct {
		CipherSuite    uint16      `json:"cipher_suite"`
		TreeBefore     mlstest.Hex `json:"tree_before"`
		Proposal       mlstest.Hex `json:"proposal"`
		ProposalSender uint32      `json:"proposal_sender"`
		TreeHashBefore mlstest.Hex `json:"tree_hash_before"`
		TreeAfter      mlstest.Hex `json:"tree_after"`
		TreeHashAfter  mlstest.Hex `json:"tree_hash_after"`
	}
	mlstest.Load(t, "tree-operations.json", &cases)
	if len(cases) == 0 {
		t.Fatal("no cases")
	}
	seen := map[mls.ProposalType]int{}
	for i, c := range cases {
		var p mls.Proposal
		if err := codec.Unmarshal(c.Proposal, &p); err != nil {
			t.Fatalf("case %d: proposal: %v", i, err)
		}
		seen[p.Type]++
		t.Run(fmt.Sprintf("%d-%v", i, p.Type), func(t *testing.T) {
			tr := decodeTree(t, c.CipherSuite, c.TreeBefore)
			if got := tr.TreeHash(); !bytes.Equal(got, c.TreeHashBefore) {
				t.Errorf("tree hash before = %x, want %x", got, c.TreeHashBefore)
			}
			before := tr.Clone()
			var err error
			switch p.Type {
			case mls.ProposalAdd:
				_, err = tr.Add(&p.Add.KeyPackage.LeafNode)
			case mls.ProposalUpdate:
				err = tr.Update(LeafIndex(c.ProposalSender), &p.Update.LeafNode)
			case mls.ProposalRemove:
				err = tr.Remove(LeafIndex(p.Remove.Removed))
			default:
				t.Fatalf("unexpected proposal %v", p.Type)
			}
			if err != nil {
				t.Fatalf("applying %v: %v", p.Type, err)
			}
			if got := tr.TreeHash(); !bytes.Equal(got, c.TreeHashAfter) {
				t.Errorf("tree hash after = %x, want %x", got, c.TreeHashAfter)
			}
			checkExport(t, tr, c.TreeAfter)
			// The tree rebuilt from the result hashes the same, and the
			// clone taken before is untouched.
			if got := decodeTree(t, c.CipherSuite, c.TreeAfter).TreeHash(); !bytes.Equal(got, c.TreeHashAfter) {
				t.Errorf("tree hash of decoded tree after = %x", got)
			}
			if got := before.TreeHash(); !bytes.Equal(got, c.TreeHashBefore) {
				t.Errorf("clone's tree hash changed to %x", got)
			}
			checkExport(t, before, c.TreeBefore)
		})
	}
	for _, typ := range []mls.ProposalType{mls.ProposalAdd, mls.ProposalUpdate, mls.ProposalRemove} {
		if seen[typ] == 0 {
			t.Errorf("no %v case", typ)
		}
	}
}
