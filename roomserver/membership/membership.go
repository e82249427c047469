// Package membership builds and sends the m.room.member events of MLS rooms
// (room version org.matrix.msc4244) that Dendrite's own code cannot: their
// auth events include the room's m.room.history_visibility, which the MLS
// membership rule reads (package roomserver/mlsauth, docs/membership.md),
// and they may carry content.mls_commit.
package membership

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/matrix-org/dendrite/roomserver/api"
	"github.com/matrix-org/dendrite/roomserver/types"
	"github.com/matrix-org/dendrite/setup/config"
	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/fclient"
	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/matrix-org/dendrite/msc4244/roomserver/mlsauth"
)

// RoomServer is what the Sender asks Dendrite's roomserver.
type RoomServer interface {
	QueryLatestEventsAndState(ctx context.Context, req *api.QueryLatestEventsAndStateRequest, res *api.QueryLatestEventsAndStateResponse) error
	InputRoomEvents(ctx context.Context, req *api.InputRoomEventsRequest, res *api.InputRoomEventsResponse)
}

// Sender builds member events as this server and sends them into rooms.
type Sender struct {
	Config     *config.Global
	RoomServer RoomServer
	// Invites has remote invitees' servers sign invites.
	Invites *InviteClient
}

// ErrRoomUnknown is returned by Build when this server has no state of the
// room: a join has to go through a resident server (make_join).
var ErrRoomUnknown = errors.New("this server does not know the room")

// Draft is a member event built and checked, not yet sent.
type Draft struct {
	Event gomatrixserverlib.PDU
	// AuthEvents are the events its auth_events name.
	AuthEvents []gomatrixserverlib.PDU
	// StrippedState describes the room to an invitee.
	StrippedState []gomatrixserverlib.InviteStrippedState
}

// strippedStateTypes are the state an invite shows the invitee, as
// gomatrixserverlib.GenerateStrippedState chooses it.
var strippedStateTypes = []string{
	spec.MRoomName, spec.MRoomCanonicalAlias, spec.MRoomJoinRules,
	spec.MRoomAvatar, spec.MRoomEncryption, spec.MRoomCreate,
}

// Build builds the member event of sender about target with content (whose
// membership it sets) on top of the room's current state, signed by the
// sender's server. Its auth events are the ones gomatrixserverlib selects
// plus the room's history visibility. It is meant for MLS rooms only: other
// room versions do not expect that auth event. It returns a
// *gomatrixserverlib.NotAllowed error when the room's auth rules refuse the
// event; a refusal by the MLS rule says why in the rule's own words.
func (s *Sender) Build(ctx context.Context, roomID spec.RoomID, sender, target spec.UserID, membership string, content map[string]any) (*Draft, error) {
	identity, err := s.Config.SigningIdentityFor(sender.Domain())
	if err != nil {
		return nil, err
	}
	return s.build(ctx, roomID, sender, target, membership, content, identity)
}

// Check checks the member event of sender (of any server) about target
// with content, as Build would build it now, without sending anything: it
// is signed by this server, which does not matter to the auth rules. It
// returns what Build does.
func (s *Sender) Check(ctx context.Context, roomID spec.RoomID, sender, target spec.UserID, membership string, content map[string]any) error {
	_, err := s.build(ctx, roomID, sender, target, membership, content, &s.Config.SigningIdentity)
	return err
}

