package tree

import (
	"crypto/rand"
	"fmt"
	"sync"
	"testing"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/cipher"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/treemath"
)

// A group is a tree of real members (cipher suite 1) with every secret
// known, for tests and benchmarks of large trees.
type group struct {
	tree    *Tree
	params  *Params
	gc      *mls.GroupContext
	signers []*cipher.Signer
	leaf    [][]byte             // leaf encryption private keys
	node    map[NodeIndex][]byte // parent private keys
}

// private returns the private state of member l.
func (g *group) private(tb testing.TB, l LeafIndex) *Private {
	tb.Helper()
	k, err := NewPrivate(g.tree, l, g.leaf[l])
	if err != nil {
		tb.Fatal(err)
	}
	for _, x := range treemath.DirectPath(l.NodeIndex(), g.tree.width()) {
		if priv, ok := g.node[x]; ok {
			k.keys[x] = keyPair{priv: priv, pub: g.tree.publicKey(x)}
		}
	}
	return k
}

// testLeaf returns a key_package leaf for a new member, and its secrets.
func testLeaf(tb testing.TB, suite *cipher.Suite, name string) (*mls.LeafNode, []byte, *cipher.Signer) {
	tb.Helper()
	leaf, encPriv, signer, err := newLeaf(suite, name)
	if err != nil {
		tb.Fatal(err)
	}
	return leaf, encPriv, signer
}

// newLeaf is testLeaf for use off the test's goroutine.
func newLeaf(suite *cipher.Suite, name string) (leaf *mls.LeafNode, encPriv []byte, signer *cipher.Signer, err error) {
	encPriv, encPub, err := suite.GenerateHPKEKeyPair()
	if err != nil {
		return nil, nil, nil, err
	}
	sigPriv, _, err := suite.GenerateSignatureKeyPair()
	if err != nil {
		return nil, nil, nil, err
	}
	if signer, err = suite.NewSigner(sigPriv); err != nil {
		return nil, nil, nil, err
	}
	leaf = &mls.LeafNode{
		EncryptionKey: encPub,
		SignatureKey:  signer.PublicKey(),
		Credential:    mls.Credential{Type: mls.CredentialBasic, Identity: []byte(name)},
		Capabilities: mls.Capabilities{
			Versions:     []mls.ProtocolVersion{mls.MLS10},
			CipherSuites: []mls.CipherSuite{mls.CipherSuite(suite.ID())},
			Credentials:  []mls.CredentialType{mls.CredentialBasic},
		},
		Source:   mls.LeafNodeSourceKeyPackage,
		Lifetime: mls.Lifetime{NotBefore: 0, NotAfter: 1<<63 - 1},
	}
	leaf.Signature, err = signer.SignWithLabel(leafNodeTBSLabel, codec.Marshal(leaf.TBS(nil, 0)))
	return leaf, encPriv, signer, err
}

// sign signs leaf for leaf index l of group groupID.
func sign(tb testing.TB, leaf *mls.LeafNode, signer Signer, groupID []byte, l LeafIndex) {
	tb.Helper()
	sig, err := signer.SignWithLabel(leafNodeTBSLabel, codec.Marshal(leaf.TBS(groupID, uint32(l))))
	if err != nil {
		tb.Fatal(err)
	}
	leaf.Signature = sig
}

// freshGroup returns a group of n members added by one commit without a
// path: leaves from key packages, every parent blank.
func freshGroup(tb testing.TB, n int) *group {
	tb.Helper()
	suite, err := cipher.Lookup(cipher.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519)
	if err != nil {
		tb.Fatal(err)
	}
	groupID := []byte("!shape:example.org")
	g := &group{
		params:  &Params{GroupID: groupID},
		gc:      &mls.GroupContext{Version: mls.MLS10, CipherSuite: mls.CipherSuite(suite.ID()), GroupID: groupID, Epoch: 1, ConfirmedTranscriptHash: make([]byte, 32)},
		signers: make([]*cipher.Signer, n),
		leaf:    make([][]byte, n),
		node:    map[NodeIndex][]byte{},
	}
	nodes := make(mls.RatchetTree, 2*n-1)
	err = forEach(n, 64, nil, func(i int) error {
		var err error
		nodes[2*i].Leaf, g.leaf[i], g.signers[i], err = newLeaf(suite, fmt.Sprintf("@user%d:example.org", i))
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	if g.tree, err = New(suite, nodes); err != nil {
		tb.Fatal(err)
	}
	return g
}

// steadyGroup returns a group of n members in which every member, left to
// right, has committed once with a path. It is built without encrypting
// anything: each commit merges keys that are real (with their private key
// kept) for the nodes no later commit overwrites, and random bytes for the
// others, which only feed the parent hashes of that commit.
func steadyGroup(tb testing.TB, n int) *group {
	tb.Helper()
	g := freshGroup(tb, n)
	t := g.tree
	// Every leaf is a member throughout, so filtered direct paths do not
	// change and the last writer of each node is known in advance.
	last := map[NodeIndex]LeafIndex{}
	for l := range LeafIndex(n) {
		for _, x := range t.FilteredDirectPath(l) {
			last[x] = l
		}
	}
	for l := range LeafIndex(n) {
		nodes, copath := t.filteredPath(l)
		keys := make([][]byte, len(nodes))
		for i, x := range nodes {
			if last[x] != l {
				keys[i] = make([]byte, 32)
				rand.Read(keys[i])
				continue
			}
			priv, pub, err := t.suite.GenerateHPKEKeyPair()
			if err != nil {
				tb.Fatal(err)
			}
			keys[i], g.node[x] = pub, priv
		}
		parentHashes, leafParentHash := t.pathParentHashes(copath, keys)
		leaf := *t.Leaf(l)
		leaf.Source, leaf.Lifetime, leaf.ParentHash = mls.LeafNodeSourceCommit, mls.Lifetime{}, leafParentHash
		sign(tb, &leaf, g.signers[l], g.params.GroupID, l)
		if err := t.mergePath(l, &leaf, nodes, keys, parentHashes); err != nil {
			tb.Fatal(err)
		}
	}
	return g
}

// Shapes are expensive to build: benchmarks share them.
var (
	shapesMu sync.Mutex
	shapes   = map[string]*group{}
)

// sharedGroup returns the group of shape "fresh" or "steady" with n
// members, built once per process, with its caches filled as a tree in use
// has them. Callers must not modify it.
func sharedGroup(tb testing.TB, shape string, n int) *group {
	tb.Helper()
	shapesMu.Lock()
	defer shapesMu.Unlock()
	key := fmt.Sprint(shape, n)
	if g, ok := shapes[key]; ok {
		return g
	}
	build := freshGroup
	if shape == "steady" {
		build = steadyGroup
	}
	g := build(tb, n)
	g.tree.TreeHash()
	for x := range NodeIndex(g.tree.nodeCount) {
		g.tree.resolutionSize(x)
	}
	shapes[key] = g
	return g
}
