package membership

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/matrix-org/dendrite/internal/eventutil"
	"github.com/matrix-org/dendrite/roomserver/api"
	"github.com/matrix-org/dendrite/setup/config"
	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/fclient"
	"github.com/matrix-org/gomatrixserverlib/spec"
)

// Knocking (Matrix client-server and server-server specifications, "Knocking
// on rooms"), which Dendrite v0.13.8 lacks: the knocking user's server asks
// a server in the room for a template (make_knock), signs the knock and
// sends it back (send_knock), and receives the room's stripped state. A
// server in the room knocks for its own users directly. Knocks need no MLS
// in MLS rooms; gomatrixserverlib's auth rules decide which room versions
// (7 and later) and join rules (knock, knock_restricted) allow them.

// KnockRoomServer is what knocking asks Dendrite's roomserver.
type KnockRoomServer interface {
	RoomServer
	api.QueryLatestEventsAndStateAPI
	QueryServerJoinedToRoom(ctx context.Context, req *api.QueryServerJoinedToRoomRequest, res *api.QueryServerJoinedToRoomResponse) error
}

// KnockClient sends make_knock and send_knock to other servers.
type KnockClient interface {
	MakeKnock(ctx context.Context, origin, s spec.ServerName, roomID, userID string, roomVersions []gomatrixserverlib.RoomVersion) (fclient.RespMakeKnock, error)
	SendKnock(ctx context.Context, origin, s spec.ServerName, event gomatrixserverlib.PDU) (fclient.RespSendKnock, error)
}

// Knocker knocks for local users and serves other servers' knocks.
type Knocker struct {
	Config     *config.Global
	RoomServer KnockRoomServer
	Federation KnockClient
	KeyRing    gomatrixserverlib.JSONVerifier
}

// Errors of membership requests; each is wrapped with the reason.
var (
	// ErrNotInRoom: this server is not in the room it is asked to help
	// knock on (404).
	ErrNotInRoom = errors.New("this server is not in the room")
	// ErrBadRequest: a federation membership request is malformed, e.g.
	// a send_knock that does not hold a knock of the requesting server's
	// user (400).
	ErrBadRequest = errors.New("bad membership request")
)

// ErrIncompatibleVersion: the knocking server does not support the room's
// version (400 M_INCOMPATIBLE_ROOM_VERSION).
type ErrIncompatibleVersion struct{ Version gomatrixserverlib.RoomVersion }

func (e ErrIncompatibleVersion) Error() string {
	return "the knocking server does not support room version " + string(e.Version)
}

// memberProto is an m.room.member event of sender about target.
func memberProto(roomID spec.RoomID, sender, target spec.UserID, membership, reason string) (gomatrixserverlib.ProtoEvent, error) {
	stateKey := target.String()
	proto := gomatrixserverlib.ProtoEvent{SenderID: sender.String(), RoomID: roomID.String(), Type: spec.MRoomMember, StateKey: &stateKey}
	content := gomatrixserverlib.MemberContent{Membership: membership, Reason: reason}
	return proto, proto.SetContent(content)
}

// buildLocally builds proto on the room's current state, signed by this
// server, and checks it against the room's auth rules. proto gets the auth
// events, prev events and depth. It returns ErrNotInRoom when this server
// is not in the room, and a *gomatrixserverlib.NotAllowed error when the
// rules refuse the event.
func (k *Knocker) buildLocally(ctx context.Context, proto *gomatrixserverlib.ProtoEvent) (gomatrixserverlib.PDU, []gomatrixserverlib.PDU, error) {
	var joined api.QueryServerJoinedToRoomResponse
	if err := k.RoomServer.QueryServerJoinedToRoom(ctx, &api.QueryServerJoinedToRoomRequest{RoomID: proto.RoomID}, &joined); err != nil {
		return nil, nil, err
	}
	if !joined.IsInRoom {
		return nil, nil, ErrNotInRoom
	}
	var res api.QueryLatestEventsAndStateResponse
	event, err := eventutil.QueryAndBuildEvent(ctx, proto, &k.Config.SigningIdentity, time.Now(), k.RoomServer, &res)
	if err != nil {
		return nil, nil, err
	}
	state := statePDUs(res.StateEvents)
	provider := gomatrixserverlib.NewAuthEvents(state)
	if err = gomatrixserverlib.Allowed(event.PDU, &provider, UserIDForSender); err != nil {
		return nil, nil, err
	}
	return event.PDU, state, nil
}

