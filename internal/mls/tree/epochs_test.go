package tree

import (
	"bytes"
	"errors"
	"maps"
	"slices"
	"testing"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/cipher"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/treemath"
)

// client is one member's view: its own copy of the tree and its keys.
type client struct {
	tree   *Tree
	keys   *Private
	signer *cipher.Signer
	leaf   *mls.LeafNode // an external joiner's leaf before it has one
}

// epochs drives a group through commits the way the group layer will:
// every client applies the proposals to a clone of its tree, the committer
// makes a path, the others merge and decrypt it, new members join with the
// path secret of their Welcome, and all must agree.
type epochs struct {
	t       *testing.T
	suite   *cipher.Suite
	params  *Params
	gc      mls.GroupContext
	clients map[LeafIndex]*client
}

// An applier applies a commit's proposals to the tree of the member at l
// and returns the leaves it added with their clients.
type applier func(l LeafIndex, tr *Tree) map[LeafIndex]*client

// commit has committer commit the proposals apply makes and checks that
// every member ends in the same state. An external joiner commits from a
// client already in e.clients at FreeLeaf.
func (e *epochs) commit(committer LeafIndex, apply applier) {
	t := e.t
	t.Helper()
	e.gc.Epoch++
	staged := map[LeafIndex]*Tree{}
	var joined map[LeafIndex]*client
	for l, c := range e.clients {
		staged[l] = c.tree.Clone()
		if applied := apply(l, staged[l]); applied != nil {
			joined = applied
		}
	}
	added := slices.Sorted(maps.Keys(joined))
	c := e.clients[committer]
	template := staged[committer].Leaf(committer)
	if template == nil {
		template = c.leaf
	}
	p, err := staged[committer].CreateUpdatePath(committer, *template, c.signer, &e.gc, added)
	if err != nil {
		t.Fatalf("epoch %d: %v", e.gc.Epoch, err)
	}
	c.tree, c.keys = staged[committer], p.Private
	enc := codec.Marshal(p.UpdatePath)
	for l, m := range e.clients {
		if l == committer {
			continue
		}
		if leaf := staged[l].Leaf(l); leaf == nil || !bytes.Equal(leaf.SignatureKey, m.signer.PublicKey()) {
			delete(e.clients, l) // removed, perhaps replaced by a new member
			continue
		}
		var path mls.UpdatePath
		if err := codec.Unmarshal(enc, &path); err != nil {
			t.Fatal(err)
		}
		if err := staged[l].MergeUpdatePath(committer, &path, added, e.params); err != nil {
			t.Fatalf("epoch %d, member %d: %v", e.gc.Epoch, l, err)
		}
		keys := m.keys.Clone()
		keys.Prune(staged[l])
		commitSecret, err := keys.DecryptUpdatePath(staged[l], committer, &path, added, &e.gc)
		if err != nil {
			t.Fatalf("epoch %d, member %d: %v", e.gc.Epoch, l, err)
		}
		if !bytes.Equal(commitSecret, p.CommitSecret) {
			t.Fatalf("epoch %d, member %d: commit secret differs", e.gc.Epoch, l)
		}
		m.tree, m.keys = staged[l], keys
	}
	// New members build the tree from the Welcome's ratchet_tree and get
	// the path secret of the lowest node they share with the committer.
	for l, m := range joined {
		tr, err := New(e.suite, c.tree.RatchetTree())
		if err != nil {
			t.Fatal(err)
		}
		if err := m.keys.ImportPathSecret(tr, treemath.CommonAncestor(committer.NodeIndex(), l.NodeIndex()), p.PathSecret(l)); err != nil {
			t.Fatalf("epoch %d, new member %d: %v", e.gc.Epoch, l, err)
		}
		m.tree = tr
		e.clients[l] = m
	}
	e.check()
}

