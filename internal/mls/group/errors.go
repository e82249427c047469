package group

import (
	"errors"
	"fmt"

	"github.com/matrix-org/dendrite/msc4244/internal/mls/framing"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/tree"
)

// Rule is an RFC 9420 rule a message, a proposal list or a group state can
// break. Every rejection this package returns wraps exactly one Rule as its
// first wrapped error, so callers can branch with errors.Is, or find the
// rule with RuleOf and report its Name (the Delivery Service puts the whole
// error text in its rejection and counts rejections by Name).
type Rule struct {
	// Name is a short stable identifier, such as "wrong_epoch".
	Name string
	// Section is where RFC 9420 states the rule, such as "§6".
	Section string
	text    string
}

func (r *Rule) Error() string { return fmt.Sprintf("mls group: %s (RFC 9420 %s)", r.text, r.Section) }

// RuleOf returns the rule err broke, or nil when err wraps none.
func RuleOf(err error) *Rule {
	var r *Rule
	if errors.As(err, &r) {
		return r
	}
	return nil
}

func rule(name, section, text string) *Rule { return &Rule{Name: name, Section: section, text: text} }

// Rules of message framing and senders (RFC 9420 §6, §12.1.8).
var (
	// ErrMalformed: a message or state does not parse, or is of a wire
	// format or content type that cannot be used where it was given.
	ErrMalformed = rule("malformed", "§6", "malformed message")
	// ErrWrongGroup: a message is for another group.
	ErrWrongGroup = rule("wrong_group", "§6", "message for another group")
	// ErrWrongEpoch: a message is not for the group's current epoch.
	ErrWrongEpoch = rule("wrong_epoch", "§6", "message for another epoch")
	// ErrUnknownSender: a member sender's leaf is blank or outside the
	// tree, or an external sender's index is not in external_senders.
	ErrUnknownSender = rule("unknown_sender", "§6", "sender is not in the group")
	// ErrSenderType: the sender type may not send this content, such as a
	// commit from an external sender or a new_member_proposal that is not
	// an Add (§12.1.8, §12.4.3.2).
	ErrSenderType = rule("sender_type", "§12.1.8", "sender type may not send this content")
	// ErrSignature: the signature over FramedContentTBS does not verify
	// with the sender's key (§6.1).
	ErrSignature = rule("bad_signature", "§6.1", "signature does not verify")
	// ErrMembershipTag: a member's PublicMessage lacks its membership tag,
	// carries a tag of the wrong length or one that does not verify, or a
	// non-member's message carries one (§6.2).
	ErrMembershipTag = rule("membership_tag", "§6.2", "membership tag missing or invalid")
	// ErrDecrypt: a PrivateMessage does not decrypt (§6.3).
	ErrDecrypt = rule("decrypt", "§6.3", "private message does not decrypt")
	// ErrGeneration: a PrivateMessage's generation was used, dropped out of
	// the window of retained keys, or is too far ahead (§9.2).
	ErrGeneration = rule("generation", "§9.2", "message key generation unavailable")
)

// Rules of individual proposals (RFC 9420 §10.1, §12.1).
var (
	// ErrKeyPackage: an Add's KeyPackage is invalid: version or cipher suite
	// not the group's, bad signature, init key equal to the encryption key,
	// an extension its capabilities do not list (§10, §10.1).
	ErrKeyPackage = rule("invalid_key_package", "§10.1", "invalid KeyPackage")
	// ErrLeafNode: a leaf node is invalid (§7.3); the error also wraps the
	// tree package's error naming which check failed.
	ErrLeafNode = rule("invalid_leaf_node", "§7.3", "invalid leaf node")
	// ErrRemoveBlank: a Remove names a blank leaf or one outside the tree
	// (§12.1.3).
	ErrRemoveBlank = rule("remove_blank_leaf", "§12.1.3", "Remove of a blank leaf")
	// ErrPSK: a PreSharedKey proposal is invalid: a resumption PSK of usage
	// reinit or branch, or a nonce that is not KDF.Nh long (§12.1.4).
	ErrPSK = rule("invalid_psk", "§12.1.4", "invalid PreSharedKey proposal")
	// ErrReInit: a ReInit lowers the protocol version (§12.1.5).
	ErrReInit = rule("invalid_reinit", "§12.1.5", "invalid ReInit proposal")
	// ErrExtensions: a GroupContextExtensions proposal, or a group context,
	// holds an extension that some member does not support, an extension
	// type twice, or a required_capabilities extension that some member
	// does not meet (§11.1, §12.1.7, §13.4).
	ErrExtensions = rule("unsupported_extension", "§12.1.7", "group context extensions not supported by every member")
	// ErrExternalProposal: an external sender proposed a type it may not
	// send, or a new member proposed anything but adding itself (§12.1.8).
	ErrExternalProposal = rule("external_proposal", "§12.1.8", "proposal type not allowed from this sender")
)

