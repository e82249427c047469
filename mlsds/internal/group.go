package internal

import (
	"errors"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
)

// The DS validates handshake messages through a GroupView: the public view
// of the MLS core (internal/mls/group) as a non-member sees a group. It is
// the DS's only dependency on MLS group logic; everything Matrix-specific
// (which room, which sender, which devices) stays in this package.

// GroupView makes the DS's public view of a group.
type GroupView interface {
	// Genesis checks an epoch-0 GroupInfo that carries the ratchet tree
	// (RFC 9420 §12.4.3: signature, tree, tree hash) and returns the group
	// it describes.
	Genesis(groupInfo *mls.GroupInfo) (PublicGroup, error)
	// Load returns the group serialised by PublicGroup.Marshal.
	Load(state []byte) (PublicGroup, error)
}

// PublicGroup is a group in one epoch as a non-member sees it. It is not
// changed by its methods: applying a message returns a new PublicGroup.
type PublicGroup interface {
	Epoch() uint64
	// Members returns the occupied leaves.
	Members() []Member
	// ApplyCommit validates a commit sent as a PublicMessage in this epoch
	// (RFC 9420 §12.4.2, as far as a non-member can: the signature and the
	// membership of the sender, the proposals, the new tree) together with
	// the GroupInfo its sender says results from it, whose GroupContext must
	// be the one the commit produces and whose signature must be valid.
	ApplyCommit(commit *mls.PublicMessage, groupInfo *mls.GroupInfo) (*CommitResult, error)
	// ApplyProposal validates a proposal sent as a PublicMessage in this
	// epoch and returns the group with the proposal pending.
	ApplyProposal(proposal *mls.PublicMessage) (*ProposalResult, error)
	// PendingProposals counts the proposals received in this epoch.
	PendingProposals() int
	// Marshal serialises the group for Load.
	Marshal() ([]byte, error)
}

// Member is an occupied leaf of the tree.
type Member struct {
	Leaf       uint32
	Credential mls.Credential
}

// CommitResult is what an accepted commit does.
type CommitResult struct {
	// Group is the group in the epoch the commit creates.
	Group PublicGroup
	// Committer is the committer's leaf in the new epoch: its member leaf
	// or, for an external commit, the leaf it added for itself.
	Committer Member
	// Added and Removed are the leaves the commit added (the Welcome's
	// recipients; an external committer is not among them) and removed.
	Added   []Member
	Removed []Member
	// Uncovered are the leaves of the DS's required Removes an external
	// commit left out (it cannot cover them), as they were.
	Uncovered []Member
}

// ProposalResult is what an accepted proposal does.
type ProposalResult struct {
	// Group is the same epoch with the proposal pending.
	Group PublicGroup
	// Sender is the proposer: a member, or the leaf a new_member_proposal
	// Add would create.
	Sender mls.Credential
}

// Errors a GroupView may wrap to classify a failure; any other error is
// an RFC 9420 check that failed (M_MLS_INVALID).
var (
	// ErrMalformed: the message cannot be parsed (M_MLS_BAD_REQUEST).
	ErrMalformed = errors.New("malformed MLS message")
	// ErrExternalSender: the message claims to come from an external
	// sender, which only the DS is (M_MLS_FORBIDDEN).
	ErrExternalSender = errors.New("only the Delivery Service sends as an external sender")
	// ErrMissingRequired: a commit leaves out a proposal the DS requires,
	// such as its Remove of a device whose user left
	// (M_MLS_PENDING_REMOVALS).
	ErrMissingRequired = errors.New("the commit leaves out a proposal the Delivery Service requires")
)
