package tree

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"slices"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/cipher"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/treemath"
)

// updatePathNodeLabel is the EncryptWithLabel label of path secrets
// (RFC 9420 §7.6).
const updatePathNodeLabel = "UpdatePathNode"

// Signer signs a committer's new leaf node; *cipher.Signer is one.
type Signer interface {
	SignWithLabel(label string, content []byte) ([]byte, error)
}

// Path is an UpdatePath a committer made, with what the committer keeps of
// it.
type Path struct {
	UpdatePath *mls.UpdatePath
	// Private holds the committer's private keys in the tree the path was
	// merged into.
	Private *Private
	// CommitSecret is the commit_secret of the key schedule (RFC 9420
	// §12.4.2): the path secret after the last one.
	CommitSecret []byte

	sender  LeafIndex
	nodes   []NodeIndex // the filtered direct path
	secrets [][]byte    // the path secret of each of nodes
}

// PathSecret returns the path secret for the GroupSecrets of a new member
// at leaf l (RFC 9420 §12.4.3.1): that of the lowest node on both the
// committer's and l's direct paths. It is nil when that node is not on the
// committer's filtered direct path, which cannot happen for a member the
// commit added.
func (p *Path) PathSecret(l LeafIndex) []byte {
	i := slices.Index(p.nodes, treemath.CommonAncestor(p.sender.NodeIndex(), l.NodeIndex()))
	if i < 0 {
		return nil
	}
	return p.secrets[i]
}

// CreateUpdatePath makes the UpdatePath of a commit by the member at sender
// (RFC 9420 §7.4-§7.6) and merges it into t, the tree with the commit's
// proposals applied. For an external commit sender is FreeLeaf(). leaf is
// the template of the committer's new leaf node: its encryption key,
// source, parent hash and signature are set here, signed by signer. gc is
// the provisional GroupContext; its tree_hash is replaced by t's after the
// merge, and the result encrypts each path secret to the resolution of the
// copath child, without the leaves in added (the members the commit adds).
// On error t is left in an unspecified state: work on a Clone.
func (t *Tree) CreateUpdatePath(sender LeafIndex, leaf mls.LeafNode, signer Signer, gc *mls.GroupContext, added []LeafIndex) (*Path, error) {
	if err := t.reserveLeaf(sender); err != nil {
		return nil, err
	}
	suite := t.suite
	nodes, copath := t.filteredPath(sender)
	// path_secret[0] is random and the one after the last is the commit
	// secret (§7.4).
	first := make([]byte, suite.HashLen())
	rand.Read(first)
	secrets := pathSecrets(suite, first, len(nodes)+1)
	kps, err := deriveNodeKeys(suite, secrets[:len(nodes)])
	if err != nil {
		return nil, err
	}
	private := &Private{suite: suite, leaf: sender, keys: make(map[NodeIndex]keyPair, len(nodes)+1)}
	keys := make([][]byte, len(nodes))
	for i, x := range nodes {
		private.keys[x], keys[i] = kps[i], kps[i].pub
	}
	leafPriv, leafPub, err := suite.GenerateHPKEKeyPair()
	if err != nil {
		return nil, err
	}
	private.keys[sender.NodeIndex()] = keyPair{priv: leafPriv, pub: leafPub}

	parentHashes, leafParentHash := t.pathParentHashes(copath, keys)
	leaf.EncryptionKey = leafPub
	leaf.Source = mls.LeafNodeSourceCommit
	leaf.Lifetime = mls.Lifetime{}
	leaf.ParentHash = leafParentHash
	leaf.Signature, err = signer.SignWithLabel(leafNodeTBSLabel, codec.Marshal(leaf.TBS(gc.GroupID, uint32(sender))))
	if err != nil {
		return nil, err
	}
	if err := t.mergePath(sender, &leaf, nodes, keys, parentHashes); err != nil {
		return nil, err
	}

	up := &mls.UpdatePath{LeafNode: leaf, Nodes: make([]mls.UpdatePathNode, len(nodes))}
	if err := t.encryptPathSecrets(up.Nodes, t.provisionalContext(gc), copath, keys, secrets, sortedLeaves(added)); err != nil {
		return nil, err
	}
	return &Path{
		UpdatePath: up, Private: private, CommitSecret: secrets[len(nodes)],
		sender: sender, nodes: nodes, secrets: secrets[:len(nodes)],
	}, nil
}