func (s *Sender) build(ctx context.Context, roomID spec.RoomID, sender, target spec.UserID, membership string, content map[string]any, identity *fclient.SigningIdentity) (*Draft, error) {
	content = maps.Clone(content)
	if content == nil {
		content = map[string]any{}
	}
	content["membership"] = membership
	raw, err := json.Marshal(content)
	if err != nil {
		return nil, err
	}
	stateKey := target.String()
	proto := gomatrixserverlib.ProtoEvent{
		SenderID: sender.String(), RoomID: roomID.String(), Type: spec.MRoomMember, StateKey: &stateKey, Content: raw,
	}
	needed, err := gomatrixserverlib.StateNeededForProtoEvent(&proto)
	if err != nil {
		return nil, err
	}
	tuples := append(needed.Tuples(), gomatrixserverlib.StateKeyTuple{EventType: spec.MRoomHistoryVisibility})
	if membership == spec.Invite {
		for _, t := range strippedStateTypes {
			tuples = append(tuples, gomatrixserverlib.StateKeyTuple{EventType: t})
		}
	}
	var res api.QueryLatestEventsAndStateResponse
	if err = s.RoomServer.QueryLatestEventsAndState(ctx, &api.QueryLatestEventsAndStateRequest{RoomID: roomID.String(), StateToFetch: tuples}, &res); err != nil {
		return nil, fmt.Errorf("QueryLatestEventsAndState: %w", err)
	}
	if !res.RoomExists {
		return nil, ErrRoomUnknown
	}

	verImpl, err := gomatrixserverlib.GetRoomVersion(res.RoomVersion)
	if err != nil {
		return nil, err
	}
	state := statePDUs(res.StateEvents)
	provider := gomatrixserverlib.NewAuthEvents(state)
	refs, err := needed.AuthEventReferences(&provider)
	if err != nil {
		return nil, err
	}
	if hv := find(state, spec.MRoomHistoryVisibility); hv != nil {
		refs = append(refs, hv.EventID())
	}
	proto.AuthEvents = refs
	proto.PrevEvents = truncate(res.LatestEvents, maxPrevEvents)
	proto.Depth = res.Depth
	draft := &Draft{}
	if membership == spec.Invite {
		draft.StrippedState = strippedState(state)
		if err = proto.SetUnsigned(map[string]any{"invite_room_state": draft.StrippedState}); err != nil {
			return nil, err
		}
	}
	if draft.Event, err = verImpl.NewEventBuilderFromProtoEvent(&proto).Build(time.Now(), identity.ServerName, identity.KeyID, identity.PrivateKey); err != nil {
		return nil, fmt.Errorf("building the member event: %w", err)
	}
	for _, ev := range state {
		if slices.Contains(draft.Event.AuthEventIDs(), ev.EventID()) {
			draft.AuthEvents = append(draft.AuthEvents, ev)
		}
	}
	if err = mlsauth.Check(draft.Event, mlsauth.LookupOf(draft.AuthEvents)); err != nil {
		return nil, &gomatrixserverlib.NotAllowed{Message: err.Error()}
	}
	authEvents := gomatrixserverlib.NewAuthEvents(draft.AuthEvents)
	if err = gomatrixserverlib.Allowed(draft.Event, &authEvents, UserIDForSender); err != nil {
		return nil, err
	}
	return draft, nil
}

// statePDUs returns the PDUs of the roomserver's headered events.
func statePDUs(events []*types.HeaderedEvent) []gomatrixserverlib.PDU {
	state := make([]gomatrixserverlib.PDU, len(events))
	for i, ev := range events {
		state[i] = ev.PDU
	}
	return state
}

// maxPrevEvents bounds prev_events as Dendrite does.
const maxPrevEvents = 20

// find returns the event of the type with an empty state key, or nil.
func find(state []gomatrixserverlib.PDU, eventType string) gomatrixserverlib.PDU {
	for _, ev := range state {
		if ev.Type() == eventType && ev.StateKeyEquals("") {
			return ev
		}
	}
	return nil
}

func strippedState(state []gomatrixserverlib.PDU) []gomatrixserverlib.InviteStrippedState {
	var stripped []gomatrixserverlib.InviteStrippedState
	for _, ev := range state {
		if slices.Contains(strippedStateTypes, ev.Type()) && ev.StateKeyEquals("") {
			stripped = append(stripped, gomatrixserverlib.NewInviteStrippedState(ev))
		}
	}
	return stripped
}

// send sends event into its room as a new event, which the roomserver
// sends on to the room's other servers as sendAs.
func send(ctx context.Context, rs RoomServer, event gomatrixserverlib.PDU, sendAs spec.ServerName) error {
	var res api.InputRoomEventsResponse
	rs.InputRoomEvents(ctx, &api.InputRoomEventsRequest{InputRoomEvents: []api.InputRoomEvent{{
		Kind: api.KindNew, Event: &types.HeaderedEvent{PDU: event}, Origin: sendAs, SendAsServer: string(sendAs),
	}}}, &res)
	return res.Err()
}

// UserIDForSender maps the sender IDs of the room version, which are user
// IDs, to user IDs.
func UserIDForSender(_ spec.RoomID, senderID spec.SenderID) (*spec.UserID, error) {
	return spec.NewUserID(string(senderID), true)
}

func truncate(ids []string, n int) []string {
	if len(ids) > n {
		return ids[:n]
	}
	return ids
}

// Invite builds an invite of invitee by inviter with content, has a remote
// invitee's server sign it, and sends it into the room. It returns the
// invite's event ID.
func (s *Sender) Invite(ctx context.Context, roomID spec.RoomID, inviter, invitee spec.UserID, content map[string]any) (string, error) {
	draft, err := s.Build(ctx, roomID, inviter, invitee, spec.Invite, content)
	if err != nil {
		return "", err
	}
	event := draft.Event
	if !s.Config.IsLocalServerName(invitee.Domain()) {
		if event, err = s.Invites.Sign(ctx, draft); err != nil {
			return "", err
		}
	}
	return event.EventID(), send(ctx, s.RoomServer, event, inviter.Domain())
}

// Join builds a join of the local user in a room this server is in, with
// content, and sends it into the room. It returns the join's event ID.
func (s *Sender) Join(ctx context.Context, roomID spec.RoomID, user spec.UserID, content map[string]any) (string, error) {
	draft, err := s.Build(ctx, roomID, user, user, spec.Join, content)
	if err != nil {
		return "", err
	}
	return draft.Event.EventID(), send(ctx, s.RoomServer, draft.Event, user.Domain())
}
