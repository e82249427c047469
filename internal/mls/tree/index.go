package tree

import (
	"fmt"
	"maps"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
)

// keyIndex maps public keys to the node holding them, for the uniqueness
// rules of RFC 9420 §7.3 in O(1). Clones share base, which is not modified
// once shared, and copy delta, the changes since: a clone costs O(|delta|),
// and delta is folded into a new, unshared base once it grows past a
// fraction of it, which keeps lookups O(1) and the folding amortised O(1)
// per change. Until an index is cloned, changes go straight to base.
type keyIndex struct {
	base   map[string]NodeIndex
	delta  map[string]NodeIndex // removed marks a key deleted from base
	shared bool                 // base is shared with a clone
}

// removed is a NodeIndex no tree reaches (NodeWidth(2^31) < 2^32-1).
const removed = ^NodeIndex(0)

// newKeyIndex returns an empty index with room for size keys.
func newKeyIndex(size int) keyIndex {
	return keyIndex{base: make(map[string]NodeIndex, size), delta: map[string]NodeIndex{}}
}

func (k *keyIndex) get(key []byte) (NodeIndex, bool) {
	if x, ok := k.delta[string(key)]; ok {
		return x, x != removed
	}
	x, ok := k.base[string(key)]
	return x, ok
}

func (k *keyIndex) put(key []byte, x NodeIndex) {
	if !k.shared {
		k.base[string(key)] = x
		return
	}
	k.delta[string(key)] = x
	k.fold()
}

func (k *keyIndex) delete(key []byte) {
	if !k.shared {
		delete(k.base, string(key))
		return
	}
	if _, ok := k.base[string(key)]; ok {
		k.delta[string(key)] = removed
	} else {
		delete(k.delta, string(key))
	}
	k.fold()
}

// fold makes a new base when delta has grown past 1/32 of it, which
// balances the cost of cloning delta with that of folding it for trees of
// thousands of members and commits of tens of key changes.
func (k *keyIndex) fold() {
	if len(k.delta) <= 64+len(k.base)/32 {
		return
	}
	base := make(map[string]NodeIndex, len(k.base)+len(k.delta))
	maps.Copy(base, k.base)
	for key, x := range k.delta {
		if x == removed {
			delete(base, key)
		} else {
			base[key] = x
		}
	}
	k.base, k.delta, k.shared = base, map[string]NodeIndex{}, false
}

// clone returns a copy of k; both then share base.
func (k *keyIndex) clone() keyIndex {
	k.shared = true
	return keyIndex{base: k.base, delta: maps.Clone(k.delta), shared: true}
}

// credentialStats counts, for each credential type, the members using it
// and the members whose capabilities list it, so that the credential rules
// of RFC 9420 §7.3 cost O(types) rather than O(members).
type credentialStats struct {
	used      map[mls.CredentialType]int
	supported map[mls.CredentialType]int
}

func newCredentialStats() credentialStats {
	return credentialStats{used: map[mls.CredentialType]int{}, supported: map[mls.CredentialType]int{}}
}

func (c *credentialStats) clone() credentialStats {
	return credentialStats{used: maps.Clone(c.used), supported: maps.Clone(c.supported)}
}

// count adds (delta 1) or removes (delta -1) leaf.
func (c *credentialStats) count(leaf *mls.LeafNode, delta int) {
	bump(c.used, leaf.Credential.Type, delta)
	types := leaf.Capabilities.Credentials
	for i, typ := range types {
		if !containsBefore(types, i, typ) {
			bump(c.supported, typ, delta)
		}
	}
}

// containsBefore reports whether list[:i] holds v.
func containsBefore[T comparable](list []T, i int, v T) bool {
	for _, w := range list[:i] {
		if w == v {
			return true
		}
	}
	return false
}

func bump(m map[mls.CredentialType]int, typ mls.CredentialType, delta int) {
	if m[typ] += delta; m[typ] == 0 {
		delete(m, typ)
	}
}

// index records node x's keys and, for a leaf, its member and credential.
// It fails, leaving the indexes unchanged, when a key is already used by
// another node.
func (t *Tree) index(x NodeIndex) error {
	node := t.node(x)
	if node.Blank() {
		return nil
	}
	enc := t.encryptionKey(x)
	if y, ok := t.encKeys.get(enc); ok {
		return fmt.Errorf("%w: nodes %d and %d", ErrDuplicateEncryptionKey, y, x)
	}
	if leaf := node.Leaf; leaf != nil {
		if y, ok := t.sigKeys.get(leaf.SignatureKey); ok {
			return fmt.Errorf("%w: leaves %d and %d", ErrDuplicateSignatureKey, y/2, x/2)
		}
		t.sigKeys.put(leaf.SignatureKey, x)
		t.creds.count(leaf, 1)
		t.members++
	}
	t.encKeys.put(enc, x)
	return nil
}

// unindex forgets what index recorded for node x.
func (t *Tree) unindex(x NodeIndex) {
	node := t.node(x)
	if node.Blank() {
		return
	}
	t.encKeys.delete(t.encryptionKey(x))
	if leaf := node.Leaf; leaf != nil {
		t.sigKeys.delete(leaf.SignatureKey)
		t.creds.count(leaf, -1)
		t.members--
	}
}