// Rules of proposal lists (RFC 9420 §12.2, §12.4.3.2).
var (
	// ErrUnknownProposal: a commit references a proposal the group has not
	// received in this epoch.
	ErrUnknownProposal = rule("unknown_proposal", "§12.4", "commit references an unknown proposal")
	// ErrCommitterUpdate: the committer commits its own Update.
	ErrCommitterUpdate = rule("committer_update", "§12.2", "commit covers an Update from the committer")
	// ErrCommitterRemoved: the commit removes its committer.
	ErrCommitterRemoved = rule("committer_removed", "§12.2", "commit removes the committer")
	// ErrSameLeaf: two Update or Remove proposals change the same leaf.
	ErrSameLeaf = rule("same_leaf_changed_twice", "§12.2", "several Update or Remove proposals for one leaf")
	// ErrDuplicateAdd: two Adds bring the same client (signature key).
	ErrDuplicateAdd = rule("duplicate_add", "§12.2", "several Adds of the same client")
	// ErrAlreadyMember: an Add brings a client that is a member and is not
	// removed by the same commit.
	ErrAlreadyMember = rule("add_of_member", "§12.2", "Add of a client already in the group")
	// ErrDuplicatePSK: two PreSharedKey proposals name the same PSK.
	ErrDuplicatePSK = rule("duplicate_psk", "§12.2", "several PreSharedKey proposals for one PSK")
	// ErrSeveralGCE: more than one GroupContextExtensions proposal.
	ErrSeveralGCE = rule("several_group_context_extensions", "§12.2", "several GroupContextExtensions proposals")
	// ErrReInitNotAlone: a ReInit together with other proposals.
	ErrReInitNotAlone = rule("reinit_not_alone", "§12.2", "ReInit together with other proposals")
	// ErrExternalInit: an ExternalInit in a commit that is not external.
	ErrExternalInit = rule("external_init_in_commit", "§12.2", "ExternalInit outside an external commit")
	// ErrRequiredProposal: a commit leaves out a proposal the group's
	// follower marked as required (PublicGroup.Require), such as the
	// Delivery Service's Remove of a member who left; an application rule
	// of the kind §12.2 allows.
	ErrRequiredProposal = rule("missing_required_proposal", "§12.2", "commit leaves out a required proposal")
	// ErrExternalCommit: an external commit that does not have exactly one
	// ExternalInit, at most one Remove (of the joiner's old leaf) and
	// otherwise only PreSharedKey proposals, all by value (§12.4.3.2).
	ErrExternalCommit = rule("invalid_external_commit", "§12.4.3.2", "invalid external commit")
)

// Rules of commits (RFC 9420 §7, §8, §12.4).
var (
	// ErrPathRequired: a commit without path that covers no proposal, or a
	// proposal whose type requires a path (§12.4).
	ErrPathRequired = rule("path_required", "§12.4", "commit without the required path")
	// ErrPath: an UpdatePath is invalid: its length or ciphertext counts
	// do not fit the tree, its leaf keeps the committer's encryption key,
	// or its secrets do not match its keys (§7.5, §7.6, §12.4.2); the error
	// wraps the tree package's error naming which.
	ErrPath = rule("invalid_path", "§12.4.2", "invalid UpdatePath")
	// ErrParentHash: a parent hash does not verify (§7.9.2).
	ErrParentHash = rule("bad_parent_hash", "§7.9.2", "parent hash not valid")
	// ErrDuplicateKey: a key that must be unique in the tree is used twice
	// (§7.3, §12.4.2).
	ErrDuplicateKey = rule("duplicate_key", "§7.3", "encryption or signature key not unique")
	// ErrConfirmationTag: a commit's or GroupInfo's confirmation tag is
	// not the one its epoch's confirmation key gives (§8.2).
	ErrConfirmationTag = rule("confirmation_tag", "§8.2", "confirmation tag does not verify")
	// ErrMissingPSK: a PSK the commit or Welcome names is not available.
	ErrMissingPSK = rule("missing_psk", "§8.4", "pre-shared key not available")
	// ErrRemoved: this member was removed; the group can no longer be
	// used to send.
	ErrRemoved = rule("removed", "§12.4.2", "this member is no longer in the group")
	// ErrReInitPending: a ReInit was committed; the group can no longer be
	// used to send (§12.4.2).
	ErrReInitPending = rule("reinit_pending", "§12.4.2", "group was reinitialised")
)

