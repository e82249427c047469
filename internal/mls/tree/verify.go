package tree

import "fmt"

// Verify checks what a joiner checks about the tree of the group it joins
// (RFC 9420 §12.4.3.1) beyond what New checks (shape, unmerged leaves, key
// uniqueness) and the tree hash, which the caller compares with the
// GroupInfo's: every leaf is valid (§7.3: capabilities, credential types
// supported by all members, signature) and every non-blank parent is
// parent-hash valid (§7.9.2). Signatures are verified in parallel, one
// worker per GOMAXPROCS. Lifetimes are not checked: a member's key_package
// leaf may expire while it is in the group, and §7.3 makes the check on
// received trees only RECOMMENDED.
func (t *Tree) Verify(p *Params) error {
	for used := range t.creds.used {
		if n := t.creds.supported[used]; n != t.members {
			return fmt.Errorf("%w: %d of %d members support %v, which members use", ErrCredentialType, n, t.members, used)
		}
	}
	for l, leaf := range t.Members() {
		if err := checkCapabilities(leaf, p.Required); err != nil {
			return fmt.Errorf("leaf %d: %w", l, err)
		}
	}
	if err := t.VerifyParentHashes(); err != nil {
		return err
	}
	return t.verifyLeafSignatures(p.GroupID)
}

// verifyLeafSignatures verifies every leaf's signature on GOMAXPROCS
// workers. It reports the failure of the leftmost bad leaf.
func (t *Tree) verifyLeafSignatures(groupID []byte) error {
	return forEach(int(t.LeafCount()), 16, func(l int) error {
		leaf := t.node(NodeIndex(2 * l)).Leaf
		if leaf == nil {
			return nil
		}
		return t.verifyLeafSignature(leaf, LeafIndex(l), groupID)
	})
}