// MakeKnock answers make_knock from origin for user: the knock template,
// built on this server's view of the room.
func (k *Knocker) MakeKnock(ctx context.Context, origin spec.ServerName, roomID spec.RoomID, user spec.UserID, remoteVersions []gomatrixserverlib.RoomVersion) (*fclient.RespMakeKnock, error) {
	if user.Domain() != origin {
		return nil, fmt.Errorf("%w: %s is not a user of %s", ErrBadRequest, user.String(), origin)
	}
	proto, err := memberProto(roomID, user, user, spec.Knock, "")
	if err != nil {
		return nil, err
	}
	event, _, err := k.buildLocally(ctx, &proto)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(remoteVersions, event.Version()) {
		return nil, ErrIncompatibleVersion{Version: event.Version()}
	}
	return &fclient.RespMakeKnock{KnockEvent: proto, RoomVersion: event.Version()}, nil
}

// SendKnock answers send_knock from origin: it checks the knock (a knock
// of origin's user, signed, with the event ID of the request), sends it
// into the room and returns the room's stripped state.
func (k *Knocker) SendKnock(ctx context.Context, origin spec.ServerName, roomID spec.RoomID, eventID string, body json.RawMessage) (*fclient.RespSendKnock, error) {
	var joined api.QueryServerJoinedToRoomResponse
	if err := k.RoomServer.QueryServerJoinedToRoom(ctx, &api.QueryServerJoinedToRoomRequest{RoomID: roomID.String()}, &joined); err != nil {
		return nil, err
	}
	if !joined.IsInRoom {
		return nil, ErrNotInRoom
	}
	verImpl, err := gomatrixserverlib.GetRoomVersion(joined.RoomVersion)
	if err != nil {
		return nil, err
	}
	event, err := verImpl.NewEventFromUntrustedJSON(body)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	if err = checkKnock(event, origin, roomID, eventID); err != nil {
		return nil, err
	}
	if err = gomatrixserverlib.VerifyEventSignatures(ctx, event, k.KeyRing, UserIDForSender); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	if err = send(ctx, k.RoomServer, event, k.Config.ServerName); err != nil {
		return nil, err
	}
	state, err := k.currentState(ctx, roomID)
	if err != nil {
		return nil, err
	}
	return &fclient.RespSendKnock{KnockRoomState: strippedState(state)}, nil
}

// checkKnock checks that event is a knock by a user of origin on roomID,
// whose event ID is eventID.
func checkKnock(event gomatrixserverlib.PDU, origin spec.ServerName, roomID spec.RoomID, eventID string) error {
	membership, _ := event.Membership()
	sender, err := spec.NewUserID(string(event.SenderID()), true)
	switch {
	case err != nil:
		return fmt.Errorf("%w: bad sender", ErrBadRequest)
	case event.EventID() != eventID || event.RoomID() != roomID:
		return fmt.Errorf("%w: the event's ID or room is not the request's", ErrBadRequest)
	case event.Type() != spec.MRoomMember || membership != spec.Knock || !event.StateKeyEquals(sender.String()):
		return fmt.Errorf("%w: not a knock by its sender", ErrBadRequest)
	case sender.Domain() != origin:
		return fmt.Errorf("%w: %s is not a user of %s", ErrBadRequest, sender.String(), origin)
	}
	return nil
}

