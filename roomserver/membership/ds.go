package membership

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"

	"github.com/matrix-org/dendrite/setup/config"
	"github.com/matrix-org/gomatrix"
	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/tidwall/gjson"

	"github.com/matrix-org/dendrite/msc4244/mlsds/api"
	"github.com/matrix-org/dendrite/msc4244/roomserver/mlsauth"
)

// StateReader reads a room's current state.
type StateReader interface {
	CurrentStateEvent(ctx context.Context, roomID spec.RoomID, eventType string, stateKey string) (gomatrixserverlib.PDU, error)
}

// DSRules are the Matrix side of the Delivery Service's membership commits
// (api.MembershipRules): they decide which commits bring a new user into a
// group, check those against the room's state and auth rules, and have the
// inviter's server send the invite once the DS accepted the commit.
type DSRules struct {
	Sender *Sender
	State  StateReader
	// Remote asks a remote inviter's server to send the invite.
	Remote *DSClient
}

var _ api.MembershipRules = (*DSRules)(nil)

func forbidden(format string, args ...any) error {
	return fmt.Errorf("%w: %s", api.ErrMembershipForbidden, fmt.Sprintf(format, args...))
}

// CheckCommit implements api.MembershipRules.
func (r *DSRules) CheckCommit(ctx context.Context, c *api.MembershipCommit) (*api.Invite, error) {
	roomID, err := spec.NewRoomID(c.RoomID)
	if err != nil {
		return nil, err
	}
	users := make([]string, 0, len(c.Added)+1)
	for _, d := range c.Added {
		users = append(users, d.UserID)
	}
	if c.External {
		users = append(users, c.Committer.UserID)
	}
	slices.Sort(users)
	var newUsers []string
	for _, u := range slices.Compact(users) {
		in, err := r.inGroup(ctx, *roomID, u)
		if err != nil {
			return nil, err
		}
		if !in {
			newUsers = append(newUsers, u)
		}
	}
	switch {
	case len(newUsers) == 0:
		return nil, nil
	case len(newUsers) > 1:
		return nil, forbidden("a commit brings one new user into the group at a time, not %v", newUsers)
	}
	target, err := spec.NewUserID(newUsers[0], true)
	if err != nil {
		return nil, forbidden("%s is not a user ID", newUsers[0])
	}
	action, sender := mlsauth.ActionInvite, c.Committer.UserID
	if c.External && target.String() == c.Committer.UserID {
		action, sender = mlsauth.ActionJoin, target.String()
	}
	senderID, err := spec.NewUserID(sender, true)
	if err != nil {
		return nil, forbidden("%s is not a user ID", sender)
	}
	if len(c.AAD) == 0 {
		return nil, forbidden("bringing %s into the group needs the %s AAD (docs/mls-profile.md)", target.String(), action)
	}
	aad, err := mlsauth.ParseAAD(c.AAD)
	if err != nil {
		return nil, forbidden("%v", err)
	}
	if aad.Action != action || aad.Target != target.String() {
		return nil, forbidden("the commit brings %s in by %s, its AAD says %s of %s", target.String(), action, aad.Action, aad.Target)
	}
	commit := base64.RawStdEncoding.EncodeToString(c.Message)
	content := map[string]any{mlsauth.ContentKeyCommit: commit}
	if err = r.Sender.Check(ctx, *roomID, *senderID, *target, action, content); err != nil {
		var notAllowed *gomatrixserverlib.NotAllowed
		if errors.As(err, &notAllowed) {
			return nil, forbidden("%s", notAllowed.Message)
		}
		return nil, err
	}
	if action == mlsauth.ActionJoin {
		// The joiner's client sends the join with the commit once the DS
		// accepted it.
		return nil, nil
	}
	return &api.Invite{RoomID: roomID.String(), Inviter: senderID.String(), Invitee: target.String(), MLSCommit: commit}, nil
}

// inGroup reports whether the user's devices already belong to the room's
// group by Matrix membership: the user is joined, or invited by an invite
// that carried an MLS commit.
func (r *DSRules) inGroup(ctx context.Context, roomID spec.RoomID, userID string) (bool, error) {
	ev, err := r.State.CurrentStateEvent(ctx, roomID, spec.MRoomMember, userID)
	if err != nil || ev == nil {
		return false, err
	}
	content := ev.Content()
	switch gjson.GetBytes(content, "membership").Str {
	case spec.Join:
		return true, nil
	case spec.Invite:
		return gjson.GetBytes(content, mlsauth.ContentKeyCommit).Exists(), nil
	}
	return false, nil
}

// SendInvite implements api.MembershipRules: the inviter's server sends
// the invite, this server directly, another one through DSClient. An invite
// the room's state shows sent already is not sent again.
func (r *DSRules) SendInvite(ctx context.Context, inv *api.Invite) error {
	roomID, roomErr := spec.NewRoomID(inv.RoomID)
	inviter, inviterErr := spec.NewUserID(inv.Inviter, true)
	invitee, inviteeErr := spec.NewUserID(inv.Invitee, true)
	err := errors.Join(roomErr, inviterErr, inviteeErr)
	if err != nil {
		return fmt.Errorf("%w: %v", api.ErrInviteRefused, err)
	}
	if r.Sender.Config.IsLocalServerName(inviter.Domain()) {
		_, err = r.Sender.inviteOnce(ctx, r.State, *roomID, *inviter, *invitee, inv.MLSCommit)
	} else {
		err = r.Remote.Invite(ctx, inviter.Domain(), *roomID, *inviter, *invitee, inv.MLSCommit)
	}
	var notAllowed *gomatrixserverlib.NotAllowed
	var remote gomatrix.HTTPError
	switch {
	case errors.As(err, &notAllowed), errors.Is(err, ErrBadRequest),
		errors.As(err, &remote) && (remote.Code == http.StatusForbidden || remote.Code == http.StatusBadRequest):
		return fmt.Errorf("%w: %v", api.ErrInviteRefused, err)
	}
	return err
}

