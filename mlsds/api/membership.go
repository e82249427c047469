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
	// stands for. It returns what to do once the DS has accepted the commit
	// (nil for nothing): for an invite, having the inviter's server send the
	// invite with content.mls_commit. A refusal wraps
	// ErrMembershipForbidden.
	CheckCommit(ctx context.Context, c *MembershipCommit) (after func(context.Context), err error)
}

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
