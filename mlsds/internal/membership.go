package internal

import (
	"context"
	"errors"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/mlsds/api"
)

// membershipRules holds the DS's membership rules.
type membershipRules struct{ api.MembershipRules }

// SetMembership gives the DS the Matrix side of membership commits
// (docs/membership.md). Without it, the DS checks commits as MLS only and
// keeps the invites of accepted commits in its outbox.
func (ds *DeliveryService) SetMembership(rules api.MembershipRules) {
	ds.membership.Store(&membershipRules{rules})
}

// checkMembership asks the membership rules about a commit that adds
// devices or is an external commit, and returns the invite it calls for
// once accepted.
func (ds *DeliveryService) checkMembership(ctx context.Context, in *incoming, added []api.Device) (*api.Invite, error) {
	content := &in.msg.PublicMessage.Content
	external := content.Sender.Type == mls.SenderNewMemberCommit
	rules := ds.membership.Load()
	if rules == nil || len(added) == 0 && !external {
		return nil, nil
	}
	invite, err := rules.CheckCommit(ctx, &api.MembershipCommit{
		RoomID: in.roomID, Committer: in.sender, Added: added, External: external,
		Message: in.raw, AAD: content.AuthenticatedData,
	})
	if errors.Is(err, api.ErrMembershipForbidden) {
		return nil, reject(api.ErrForbidden, "%v", err)
	}
	return invite, err
}
