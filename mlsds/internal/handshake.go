package internal

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
	"github.com/matrix-org/dendrite/msc4244/mlsds/api"
	"github.com/matrix-org/dendrite/msc4244/mlsds/storage/shared"
	"github.com/matrix-org/dendrite/msc4244/mlsds/storage/tables"
)

// acceptFunc validates a message against the room's group and, when it is
// accepted, appends it and returns its fan-out (nil when there is nothing
// to send, e.g. a retry already answered). It runs with r.validation held.
type acceptFunc func(ctx context.Context, r *room, in *incoming) (*fanOut, error)

// accept runs accept for in under the room's validation lock, then fans
// the accepted message out in acceptance order while the room's next
// message is validated.
func (ds *DeliveryService) accept(ctx context.Context, in *incoming, accept acceptFunc) error {
	// Once accepted, a message is stored and fanned out even if the sender
	// goes away meanwhile.
	ctx = context.WithoutCancel(ctx)
	r := ds.rooms.acquire(in.roomID)
	defer ds.rooms.release(r)
	r.validation.Lock()
	f, err := ds.acceptLoaded(ctx, r, in, accept)
	if err != nil || f == nil {
		r.validation.Unlock()
		return err
	}
	r.delivery.Lock()
	r.validation.Unlock()
	defer r.delivery.Unlock()
	ds.fanOut(ctx, f)
	return nil
}

func (ds *DeliveryService) acceptLoaded(ctx context.Context, r *room, in *incoming, accept acceptFunc) (*fanOut, error) {
	exists, err := ds.load(ctx, r)
	if err != nil {
		return nil, err
	}
	if !exists {
		return nil, errUnknownGroup(in.roomID)
	}
	return accept(ctx, r, in)
}

// commit handles a commit (docs/mls-profile.md, "Client → DS" and
// "Ordering").
func (ds *DeliveryService) commit(ctx context.Context, in *incoming) error {
	return ds.accept(ctx, in, ds.acceptCommit)
}

func (ds *DeliveryService) acceptCommit(ctx context.Context, r *room, in *incoming) (*fanOut, error) {
	groupInfo, err := in.commitInfo()
	if err != nil {
		return nil, err
	}
	epoch := r.group.Epoch()
	if in.msg.PublicMessage.Content.Epoch != epoch {
		return ds.staleCommit(ctx, in, epoch)
	}
	res, err := r.group.ApplyCommit(in.msg.PublicMessage, groupInfo)
	if err != nil {
		return nil, classify(err)
	}
	if err = checkSender(res.Committer.Credential, in.sender); err != nil {
		return nil, err
	}
	added, err := devicesOf(res.Added)
	if err != nil {
		return nil, err
	}
	if len(added) > 0 && in.welcome == nil {
		return nil, reject(api.ErrBadRequest, "the commit adds members: commit_info.welcome is required")
	}
	invite, err := ds.checkMembership(ctx, in, added)
	if err != nil {
		return nil, err
	}
	// The DS's required Remove proposals (removals.go) are enforced by the
	// public view: ApplyCommit fails with ErrMissingRequired, except for an
	// external commit, which cannot cover them; the DS proposes those again
	// in the new epoch, after the commit's fan-out.
	members, err := devicesOf(res.Group.Members())
	if err != nil {
		return nil, err
	}
	carried, err := devicesOf(res.Uncovered)
	if err != nil {
		return nil, err
	}
	newEpoch := res.Group.Epoch()
	f := &fanOut{Invite: invite, RoomID: in.roomID, Removals: carried}
	f.add(api.EventCommit, commitNotice(in.roomID, newEpoch, in.raw, in.sender, len(members)), members)
	if len(added) > 0 {
		f.add(api.EventWelcome, api.WelcomeContent{RoomID: in.roomID, Epoch: newEpoch, Welcome: encodeBase64(in.welcome)}, added)
	}
	if err = ds.append(ctx, r, in, epoch, res.Group, in.groupInfo, api.KindCommit, f); err != nil {
		return nil, err
	}
	return f, nil
}

// commitInfo decodes the GroupInfo that must come with a commit, and checks
// the Welcome that may.
func (in *incoming) commitInfo() (*mls.GroupInfo, error) {
	if in.groupInfo == nil {
		return nil, reject(api.ErrBadRequest, "commit_info.group_info is required with a commit")
	}
	var groupInfo mls.MLSMessage
	if err := codec.Unmarshal(in.groupInfo, &groupInfo); err != nil || groupInfo.GroupInfo == nil {
		return nil, reject(api.ErrBadRequest, "commit_info.group_info is not an MLSMessage holding a GroupInfo")
	}
	if in.welcome != nil {
		var welcome mls.MLSMessage
		if err := codec.Unmarshal(in.welcome, &welcome); err != nil || welcome.Welcome == nil {
			return nil, reject(api.ErrBadRequest, "commit_info.welcome is not an MLSMessage holding a Welcome")
		}
	}
	return groupInfo.GroupInfo, nil
}