// check verifies that every client has the same valid tree and holds the
// private key of every node on its direct path it should know: each
// non-blank node that does not list it as unmerged.
func (e *epochs) check() {
	t := e.t
	t.Helper()
	var hash []byte
	for l, c := range e.clients {
		if hash == nil {
			hash = c.tree.TreeHash()
			if err := c.tree.Verify(e.params); err != nil {
				t.Fatalf("epoch %d: %v", e.gc.Epoch, err)
			}
		}
		if !bytes.Equal(c.tree.TreeHash(), hash) {
			t.Fatalf("epoch %d: member %d has another tree", e.gc.Epoch, l)
		}
		for _, x := range append([]NodeIndex{l.NodeIndex()}, treemath.DirectPath(l.NodeIndex(), c.tree.width())...) {
			node := c.tree.Node(x)
			if node.Blank() || node.Parent != nil && containsLeaf(node.Parent.UnmergedLeaves, l) {
				continue
			}
			if kp, ok := c.keys.keys[x]; !ok || !bytes.Equal(kp.pub, c.tree.publicKey(x)) {
				t.Fatalf("epoch %d: member %d lacks the key of node %d", e.gc.Epoch, l, x)
			}
		}
	}
}

// newClient returns a new member's leaf and client state, its keys bound
// to its leaf once the tree holds it.
func (e *epochs) newClient(name string) (*mls.LeafNode, *client, []byte) {
	leaf, encPriv, signer := testLeaf(e.t, e.suite, name)
	return leaf, &client{signer: signer}, encPriv
}

// adder returns an applier adding new members.
func (e *epochs) adder(names ...string) applier {
	type newcomer struct {
		leaf    *mls.LeafNode
		c       *client
		encPriv []byte
	}
	var list []newcomer
	for _, name := range names {
		leaf, c, encPriv := e.newClient(name)
		list = append(list, newcomer{leaf, c, encPriv})
	}
	return func(_ LeafIndex, tr *Tree) map[LeafIndex]*client {
		joined := map[LeafIndex]*client{}
		for _, n := range list {
			if err := tr.ValidateLeaf(n.leaf, mls.LeafNodeSourceKeyPackage, 0, e.params); err != nil {
				e.t.Fatal(err)
			}
			l, err := tr.Add(n.leaf)
			if err != nil {
				e.t.Fatal(err)
			}
			if n.c.keys, err = NewPrivate(tr, l, n.encPriv); err != nil {
				e.t.Fatal(err)
			}
			joined[l] = n.c
		}
		return joined
	}
}

