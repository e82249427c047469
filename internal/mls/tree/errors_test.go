package tree

import (
	"bytes"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
)

// mustFail checks that err wraps want.
func mustFail(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("got error %v, want %v", err, want)
	}
}

// unchanged checks that tr still encodes to enc and hashes to hash.
func unchanged(t *testing.T, tr *Tree, enc, hash []byte) {
	t.Helper()
	if !bytes.Equal(codec.Marshal(tr.RatchetTree()), enc) || !bytes.Equal(tr.TreeHash(), hash) {
		t.Fatal("tree changed by a failed operation")
	}
}

// copyPath returns a deep enough copy of p to tamper with.
func copyPath(p *mls.UpdatePath) *mls.UpdatePath {
	var c mls.UpdatePath
	if err := codec.Unmarshal(codec.Marshal(p), &c); err != nil {
		panic(err)
	}
	return &c
}

func TestNewRejects(t *testing.T) {
	g := sharedGroup(t, "steady", 5)
	good := g.tree.RatchetTree()
	suite := g.tree.Suite()
	withNode := func(i int, n mls.Node) mls.RatchetTree {
		rt := slices.Clone(good)
		rt[i] = n
		return rt
	}
	leaf0, parent1 := good[0].Leaf, good[1].Parent
	dupLeaf := *good[2].Leaf
	dupLeaf.EncryptionKey = leaf0.EncryptionKey
	dupSig := *good[2].Leaf
	dupSig.SignatureKey = leaf0.SignatureKey
	dupParent := *good[3].Parent
	dupParent.EncryptionKey = leaf0.EncryptionKey
	unsorted := *good[3].Parent
	unsorted.UnmergedLeaves = []uint32{1, 0}
	outside := *good[1].Parent
	outside.UnmergedLeaves = []uint32{2}
	blank := *good[3].Parent
	blank.UnmergedLeaves = []uint32{1}
	for name, c := range map[string]struct {
		nodes mls.RatchetTree
		want  error
	}{
		"empty":                   {nil, ErrMalformedTree},
		"trailing blank":          {append(slices.Clone(good), mls.Node{}, mls.Node{}), ErrMalformedTree},
		"parent at leaf":          {withNode(0, mls.Node{Parent: parent1}), ErrMalformedTree},
		"leaf at parent":          {withNode(1, mls.Node{Leaf: leaf0}), ErrMalformedTree},
		"both":                    {withNode(0, mls.Node{Leaf: leaf0, Parent: parent1}), ErrMalformedTree},
		"duplicate leaf key":      {withNode(2, mls.Node{Leaf: &dupLeaf}), ErrDuplicateEncryptionKey},
		"duplicate parent key":    {withNode(3, mls.Node{Parent: &dupParent}), ErrDuplicateEncryptionKey},
		"duplicate signature key": {withNode(2, mls.Node{Leaf: &dupSig}), ErrDuplicateSignatureKey},
		"unmerged unsorted":       {withNode(3, mls.Node{Parent: &unsorted}), ErrUnmergedLeaves},
		"unmerged outside":        {withNode(1, mls.Node{Parent: &outside}), ErrUnmergedLeaves},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := New(suite, c.nodes)
			mustFail(t, err, c.want)
		})
	}
	t.Run("unmerged blank", func(t *testing.T) {
		rt := withNode(3, mls.Node{Parent: &blank})
		rt[2] = mls.Node{}
		_, err := New(suite, rt)
		mustFail(t, err, ErrUnmergedLeaves)
	})
	t.Run("unmerged missing below", func(t *testing.T) {
		// Node 3 lists leaf 1, but node 1 between them does not.
		rt := withNode(3, mls.Node{Parent: &blank})
		_, err := New(suite, rt)
		mustFail(t, err, ErrUnmergedLeaves)
	})
}

