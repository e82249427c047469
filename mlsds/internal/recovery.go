package internal

import (
	"context"
	"fmt"

	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/sirupsen/logrus"

	rsapi "github.com/matrix-org/dendrite/roomserver/api"

	"github.com/matrix-org/dendrite/msc4244/mlsds/api"
	"github.com/matrix-org/dendrite/msc4244/mlsds/storage/tables"
	"github.com/matrix-org/dendrite/msc4244/roomserver/mlsauth"
)

// Commits implements api.DeliveryServiceAPI. A page holds whole epochs, so
// that next_epoch never skips part of one: it ends before the first epoch
// that does not fit in limit entries, unless that epoch is the page's first,
// which is then returned whole.
func (ds *DeliveryService) Commits(ctx context.Context, user, roomID string, fromEpoch uint64, limit int) (*api.CommitsResponse, error) {
	if err := ds.checkReader(ctx, user, roomID); err != nil {
		return nil, err
	}
	entries, err := ds.db.Entries(ctx, roomID, fromEpoch, limit+1)
	if err != nil {
		return nil, err
	}
	if len(entries) == 0 {
		if stored, err := ds.db.Room(ctx, roomID); err != nil || stored == nil {
			return nil, firstError(err, api.ErrNoGroup)
		}
	}
	res := &api.CommitsResponse{Entries: []api.LogEntry{}}
	if len(entries) > limit {
		next := entries[limit].Epoch
		cut := limit
		for cut > 0 && entries[cut-1].Epoch == next {
			cut--
		}
		if cut > 0 {
			entries = entries[:cut]
		} else if entries, err = ds.db.EpochEntries(ctx, roomID, next); err != nil {
			return nil, err
		} else {
			next++
		}
		res.NextEpoch = &next
	}
	for _, e := range entries {
		res.Entries = append(res.Entries, logEntry(&e))
	}
	return res, nil
}

// Commit implements api.DeliveryServiceAPI.
func (ds *DeliveryService) Commit(ctx context.Context, user, roomID string, epoch uint64) (*api.LogEntry, error) {
	if err := ds.checkReader(ctx, user, roomID); err != nil {
		return nil, err
	}
	commitReads.Inc()
	e, err := ds.db.Commit(ctx, roomID, epoch)
	switch {
	case err != nil:
		return nil, err
	case e != nil:
		entry := logEntry(e)
		return &entry, nil
	}
	if stored, err := ds.db.Room(ctx, roomID); err != nil || stored == nil {
		return nil, firstError(err, api.ErrNoGroup)
	}
	return nil, api.ErrNoCommit
}

func logEntry(e *tables.LogEntry) api.LogEntry {
	return api.LogEntry{Kind: e.Kind, Epoch: e.Epoch, Message: encodeBase64(e.Message), Sender: e.Sender, AcceptedTS: e.AcceptedTS}
}

// GroupInfo implements api.DeliveryServiceAPI.
func (ds *DeliveryService) GroupInfo(ctx context.Context, user, roomID string) (*api.GroupInfoResponse, error) {
	if err := ds.checkReader(ctx, user, roomID); err != nil {
		return nil, err
	}
	stored, err := ds.db.Room(ctx, roomID)
	if err != nil || stored == nil {
		return nil, firstError(err, api.ErrNoGroup)
	}
	// The auth events only help a joiner: without them (the state cannot
	// be read now) the GroupInfo is still served.
	authEvents, err := ds.joinAuthEvents(ctx, roomID, user)
	if err != nil {
		logrus.WithError(err).WithField("room_id", roomID).Warn("mlsds: group_info without auth_events")
	}
	return &api.GroupInfoResponse{Epoch: stored.Epoch, GroupInfo: encodeBase64(stored.GroupInfo), AuthEvents: authEvents}, nil
}

// joinAuthEvents returns the room's current state events that the AAD of a
// join by user names (mlsauth.RequiredAuthEvents), by type: the joiner
// cannot read the state of a room it has not joined (docs/mls-profile.md,
// "Recovery"). Types without a state event are left out.
func (ds *DeliveryService) joinAuthEvents(ctx context.Context, roomID, user string) (map[string]string, error) {
	id, err := spec.NewRoomID(roomID)
	if err != nil {
		return nil, err
	}
	member, err := ds.rs.CurrentStateEvent(ctx, *id, spec.MRoomMember, user)
	if err != nil {
		return nil, err
	}
	named := map[string]string{}
	for _, eventType := range mlsauth.RequiredAuthEvents(mlsauth.ActionJoin, member != nil) {
		stateKey := ""
		if eventType == spec.MRoomMember {
			stateKey = user
		}
		ev, err := ds.rs.CurrentStateEvent(ctx, *id, eventType, stateKey)
		if err != nil {
			return nil, err
		}
		if ev != nil {
			named[eventType] = ev.EventID()
		}
	}
	return named, nil
}

// checkReader allows users whose membership in the room is join or invite
// (docs/mls-profile.md, "Recovery"), and users with a device in the room's
// group. Others do not learn whether the room has a group.
func (ds *DeliveryService) checkReader(ctx context.Context, user, roomID string) error {
	id, err := spec.NewRoomID(roomID)
	if err != nil {
		return fmt.Errorf("%w: %v", api.ErrNotAllowed, err)
	}
	var membership rsapi.QueryMembershipForUserResponse
	if err = ds.rs.QueryMembershipForSenderID(ctx, *id, spec.SenderID(user), &membership); err != nil {
		return err
	}
	if membership.Membership == spec.Join || membership.Membership == spec.Invite {
		return nil
	}
	inGroup, err := ds.hasDevice(ctx, roomID, user)
	if err != nil || inGroup {
		return err
	}
	return api.ErrNotAllowed
}

// hasDevice reports whether a device of user is a member of the room's
// group.
func (ds *DeliveryService) hasDevice(ctx context.Context, roomID, user string) (bool, error) {
	r, unlock := ds.lockRoom(roomID)
	defer unlock()
	if ok, err := ds.load(ctx, r); !ok || err != nil {
		return false, err
	}
	for _, m := range r.group.Members() {
		if d, err := deviceOf(m.Credential); err == nil && d.UserID == user {
			return true, nil
		}
	}
	return false, nil
}

// firstError returns err, or fallback when err is nil.
func firstError(err, fallback error) error {
	if err != nil {
		return err
	}
	return fallback
}