// pathSecrets returns n path secrets from first on: path_secret[i] =
// DeriveSecret(path_secret[i-1], "path") (RFC 9420 §7.4).
func pathSecrets(suite *cipher.Suite, first []byte, n int) [][]byte {
	secrets := make([][]byte, n)
	secrets[0] = first
	for i := 1; i < n; i++ {
		secrets[i] = suite.DeriveSecret(secrets[i-1], "path")
	}
	return secrets
}

// deriveNodeKeys derives the key pair of the node of each path secret
// (RFC 9420 §7.4), on GOMAXPROCS workers: each costs a KEM key derivation.
func deriveNodeKeys(suite *cipher.Suite, secrets [][]byte) ([]keyPair, error) {
	kps := make([]keyPair, len(secrets))
	err := forEach(len(secrets), 2, nil, func(i int) error {
		priv, pub, err := suite.DeriveHPKEKeyPair(suite.DeriveSecret(secrets[i], "node"))
		kps[i] = keyPair{priv: priv, pub: pub}
		return err
	})
	return kps, err
}

// encryptPathSecrets fills nodes (one per node of the filtered direct
// path) with the new public keys and each path secret encrypted to the
// resolution of the copath child minus added (RFC 9420 §7.5, §7.6). All
// seals share one label and context, so the HPKE key schedule's context is
// computed once; they run on GOMAXPROCS workers when there are many.
func (t *Tree) encryptPathSecrets(nodes []mls.UpdatePathNode, context []byte, copath []NodeIndex, keys, secrets [][]byte, added []LeafIndex) error {
	type seal struct {
		to, secret []byte
		out        *mls.HPKECiphertext
	}
	var seals []seal
	for i := range nodes {
		res := t.resolutionWithout(copath[i], added)
		nodes[i] = mls.UpdatePathNode{EncryptionKey: keys[i], EncryptedPathSecret: make([]mls.HPKECiphertext, len(res))}
		for j, x := range res {
			seals = append(seals, seal{to: t.encryptionKey(x), secret: secrets[i], out: &nodes[i].EncryptedPathSecret[j]})
		}
	}
	sealer := t.suite.NewLabeledSealer(updatePathNodeLabel, context)
	return forEach(len(seals), 8, nil, func(i int) error {
		s := &seals[i]
		var err error
		s.out.KEMOutput, s.out.Ciphertext, err = sealer.Seal(s.to, s.secret)
		return err
	})
}

// MergeUpdatePath validates the UpdatePath of a commit by the member at
// sender and merges its public keys into t (RFC 9420 §7.5, §12.4.2). t is
// the tree with the commit's proposals applied; added lists the leaves its
// Add proposals filled (and no other). For an external commit sender is
// FreeLeaf().
//
// It checks that the path has one node per node of the sender's filtered
// direct path and each node one ciphertext per node of its copath child's
// resolution (without added), that its keys are HPKE public keys of the
// suite and none of them is in the tree, that
// the new leaf is valid (ValidateLeaf with source commit) and carries the
// parent hash the path implies (§7.9.2). On error t is unchanged. After it,
// t.TreeHash() is the provisional GroupContext's tree_hash, and members
// decrypt their path secret with Private.DecryptUpdatePath.
func (t *Tree) MergeUpdatePath(sender LeafIndex, path *mls.UpdatePath, added []LeafIndex, p *Params) error {
	width := t.nodeCount
	if err := t.reserveLeaf(sender); err != nil {
		return err
	}
	nodes, parentHashes, err := t.checkUpdatePath(sender, path, sortedLeaves(added), p)
	if err != nil {
		t.resize(width)
		return err
	}
	keys := make([][]byte, len(nodes))
	for i := range nodes {
		keys[i] = path.Nodes[i].EncryptionKey
	}
	leaf := path.LeafNode
	return t.mergePath(sender, &leaf, nodes, keys, parentHashes)
}