func TestVerifyRejects(t *testing.T) {
	g := sharedGroup(t, "steady", 8)
	suite := g.tree.Suite()
	rebuild := func(t *testing.T, change func(rt mls.RatchetTree)) *Tree {
		rt := g.tree.RatchetTree()
		change(rt)
		tr, err := New(suite, rt)
		if err != nil {
			t.Fatal(err)
		}
		return tr
	}
	t.Run("bad parent hash", func(t *testing.T) {
		tr := rebuild(t, func(rt mls.RatchetTree) {
			p := *rt[5].Parent
			p.ParentHash = bytes.Repeat([]byte{1}, 32)
			rt[5].Parent = &p
		})
		mustFail(t, tr.VerifyParentHashes(), ErrParentHash)
		mustFail(t, tr.Verify(g.params), ErrParentHash)
	})
	t.Run("parent key swapped", func(t *testing.T) {
		tr := rebuild(t, func(rt mls.RatchetTree) {
			p := *rt[3].Parent
			p.EncryptionKey = bytes.Repeat([]byte{2}, 32)
			rt[3].Parent = &p
		})
		mustFail(t, tr.Verify(g.params), ErrParentHash)
	})
	t.Run("forged leaf signature", func(t *testing.T) {
		// The last leaf: no parent hash covers its tree hash, so only the
		// signature check can notice.
		tr := rebuild(t, func(rt mls.RatchetTree) {
			leaf := *rt[14].Leaf
			leaf.Signature = slices.Clone(leaf.Signature)
			leaf.Signature[0] ^= 1
			rt[14].Leaf = &leaf
		})
		err := tr.Verify(g.params)
		mustFail(t, err, ErrLeafSignature)
	})
	t.Run("wrong group", func(t *testing.T) {
		mustFail(t, g.tree.Clone().Verify(&Params{GroupID: []byte("other")}), ErrLeafSignature)
	})
	t.Run("credential type not supported by all", func(t *testing.T) {
		tr := rebuild(t, func(rt mls.RatchetTree) {
			leaf := *rt[4].Leaf
			leaf.Capabilities.Credentials = []mls.CredentialType{mls.CredentialBasic, mls.CredentialX509}
			leaf.Credential = mls.Credential{Type: mls.CredentialX509, Certificates: [][]byte{{1}}}
			rt[4].Leaf = &leaf
		})
		mustFail(t, tr.Verify(g.params), ErrCredentialType)
	})
	t.Run("required capability", func(t *testing.T) {
		p := *g.params
		p.Required = &mls.RequiredCapabilities{ExtensionTypes: []mls.ExtensionType{0xff01}}
		mustFail(t, g.tree.Clone().Verify(&p), ErrCapabilities)
	})
}

func TestValidateLeafRejects(t *testing.T) {
	g := sharedGroup(t, "steady", 4)
	tr := g.tree.Clone()
	suite := tr.Suite()
	newcomer, _, signer := testLeaf(t, suite, "@new:example.org")
	if err := tr.ValidateLeaf(newcomer, mls.LeafNodeSourceKeyPackage, 0, g.params); err != nil {
		t.Fatalf("valid key package leaf: %v", err)
	}
	mutate := func(change func(l *mls.LeafNode)) *mls.LeafNode {
		l := *newcomer
		change(&l)
		sign(t, &l, signer, nil, 0)
		return &l
	}
	member := tr.Leaf(1)
	// A leaf changed after it was signed.
	forged := mutate(func(l *mls.LeafNode) {})
	forged.Capabilities.Extensions = []mls.ExtensionType{0xff04}
	params := func(change func(p *Params)) *Params {
		p := *g.params
		change(&p)
		return &p
	}
	for name, c := range map[string]struct {
		leaf   *mls.LeafNode
		params *Params
		want   error
	}{
		"source":            {mutate(func(l *mls.LeafNode) { l.Source = mls.LeafNodeSourceUpdate }), g.params, ErrLeafSource},
		"forged signature":  {forged, g.params, ErrLeafSignature},
		"duplicate enc key": {mutate(func(l *mls.LeafNode) { l.EncryptionKey = member.EncryptionKey }), g.params, ErrDuplicateEncryptionKey},
		"malformed enc key": {mutate(func(l *mls.LeafNode) { l.EncryptionKey = []byte{1, 2, 3} }), g.params, ErrPublicKey},
		"duplicate sig key": {mutate(func(l *mls.LeafNode) { l.SignatureKey = member.SignatureKey }), g.params, ErrDuplicateSignatureKey},
		"own credential":    {mutate(func(l *mls.LeafNode) { l.Capabilities.Credentials = []mls.CredentialType{mls.CredentialX509} }), g.params, ErrCapabilities},
		"credential unknown": {mutate(func(l *mls.LeafNode) {
			l.Credential = mls.Credential{Type: mls.CredentialX509}
			l.Capabilities.Credentials = []mls.CredentialType{mls.CredentialX509}
		}), g.params, ErrCredentialType},
		"extension":     {mutate(func(l *mls.LeafNode) { l.Extensions = mls.Extensions{{Type: 0xff02, Data: []byte{}}} }), g.params, ErrUnsupportedExtension},
		"required":      {newcomer, params(func(p *Params) { p.Required = &mls.RequiredCapabilities{ProposalTypes: []mls.ProposalType{0xff03}} }), ErrCapabilities},
		"expired":       {mutate(func(l *mls.LeafNode) { l.Lifetime.NotAfter = 1000 }), params(func(p *Params) { p.Now = time.Unix(2000, 0) }), ErrLifetime},
		"not yet valid": {mutate(func(l *mls.LeafNode) { l.Lifetime.NotBefore = 3000 }), params(func(p *Params) { p.Now = time.Unix(2000, 0) }), ErrLifetime},
		"too long":      {newcomer, params(func(p *Params) { p.MaxLifetime = 90 * 24 * time.Hour }), ErrLifetime},
	} {
		t.Run(name, func(t *testing.T) {
			mustFail(t, tr.ValidateLeaf(c.leaf, mls.LeafNodeSourceKeyPackage, 0, c.params), c.want)
		})
	}
	t.Run("update keeps encryption key", func(t *testing.T) {
		l := *member
		l.Source = mls.LeafNodeSourceUpdate
		sign(t, &l, g.signers[1], g.params.GroupID, 1)
		mustFail(t, tr.ValidateLeaf(&l, mls.LeafNodeSourceUpdate, 1, g.params), ErrDuplicateEncryptionKey)
		// A new encryption key with the same signature key is valid.
		_, pub, err := suite.GenerateHPKEKeyPair()
		if err != nil {
			t.Fatal(err)
		}
		l.EncryptionKey = pub
		sign(t, &l, g.signers[1], g.params.GroupID, 1)
		if err := tr.ValidateLeaf(&l, mls.LeafNodeSourceUpdate, 1, g.params); err != nil {
			t.Fatal(err)
		}
		// Signed for another leaf index, it is not.
		mustFail(t, tr.ValidateLeaf(&l, mls.LeafNodeSourceUpdate, 2, g.params), ErrDuplicateSignatureKey)
		sign(t, &l, g.signers[1], g.params.GroupID, 2)
		mustFail(t, tr.ValidateLeaf(&l, mls.LeafNodeSourceUpdate, 1, g.params), ErrLeafSignature)
	})
}

