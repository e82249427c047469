package roomserver

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/matrix-org/dendrite/roomserver/api"
	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/matrix-org/util"
	"github.com/tidwall/gjson"

	"github.com/matrix-org/dendrite/msc4244/roomserver/membership"
	"github.com/matrix-org/dendrite/msc4244/roomserver/mlsauth"
)

// The membership methods of the Decorator send the member events of MLS
// rooms that Dendrite's own code would build without the history visibility
// among their auth events, which the MLS membership rule reads
// (docs/membership.md): invites, and joins that carry mls_commit. Every
// component's invites and joins go through them (client /invite and /join,
// app services); what the roomserver does internally does not (the invites
// of /createRoom, which PerformCreateRoom sends itself).

// SetMembershipSender gives the decorator what sends the member events of
// MLS rooms. Until it is called, those go to Dendrite unchanged.
func (d *Decorator) SetMembershipSender(s *membership.Sender) { d.members = s }

// SetJoinAcceptance gives the decorator what tells whether a room's DS
// accepted the commit a join carries. Until it is called, such joins are
// not checked with the DS.
func (d *Decorator) SetJoinAcceptance(a *membership.Acceptance) { d.acceptance = a }

// isMLSRoom reports whether this server knows the room as an MLS room.
func (d *Decorator) isMLSRoom(ctx context.Context, roomID string) bool {
	version, err := d.RoomserverInternalAPI.QueryRoomVersionForRoom(ctx, roomID)
	return err == nil && version == RoomVersion
}

// PerformInvite invites as Dendrite does, except in MLS rooms, where the
// invite is built with the history visibility among its auth events and
// refused with ErrNotAllowed when the MLS rule needs a commit.
func (d *Decorator) PerformInvite(ctx context.Context, req *api.PerformInviteRequest) error {
	in := req.InviteInput
	if d.members == nil || !d.isMLSRoom(ctx, in.RoomID.String()) {
		return d.RoomserverInternalAPI.PerformInvite(ctx, req)
	}
	content := map[string]any{}
	if in.Reason != "" {
		content["reason"] = in.Reason
	}
	if in.IsDirect {
		content["is_direct"] = true
	}
	_, err := d.members.Invite(ctx, in.RoomID, in.Inviter, in.Invitee, content)
	return notAllowed(err)
}

// PerformJoin joins as Dendrite does, except for a join carrying
// mls_commit: it must be by room ID, and the room's DS must have accepted
// the commit (the joiner's server sends the join only after that). Into an
// MLS room this server is in, it is built with the history visibility among
// its auth events, which the commit's AAD names; a remote join gets that
// auth event from the resident server's make_join (federationapi).
func (d *Decorator) PerformJoin(ctx context.Context, req *api.PerformJoinRequest) (string, spec.ServerName, error) {
	commit, hasCommit := req.Content[mlsauth.ContentKeyCommit]
	if d.members == nil || !hasCommit {
		return d.RoomserverInternalAPI.PerformJoin(ctx, req)
	}
	roomID, err := spec.NewRoomID(req.RoomIDOrAlias)
	if err != nil {
		return "", "", api.ErrInvalidID{Err: errors.New("a join carrying mls_commit must name the room by its ID")}
	}
	user, err := spec.NewUserID(req.UserID, true)
	if err != nil {
		return "", "", api.ErrInvalidID{Err: err}
	}
	if req.IsGuest {
		return "", "", api.ErrNotAllowed{Err: errors.New("guests cannot join MLS rooms by external commit")}
	}
	if d.acceptance != nil {
		value, _ := commit.(string)
		if err = d.acceptance.Check(ctx, *roomID, *user, value); err != nil {
			return "", "", api.ErrNotAllowed{Err: err}
		}
	}
	if !d.isMLSRoom(ctx, roomID.String()) {
		return d.RoomserverInternalAPI.PerformJoin(ctx, req)
	}
	_, err = d.members.Join(ctx, *roomID, *user, req.Content)
	if errors.Is(err, membership.ErrRoomUnknown) {
		return d.RoomserverInternalAPI.PerformJoin(ctx, req)
	}
	if err != nil {
		return "", "", notAllowed(err)
	}
	return roomID.String(), user.Domain(), nil
}

// notAllowed turns an auth rejection into api.ErrNotAllowed, which the
// client API answers with 403.
func notAllowed(err error) error {
	var refused *gomatrixserverlib.NotAllowed
	if errors.As(err, &refused) {
		return api.ErrNotAllowed{Err: err}
	}
	return err
}

// PerformCreateRoom creates rooms as Dendrite does. The invites of a new MLS
// room are sent once it exists, through PerformInvite, since the
// roomserver's own would lack the history visibility among their auth
// events. They need no MLS commit only when the room's history visibility
// is "joined": otherwise the request is refused before the room is created,
// because no commit can exist before the creator's group does.
func (d *Decorator) PerformCreateRoom(ctx context.Context, userID spec.UserID, roomID spec.RoomID, req *api.PerformCreateRoomRequest) (string, *util.JSONResponse) {
	if d.members == nil || req.RoomVersion != RoomVersion || len(req.InvitedUsers) == 0 {
		return d.RoomserverInternalAPI.PerformCreateRoom(ctx, userID, roomID, req)
	}
	if hv := initialHistoryVisibility(req.InitialState); hv != mlsauth.HistoryVisibilityJoined {
		return "", &util.JSONResponse{Code: http.StatusBadRequest, JSON: spec.InvalidParam(
			"an MLS room whose history visibility is " + hv + " cannot invite at creation: each invite needs an MLS commit, " +
				"so invite once the group exists (or create the room with history visibility joined)")}
	}
	withoutInvites := *req
	withoutInvites.InvitedUsers = nil
	alias, errRes := d.RoomserverInternalAPI.PerformCreateRoom(ctx, userID, roomID, &withoutInvites)
	if errRes != nil {
		return alias, errRes
	}
	for _, invitee := range req.InvitedUsers {
		inviteeID, err := spec.NewUserID(invitee, true)
		if err != nil {
			return "", &util.JSONResponse{Code: http.StatusBadRequest, JSON: spec.InvalidParam("invalid user ID " + invitee)}
		}
		err = d.PerformInvite(ctx, &api.PerformInviteRequest{InviteInput: api.InviteInput{
			RoomID: roomID, Inviter: userID, Invitee: *inviteeID, IsDirect: req.IsDirect,
			KeyID: req.KeyID, PrivateKey: req.PrivateKey, EventTime: req.EventTime,
		}})
		var refused api.ErrNotAllowed
		switch {
		case errors.As(err, &refused):
			return "", &util.JSONResponse{Code: http.StatusForbidden, JSON: spec.Forbidden(err.Error())}
		case err != nil:
			util.GetLogger(ctx).WithError(err).Error("inviting at the creation of an MLS room failed")
			return "", &util.JSONResponse{Code: http.StatusInternalServerError, JSON: spec.InternalServerError{}}
		}
	}
	return alias, nil
}

// initialHistoryVisibility is the history visibility a new room gets:
// Dendrite's default, "shared", unless its initial state sets another.
func initialHistoryVisibility(initialState []gomatrixserverlib.FledglingEvent) string {
	visibility := string(gomatrixserverlib.HistoryVisibilityShared)
	for _, ev := range initialState {
		if ev.Type != spec.MRoomHistoryVisibility || ev.StateKey != "" {
			continue
		}
		if content, err := json.Marshal(ev.Content); err == nil {
			visibility = gjson.GetBytes(content, "history_visibility").Str
		}
	}
	return visibility
}
