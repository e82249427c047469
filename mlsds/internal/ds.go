// Package internal is the MLS Delivery Service (MSC4244): it receives the
// m.mls.message to-device messages addressed to "@:<server>", orders each
// room's commits in an append-only log and fans accepted messages out to
// the group's devices. docs/mlsds.md describes how.
package internal

import (
	"context"
	"encoding/json"
	"errors"
	"sync/atomic"
	"time"

	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/sirupsen/logrus"

	rsapi "github.com/matrix-org/dendrite/roomserver/api"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
	"github.com/matrix-org/dendrite/msc4244/mlsds/api"
	"github.com/matrix-org/dendrite/msc4244/mlsds/storage"
)

// RoomServer is what the DS asks Dendrite's roomserver.
type RoomServer interface {
	QueryMembershipForSenderID(ctx context.Context, roomID spec.RoomID, senderID spec.SenderID, res *rsapi.QueryMembershipForUserResponse) error
	QueryRoomVersionForRoom(ctx context.Context, roomID string) (gomatrixserverlib.RoomVersion, error)
	CurrentStateEvent(ctx context.Context, roomID spec.RoomID, eventType string, stateKey string) (gomatrixserverlib.PDU, error)
}

// ToDeviceSender sends to-device messages to local and remote devices
// (package mlsds/producers).
type ToDeviceSender interface {
	// SendToDevices sends one to-device message from sender to each of
	// devices, and returns once all are handed to their delivery paths.
	SendToDevices(ctx context.Context, sender, eventType string, content json.RawMessage, devices []api.Device) error
}

// DeliveryService is the DS of one server. It implements
// api.DeliveryServiceAPI.
type DeliveryService struct {
	self     api.Device // "@:<server>", device ""
	db       storage.Database
	view     GroupView
	identity *Identity
	rs       RoomServer
	out      ToDeviceSender
	rooms    *roomCache
	outbox   *outbox
	now      func() time.Time
	// membership is the Matrix side of membership commits (membership.go),
	// set once the DS runs.
	membership atomic.Pointer[membershipRules]
}

var _ api.DeliveryServiceAPI = (*DeliveryService)(nil)

// New returns the DS of serverName, after sending again whatever the
// outbox holds: fan-outs a crash interrupted. RunOutbox must then run for
// as long as the DS is used.
func New(
	ctx context.Context, serverName spec.ServerName, db storage.Database, view GroupView,
	identity *Identity, rs RoomServer, out ToDeviceSender,
) (*DeliveryService, error) {
	ds := &DeliveryService{
		self:     api.ServerDevice(string(serverName)),
		db:       db,
		view:     view,
		identity: identity,
		rs:       rs,
		out:      out,
		rooms:    newRoomCache(),
		now:      time.Now,
	}
	size, err := db.LogSize(ctx)
	if err != nil {
		return nil, err
	}
	logEntries.Set(float64(size))
	ds.outbox = newOutbox(db)
	if err = ds.resendOutbox(ctx); err != nil {
		return nil, err
	}
	return ds, nil
}

// Info implements api.DeliveryServiceAPI.
func (ds *DeliveryService) Info() api.InfoResponse { return ds.identity.Info() }

// incoming is an m.mls.message being handled.
type incoming struct {
	sender   api.Device
	received time.Time
	roomID   string
	// raw is the decoded message, or the bytes of the message field when
	// it is not base64: message_sha256 is computed over it.
	raw       []byte
	msg       mls.MLSMessage
	groupInfo []byte // the decoded commit_info.group_info, when present
	welcome   []byte // the decoded commit_info.welcome, when present
}

// kind names the message for metrics.
func (in *incoming) kind() string {
	switch {
	case in.msg.GroupInfo != nil:
		return string(api.KindGenesis)
	case in.msg.ContentType() == mls.ContentCommit:
		return string(api.KindCommit)
	case in.msg.ContentType() == mls.ContentProposal:
		return string(api.KindProposal)
	}
	return kindUnknown
}

// Receive implements api.DeliveryServiceAPI.
func (ds *DeliveryService) Receive(ctx context.Context, sender api.Device, eventType string, content json.RawMessage) error {
	if eventType != api.EventMessage {
		logrus.WithFields(logrus.Fields{"sender": sender.UserID, "type": eventType}).
			Debug("mlsds: dropping a to-device message of a type the DS does not handle")
		return nil
	}
	in := &incoming{sender: sender, received: ds.now()}
	err := in.parse(content)
	if err == nil {
		err = ds.handle(ctx, in)
	}
	var rej *rejection
	if !errors.As(err, &rej) {
		if err == nil {
			messagesTotal.WithLabelValues(in.kind(), outcomeAccepted).Inc()
		}
		return err
	}
	messagesTotal.WithLabelValues(in.kind(), string(rej.code)).Inc()
	return ds.sendRejection(ctx, in, rej)
}