func TestProposalsReject(t *testing.T) {
	g := sharedGroup(t, "steady", 5)
	tr := g.tree.Clone()
	enc, hash := codec.Marshal(tr.RatchetTree()), tr.TreeHash()
	dup := *tr.Leaf(0)
	_, err := tr.Add(&dup)
	mustFail(t, err, ErrDuplicateEncryptionKey)
	unchanged(t, tr, enc, hash)
	mustFail(t, tr.Update(5, &dup), ErrBlankLeaf)
	mustFail(t, tr.Update(1, &dup), ErrDuplicateEncryptionKey)
	unchanged(t, tr, enc, hash)
	mustFail(t, tr.Remove(6), ErrBlankLeaf)
	mustFail(t, tr.Remove(100), ErrBlankLeaf)
	unchanged(t, tr, enc, hash)
}

func TestMergeUpdatePathRejects(t *testing.T) {
	g := sharedGroup(t, "steady", 6)
	created := g.tree.Clone()
	p, err := created.CreateUpdatePath(2, *g.tree.Leaf(2), g.signers[2], g.gc, nil)
	if err != nil {
		t.Fatal(err)
	}
	tr := g.tree.Clone()
	enc, hash := codec.Marshal(tr.RatchetTree()), tr.TreeHash()
	tamper := func(change func(p *mls.UpdatePath)) *mls.UpdatePath {
		c := copyPath(p.UpdatePath)
		change(c)
		return c
	}
	for name, c := range map[string]struct {
		sender LeafIndex
		path   *mls.UpdatePath
		want   error
	}{
		"wrong path length":     {2, tamper(func(p *mls.UpdatePath) { p.Nodes = p.Nodes[1:] }), ErrPathLength},
		"wrong sender":          {9, p.UpdatePath, ErrBlankLeaf},
		"missing ciphertext":    {2, tamper(func(p *mls.UpdatePath) { p.Nodes[0].EncryptedPathSecret = nil }), ErrPathCiphertexts},
		"bad parent hash":       {2, tamper(func(p *mls.UpdatePath) { p.LeafNode.ParentHash[0] ^= 1 }), ErrParentHash},
		"path key replaced":     {2, tamper(func(p *mls.UpdatePath) { p.Nodes[1].EncryptionKey = bytes.Repeat([]byte{3}, 32) }), ErrParentHash},
		"path key malformed":    {2, tamper(func(p *mls.UpdatePath) { p.Nodes[1].EncryptionKey = p.Nodes[1].EncryptionKey[1:] }), ErrPublicKey},
		"duplicate path key":    {2, tamper(func(p *mls.UpdatePath) { p.Nodes[1].EncryptionKey = g.tree.Leaf(4).EncryptionKey }), ErrDuplicateEncryptionKey},
		"path repeats its key":  {2, tamper(func(p *mls.UpdatePath) { p.Nodes[1].EncryptionKey = p.Nodes[0].EncryptionKey }), ErrDuplicateEncryptionKey},
		"leaf key in the tree":  {2, tamper(func(p *mls.UpdatePath) { p.LeafNode.EncryptionKey = g.tree.Leaf(2).EncryptionKey }), ErrDuplicateEncryptionKey},
		"forged leaf signature": {2, tamper(func(p *mls.UpdatePath) { p.LeafNode.Signature[3] ^= 1 }), ErrLeafSignature},
		"leaf source":           {2, tamper(func(p *mls.UpdatePath) { p.LeafNode.Source = mls.LeafNodeSourceUpdate }), ErrLeafSource},
		"other sender":          {3, p.UpdatePath, ErrParentHash},
	} {
		t.Run(name, func(t *testing.T) {
			mustFail(t, tr.MergeUpdatePath(c.sender, c.path, nil, g.params), c.want)
			unchanged(t, tr, enc, hash)
		})
	}
	t.Run("external joiner's slot", func(t *testing.T) {
		// A path for a new leaf at the end extends the tree; failing, it
		// must leave the tree as it was.
		full := sharedGroup(t, "steady", 8).tree.Clone()
		enc, hash := codec.Marshal(full.RatchetTree()), full.TreeHash()
		mustFail(t, full.MergeUpdatePath(8, p.UpdatePath, nil, g.params), ErrPathLength)
		unchanged(t, full, enc, hash)
	})
	t.Run("decryption", func(t *testing.T) {
		merged := g.tree.Clone()
		if err := merged.MergeUpdatePath(2, p.UpdatePath, nil, g.params); err != nil {
			t.Fatal(err)
		}
		k := g.private(t, 4)
		before := k.Clone()
		bad := tamper(func(p *mls.UpdatePath) {
			for i := range p.Nodes {
				for j := range p.Nodes[i].EncryptedPathSecret {
					p.Nodes[i].EncryptedPathSecret[j].Ciphertext[0] ^= 1
				}
			}
		})
		_, err := k.DecryptUpdatePath(merged, 2, bad, nil, g.gc)
		mustFail(t, err, ErrPathSecret)
		other := *g.gc
		other.Epoch++
		_, err = k.DecryptUpdatePath(merged, 2, p.UpdatePath, nil, &other)
		mustFail(t, err, ErrPathSecret)
		_, err = k.DecryptUpdatePath(g.tree, 2, p.UpdatePath, nil, g.gc)
		mustFail(t, err, ErrPathSecret)
		_, err = k.DecryptUpdatePath(merged, 2, tamper(func(p *mls.UpdatePath) { p.Nodes = p.Nodes[:1] }), nil, g.gc)
		mustFail(t, err, ErrPathLength)
		if len(k.keys) != len(before.keys) {
			t.Fatal("failed decryption changed the private keys")
		}
		_, err = g.private(t, 2).DecryptUpdatePath(merged, 2, p.UpdatePath, nil, g.gc)
		mustFail(t, err, ErrNoPrivateKey)
		stranger := &Private{suite: k.suite, leaf: 4, keys: map[NodeIndex]keyPair{}}
		_, err = stranger.DecryptUpdatePath(merged, 2, p.UpdatePath, nil, g.gc)
		mustFail(t, err, ErrNoPrivateKey)
	})
}

func TestPrivateRejects(t *testing.T) {
	g := sharedGroup(t, "steady", 4)
	_, err := NewPrivate(g.tree, 1, g.leaf[2])
	mustFail(t, err, ErrPrivateKey)
	_, err = NewPrivate(g.tree, 9, g.leaf[2])
	mustFail(t, err, ErrBlankLeaf)
	k := g.private(t, 0)
	mustFail(t, k.ImportPathSecret(g.tree, 5, make([]byte, 32)), ErrPathSecret)
	mustFail(t, k.ImportPathSecret(g.tree, 1, make([]byte, 32)), ErrPathSecret)
	mustFail(t, k.ImportPathSecret(g.tree, 0, make([]byte, 32)), ErrPathSecret)
}
