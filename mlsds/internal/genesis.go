package internal

import (
	"bytes"
	"context"
	"errors"

	"github.com/matrix-org/gomatrixserverlib/spec"

	rsapi "github.com/matrix-org/dendrite/roomserver/api"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/mlsds/api"
	"github.com/matrix-org/dendrite/msc4244/mlsds/storage/shared"
	"github.com/matrix-org/dendrite/msc4244/mlsds/storage/tables"
	"github.com/matrix-org/dendrite/msc4244/roomserver"
)

// genesis creates the room's group from the epoch-0 GroupInfo its creator's
// device sent (docs/mls-profile.md, "Group genesis").
func (ds *DeliveryService) genesis(ctx context.Context, in *incoming) error {
	r, unlock := ds.lockRoom(in.roomID)
	defer unlock()
	exists, err := ds.load(ctx, r)
	if err != nil {
		return err
	}
	if exists {
		return ds.repeatedGenesis(ctx, in)
	}
	if err = ds.checkCreator(ctx, in); err != nil {
		return err
	}
	gi := in.msg.GroupInfo
	gc := &gi.GroupContext
	switch {
	case string(gc.GroupID) != in.roomID:
		return reject(api.ErrInvalid, "the group ID %q is not the room ID", gc.GroupID)
	case gc.Epoch != 0:
		return reject(api.ErrInvalid, "a new group is at epoch 0, not %d", gc.Epoch)
	case !ds.identity.Supports(gc.CipherSuite):
		return reject(api.ErrInvalid, "this DS does not support cipher suite %d", gc.CipherSuite)
	}
	if err = ds.checkExternalSenders(gc); err != nil {
		return err
	}
	group, err := ds.view.Genesis(gi)
	if err != nil {
		return classify(err)
	}
	members := group.Members()
	if len(members) != 1 {
		return reject(api.ErrInvalid, "a new group has exactly one member, not %d", len(members))
	}
	if err = checkSender(members[0].Credential, in.sender); err != nil {
		return err
	}
	state, err := group.Marshal()
	if err != nil {
		return err
	}
	err = ds.db.CreateGroup(ctx,
		&tables.Room{RoomID: in.roomID, Epoch: 0, GroupState: state, GroupInfo: in.raw},
		&tables.LogEntry{RoomID: in.roomID, Epoch: 0, Kind: api.KindGenesis, Message: in.raw, Sender: in.sender, AcceptedTS: in.received.UnixMilli()},
	)
	if errors.Is(err, shared.ErrGroupExists) {
		return reject(api.ErrWrongEpoch, "the room's group exists already")
	}
	if err != nil {
		return err
	}
	r.group = group
	logEntries.Inc()
	acceptSeconds.WithLabelValues(string(api.KindGenesis)).Observe(ds.now().Sub(in.received).Seconds())
	return ds.send(ctx, api.EventAccepted, api.AcceptedContent{RoomID: in.roomID, MessageSHA256: digest(in.raw)}, in.sender)
}

// repeatedGenesis answers a genesis for a room that has a group: the same
// GroupInfo again (a retry) is acknowledged again, any other is refused.
func (ds *DeliveryService) repeatedGenesis(ctx context.Context, in *incoming) error {
	entries, err := ds.db.EpochEntries(ctx, in.roomID, 0)
	if err != nil {
		return err
	}
	if len(entries) == 0 || entries[0].Kind != api.KindGenesis || !bytes.Equal(entries[0].Message, in.raw) || entries[0].Sender != in.sender {
		return reject(api.ErrWrongEpoch, "the room's group exists already")
	}
	return ds.send(ctx, api.EventAccepted, api.AcceptedContent{RoomID: in.roomID, MessageSHA256: digest(in.raw)}, in.sender)
}

// checkCreator checks that the room is an MLS room this server is the DS
// of and that the sender is its creator, joined.
func (ds *DeliveryService) checkCreator(ctx context.Context, in *incoming) error {
	roomID, err := spec.NewRoomID(in.roomID)
	if err != nil {
		return errUnknownGroup(in.roomID)
	}
	var membership rsapi.QueryMembershipForUserResponse
	if err = ds.rs.QueryMembershipForSenderID(ctx, *roomID, spec.SenderID(in.sender.UserID), &membership); err != nil {
		return err
	}
	if !membership.RoomExists {
		return errUnknownGroup(in.roomID)
	}
	version, err := ds.rs.QueryRoomVersionForRoom(ctx, in.roomID)
	if err != nil {
		return err
	}
	if version != roomserver.RoomVersion {
		return reject(api.ErrUnknownGroup, "room %q has room version %s, not %s", in.roomID, version, roomserver.RoomVersion)
	}
	create, err := ds.rs.CurrentStateEvent(ctx, *roomID, spec.MRoomCreate, "")
	if err != nil {
		return err
	}
	if create == nil {
		return errUnknownGroup(in.roomID)
	}
	// In this room version, sender IDs are user IDs.
	creator, err := spec.NewUserID(string(create.SenderID()), true)
	if err != nil {
		return err
	}
	if "@:"+string(creator.Domain()) != ds.self.UserID {
		return reject(api.ErrUnknownGroup, "the Delivery Service of room %q is %s", in.roomID, creator.Domain())
	}
	if algorithm := api.EncryptionAlgorithmOf(create.Content()); algorithm != api.EncryptionAlgorithm {
		return reject(api.ErrUnknownGroup, "room %q is not encrypted with %s", in.roomID, api.EncryptionAlgorithm)
	}
	if in.sender.UserID != creator.String() {
		return reject(api.ErrForbidden, "only the room's creator, %s, creates its group", creator.String())
	}
	if membership.Membership != spec.Join {
		return reject(api.ErrForbidden, "the creator's membership is %q, not join", membership.Membership)
	}
	return nil
}

// checkExternalSenders checks that the group lists the DS as an external
// sender, so that it can issue Remove proposals.
func (ds *DeliveryService) checkExternalSenders(gc *mls.GroupContext) error {
	var senders mls.ExternalSenders
	found, err := gc.Extensions.Decode(&senders)
	if err != nil {
		return reject(api.ErrBadRequest, "external_senders extension: %v", err)
	}
	want := ds.identity.ExternalSender(gc.CipherSuite)
	for _, s := range senders {
		if bytes.Equal(s.SignatureKey, want.SignatureKey) && s.Credential.Type == want.Credential.Type &&
			bytes.Equal(s.Credential.Identity, want.Credential.Identity) {
			return nil
		}
	}
	if !found {
		return reject(api.ErrInvalid, "the group has no external_senders extension listing the DS")
	}
	return reject(api.ErrInvalid, "the external_senders extension does not list this DS's key and credential")
}

// checkSender checks that the to-device sender is the device the MLS
// credential names: a device only speaks for itself.
func checkSender(cred mls.Credential, sender api.Device) error {
	device, err := deviceOf(cred)
	if err != nil {
		return reject(api.ErrInvalid, "%v", err)
	}
	if device != sender {
		return reject(api.ErrForbidden, "the MLS sender is %v, but the message comes from %v", device, sender)
	}
	return nil
}

// classify turns a GroupView error into a rejection.
func classify(err error) *rejection {
	switch {
	case errors.Is(err, ErrMalformed):
		return reject(api.ErrBadRequest, "%v", err)
	case errors.Is(err, ErrExternalSender):
		return reject(api.ErrForbidden, "%v", err)
	case errors.Is(err, ErrMissingRequired):
		return reject(api.ErrPendingRemovals, "%v", err)
	}
	return reject(api.ErrInvalid, "%v", err)
}