// inviteOnce has inviter invite invitee with commit as content.mls_commit,
// unless the room's state shows that invite sent already: the invitee is
// invited with that commit, or has joined since. It returns the invite's
// event ID ("" when the invitee has joined).
func (s *Sender) inviteOnce(ctx context.Context, state StateReader, roomID spec.RoomID, inviter, invitee spec.UserID, commit string) (string, error) {
	ev, err := state.CurrentStateEvent(ctx, roomID, spec.MRoomMember, invitee.String())
	if err != nil {
		return "", err
	}
	if ev != nil {
		content := gjson.ParseBytes(ev.Content())
		switch content.Get("membership").Str {
		case spec.Invite:
			if content.Get(gjson.Escape(mlsauth.ContentKeyCommit)).Str == commit {
				return ev.EventID(), nil
			}
		case spec.Join:
			return "", nil
		}
	}
	return s.Invite(ctx, roomID, inviter, invitee, map[string]any{mlsauth.ContentKeyCommit: commit})
}

// DSInviteRequest is the body of PUT /_matrix/federation/unstable/
// org.matrix.msc4244/rooms/{roomId}/invite, by which a room's DS has the
// inviter's server send the invite of a commit it accepted (DSClient).
type DSInviteRequest struct {
	Inviter   string `json:"inviter"`
	Invitee   string `json:"invitee"`
	MLSCommit string `json:"mls_commit"`
}

// DSClient sends signed requests to other servers' DS endpoints.
type DSClient struct {
	Config *config.Global
	Client FederationClient
}

// Invite asks server to have inviter invite invitee with the commit
// (DSInviteRequest).
func (c *DSClient) Invite(ctx context.Context, server spec.ServerName, roomID spec.RoomID, inviter, invitee spec.UserID, commit string) error {
	var res struct{}
	body := DSInviteRequest{Inviter: inviter.String(), Invitee: invitee.String(), MLSCommit: commit}
	return doSigned(ctx, c.Config, c.Client, http.MethodPut, server, roomPath(roomID, "invite"), body, &res)
}

// Commits reads the log of the room's DS on server from fromEpoch on, for
// user (the DS's recovery endpoint).
func (c *DSClient) Commits(ctx context.Context, server spec.ServerName, roomID spec.RoomID, user spec.UserID, fromEpoch uint64, limit int) (*api.CommitsResponse, error) {
	query := url.Values{"user_id": {user.String()}, "from_epoch": {strconv.FormatUint(fromEpoch, 10)}, "limit": {strconv.Itoa(limit)}}
	var res api.CommitsResponse
	return &res, doSigned(ctx, c.Config, c.Client, http.MethodGet, server, roomPath(roomID, "mls", "commits")+"?"+query.Encode(), nil, &res)
}

// roomPath is the federation path of a room below the DS's prefix.
func roomPath(roomID spec.RoomID, segments ...string) string {
	path := "/_matrix/federation/unstable/" + api.UnstablePrefix + "/rooms/" + url.PathEscape(roomID.String())
	for _, s := range segments {
		path += "/" + s
	}
	return path
}

// ErrNotRoomDS is returned by HandleDSInvite when the request does not come
// from the room's DS (403).
var ErrNotRoomDS = errors.New("only the room's Delivery Service asks for the invites of accepted commits")

// HandleDSInvite serves a DSInviteRequest from origin: the room's DS (the
// server of the create event's sender) asks this server to have its user
// send the invite of a commit the DS accepted.
func (s *Sender) HandleDSInvite(ctx context.Context, origin spec.ServerName, roomID spec.RoomID, req *DSInviteRequest, state StateReader) (string, error) {
	create, err := state.CurrentStateEvent(ctx, roomID, spec.MRoomCreate, "")
	if err != nil {
		return "", err
	}
	if create == nil {
		return "", ErrNotInRoom
	}
	creator, err := spec.NewUserID(string(create.SenderID()), true)
	if err != nil || creator.Domain() != origin {
		return "", ErrNotRoomDS
	}
	inviter, err := spec.NewUserID(req.Inviter, true)
	if err != nil || !s.Config.IsLocalServerName(inviter.Domain()) {
		return "", fmt.Errorf("%w: the inviter %q is not a user of this server", ErrBadRequest, req.Inviter)
	}
	invitee, err := spec.NewUserID(req.Invitee, true)
	if err != nil {
		return "", fmt.Errorf("%w: bad invitee %q", ErrBadRequest, req.Invitee)
	}
	return s.inviteOnce(ctx, state, roomID, *inviter, *invitee, req.MLSCommit)
}