// parse decodes the content of an m.mls.message; failures are
// M_MLS_BAD_REQUEST rejections.
func (in *incoming) parse(content json.RawMessage) error {
	var c api.MessageContent
	if err := json.Unmarshal(content, &c); err != nil {
		in.raw = content
		return reject(api.ErrBadRequest, "the content is not an m.mls.message: %v", err)
	}
	in.roomID = c.RoomID
	var err error
	if in.raw, err = decodeBase64(c.Message); err != nil {
		in.raw = []byte(c.Message)
		return reject(api.ErrBadRequest, "message is not base64: %v", err)
	}
	if err = codec.Unmarshal(in.raw, &in.msg); err != nil {
		return reject(api.ErrBadRequest, "message is not an MLSMessage: %v", err)
	}
	if c.CommitInfo == nil {
		return nil
	}
	if in.groupInfo, err = decodeOptional(c.CommitInfo.GroupInfo); err != nil {
		return reject(api.ErrBadRequest, "commit_info.group_info is not base64: %v", err)
	}
	if in.welcome, err = decodeOptional(c.CommitInfo.Welcome); err != nil {
		return reject(api.ErrBadRequest, "commit_info.welcome is not base64: %v", err)
	}
	return nil
}

// decodeOptional decodes a base64 field that may be absent: "" gives nil.
func decodeOptional(s string) ([]byte, error) {
	if s == "" {
		return nil, nil
	}
	return decodeBase64(s)
}

// handle dispatches a parsed message after its wire format and content type.
func (ds *DeliveryService) handle(ctx context.Context, in *incoming) error {
	if in.roomID == "" {
		return reject(api.ErrBadRequest, "room_id is missing")
	}
	switch {
	case in.msg.GroupInfo != nil:
		return ds.genesis(ctx, in)
	case in.msg.PublicMessage == nil:
		return reject(api.ErrBadRequest, "the DS accepts a GroupInfo (genesis) or a PublicMessage, not %v", in.msg.WireFormat)
	case string(in.msg.PublicMessage.Content.GroupID) != in.roomID:
		return reject(api.ErrInvalid, "the message is for group %q, not for room %q", in.msg.PublicMessage.Content.GroupID, in.roomID)
	case in.msg.ContentType() == mls.ContentCommit:
		return ds.commit(ctx, in)
	case in.msg.ContentType() == mls.ContentProposal:
		return ds.proposal(ctx, in)
	}
	return reject(api.ErrBadRequest, "the DS accepts handshake messages only, not %v", in.msg.ContentType())
}

// sendRejection answers the sender of in with m.mls.rejected.
func (ds *DeliveryService) sendRejection(ctx context.Context, in *incoming, rej *rejection) error {
	content := api.RejectedContent{
		RoomID:        in.roomID,
		MessageSHA256: digest(in.raw),
		ErrCode:       rej.code,
		Error:         rej.reason,
	}
	if epoch, ok, err := ds.currentEpoch(ctx, in.roomID); err != nil {
		return err
	} else if ok {
		content.CurrentEpoch = &epoch
	}
	logrus.WithFields(logrus.Fields{"room_id": in.roomID, "sender": in.sender.UserID, "device": in.sender.DeviceID}).
		Debugf("mlsds: rejected: %v", rej)
	return ds.send(ctx, api.EventRejected, content, in.sender)
}

// currentEpoch returns the epoch of the room's group, if it has one.
func (ds *DeliveryService) currentEpoch(ctx context.Context, roomID string) (uint64, bool, error) {
	if roomID == "" {
		return 0, false, nil
	}
	r, unlock := ds.lockRoom(roomID)
	defer unlock()
	ok, err := ds.load(ctx, r)
	if !ok || err != nil {
		return 0, false, err
	}
	return r.group.Epoch(), true, nil
}

// send sends one to-device message from the DS to each of devices.
func (ds *DeliveryService) send(ctx context.Context, eventType string, content any, devices ...api.Device) error {
	data, err := json.Marshal(content)
	if err != nil {
		return err
	}
	return ds.out.SendToDevices(ctx, ds.self.UserID, eventType, data, devices)
}
