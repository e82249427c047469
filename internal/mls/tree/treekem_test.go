package tree

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/mlstest"
)

type treeKEMCase struct {
	CipherSuite             uint16      `json:"cipher_suite"`
	GroupID                 mlstest.Hex `json:"group_id"`
	Epoch                   uint64      `json:"epoch"`
	ConfirmedTranscriptHash mlstest.Hex `json:"confirmed_transcript_hash"`
	RatchetTree             mlstest.Hex `json:"ratchet_tree"`
	LeavesPrivate           []struct {
		Index          uint32      `json:"index"`
		EncryptionPriv mlstest.Hex `json:"encryption_priv"`
		SignaturePriv  mlstest.Hex `json:"signature_priv"`
		PathSecrets    []struct {
			Node       uint32      `json:"node"`
			PathSecret mlstest.Hex `json:"path_secret"`
		} `json:"path_secrets"`
	} `json:"leaves_private"`
	UpdatePaths []struct {
		Sender        uint32        `json:"sender"`
		UpdatePath    mlstest.Hex   `json:"update_path"`
		PathSecrets   []mlstest.Hex `json:"path_secrets"`
		CommitSecret  mlstest.Hex   `json:"commit_secret"`
		TreeHashAfter mlstest.Hex   `json:"tree_hash_after"`
	} `json:"update_paths"`
}

// TestTreeKEMVectors runs every case of treekem.json: each UpdatePath is
// merged (parent hashes and the leaf checked) and decrypted by every other
// member, giving the vector's path secret, commit secret and tree hash;
// then the sender makes a new UpdatePath on the same tree, which every other
// member merges and decrypts to the same commit secret.
func TestTreeKEMVectors(t *testing.T) {
	var cases []treeKEMCase
	mlstest.Load(t, "treekem.json", &cases)
	if len(cases) == 0 {
		t.Fatal("no cases")
	}
	suites := map[uint16]int{}
	for i, c := range cases {
		suites[c.CipherSuite]++
		t.Run(fmt.Sprintf("%d-suite%d", i, c.CipherSuite), func(t *testing.T) {
			t.Parallel()
			runTreeKEMCase(t, &c)
		})
	}
	if len(suites) != 7 {
		t.Errorf("cases cover suites %v, want all 7", suites)
	}
}

func runTreeKEMCase(t *testing.T, c *treeKEMCase) {
	tr := decodeTree(t, c.CipherSuite, c.RatchetTree)
	suite := tr.Suite()
	privates := map[LeafIndex]*Private{}
	signers := map[LeafIndex]Signer{}
	for _, lp := range c.LeavesPrivate {
		l := LeafIndex(lp.Index)
		k, err := NewPrivate(tr, l, lp.EncryptionPriv)
		if err != nil {
			t.Fatalf("leaf %d: %v", l, err)
		}
		for _, ps := range lp.PathSecrets {
			if err := k.setPathSecret(tr, NodeIndex(ps.Node), ps.PathSecret); err != nil {
				t.Fatalf("leaf %d: %v", l, err)
			}
		}
		privates[l] = k
		if signers[l], err = suite.NewSigner(lp.SignaturePriv); err != nil {
			t.Fatal(err)
		}
	}
	if len(privates) != tr.MemberCount() {
		t.Fatalf("%d private states for %d members", len(privates), tr.MemberCount())
	}
	gc := &mls.GroupContext{
		Version: mls.MLS10, CipherSuite: mls.CipherSuite(c.CipherSuite), GroupID: c.GroupID,
		Epoch: c.Epoch, ConfirmedTranscriptHash: c.ConfirmedTranscriptHash,
	}
	params := &Params{GroupID: c.GroupID}
	for _, up := range c.UpdatePaths {
		sender := LeafIndex(up.Sender)
		var path mls.UpdatePath
		if err := codec.Unmarshal(up.UpdatePath, &path); err != nil {
			t.Fatal(err)
		}
		merged := tr.Clone()
		if err := merged.MergeUpdatePath(sender, &path, nil, params); err != nil {
			t.Fatalf("sender %d: MergeUpdatePath: %v", sender, err)
		}
		if got := merged.TreeHash(); !bytes.Equal(got, up.TreeHashAfter) {
			t.Errorf("sender %d: tree hash after = %x, want %x", sender, got, up.TreeHashAfter)
		}
		if err := merged.VerifyParentHashes(); err != nil {
			t.Errorf("sender %d: merged tree: %v", sender, err)
		}
		for l, k := range privates {
			if l == sender {
				continue
			}
			pathSecret, commitSecret, err := k.Clone().decryptPath(merged, sender, &path, nil, gc)
			if err != nil {
				t.Fatalf("sender %d, receiver %d: %v", sender, l, err)
			}
			if !bytes.Equal(pathSecret, up.PathSecrets[l]) {
				t.Errorf("sender %d, receiver %d: path secret %x, want %x", sender, l, pathSecret, up.PathSecrets[l])
			}
			if !bytes.Equal(commitSecret, up.CommitSecret) {
				t.Errorf("sender %d, receiver %d: commit secret %x, want %x", sender, l, commitSecret, up.CommitSecret)
			}
		}
		roundTrip(t, tr, privates, sender, signers[sender], gc, params)
	}
}

// roundTrip has sender make an UpdatePath on a copy of tr, and checks that
// every other member merges it to the same tree and decrypts the same
// commit secret and path secret, and that the sender's new private keys
// are those of the tree.
func roundTrip(t *testing.T, tr *Tree, privates map[LeafIndex]*Private, sender LeafIndex, signer Signer, gc *mls.GroupContext, params *Params) {
	t.Helper()
	created := tr.Clone()
	p, err := created.CreateUpdatePath(sender, *tr.Leaf(sender), signer, gc, nil)
	if err != nil {
		t.Fatalf("sender %d: CreateUpdatePath: %v", sender, err)
	}
	if err := created.VerifyParentHashes(); err != nil {
		t.Errorf("sender %d: created tree: %v", sender, err)
	}
	for x, kp := range p.Private.keys {
		if !bytes.Equal(kp.pub, created.publicKey(x)) {
			t.Errorf("sender %d: new private key of node %d is not the tree's", sender, x)
		}
	}
	enc := codec.Marshal(p.UpdatePath)
	for l, k := range privates {
		if l == sender {
			continue
		}
		var path mls.UpdatePath
		if err := codec.Unmarshal(enc, &path); err != nil {
			t.Fatal(err)
		}
		merged := tr.Clone()
		if err := merged.MergeUpdatePath(sender, &path, nil, params); err != nil {
			t.Fatalf("sender %d, receiver %d: merging created path: %v", sender, l, err)
		}
		if !bytes.Equal(merged.TreeHash(), created.TreeHash()) {
			t.Errorf("sender %d, receiver %d: tree hash differs from the sender's", sender, l)
		}
		pathSecret, commitSecret, err := k.Clone().decryptPath(merged, sender, &path, nil, gc)
		if err != nil {
			t.Fatalf("sender %d, receiver %d: decrypting created path: %v", sender, l, err)
		}
		if !bytes.Equal(commitSecret, p.CommitSecret) {
			t.Errorf("sender %d, receiver %d: commit secret differs from the sender's", sender, l)
		}
		if !bytes.Equal(pathSecret, p.PathSecret(l)) {
			t.Errorf("sender %d, receiver %d: path secret differs from the sender's", sender, l)
		}
	}
}
