package tree

import (
	"bytes"
	"fmt"
	"maps"
	"slices"

	"golang.org/x/crypto/cryptobyte"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/cipher"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/treemath"
)

// Private is what a member knows of the tree beyond its public state: the
// HPKE private keys of its leaf and of the nodes of its direct path it holds
// (RFC 9420 §4.2). The Delivery Service has none; a member keeps one next
// to its Tree and clones both to stage a commit.
type Private struct {
	suite *cipher.Suite
	leaf  LeafIndex
	keys  map[NodeIndex]keyPair
}

// keyPair is a node's HPKE key pair. The public key tells whether the
// private key is still the node's: a key the tree no longer holds is never
// used.
type keyPair struct{ priv, pub []byte }

// NewPrivate returns the private state of the member at leaf l of t, whose
// leaf encryption private key is encryptionPriv: that of a new member, or of
// a member whose leaf an Update replaced (which also blanked its direct
// path).
func NewPrivate(t *Tree, l LeafIndex, encryptionPriv []byte) (*Private, error) {
	leaf := t.Leaf(l)
	if leaf == nil {
		return nil, fmt.Errorf("%w: private key for leaf %d", ErrBlankLeaf, l)
	}
	pub, err := t.suite.HPKEPublicKey(encryptionPriv)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPrivateKey, err)
	}
	if !bytes.Equal(pub, leaf.EncryptionKey) {
		return nil, fmt.Errorf("%w: leaf %d", ErrPrivateKey, l)
	}
	return &Private{suite: t.suite, leaf: l, keys: map[NodeIndex]keyPair{l.NodeIndex(): {priv: encryptionPriv, pub: pub}}}, nil
}

// MarshalMLS encodes k for a member's stored state: its leaf index, then
// each node's index, private key and public key, in node order:
//
//	struct { uint32 node; opaque priv<V>; opaque pub<V>; } NodeKey;
//	struct { uint32 leaf; NodeKey keys<V>; } Private;
func (k *Private) MarshalMLS(b *cryptobyte.Builder) {
	b.AddUint32(uint32(k.leaf))
	codec.AddVector(b, func(b *cryptobyte.Builder) {
		for _, x := range slices.Sorted(maps.Keys(k.keys)) {
			b.AddUint32(uint32(x))
			codec.AddOpaque(b, k.keys[x].priv)
			codec.AddOpaque(b, k.keys[x].pub)
		}
	})
}

// UnmarshalPrivate decodes what Private.MarshalMLS wrote, for suite: nodes
// in increasing order, each the leaf or above it. The keys are checked
// against a tree when they are used.
func UnmarshalPrivate(suite *cipher.Suite, data []byte) (*Private, error) {
	d := codec.NewDecoder(data)
	k := &Private{suite: suite, leaf: LeafIndex(d.Uint32()), keys: map[NodeIndex]keyPair{}}
	d.Vector(func(d *codec.Decoder) {
		for prev := -1; !d.Empty(); {
			x := NodeIndex(d.Uint32())
			kp := keyPair{priv: bytes.Clone(d.Opaque()), pub: bytes.Clone(d.Opaque())}
			if int(x) <= prev || !x.IsAncestor(k.leaf.NodeIndex()) {
				d.Invalid("key of node %d for leaf %d", x, k.leaf)
			}
			k.keys[x], prev = kp, int(x)
		}
	})
	if err := d.Finish(); err != nil {
		return nil, err
	}
	return k, nil
}

// Leaf returns the member's leaf index.
func (k *Private) Leaf() LeafIndex { return k.leaf }

// Clone returns an independent copy of k.
func (k *Private) Clone() *Private {
	return &Private{suite: k.suite, leaf: k.leaf, keys: maps.Clone(k.keys)}
}

// Prune forgets the private keys of nodes whose public key in t is no
// longer the one they were made for: nodes that an Update or Remove blanked
// or another member's path replaced (the deletion of RFC 9420 §7.5).
func (k *Private) Prune(t *Tree) {
	maps.DeleteFunc(k.keys, func(x NodeIndex, kp keyPair) bool {
		return !bytes.Equal(kp.pub, t.publicKey(x))
	})
}

