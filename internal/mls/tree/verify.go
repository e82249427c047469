package tree

import (
	"fmt"
	"sync/atomic"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
)

// Verify checks what a joiner checks about the tree of the group it joins
// (RFC 9420 §12.4.3.1) beyond what New checks (shape, unmerged leaves, key
// uniqueness) and the tree hash, which the caller compares with the
// GroupInfo's: every leaf is valid (§7.3: capabilities, credential types
// supported by all members, signature) and every non-blank parent is
// parent-hash valid (§7.9.2). Signatures are verified in parallel, one
// worker per GOMAXPROCS, while the calling goroutine makes the other
// checks. Lifetimes are not checked: a member's key_package leaf may expire
// while it is in the group, and §7.3 makes the check on received trees only
// RECOMMENDED.
func (t *Tree) Verify(p *Params) error { return t.VerifyWith(p, nil) }

// VerifyWith is Verify that also runs also, when not nil, on the calling
// goroutine while the leaf signatures, the bulk of the work, are verified
// on others: a joiner compares the tree hash and checks the GroupInfo this
// way. also may use t; an error from it is reported first, before those of
// Verify, and stops the signature checks.
func (t *Tree) VerifyWith(p *Params, also func() error) error {
	// The workers read a list of the leaves, not t, whose caches the
	// calling goroutine fills.
	leaves := make([]*mls.LeafNode, t.LeafCount())
	for i := range leaves {
		leaves[i] = t.node(NodeIndex(2 * i)).Leaf
	}
	var stop atomic.Bool
	signatures := make(chan error, 1)
	go func() {
		signatures <- forEach(len(leaves), 16, &stop, func(l int) error {
			if leaves[l] == nil {
				return nil
			}
			return t.verifyLeafSignature(leaves[l], LeafIndex(l), p.GroupID)
		})
	}()
	err := t.verifyContent(p, also)
	if err != nil {
		stop.Store(true)
	}
	if sigErr := <-signatures; err == nil {
		err = sigErr
	}
	return err
}

// verifyContent runs also and makes the checks of Verify other than
// signatures, returning the first error.
func (t *Tree) verifyContent(p *Params, also func() error) error {
	if also != nil {
		if err := also(); err != nil {
			return err
		}
	}
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
	return t.VerifyParentHashes()
}