// currentState returns the room's current state events of the types an
// invitee or a knocker is shown.
func (k *Knocker) currentState(ctx context.Context, roomID spec.RoomID) ([]gomatrixserverlib.PDU, error) {
	tuples := make([]gomatrixserverlib.StateKeyTuple, len(strippedStateTypes))
	for i, t := range strippedStateTypes {
		tuples[i] = gomatrixserverlib.StateKeyTuple{EventType: t}
	}
	var res api.QueryLatestEventsAndStateResponse
	if err := k.RoomServer.QueryLatestEventsAndState(ctx, &api.QueryLatestEventsAndStateRequest{RoomID: roomID.String(), StateToFetch: tuples}, &res); err != nil {
		return nil, err
	}
	state := statePDUs(res.StateEvents)
	return state, nil
}

// Knock knocks on the room for the local user with the given reason:
// directly when this server is in the room, otherwise through the first of
// servers that helps. It returns the room's stripped state as the knock's
// recipient reported it (nil for a direct knock).
func (k *Knocker) Knock(ctx context.Context, roomID spec.RoomID, user spec.UserID, reason string, servers []spec.ServerName) ([]gomatrixserverlib.InviteStrippedState, error) {
	proto, err := memberProto(roomID, user, user, spec.Knock, reason)
	if err != nil {
		return nil, err
	}
	event, _, err := k.buildLocally(ctx, &proto)
	switch {
	case err == nil:
		return nil, send(ctx, k.RoomServer, event, user.Domain())
	case !errors.Is(err, ErrNotInRoom):
		return nil, err
	}
	if len(servers) == 0 {
		return nil, ErrNotInRoom
	}
	var lastErr error
	for _, server := range servers {
		if k.Config.IsLocalServerName(server) {
			continue
		}
		var state []gomatrixserverlib.InviteStrippedState
		if state, lastErr = k.knockVia(ctx, server, roomID, user, reason); lastErr == nil {
			return state, nil
		}
	}
	if lastErr == nil {
		return nil, ErrNotInRoom
	}
	return nil, lastErr
}

// Reject rejects target's knock: the local moderator sets target's
// membership to leave, with the given reason. Dendrite's /kick refuses to
// kick a user who only knocked.
func (k *Knocker) Reject(ctx context.Context, roomID spec.RoomID, moderator, target spec.UserID, reason string) error {
	proto, err := memberProto(roomID, moderator, target, spec.Leave, reason)
	if err != nil {
		return err
	}
	event, _, err := k.buildLocally(ctx, &proto)
	if err != nil {
		return err
	}
	return send(ctx, k.RoomServer, event, moderator.Domain())
}

// knockVia knocks through server: make_knock, sign, send_knock.
func (k *Knocker) knockVia(ctx context.Context, server spec.ServerName, roomID spec.RoomID, user spec.UserID, reason string) ([]gomatrixserverlib.InviteStrippedState, error) {
	versions := make([]gomatrixserverlib.RoomVersion, 0, len(gomatrixserverlib.RoomVersions()))
	for v := range gomatrixserverlib.RoomVersions() {
		versions = append(versions, v)
	}
	tmpl, err := k.Federation.MakeKnock(ctx, user.Domain(), server, roomID.String(), user.String(), versions)
	if err != nil {
		return nil, err
	}
	verImpl, err := gomatrixserverlib.GetRoomVersion(tmpl.RoomVersion)
	if err != nil {
		return nil, err
	}
	proto := tmpl.KnockEvent
	stateKey := user.String()
	if proto.Type != spec.MRoomMember || proto.RoomID != roomID.String() || proto.SenderID != stateKey || proto.StateKey == nil || *proto.StateKey != stateKey {
		return nil, fmt.Errorf("%s returned a knock template for another event", server)
	}
	if err = proto.SetContent(gomatrixserverlib.MemberContent{Membership: spec.Knock, Reason: reason}); err != nil {
		return nil, err
	}
	identity, err := k.Config.SigningIdentityFor(user.Domain())
	if err != nil {
		return nil, err
	}
	event, err := verImpl.NewEventBuilderFromProtoEvent(&proto).Build(time.Now(), identity.ServerName, identity.KeyID, identity.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("building the knock: %w", err)
	}
	res, err := k.Federation.SendKnock(ctx, user.Domain(), server, event)
	if err != nil {
		return nil, err
	}
	return res.KnockRoomState, nil
}
