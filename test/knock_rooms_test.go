package test

import (
	"net/http"
	"testing"

	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/matrix-org/dendrite/msc4244/test/client"
	"github.com/matrix-org/dendrite/msc4244/test/harness"
	"github.com/matrix-org/dendrite/msc4244/test/match"
	"github.com/matrix-org/dendrite/msc4244/test/must"
)

// knockRoomBody is the /createRoom body of a room of the given version
// whose join rule is joinRule.
func knockRoomBody(version, joinRule string, extra map[string]any) map[string]any {
	content := map[string]any{"join_rule": joinRule}
	if joinRule == spec.KnockRestricted {
		content["allow"] = []any{}
	}
	body := map[string]any{
		"preset":        "private_chat",
		"room_version":  version,
		"initial_state": []map[string]any{{"type": spec.MRoomJoinRules, "state_key": "", "content": content}},
	}
	for k, v := range extra {
		body[k] = v
	}
	return body
}

// knock knocks on roomIDOrAlias for c, through via when given.
func knock(t testing.TB, c *client.Client, roomIDOrAlias, reason string, via ...spec.ServerName) *http.Response {
	t.Helper()
	opts := []client.Option{client.WithJSON(map[string]any{"reason": reason})}
	for _, s := range via {
		opts = append(opts, client.WithQuery("via", string(s)))
	}
	return c.Do(t, http.MethodPost, clientV3("knock", roomIDOrAlias), opts...)
}

// Knocking across two servers, on every room version that allows it and
// with both knocking join rules: a user of B knocks (by room ID through A,
// or by alias), the room's moderator sees the knock with its reason and
// accepts it with an invite, after which the user joins; another knock is
// rejected with a kick. A user of A knocks without federation. Rooms whose
// join rule or version does not allow knocking refuse with 403.
func TestKnockAcceptAndReject(t *testing.T) {
	harness.ForEachDatabase(t, func(t *testing.T, db harness.DB) {
		d := harness.Deploy(t, db, 2)
		a, b := d.Servers[0], d.Servers[1]
		alice := a.MustRegisterUser(t, "alice")
		dave := a.MustRegisterUser(t, "dave")
		bob := b.MustRegisterUser(t, "bob")
		carol := b.MustRegisterUser(t, "carol")

		for _, tc := range []struct{ version, joinRule string }{
			{"7", spec.Knock}, {"10", spec.KnockRestricted}, {"11", spec.Knock}, {"11", spec.KnockRestricted},
		} {
			roomID := alice.MustCreateRoom(t, knockRoomBody(tc.version, tc.joinRule, nil))
			must.MatchResponse(t, knock(t, bob, roomID, "let me in", a.Name), match.HTTPResponse{
				StatusCode: http.StatusOK, JSON: []match.JSON{match.JSONKeyEqual("room_id", roomID)},
			})
			awaitMembership(t, alice, roomID, bob.UserID, spec.Knock)
			must.MatchJSON(t, alice.MustDo(t, http.MethodGet, clientV3("rooms", roomID, "state", spec.MRoomMember, bob.UserID)),
				match.JSONKeyEqual("reason", "let me in"))
			alice.MustInvite(t, roomID, bob.UserID)
			bob.MustSyncUntil(t, syncTimeout, client.SyncInvitedTo(roomID))
			bob.MustJoinRoom(t, roomID, a.Name)
			alice.MustSyncUntil(t, syncTimeout, client.SyncJoinedTo(bob.UserID, roomID))

			must.MatchResponse(t, knock(t, carol, roomID, "me too", a.Name), match.HTTPResponse{StatusCode: http.StatusOK})
			awaitMembership(t, alice, roomID, carol.UserID, spec.Knock)
			alice.MustDo(t, http.MethodPost, clientV3("rooms", roomID, "kick"), client.WithJSON(map[string]any{"user_id": carol.UserID, "reason": "no"}))
			awaitMembership(t, alice, roomID, carol.UserID, spec.Leave)
			awaitMembership(t, bob, roomID, carol.UserID, spec.Leave)

			// A is in the room: its own user knocks directly.
			must.MatchResponse(t, knock(t, dave, roomID, ""), match.HTTPResponse{StatusCode: http.StatusOK})
			awaitMembership(t, bob, roomID, dave.UserID, spec.Knock)
		}

		// By alias, resolved through A's directory.
		aliased := alice.MustCreateRoom(t, knockRoomBody("11", spec.Knock, map[string]any{"room_alias_name": "knockme"}))
		alias := "#knockme:" + string(a.Name)
		must.MatchResponse(t, knock(t, carol, alias, "by alias"), match.HTTPResponse{
			StatusCode: http.StatusOK, JSON: []match.JSON{match.JSONKeyEqual("room_id", aliased)},
		})
		awaitMembership(t, alice, aliased, carol.UserID, spec.Knock)

		// Join rules and room versions that do not allow knocking.
		invite := alice.MustCreateRoom(t, map[string]any{"preset": "private_chat", "room_version": "11"})
		public := alice.MustCreateRoom(t, map[string]any{"preset": "public_chat", "room_version": "11"})
		old := alice.MustCreateRoom(t, knockRoomBody("6", spec.Knock, nil))
		for _, roomID := range []string{invite, public, old} {
			must.MatchResponse(t, knock(t, bob, roomID, "", a.Name), match.MatrixError(http.StatusForbidden, "M_FORBIDDEN"))
			must.MatchResponse(t, knock(t, dave, roomID, ""), match.MatrixError(http.StatusForbidden, "M_FORBIDDEN"))
			must.Equal(t, "bob's membership", memberState(t, alice, roomID, bob.UserID), "")
		}
		// Nobody to ask: an unknown room.
		must.MatchResponse(t, knock(t, bob, "!unknown:"+string(b.Name), ""), match.MatrixError(http.StatusNotFound, "M_NOT_FOUND"))
	})
}

