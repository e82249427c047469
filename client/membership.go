package client

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/matrix-org/dendrite/msc4244/client/dispatch"
	"github.com/matrix-org/dendrite/msc4244/client/matrix"
	"github.com/matrix-org/dendrite/msc4244/roomserver/mlsauth"
)

// membershipAAD returns the AAD of a membership commit (docs/mls-profile.md,
// "Membership in an MLS room"; the codec is the servers' own, package
// mlsauth): this user doing action to target, naming the room's current
// state events the action needs.
func (c *Client) membershipAAD(ctx context.Context, roomID, action, target string) ([]byte, error) {
	state, err := c.api.State(ctx, roomID)
	if err != nil {
		// A user not yet joined cannot read the state on most servers (its
		// own server may not even know the room).
		return nil, fmt.Errorf("reading the room's current state to name its auth events in the commit's AAD: %w", err)
	}
	find := func(evType, stateKey string) string {
		for i := range state {
			if state[i].IsState(evType, stateKey) {
				return state[i].EventID
			}
		}
		return ""
	}
	memberKey := mlsauth.MemberStateKey(action, c.UserID(), target)
	hasMember := find("m.room.member", memberKey) != ""
	aad := &mlsauth.AAD{Action: action, Target: target, AuthEvents: map[string]string{}}
	for _, evType := range mlsauth.RequiredAuthEvents(action, hasMember) {
		stateKey := ""
		if evType == "m.room.member" {
			stateKey = memberKey
		}
		id := find(evType, stateKey)
		if id == "" {
			return nil, fmt.Errorf("the room has no %s state event for the commit's AAD", evType)
		}
		aad.AuthEvents[evType] = id
	}
	return aad.Marshal(), nil
}

// historyVisibility returns the room's m.room.history_visibility
// ("shared" when the room has none, as the spec says).
func (c *Client) historyVisibility(ctx context.Context, roomID string) (string, error) {
	raw, err := c.api.StateContent(ctx, roomID, "m.room.history_visibility", "")
	if matrix.ErrCode(err) == "M_NOT_FOUND" {
		return "shared", nil
	}
	if err != nil {
		return "", err
	}
	var content struct {
		HistoryVisibility string `json:"history_visibility"`
	}
	if err = json.Unmarshal(raw, &content); err != nil {
		return "", err
	}
	return content.HistoryVisibility, nil
}

// verifyMembership checks a member event's mls_commit as far as a client
// can (MSC4244: clients SHOULD verify): the commit is a commit of this
// room's group whose AAD names the event's action and target, comes from
// the right kind of MLS sender, and names exactly the auth events the
// action needs, each an event of this room of the right type and state
// key. (That they are the event's own auth_events, which the client-server
// API does not show, every server's auth rule checks.)
func (c *Client) verifyMembership(ctx context.Context, m *dispatch.Membership) error {
	if m.Err != nil {
		return m.Err
	}
	var content struct {
		Commit string `json:"mls_commit"`
	}
	if err := json.Unmarshal(m.Content, &content); err != nil {
		return err
	}
	commit, err := mlsauth.DecodeCommit(content.Commit, m.RoomID)
	if err != nil {
		return err
	}
	named := make([]string, 0, len(commit.AAD.AuthEvents))
	facts := map[string]*mlsauth.Facts{}
	for _, id := range commit.AAD.AuthEvents {
		ev, err := c.api.Event(ctx, m.RoomID, id)
		if err != nil {
			return &uncheckedError{fmt.Errorf("fetching the AAD's auth event %s: %w", id, err)}
		}
		f := &mlsauth.Facts{EventID: id, Type: ev.Type, Sender: ev.Sender}
		if ev.StateKey != nil {
			f.StateKey = *ev.StateKey
		}
		facts[id] = f
		named = append(named, id)
	}
	auth := mlsauth.NewAuthEvents(named, func(id string) *mlsauth.Facts { return facts[id] })
	return mlsauth.MatchAAD(commit, m.Membership, m.Sender, m.Target, auth)
}

// uncheckedError says that a member event's commit could not be checked
// (an auth event it names cannot be read, e.g. because of the room's
// history visibility), which is not a mismatch.
type uncheckedError struct{ err error }

func (e *uncheckedError) Error() string { return e.err.Error() }
func (e *uncheckedError) Unwrap() error { return e.err }
