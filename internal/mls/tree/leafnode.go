package tree

import (
	"fmt"
	"time"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
)

// Params are the group-level inputs of leaf node validation
// (RFC 9420 §7.3). The credential types in use and the keys already taken
// come from the tree itself.
type Params struct {
	// GroupID is signed by leaves from an update or a commit.
	GroupID []byte
	// Required is the group's required_capabilities extension, nil when the
	// GroupContext has none.
	Required *mls.RequiredCapabilities
	// Now, when not zero, is the time a key_package leaf's lifetime must
	// contain.
	Now time.Time
	// MaxLifetime, when not zero, is the longest lifetime accepted for a
	// key_package leaf (the application's limit of §7.2).
	MaxLifetime time.Duration
}

// leafNodeTBSLabel is the signature label of LeafNodeTBS (RFC 9420 §7.2).
const leafNodeTBSLabel = "LeafNodeTBS"

// ValidateLeaf checks leaf as RFC 9420 §7.3 requires before it enters the
// tree with the given source: key_package for an Add (the leaf of a key
// package), update for an Update proposal from the member at l, commit for
// the leaf of an UpdatePath from the member (or new joiner) at l. l is
// ignored for key_package. It checks the source, the capabilities against
// the leaf's own credential and extensions and the group's required ones,
// mutual support of credential types with the other members, the lifetime,
// that its encryption key is one of the suite, that its keys are not used by
// another node (for update and commit the encryption key must also differ
// from the replaced leaf's) and the signature. Credential validation (§5.3.1) is the caller's.
func (t *Tree) ValidateLeaf(leaf *mls.LeafNode, source mls.LeafNodeSource, l LeafIndex, p *Params) error {
	if leaf.Source != source {
		return fmt.Errorf("%w: %v where %v is required", ErrLeafSource, leaf.Source, source)
	}
	var replaced *mls.LeafNode
	if source != mls.LeafNodeSourceKeyPackage {
		replaced = t.Leaf(l)
	}
	if err := t.checkLeafContent(leaf, replaced, p); err != nil {
		return err
	}
	if err := t.suite.ValidateHPKEPublicKey(leaf.EncryptionKey); err != nil {
		return fmt.Errorf("%w: leaf's encryption key: %w", ErrPublicKey, err)
	}
	if x, ok := t.encKeys.get(leaf.EncryptionKey); ok {
		return fmt.Errorf("%w: leaf's key is already at node %d", ErrDuplicateEncryptionKey, x)
	}
	if x, ok := t.sigKeys.get(leaf.SignatureKey); ok && (replaced == nil || x != l.NodeIndex()) {
		return fmt.Errorf("%w: leaf's key is already at leaf %d", ErrDuplicateSignatureKey, x/2)
	}
	return t.verifyLeafSignature(leaf, l, p.GroupID)
}

// checkLeafContent checks everything of §7.3 that is not a signature or a
// key: capabilities, credential types and lifetime. replaced is the leaf
// that leaf would replace, whose member is not one of the "other members".
func (t *Tree) checkLeafContent(leaf, replaced *mls.LeafNode, p *Params) error {
	if err := checkCapabilities(leaf, p.Required); err != nil {
		return err
	}
	// Every other member supports leaf's credential type, and leaf supports
	// every type the other members use.
	typ := leaf.Credential.Type
	others, supporting := t.members, t.creds.supported[typ]
	if replaced != nil {
		others--
		if replaced.Capabilities.SupportsCredential(typ) {
			supporting--
		}
	}
	if supporting != others {
		return fmt.Errorf("%w: %d of %d other members support %v", ErrCredentialType, supporting, others, typ)
	}
	for used, n := range t.creds.used {
		if replaced != nil && replaced.Credential.Type == used {
			n--
		}
		if n > 0 && !leaf.Capabilities.SupportsCredential(used) {
			return fmt.Errorf("%w: leaf does not support %v, which members use", ErrCredentialType, used)
		}
	}
	if leaf.Source == mls.LeafNodeSourceKeyPackage {
		return checkLifetime(&leaf.Lifetime, p)
	}
	return nil
}

// checkCapabilities checks that leaf's capabilities list its own
// credential type and every non-default extension it carries (§7.2), and
// what the group requires (§11.1). Default proposal and extension types are
// supported by every client and are not listed.
func checkCapabilities(leaf *mls.LeafNode, required *mls.RequiredCapabilities) error {
	c := &leaf.Capabilities
	if !c.SupportsCredential(leaf.Credential.Type) {
		return fmt.Errorf("%w: its own credential type %v", ErrCapabilities, leaf.Credential.Type)
	}
	for i := range leaf.Extensions {
		if typ := leaf.Extensions[i].Type; !defaultExtension(typ) && !c.SupportsExtension(typ) {
			return fmt.Errorf("%w: %v", ErrUnsupportedExtension, typ)
		}
	}
	if required == nil {
		return nil
	}
	for _, typ := range required.ExtensionTypes {
		if !defaultExtension(typ) && !c.SupportsExtension(typ) {
			return fmt.Errorf("%w: extension %v", ErrCapabilities, typ)
		}
	}
	for _, typ := range required.ProposalTypes {
		if !defaultProposal(typ) && !c.SupportsProposal(typ) {
			return fmt.Errorf("%w: proposal %v", ErrCapabilities, typ)
		}
	}
	for _, typ := range required.CredentialTypes {
		if !c.SupportsCredential(typ) {
			return fmt.Errorf("%w: credential %v", ErrCapabilities, typ)
		}
	}
	return nil
}

// defaultExtension reports whether t is one of the extension types of
// RFC 9420 §7.2 that every client supports without listing.
func defaultExtension(t mls.ExtensionType) bool {
	return t >= mls.ExtensionApplicationID && t <= mls.ExtensionExternalSenders
}

// defaultProposal reports whether t is one of the proposal types of
// RFC 9420 §7.2 that every client supports without listing.
func defaultProposal(t mls.ProposalType) bool {
	return t >= mls.ProposalAdd && t <= mls.ProposalGroupContextExtensions
}

// checkLifetime checks a key_package leaf's lifetime against p.Now and
// p.MaxLifetime.
func checkLifetime(lt *mls.Lifetime, p *Params) error {
	if lt.NotBefore > lt.NotAfter {
		return fmt.Errorf("%w: not_before %d after not_after %d", ErrLifetime, lt.NotBefore, lt.NotAfter)
	}
	if p.MaxLifetime > 0 && lt.NotAfter-lt.NotBefore > uint64(p.MaxLifetime/time.Second) {
		return fmt.Errorf("%w: %d s is longer than %v", ErrLifetime, lt.NotAfter-lt.NotBefore, p.MaxLifetime)
	}
	if !p.Now.IsZero() {
		if now := p.Now.Unix(); now < 0 || uint64(now) < lt.NotBefore || uint64(now) > lt.NotAfter {
			return fmt.Errorf("%w: %d is outside %d..%d", ErrLifetime, now, lt.NotBefore, lt.NotAfter)
		}
	}
	return nil
}

// verifyLeafSignature checks leaf's signature over its LeafNodeTBS for leaf
// index l in group groupID (RFC 9420 §7.2).
func (t *Tree) verifyLeafSignature(leaf *mls.LeafNode, l LeafIndex, groupID []byte) error {
	if err := t.suite.VerifyValueWithLabel(leaf.SignatureKey, leafNodeTBSLabel, leaf.TBS(groupID, uint32(l)), leaf.Signature); err != nil {
		return fmt.Errorf("%w: leaf %d: %w", ErrLeafSignature, l, err)
	}
	return nil
}