// ImportPathSecret sets the keys of node x, an ancestor of the member's
// leaf, from pathSecret, and those of every non-blank node above it from the
// path secrets that follow (RFC 9420 §12.4.3.1): a new member does this with
// the path secret of its Welcome, x being the lowest node on both its and
// the committer's direct paths. Every derived public key must be the one in
// t.
func (k *Private) ImportPathSecret(t *Tree, x NodeIndex, pathSecret []byte) error {
	if x.IsLeaf() || !x.IsAncestor(k.leaf.NodeIndex()) || int(x) >= t.nodeCount {
		return fmt.Errorf("%w: node %d is not above leaf %d", ErrPathSecret, x, k.leaf)
	}
	if t.node(x).Blank() {
		return fmt.Errorf("%w: node %d is blank", ErrPathSecret, x)
	}
	keys := k.Clone()
	secret := pathSecret
	for y := x; ; {
		if !t.node(y).Blank() {
			if err := keys.setPathSecret(t, y, secret); err != nil {
				return err
			}
			secret = k.suite.DeriveSecret(secret, "path")
		}
		var ok bool
		if y, ok = y.Parent(t.width()); !ok {
			break
		}
	}
	k.keys = keys.keys
	return nil
}

// setPathSecret derives node x's key pair from its path secret and keeps
// it, after checking that its public key is x's in t.
func (k *Private) setPathSecret(t *Tree, x NodeIndex, pathSecret []byte) error {
	kps, err := deriveNodeKeys(k.suite, [][]byte{pathSecret})
	if err != nil {
		return err
	}
	if !bytes.Equal(kps[0].pub, t.publicKey(x)) {
		return fmt.Errorf("%w: node %d", ErrPathSecret, x)
	}
	k.keys[x] = kps[0]
	return nil
}

// DecryptUpdatePath decrypts the path secret meant for this member in the
// UpdatePath of a commit by the member at sender, derives the keys of the
// nodes above it (RFC 9420 §7.5) and returns the commit secret. t is the
// tree after MergeUpdatePath; added and gc are as given to it and to
// CreateUpdatePath. Every derived public key must be the path's. On error k
// is unchanged.
func (k *Private) DecryptUpdatePath(t *Tree, sender LeafIndex, path *mls.UpdatePath, added []LeafIndex, gc *mls.GroupContext) (commitSecret []byte, err error) {
	_, commitSecret, err = k.decryptPath(t, sender, path, added, gc)
	return commitSecret, err
}

// decryptPath is DecryptUpdatePath, also returning the path secret that was
// decrypted.
func (k *Private) decryptPath(t *Tree, sender LeafIndex, path *mls.UpdatePath, added []LeafIndex, gc *mls.GroupContext) (pathSecret, commitSecret []byte, err error) {
	nodes, copath := t.filteredPath(sender)
	if len(path.Nodes) != len(nodes) {
		return nil, nil, fmt.Errorf("%w: %d nodes for a filtered direct path of %d", ErrPathLength, len(path.Nodes), len(nodes))
	}
	lca := treemath.CommonAncestor(sender.NodeIndex(), k.leaf.NodeIndex())
	i := slices.Index(nodes, lca)
	if i < 0 {
		return nil, nil, fmt.Errorf("%w: node %d, above leaves %d and %d, is not on the sender's filtered direct path", ErrNoPrivateKey, lca, sender, k.leaf)
	}
	res := t.resolutionWithout(copath[i], sortedLeaves(added))
	cts := path.Nodes[i].EncryptedPathSecret
	if len(cts) != len(res) {
		return nil, nil, fmt.Errorf("%w: node %d has %d, its copath child's resolution %d", ErrPathCiphertexts, lca, len(cts), len(res))
	}
	j := slices.IndexFunc(res, func(x NodeIndex) bool {
		kp, ok := k.keys[x]
		return ok && bytes.Equal(kp.pub, t.publicKey(x))
	})
	if j < 0 {
		return nil, nil, fmt.Errorf("%w: none for the resolution of node %d", ErrNoPrivateKey, copath[i])
	}
	pathSecret, err = k.suite.DecryptWithLabel(k.keys[res[j]].priv, updatePathNodeLabel, t.provisionalContext(gc), cts[j].KEMOutput, cts[j].Ciphertext)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: for node %d: %w", ErrPathSecret, lca, err)
	}
	keys := k.Clone()
	// The nodes the sender's path blanked or replaced above the common
	// ancestor are on this member's direct path too.
	for _, y := range treemath.DirectPath(sender.NodeIndex(), t.width()) {
		if y.Level() >= lca.Level() {
			delete(keys.keys, y)
		}
	}
	secrets := pathSecrets(k.suite, pathSecret, len(nodes)-i+1)
	kps, err := deriveNodeKeys(k.suite, secrets[:len(nodes)-i])
	if err != nil {
		return nil, nil, err
	}
	for j, kp := range kps {
		x := nodes[i+j]
		if !bytes.Equal(kp.pub, path.Nodes[i+j].EncryptionKey) || !bytes.Equal(kp.pub, t.publicKey(x)) {
			return nil, nil, fmt.Errorf("%w: node %d (is the path merged into the tree?)", ErrPathSecret, x)
		}
		keys.keys[x] = kp
	}
	k.keys = keys.keys
	return pathSecret, secrets[len(secrets)-1], nil
}
