package api

import (
	"context"
	"errors"
)

// MembershipRules are the Matrix side of the commits that bring a user
// into an MLS room's group (docs/membership.md). Package
// roomserver/membership implements them; the DS consults them before it
// accepts such a commit.
type MembershipRules interface {
	// CheckCommit checks a commit that adds devices with a Welcome, or that
	// is an external commit, against the room's Matrix state. Devices of
	// users already in the group (joined, or invited with a commit) need
	// nothing. A commit that brings in a new user must be for one user and
	// carry the profile's AAD for the action (invite, or join for an
	// external commit) and that user, naming the room's current state
	// events, and the room's auth rules must allow the member event it
	// stands for. It returns the invite, with content.mls_commit, that the
	// commit calls for once the DS has accepted it (nil for none), which the
	// DS has sent with SendInvite. A refusal wraps ErrMembershipForbidden.
	CheckCommit(ctx context.Context, c *MembershipCommit) (*Invite, error)
	// SendInvite has the inviter's server send the invite of a commit the
	// DS accepted; an invite sent already is not sent again. A failure that
	// trying again cannot cure (the room's rules refuse the invite) wraps
	// ErrInviteRefused; the DS tries others again until the invite is sent.
	SendInvite(ctx context.Context, invite *Invite) error
}

// Invite is the m.room.member invite an accepted commit calls for. The DS
// stores it with the commit's fan-out, in the transaction that accepts the
// commit.
type Invite struct {
	RoomID  string `json:"room_id"`
	Inviter string `json:"inviter"`
	Invitee string `json:"invitee"`
	// MLSCommit is the invite's content.mls_commit: the commit, unpadded
	// base64.
	MLSCommit string `json:"mls_commit"`
}

// ErrInviteRefused is wrapped by SendInvite failures that trying again
// cannot cure.
var ErrInviteRefused = errors.New("the invite of the accepted commit is refused")

// MembershipCommit is a commit the DS asks MembershipRules about.
type MembershipCommit struct {
	RoomID    string
	Committer Device
	// Added are the devices the commit adds with a Welcome.
	Added []Device
	// External is set for an external commit, by which Committer joins.
	External bool
	// Message is the commit, an encoded MLSMessage; AAD its
	// authenticated_data.
	Message []byte
	AAD     []byte
}

// ErrMembershipForbidden is wrapped by MembershipRules refusals, which the
// DS answers with M_MLS_FORBIDDEN.
var ErrMembershipForbidden = errors.New("the room's membership rules refuse this commit")
