package tree

import "errors"

// Errors name the RFC 9420 rule a ratchet tree, a leaf node or an
// UpdatePath broke. Every error of this package wraps one of them (and at
// times the cipher error behind it), so callers (the Delivery Service
// reports them) can classify failures with errors.Is; the message adds
// which node or leaf.
var (
	// ErrMalformedTree means a ratchet_tree node list is not a tree: it is
	// empty or ends with a blank node (§12.4.3.3), or has a leaf node at a
	// parent position or the reverse.
	ErrMalformedTree = errors.New("mls tree: malformed ratchet tree (RFC 9420 §12.4.3.3)")
	// ErrUnmergedLeaves means a parent's unmerged_leaves list is not sorted,
	// names a leaf that is blank or not below the parent, or names a leaf
	// that a non-blank node between the two does not list (§7.1, §12.4.3.1).
	ErrUnmergedLeaves = errors.New("mls tree: invalid unmerged_leaves (RFC 9420 §7.1, §12.4.3.1)")
	// ErrDuplicateEncryptionKey means an HPKE public key appears in two
	// nodes, or an UpdatePath brings a key already in the tree (§7.3,
	// §12.4.2).
	ErrDuplicateEncryptionKey = errors.New("mls tree: encryption key not unique (RFC 9420 §7.3)")
	// ErrPublicKey means an encryption key entering the tree is not an
	// HPKE public key of the group's cipher suite (§5.1.1): nobody could
	// encrypt to its node.
	ErrPublicKey = errors.New("mls tree: not an HPKE public key of the cipher suite (RFC 9420 §5.1.1)")
	// ErrDuplicateSignatureKey means two members have the same signature
	// key (§7.3).
	ErrDuplicateSignatureKey = errors.New("mls tree: signature key not unique (RFC 9420 §7.3)")
	// ErrParentHash means a non-blank parent node is not parent-hash valid,
	// or a committer's leaf does not carry the parent hash its UpdatePath
	// implies (§7.9.2).
	ErrParentHash = errors.New("mls tree: parent hash not valid (RFC 9420 §7.9.2)")
	// ErrBlankLeaf means a leaf index is outside the tree or its leaf is
	// blank where a member is required (§12.1.2, §12.1.3).
	ErrBlankLeaf = errors.New("mls tree: no member at leaf index (RFC 9420 §12.1.3)")
	// ErrLeafSignature means a leaf node's signature over LeafNodeTBS does
	// not verify (§7.3).
	ErrLeafSignature = errors.New("mls tree: leaf node signature not valid (RFC 9420 §7.3)")
	// ErrLeafSource means a leaf node's leaf_node_source does not fit where
	// it appears (§7.3).
	ErrLeafSource = errors.New("mls tree: wrong leaf_node_source (RFC 9420 §7.3)")
	// ErrCapabilities means a leaf node's capabilities lack a capability the
	// group's required_capabilities demand, or do not list its own
	// credential type (§7.2, §7.3, §11.1).
	ErrCapabilities = errors.New("mls tree: leaf capabilities lack a required capability (RFC 9420 §7.3)")
	// ErrUnsupportedExtension means a leaf node carries a non-default
	// extension its capabilities do not list (§7.2, §7.3).
	ErrUnsupportedExtension = errors.New("mls tree: leaf extension not in its capabilities (RFC 9420 §7.3)")
	// ErrCredentialType means a leaf's credential type is not supported by
	// every member, or the leaf does not support a credential type in use
	// (§7.3).
	ErrCredentialType = errors.New("mls tree: credential type not supported by all members (RFC 9420 §7.3)")
	// ErrLifetime means the current time is outside a key package leaf's
	// lifetime, or the lifetime is longer than the application allows
	// (§7.2, §7.3).
	ErrLifetime = errors.New("mls tree: leaf lifetime not valid (RFC 9420 §7.3)")
	// ErrPathLength means an UpdatePath has not one node per node of the
	// sender's filtered direct path (§7.6).
	ErrPathLength = errors.New("mls tree: UpdatePath length differs from the filtered direct path (RFC 9420 §7.6)")
	// ErrPathCiphertexts means an UpdatePath node has not one encrypted
	// path secret per node of its copath child's resolution (§7.6).
	ErrPathCiphertexts = errors.New("mls tree: wrong number of encrypted path secrets (RFC 9420 §7.6)")
	// ErrPathSecret means a path secret did not decrypt, or the public key
	// derived from it is not the one in the UpdatePath or the tree (§7.5,
	// §12.4.3.1).
	ErrPathSecret = errors.New("mls tree: path secret does not decrypt to the path's keys (RFC 9420 §7.5)")
	// ErrPrivateKey means a private key given for a node does not belong to
	// the public key the tree holds there (§7.5).
	ErrPrivateKey = errors.New("mls tree: private key does not match the tree (RFC 9420 §7.5)")
	// ErrNoPrivateKey means a member holds no private key for any node the
	// path secret it needs was encrypted to (§7.5).
	ErrNoPrivateKey = errors.New("mls tree: no private key for the UpdatePath (RFC 9420 §7.5)")
)
