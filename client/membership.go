package client

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"

	"github.com/matrix-org/gomatrixserverlib"

	"github.com/matrix-org/dendrite/msc4244/client/dispatch"
	"github.com/matrix-org/dendrite/msc4244/client/matrix"
	"github.com/matrix-org/dendrite/msc4244/client/mlsroom"
)

// aad is the authenticated data of a membership commit
// (docs/mls-profile.md, "Membership in an MLS room").
type aad struct {
	MLS struct {
		Action     string            `json:"action"`
		Target     string            `json:"target"`
		AuthEvents map[string]string `json:"auth_events"`
	} `json:"m.mls.aad"`
}

// authEventTypes are the state events the AAD of each action names, with
// whose m.room.member: the sender's for an invite, the joiner's (when one
// exists) for a join.
var authEventTypes = map[string][]string{
	"invite": {"m.room.power_levels", "m.room.history_visibility", "m.room.member"},
	"join":   {"m.room.power_levels", "m.room.join_rules", "m.room.history_visibility", "m.room.member"},
}

// membershipAAD returns the canonical JSON AAD for this user doing action
// to target, naming the room's current state events.
func (c *Client) membershipAAD(ctx context.Context, roomID, action, target string) ([]byte, error) {
	state, err := c.api.State(ctx, roomID)
	if err != nil {
		return nil, fmt.Errorf("reading the room's current state for the commit's AAD: %w", err)
	}
	var a aad
	a.MLS.Action, a.MLS.Target, a.MLS.AuthEvents = action, target, map[string]string{}
	member := c.UserID() // the sender's member event (for a join, the joiner's)
	for _, evType := range authEventTypes[action] {
		stateKey := ""
		if evType == "m.room.member" {
			stateKey = member
		}
		for i := range state {
			if state[i].IsState(evType, stateKey) {
				a.MLS.AuthEvents[evType] = state[i].EventID
			}
		}
		if _, ok := a.MLS.AuthEvents[evType]; !ok && !(action == "join" && evType == "m.room.member") {
			return nil, fmt.Errorf("the room has no %s state event for the commit's AAD", evType)
		}
	}
	raw, err := json.Marshal(&a)
	if err != nil {
		return nil, err
	}
	return gomatrixserverlib.CanonicalJSON(raw)
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
// can (MSC4244: clients SHOULD verify): the commit's AAD names the event's
// action and target, and each auth event it names is an event of this
// room of the right type and state key. (That they are the event's own
// auth_events, which the client-server API does not show, is checked by
// every server's auth rule.)
func (c *Client) verifyMembership(ctx context.Context, m *dispatch.Membership) error {
	if m.Err != nil {
		return m.Err
	}
	raw, err := mlsroom.AuthenticatedData(m.Commit)
	if err != nil {
		return err
	}
	var a aad
	if err = json.Unmarshal(raw, &a); err != nil || a.MLS.AuthEvents == nil {
		return fmt.Errorf("the commit's authenticated data is not an m.mls.aad")
	}
	if a.MLS.Action != m.Membership || a.MLS.Target != m.Target {
		return fmt.Errorf("the commit's AAD is for %s of %s, the event is %s of %s", a.MLS.Action, a.MLS.Target, m.Membership, m.Target)
	}
	wantTypes := authEventTypes[a.MLS.Action]
	if wantTypes == nil {
		return fmt.Errorf("the commit's AAD names an unknown action %q", a.MLS.Action)
	}
	named := make([]string, 0, len(a.MLS.AuthEvents))
	for evType := range a.MLS.AuthEvents {
		named = append(named, evType)
	}
	sort.Strings(named)
	for _, evType := range named {
		if !slices.Contains(wantTypes, evType) {
			return fmt.Errorf("the commit's AAD names a %s auth event, which a %s does not use", evType, a.MLS.Action)
		}
		stateKey := ""
		if evType == "m.room.member" {
			stateKey = m.Sender
		}
		ev, err := c.api.Event(ctx, m.RoomID, a.MLS.AuthEvents[evType])
		if err != nil {
			return fmt.Errorf("fetching the AAD's %s event %s: %w", evType, a.MLS.AuthEvents[evType], err)
		}
		if !ev.IsState(evType, stateKey) {
			return fmt.Errorf("the AAD's %s event %s is a %s", evType, a.MLS.AuthEvents[evType], ev.Type)
		}
	}
	for _, evType := range wantTypes {
		if _, ok := a.MLS.AuthEvents[evType]; !ok && !(a.MLS.Action == "join" && evType == "m.room.member") {
			return fmt.Errorf("the commit's AAD lacks the %s auth event", evType)
		}
	}
	return nil
}
