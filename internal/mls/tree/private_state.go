package tree

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
)

// NodeKey is the HPKE private key a member holds for a node, as stored
// with the member's state.
type NodeKey struct {
	Node NodeIndex
	Priv []byte
}

// Keys returns the private keys k holds, in node order, for storage.
func (k *Private) Keys() []NodeKey {
	keys := make([]NodeKey, 0, len(k.keys))
	for _, x := range slices.Sorted(maps.Keys(k.keys)) {
		keys = append(keys, NodeKey{Node: x, Priv: k.keys[x].priv})
	}
	return keys
}

// RestorePrivate rebuilds the private state of the member at leaf l of t
// from keys that Keys returned. Each key must be the private key of its
// node's public key in t, and the leaf's key must be among them.
func RestorePrivate(t *Tree, l LeafIndex, keys []NodeKey) (*Private, error) {
	k := &Private{suite: t.suite, leaf: l, keys: make(map[NodeIndex]keyPair, len(keys))}
	for _, nk := range keys {
		pub, err := t.suite.HPKEPublicKey(nk.Priv)
		if err != nil {
			return nil, fmt.Errorf("%w: node %d: %w", ErrPrivateKey, nk.Node, err)
		}
		if want := t.publicKey(nk.Node); want == nil || !bytes.Equal(pub, want) {
			return nil, fmt.Errorf("%w: node %d", ErrPrivateKey, nk.Node)
		}
		k.keys[nk.Node] = keyPair{priv: nk.Priv, pub: pub}
	}
	if _, ok := k.keys[l.NodeIndex()]; !ok {
		return nil, fmt.Errorf("%w: no key for leaf %d", ErrPrivateKey, l)
	}
	return k, nil
}