// In MLS rooms knocks need no MLS, and accepting one is the invite flow:
// with history visibility "shared" an Add with a Welcome (the DS has A
// send the invite, which carries the commit) after which the knocker joins
// without a commit; with "joined" a notional invite after which the
// knocker joins by external commit.
func TestKnockMLSRoom(t *testing.T) {
	harness.ForEachDatabase(t, func(t *testing.T, db harness.DB) {
		d := harness.Deploy(t, db, 2)
		a, b := d.Servers[0], d.Servers[1]
		aliceDevice, bobDevice, carolDevice := mlsUser(t, a, "alice"), mlsUser(t, b, "bob"), mlsUser(t, b, "carol")
		knockRules := knockRoomBody(mlsRoomVersion, spec.Knock, nil)["initial_state"].([]map[string]any)

		shared, alice := mlsRoom(t, a, aliceDevice, map[string]any{"preset": "private_chat", "initial_state": knockRules})
		must.MatchResponse(t, knock(t, bobDevice.Client, shared, "MLS please", a.Name), match.HTTPResponse{StatusCode: http.StatusOK})
		awaitMembership(t, alice.Client, shared, bobDevice.UserID, spec.Knock)
		bob := mlsInvite(t, a, shared, alice, bobDevice)
		awaitMembership(t, alice.Client, shared, bob.UserID, spec.Invite)
		bob.MustJoinRoom(t, shared, a.Name)
		awaitMembership(t, alice.Client, shared, bob.UserID, spec.Join)
		must.Equal(t, "bob reads alice", bob.reads(t, shared, alice.says(t, shared, "welcome in")), "welcome in")

		joinedOnly := append(knockRules, map[string]any{"type": spec.MRoomHistoryVisibility, "state_key": "", "content": map[string]any{"history_visibility": "joined"}})
		notional, alice2 := mlsRoom(t, a, aliceDevice, map[string]any{"preset": "private_chat", "initial_state": joinedOnly})
		must.MatchResponse(t, knock(t, carolDevice.Client, notional, "me too", a.Name), match.HTTPResponse{StatusCode: http.StatusOK})
		awaitMembership(t, alice2.Client, notional, carolDevice.UserID, spec.Knock)
		alice2.MustInvite(t, notional, carolDevice.UserID)
		awaitMembership(t, alice2.Client, notional, carolDevice.UserID, spec.Invite)
		joinByExternalCommit(t, a, notional, carolDevice, alice2)
	})
}
