package mls_test

import (
	"bytes"
	"fmt"
	"slices"
	"testing"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/mlstest"
)

// wireValue is a structure that decodes and encodes.
type wireValue interface {
	codec.Marshaler
	codec.Unmarshaler
}

// roundTrip decodes data into v and checks that v encodes back to data. It
// reports whether decoding succeeded.
func roundTrip(t *testing.T, what string, data []byte, v wireValue) bool {
	t.Helper()
	if err := codec.Unmarshal(data, v); err != nil {
		t.Errorf("%s: decoding: %v", what, err)
		return false
	}
	if re := codec.Marshal(v); !bytes.Equal(re, data) {
		t.Errorf("%s: re-encoding differs\n got %x\nwant %x", what, re, data)
		return false
	}
	return true
}

// TestRatchetTreeVectors decodes every ratchet tree of the tree-validation,
// tree-operations and treekem vectors and the UpdatePaths of treekem.
func TestRatchetTreeVectors(t *testing.T) {
	var validation []struct {
		Tree mlstest.Hex `json:"tree"`
	}
	mlstest.Load(t, "tree-validation.json", &validation)
	var operations []struct {
		Before mlstest.Hex `json:"tree_before"`
		After  mlstest.Hex `json:"tree_after"`
	}
	mlstest.Load(t, "tree-operations.json", &operations)
	var treekem []struct {
		Tree        mlstest.Hex `json:"ratchet_tree"`
		UpdatePaths []struct {
			UpdatePath mlstest.Hex `json:"update_path"`
		} `json:"update_paths"`
	}
	mlstest.Load(t, "treekem.json", &treekem)
	var welcome []struct {
		Tree mlstest.Hex `json:"ratchet_tree"`
	}
	mlstest.Load(t, "passive-client-welcome.json", &welcome)

	trees := 0
	check := func(what string, data []byte) {
		var tree mls.RatchetTree
		if roundTrip(t, what, data, &tree) {
			trees++
			if len(tree) == 0 || tree[0].Leaf == nil {
				t.Errorf("%s: first node is not a leaf", what)
			}
		}
	}
	for i, c := range validation {
		check(fmt.Sprintf("tree-validation[%d]", i), c.Tree)
	}
	for i, c := range operations {
		check(fmt.Sprintf("tree-operations[%d] before", i), c.Before)
		check(fmt.Sprintf("tree-operations[%d] after", i), c.After)
	}
	optional := 0
	for i, c := range welcome {
		if len(c.Tree) > 0 { // null or "" when the tree is in the Welcome
			check(fmt.Sprintf("passive-client-welcome[%d]", i), c.Tree)
			optional++
		}
	}
	paths := 0
	for i, c := range treekem {
		check(fmt.Sprintf("treekem[%d]", i), c.Tree)
		for j, p := range c.UpdatePaths {
			var path mls.UpdatePath
			if roundTrip(t, fmt.Sprintf("treekem[%d] update_path[%d]", i, j), p.UpdatePath, &path) {
				paths++
				if path.LeafNode.Source != mls.LeafNodeSourceCommit {
					t.Errorf("treekem[%d] update_path[%d]: leaf source %v", i, j, path.LeafNode.Source)
				}
			}
		}
	}
	if want := len(validation) + 2*len(operations) + len(treekem) + optional; trees != want {
		t.Errorf("decoded %d trees, want %d", trees, want)
	}
	if paths == 0 {
		t.Error("no update path decoded")
	}
	t.Logf("%d ratchet trees, %d update paths", trees, paths)
}

// passiveClientCase is the part of a passive-client-*.json case this package
// can check without cryptography.
type passiveClientCase struct {
	KeyPackage mlstest.Hex `json:"key_package"`
	Welcome    mlstest.Hex `json:"welcome"`
	Epochs     []struct {
		Proposals []mlstest.Hex `json:"proposals"`
		Commit    mlstest.Hex   `json:"commit"`
	} `json:"epochs"`
}

// loadPassiveClients loads the three passive-client vector files.
func loadPassiveClients(t *testing.T) map[string][]passiveClientCase {
	files := map[string][]passiveClientCase{}
	for _, name := range []string{"passive-client-welcome.json", "passive-client-handling-commit.json", "passive-client-random.json"} {
		var cases []passiveClientCase
		mlstest.Load(t, name, &cases)
		files[name] = cases
	}
	return files
}

// TestKeyPackageVectors decodes the key packages of the welcome and
// passive-client vectors, which are MLSMessages.
func TestKeyPackageVectors(t *testing.T) {
	var welcome []struct {
		KeyPackage mlstest.Hex `json:"key_package"`
	}
	mlstest.Load(t, "welcome.json", &welcome)
	all := map[string][]mlstest.Hex{}
	for _, c := range welcome {
		all["welcome.json"] = append(all["welcome.json"], c.KeyPackage)
	}
	for name, cases := range loadPassiveClients(t) {
		for _, c := range cases {
			all[name] = append(all[name], c.KeyPackage)
		}
	}
	n := 0
	for name, kps := range all {
		for i, kp := range kps {
			what := fmt.Sprintf("%s[%d]", name, i)
			var m mls.MLSMessage
			if !roundTrip(t, what, kp, &m) {
				continue
			}
			if m.KeyPackage == nil {
				t.Errorf("%s: wire format %v", what, m.WireFormat)
				continue
			}
			if m.KeyPackage.LeafNode.Source != mls.LeafNodeSourceKeyPackage {
				t.Errorf("%s: leaf source %v", what, m.KeyPackage.LeafNode.Source)
				continue
			}
			n++
		}
	}
	if n != 7+56+91+1 {
		t.Errorf("decoded %d key packages, want %d", n, 7+56+91+1)
	}
}

// TestPassiveClientMessages decodes the Welcome, and every proposal and
// commit of every epoch, of the passive-client vectors.
func TestPassiveClientMessages(t *testing.T) {
	framed := []mls.WireFormat{mls.WireFormatPublicMessage, mls.WireFormatPrivateMessage}
	welcome := []mls.WireFormat{mls.WireFormatWelcome}
	counts := map[mls.ContentType]int{}
	check := func(what string, data []byte, wfs []mls.WireFormat, ct mls.ContentType) {
		var m mls.MLSMessage
		if !roundTrip(t, what, data, &m) {
			return
		}
		if !slices.Contains(wfs, m.WireFormat) || m.ContentType() != ct {
			t.Errorf("%s: wire format %v content type %v, want %v %v", what, m.WireFormat, m.ContentType(), wfs, ct)
			return
		}
		counts[ct]++
	}
	for name, cases := range loadPassiveClients(t) {
		for i, c := range cases {
			check(fmt.Sprintf("%s[%d] welcome", name, i), c.Welcome, welcome, 0)
			for e, epoch := range c.Epochs {
				for j, p := range epoch.Proposals {
					check(fmt.Sprintf("%s[%d] epoch %d proposal %d", name, i, e, j), p, framed, mls.ContentProposal)
				}
				check(fmt.Sprintf("%s[%d] epoch %d commit", name, i, e), epoch.Commit, framed, mls.ContentCommit)
			}
		}
	}
	t.Logf("decoded %d welcomes, %d proposals, %d commits", counts[0], counts[mls.ContentProposal], counts[mls.ContentCommit])
	if counts[0] != 56+91+1 || counts[mls.ContentCommit] != 382 {
		t.Errorf("decoded %d welcomes and %d commits, want %d and 382", counts[0], counts[mls.ContentCommit], 56+91+1)
	}
}