func TestEpochs(t *testing.T) {
	suite, err := cipher.Lookup(cipher.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	e := &epochs{t: t, suite: suite, params: &Params{GroupID: []byte("group")}, clients: map[LeafIndex]*client{}}
	e.gc = mls.GroupContext{Version: mls.MLS10, CipherSuite: mls.CipherSuite(suite.ID()), GroupID: e.params.GroupID}

	leaf, alice, encPriv := e.newClient("alice")
	if alice.tree, err = New(suite, mls.RatchetTree{{Leaf: leaf}}); err != nil {
		t.Fatal(err)
	}
	if alice.keys, err = NewPrivate(alice.tree, 0, encPriv); err != nil {
		t.Fatal(err)
	}
	e.clients[0] = alice

	// Alice adds five members: a path to nobody, six leaves in a tree of 8.
	e.commit(0, e.adder("bob", "carol", "dave", "erin", "frank"))
	// Bob commits: his path now reaches everyone.
	e.commit(1, func(LeafIndex, *Tree) map[LeafIndex]*client { return nil })
	// Carol removes Dave and adds Grace, who takes Dave's leaf, unmerged at
	// nodes Bob's commit set.
	addGrace := e.adder("grace")
	e.commit(2, func(l LeafIndex, tr *Tree) map[LeafIndex]*client {
		if err := tr.Remove(3); err != nil {
			t.Fatal(err)
		}
		return addGrace(l, tr)
	})
	if e.clients[3] == nil || !bytes.Equal(e.clients[3].tree.Leaf(3).Credential.Identity, []byte("grace")) {
		t.Fatal("grace is not at dave's leaf")
	}
	// Erin updates her leaf with a new key, and Frank commits it: Erin
	// decrypts with her new leaf key.
	update := *e.clients[4].tree.Leaf(4)
	erinPriv, erinPub, err := suite.GenerateHPKEKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	update.EncryptionKey, update.Source = erinPub, mls.LeafNodeSourceUpdate
	sign(t, &update, e.clients[4].signer, e.params.GroupID, 4)
	e.commit(5, func(l LeafIndex, tr *Tree) map[LeafIndex]*client {
		if err := tr.ValidateLeaf(&update, mls.LeafNodeSourceUpdate, 4, e.params); err != nil {
			t.Fatal(err)
		}
		if err := tr.Update(4, &update); err != nil {
			t.Fatal(err)
		}
		if l == 4 {
			if e.clients[4].keys, err = NewPrivate(tr, 4, erinPriv); err != nil {
				t.Fatal(err)
			}
		}
		return nil
	})
	// Frank removes the last two members: the tree shrinks to 4 leaves.
	e.commit(5, func(l LeafIndex, tr *Tree) map[LeafIndex]*client {
		for _, r := range []LeafIndex{4, 0} {
			if err := tr.Remove(r); err != nil {
				t.Fatal(err)
			}
		}
		return nil
	})
	if n := e.clients[5].tree.LeafCount(); n != 8 || len(e.clients) != 4 {
		t.Fatalf("%d leaves, %d members", n, len(e.clients))
	}
	e.commit(1, func(l LeafIndex, tr *Tree) map[LeafIndex]*client {
		if err := tr.Remove(5); err != nil {
			t.Fatal(err)
		}
		return nil
	})
	if n := e.clients[1].tree.LeafCount(); n != 4 {
		t.Fatalf("%d leaves after removing the last member, want 4", n)
	}
	// Two external joiners in turn: the first fills the blank leaf 0, the
	// second extends the tree.
	for i, want := range []LeafIndex{0, 4} {
		leaf, joiner, _ := e.newClient("external")
		joiner.leaf = leaf
		tr, err := New(suite, e.clients[1].tree.RatchetTree())
		if err != nil {
			t.Fatal(err)
		}
		if err := tr.Verify(e.params); err != nil {
			t.Fatal(err)
		}
		joiner.tree = tr
		l := tr.FreeLeaf()
		if l != want {
			t.Fatalf("joiner %d gets leaf %d, want %d", i, l, want)
		}
		e.clients[l] = joiner
		e.commit(l, func(LeafIndex, *Tree) map[LeafIndex]*client { return nil })
	}
	if n := e.clients[4].tree.LeafCount(); n != 8 || len(e.clients) != 5 {
		t.Fatalf("%d leaves, %d members", n, len(e.clients))
	}
}

// TestPrivateEncoding stores and loads the keys of every member of a
// steady group: the same keys come back.
func TestPrivateEncoding(t *testing.T) {
	g := sharedGroup(t, "steady", 7)
	for l := range g.tree.Members() {
		k := g.private(t, l)
		loaded, err := UnmarshalPrivate(g.tree.Suite(), codec.Marshal(k))
		if err != nil {
			t.Fatalf("member %d: %v", l, err)
		}
		if loaded.Leaf() != l || !maps.EqualFunc(loaded.keys, k.keys, func(a, b keyPair) bool {
			return bytes.Equal(a.priv, b.priv) && bytes.Equal(a.pub, b.pub)
		}) {
			t.Fatalf("member %d: keys differ after loading", l)
		}
	}
	// A node not above the leaf is refused.
	k := g.private(t, 0)
	k.keys[5] = keyPair{priv: []byte{1}, pub: []byte{2}}
	if _, err := UnmarshalPrivate(g.tree.Suite(), codec.Marshal(k)); !errors.Is(err, codec.ErrInvalidValue) {
		t.Fatalf("got %v", err)
	}
}