// staleCommit answers a commit that is not for the group's current epoch.
// The very commit the log holds for the epoch it would create, from the
// same device, is a retry of an accepted commit: its sender gets the
// m.mls.commit again. Any other is refused.
func (ds *DeliveryService) staleCommit(ctx context.Context, in *incoming, epoch uint64) (*fanOut, error) {
	from := in.msg.PublicMessage.Content.Epoch
	if from < epoch {
		entries, err := ds.db.EpochEntries(ctx, in.roomID, from+1)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			if e.Kind == api.KindCommit && e.Sender == in.sender && bytes.Equal(e.Message, in.raw) {
				return nil, ds.send(ctx, api.EventCommit, commitNotice(in.roomID, e.Epoch, e.Message, e.Sender, 1), in.sender)
			}
		}
	}
	return nil, reject(api.ErrWrongEpoch, "the group is at epoch %d; the commit is for epoch %d", epoch, from)
}

// maxEpochProposals bounds the proposals of members and new members the
// group holds in one epoch. Each is stored in the group's state, fanned out
// to every device and must be covered by the next commit (RFC 9420
// §12.2), so a device could otherwise grow all three without end; a commit
// empties the list. The DS's own Remove proposals are not counted against
// it: a departure is never refused.
const maxEpochProposals = 256

// proposal handles a proposal from a member or a new member.
func (ds *DeliveryService) proposal(ctx context.Context, in *incoming) error {
	return ds.accept(ctx, in, ds.acceptProposal)
}

func (ds *DeliveryService) acceptProposal(ctx context.Context, r *room, in *incoming) (*fanOut, error) {
	epoch := r.group.Epoch()
	if from := in.msg.PublicMessage.Content.Epoch; from != epoch {
		return nil, reject(api.ErrWrongEpoch, "the group is at epoch %d; the proposal is for epoch %d", epoch, from)
	}
	accepted := api.AcceptedContent{RoomID: in.roomID, MessageSHA256: digest(in.raw), Epoch: epoch}
	if retry, err := ds.isRetry(ctx, in, epoch); err != nil || retry {
		if err == nil {
			err = ds.send(ctx, api.EventAccepted, accepted, in.sender)
		}
		return nil, err
	}
	if n := r.group.PendingProposals(); n >= maxEpochProposals {
		return nil, reject(api.ErrLimitExceeded, "the group holds %d proposals in epoch %d, as many as the DS keeps; commit them first", n, epoch)
	}
	res, err := r.group.ApplyProposal(in.msg.PublicMessage)
	if err != nil {
		return nil, classify(err)
	}
	if err = checkSender(res.Sender, in.sender); err != nil {
		return nil, err
	}
	members, err := devicesOf(res.Group.Members())
	if err != nil {
		return nil, err
	}
	f := &fanOut{}
	f.add(api.EventProposal, api.ProposalContent{RoomID: in.roomID, Epoch: epoch, Message: encodeBase64(in.raw), Sender: in.sender}, members)
	f.add(api.EventAccepted, accepted, []api.Device{in.sender})
	if err = ds.append(ctx, r, in, epoch, res.Group, nil, api.KindProposal, f); err != nil {
		return nil, err
	}
	return f, nil
}

// isRetry reports whether the log holds the very proposal in, from the
// same device, in epoch.
func (ds *DeliveryService) isRetry(ctx context.Context, in *incoming, epoch uint64) (bool, error) {
	entries, err := ds.db.EpochEntries(ctx, in.roomID, epoch)
	if err != nil {
		return false, err
	}
	for _, e := range entries {
		if e.Kind == api.KindProposal && e.Sender == in.sender && bytes.Equal(e.Message, in.raw) {
			return true, nil
		}
	}
	return false, nil
}

// append stores an accepted message in one transaction: the group moves
// from epoch to group's, in joins the log as an entry of the given kind and
// epoch, and f (with the invite it calls for) joins the outbox. groupInfo, when not nil, becomes the room's
// latest GroupInfo. On success r caches group; on failure r forgets its
// state, which is reloaded from the database next time.
func (ds *DeliveryService) append(ctx context.Context, r *room, in *incoming, epoch uint64, group PublicGroup, groupInfo []byte, kind api.LogKind, f *fanOut) error {
	state, err := group.Marshal()
	if err != nil {
		return err
	}
	payload, err := json.Marshal(f)
	if err != nil {
		return err
	}
	stored := &tables.Room{RoomID: r.id, Epoch: group.Epoch(), GroupState: state, GroupInfo: groupInfo}
	entryEpoch := group.Epoch() // a commit's epoch is the one it creates
	entry := &tables.LogEntry{RoomID: r.id, Epoch: entryEpoch, Kind: kind, Message: in.raw, Sender: in.sender, AcceptedTS: in.received.UnixMilli()}
	f.outboxID, err = ds.db.Append(ctx, epoch, stored, entry, payload)
	if err != nil {
		r.group = nil
		if errors.Is(err, shared.ErrEpochChanged) {
			return reject(api.ErrWrongEpoch, "the group left epoch %d meanwhile", epoch)
		}
		return err
	}
	r.group = group
	logEntries.Inc()
	acceptSeconds.WithLabelValues(string(kind)).Observe(ds.now().Sub(in.received).Seconds())
	return nil
}

// devicesOf returns the Matrix devices of members, in order.
func devicesOf(members []Member) ([]api.Device, error) {
	devices := make([]api.Device, 0, len(members))
	for _, m := range members {
		d, err := deviceOf(m.Credential)
		if err != nil {
			return nil, reject(api.ErrInvalid, "leaf %d: %v", m.Leaf, err)
		}
		devices = append(devices, d)
	}
	return devices, nil
}
