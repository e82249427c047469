package internal

import (
	"context"
	"errors"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/mlsds/api"
)

// SetMembership gives the DS the Matrix side of membership commits
// (docs/membership.md). Without it, the DS checks commits as MLS only.
func (ds *DeliveryService) SetMembership(rules api.MembershipRules) { ds.membership = rules }

// checkMembership asks the membership rules about a commit that adds
// devices or is an external commit, and returns what to do once it is
// accepted.
func (ds *DeliveryService) checkMembership(ctx context.Context, in *incoming, added []api.Device) (func(context.Context), error) {
	content := &in.msg.PublicMessage.Content
	external := content.Sender.Type == mls.SenderNewMemberCommit
	if ds.membership == nil || len(added) == 0 && !external {
		return nil, nil
	}
	after, err := ds.membership.CheckCommit(ctx, &api.MembershipCommit{
		RoomID: in.roomID, Committer: in.sender, Added: added, External: external,
		Message: in.raw, AAD: content.AuthenticatedData,
	})
	if errors.Is(err, api.ErrMembershipForbidden) {
		return nil, reject(api.ErrForbidden, "%v", err)
	}
	return after, err
}

// runAfter runs what an accepted commit calls for, in the background: the
// commit is accepted whatever becomes of it.
func runAfter(ctx context.Context, after func(context.Context)) {
	if after != nil {
		go after(context.WithoutCancel(ctx))
	}
}