// checkUpdatePath does MergeUpdatePath's checks and returns the filtered
// direct path and the parent_hash of each of its nodes.
func (t *Tree) checkUpdatePath(sender LeafIndex, path *mls.UpdatePath, added []LeafIndex, p *Params) (nodes []NodeIndex, parentHashes [][]byte, err error) {
	leaf := &path.LeafNode
	if leaf.Source != mls.LeafNodeSourceCommit {
		return nil, nil, fmt.Errorf("%w: UpdatePath leaf from %v", ErrLeafSource, leaf.Source)
	}
	for _, l := range added {
		if t.Leaf(l) == nil {
			return nil, nil, fmt.Errorf("%w: added leaf %d", ErrBlankLeaf, l)
		}
	}
	nodes, copath := t.filteredPath(sender)
	if len(path.Nodes) != len(nodes) {
		return nil, nil, fmt.Errorf("%w: %d nodes for a filtered direct path of %d", ErrPathLength, len(path.Nodes), len(nodes))
	}
	keys := make([][]byte, len(nodes))
	for i := range path.Nodes {
		n := &path.Nodes[i]
		if want := t.resolutionSizeWithout(copath[i], added); len(n.EncryptedPathSecret) != want {
			return nil, nil, fmt.Errorf("%w: node %d has %d, its copath child's resolution %d", ErrPathCiphertexts, nodes[i], len(n.EncryptedPathSecret), want)
		}
		if err := t.suite.ValidateHPKEPublicKey(n.EncryptionKey); err != nil {
			return nil, nil, fmt.Errorf("%w: UpdatePath key for node %d: %w", ErrPublicKey, nodes[i], err)
		}
		if x, ok := t.encKeys.get(n.EncryptionKey); ok {
			return nil, nil, fmt.Errorf("%w: UpdatePath key for node %d is at node %d", ErrDuplicateEncryptionKey, nodes[i], x)
		}
		if bytes.Equal(n.EncryptionKey, leaf.EncryptionKey) || slices.ContainsFunc(keys[:i], func(k []byte) bool { return bytes.Equal(k, n.EncryptionKey) }) {
			return nil, nil, fmt.Errorf("%w: UpdatePath repeats the key of node %d", ErrDuplicateEncryptionKey, nodes[i])
		}
		keys[i] = n.EncryptionKey
	}
	parentHashes, leafParentHash := t.pathParentHashes(copath, keys)
	if !bytes.Equal(leaf.ParentHash, leafParentHash) {
		return nil, nil, fmt.Errorf("%w: the committer's leaf %d does not link to its path", ErrParentHash, sender)
	}
	if err := t.ValidateLeaf(leaf, mls.LeafNodeSourceCommit, sender, p); err != nil {
		return nil, nil, err
	}
	return nodes, parentHashes, nil
}

// reserveLeaf makes sure leaf l is in the tree, extending it by one level
// for an external joiner at LeafCount.
func (t *Tree) reserveLeaf(l LeafIndex) error {
	switch n := t.LeafCount(); {
	case l == n:
		t.resize(2*t.nodeCount + 1)
	case l > n:
		return fmt.Errorf("%w: leaf %d of %d", ErrBlankLeaf, l, n)
	}
	return nil
}

// pathParentHashes computes top down the parent_hash of each node of a
// filtered direct path given its new keys, and the parent hash its leaf
// must carry (RFC 9420 §7.9). The new path nodes have no unmerged leaves,
// so each original sibling tree hash is the copath child's current hash.
func (t *Tree) pathParentHashes(copath []NodeIndex, keys [][]byte) (parentHashes [][]byte, leafParentHash []byte) {
	parentHashes = make([][]byte, len(keys))
	ph := []byte{}
	for i := len(keys) - 1; i >= 0; i-- {
		parentHashes[i] = ph
		ph = t.hashParent(keys[i], ph, t.nodeHash(copath[i]))
	}
	return parentHashes, ph
}

// mergePath puts the committer's new leaf at sender, blanks its direct path
// and sets the nodes of its filtered direct path (RFC 9420 §7.5).
func (t *Tree) mergePath(sender LeafIndex, leaf *mls.LeafNode, nodes []NodeIndex, keys, parentHashes [][]byte) error {
	if err := t.setLeaf(sender, leaf); err != nil {
		return err
	}
	t.blankDirectPath(sender)
	for i, x := range nodes {
		t.setNode(x, mls.Node{Parent: &mls.ParentNode{EncryptionKey: keys[i], ParentHash: parentHashes[i]}})
		if err := t.index(x); err != nil {
			return err
		}
	}
	return nil
}

// provisionalContext encodes gc with t's tree hash: the context of path
// secret encryption (RFC 9420 §12.4.2).
func (t *Tree) provisionalContext(gc *mls.GroupContext) []byte {
	c := *gc
	c.TreeHash = t.nodeHash(t.Root())
	return codec.Marshal(&c)
}

// sortedLeaves returns list sorted, copying it when it is not.
func sortedLeaves(list []LeafIndex) []LeafIndex {
	if slices.IsSorted(list) {
		return list
	}
	return slices.Sorted(slices.Values(list))
}