// Rules of GroupInfo, trees and joining (RFC 9420 §12.4.3).
var (
	// ErrGroupInfoSignature: a GroupInfo's signer is not a member or its
	// signature does not verify (§12.4.3).
	ErrGroupInfoSignature = rule("group_info_signature", "§12.4.3", "GroupInfo signature not valid")
	// ErrGroupInfoMismatch: a committer's GroupInfo does not describe the
	// epoch its commit creates: another group context, confirmation tag,
	// signer or ratchet tree.
	ErrGroupInfoMismatch = rule("group_info_mismatch", "§12.4.3", "GroupInfo does not match the commit")
	// ErrTreeHash: a ratchet tree's hash is not the group context's.
	ErrTreeHash = rule("tree_hash", "§12.4.3.1", "ratchet tree does not match the tree hash")
	// ErrTree: a ratchet tree is invalid (shape, unmerged leaves, keys,
	// leaves); the error wraps the tree package's error naming which.
	ErrTree = rule("invalid_tree", "§12.4.3.1", "invalid ratchet tree")
	// ErrNoTree: a GroupInfo or Welcome came without a ratchet tree and
	// none was supplied.
	ErrNoTree = rule("no_ratchet_tree", "§12.4.3.3", "no ratchet tree")
	// ErrWelcome: a Welcome cannot be used: not for this KeyPackage, for
	// another cipher suite, not decrypting, or not placing this client in
	// the tree (§12.4.3.1).
	ErrWelcome = rule("invalid_welcome", "§12.4.3.1", "Welcome cannot be used")
	// ErrExternalPub: a GroupInfo has no usable external_pub (§12.4.3.2).
	ErrExternalPub = rule("no_external_pub", "§12.4.3.2", "GroupInfo without external_pub")
	// ErrUnsupported: the group uses a version, cipher suite or
	// credential this implementation does not support.
	ErrUnsupported = rule("unsupported", "§5.1", "unsupported group parameters")
)

// ruled wraps err under r, adding a detail.
func ruled(r *Rule, format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{r}, args...)...)
}

// wrap wraps cause under r.
func wrap(r *Rule, cause error) error { return fmt.Errorf("%w: %w", r, cause) }

// treeRule classifies an error of the tree package under this package's
// rules, keeping it wrapped so errors.Is still finds the tree's own error.
func treeRule(err error, fallback *Rule) error {
	switch {
	case errors.Is(err, tree.ErrParentHash):
		return wrap(ErrParentHash, err)
	case errors.Is(err, tree.ErrDuplicateEncryptionKey), errors.Is(err, tree.ErrDuplicateSignatureKey):
		return wrap(ErrDuplicateKey, err)
	case errors.Is(err, tree.ErrPathLength), errors.Is(err, tree.ErrPathCiphertexts),
		errors.Is(err, tree.ErrPathSecret), errors.Is(err, tree.ErrNoPrivateKey):
		return wrap(ErrPath, err)
	case errors.Is(err, tree.ErrLeafSignature), errors.Is(err, tree.ErrLeafSource),
		errors.Is(err, tree.ErrCapabilities), errors.Is(err, tree.ErrUnsupportedExtension),
		errors.Is(err, tree.ErrCredentialType), errors.Is(err, tree.ErrLifetime):
		return wrap(ErrLeafNode, err)
	}
	return wrap(fallback, err)
}

// framingRule classifies an error of the framing package.
func framingRule(err error) error {
	switch {
	case errors.Is(err, framing.ErrWrongGroup):
		return wrap(ErrWrongGroup, err)
	case errors.Is(err, framing.ErrWrongEpoch):
		return wrap(ErrWrongEpoch, err)
	case errors.Is(err, framing.ErrBadSignature):
		return wrap(ErrSignature, err)
	case errors.Is(err, framing.ErrBadMembershipTag):
		return wrap(ErrMembershipTag, err)
	case errors.Is(err, framing.ErrDecrypt):
		return wrap(ErrDecrypt, err)
	}
	return wrap(ErrMalformed, err)
}
