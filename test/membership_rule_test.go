package test

import (
	"maps"
	"net/http"
	"strings"
	"testing"

	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/matrix-org/dendrite/msc4244/roomserver/mlsauth"
	"github.com/matrix-org/dendrite/msc4244/roomserver/mlsauth/mlsauthtest"
	"github.com/matrix-org/dendrite/msc4244/test/client"
	"github.com/matrix-org/dendrite/msc4244/test/harness"
	"github.com/matrix-org/dendrite/msc4244/test/match"
	"github.com/matrix-org/dendrite/msc4244/test/must"
)

// The MLS membership rule holds on every server. B, misbehaving, sends A
// and C two invites it built by hand: one without mls_commit while the
// history visibility is shared, one whose commit's AAD names another power
// levels event. Both servers reject both (their logs say why) and neither
// is room state on any server. A hand-built
// invite whose AAD matches is accepted by both, which shows the refusals
// come from the rule. An invite C sends to a user of B over /invite is
// checked by B against the auth events sent along. The room keeps working.
func TestMembershipRuleFederatedInvites(t *testing.T) {
	harness.ForEachDatabase(t, func(t *testing.T, db harness.DB) {
		d := harness.Deploy(t, db, 3)
		a, b, c := d.Servers[0], d.Servers[1], d.Servers[2]
		// An invite must be signed by the invitee's server too, so B
		// invites users of its own.
		dave, erin := b.UserID("dave"), b.UserID("erin")

		// Bob and carol come in with Adds and Welcomes.
		roomID, aliceMember := mlsRoom(t, a, mlsUser(t, a, "alice"), map[string]any{"preset": "public_chat"})
		bobMember := mlsInvite(t, a, roomID, aliceMember, mlsUser(t, b, "bob"))
		carolMember := mlsInvite(t, a, roomID, aliceMember, mlsUser(t, c, "carol"), bobMember)
		alice, bob, carol := aliceMember.Client, bobMember.Client, carolMember.Client
		for _, u := range []*client.Client{bob, carol} {
			awaitMembership(t, alice, roomID, u.UserID, spec.Invite)
			u.MustJoinRoom(t, roomID, a.Name)
			alice.MustSyncUntil(t, syncTimeout, client.SyncJoinedTo(u.UserID, roomID))
		}
		awaitMembership(t, carol, roomID, bob.UserID, spec.Join)

		state := roomState(t, alice, roomID)
		authKeys := []string{spec.MRoomCreate + "|", spec.MRoomPowerLevels + "|", spec.MRoomJoinRules + "|",
			spec.MRoomHistoryVisibility + "|", spec.MRoomMember + "|" + bob.UserID}
		invite := func(extra map[string]any) map[string]any {
			content := map[string]any{"membership": spec.Invite}
			maps.Copy(content, extra)
			return content
		}
		withoutCommit := forgedMember(t, b, a, alice, roomID, bob.UserID, dave, invite(nil), authKeys...)
		otherPL := aadAuthEvents(state, mlsauth.ActionInvite, bob.UserID, dave)
		otherPL[spec.MRoomPowerLevels] = state[spec.MRoomCreate+"|"]
		wrongAAD := forgedMember(t, b, a, alice, roomID, bob.UserID, dave,
			invite(map[string]any{mlsauth.ContentKeyCommit: mlsauthtest.InviteCommit(roomID, dave, otherPL)}), authKeys...)
		matching := forgedMember(t, b, a, alice, roomID, bob.UserID, erin, invite(map[string]any{
			mlsauth.ContentKeyCommit: mlsauthtest.InviteCommit(roomID, erin, aadAuthEvents(state, mlsauth.ActionInvite, bob.UserID, erin)),
		}), authKeys...)

		for _, dest := range []*harness.Server{a, c} {
			sendPDUs(t, b, dest, withoutCommit, wrongAAD)
			// A room's events are processed in order: once the matching
			// invite is state, the two before it have been handled.
			sendPDUs(t, b, dest, matching)
		}
		awaitMembership(t, alice, roomID, erin, spec.Invite)
		awaitMembership(t, carol, roomID, erin, spec.Invite)
		for _, s := range []*harness.Server{a, c} {
			for _, ev := range []string{withoutCommit.EventID(), wrongAAD.EventID()} {
				if !loggedRefusal(t, s, ev) {
					t.Errorf("%s's log does not say it refused %s under the MLS rule", s.Name, ev)
				}
			}
		}
		for _, u := range []*client.Client{alice, bob, carol} {
			must.Equal(t, "dave's membership as "+u.UserID+" sees it", memberState(t, u, roomID, dave), "")
		}

		// C, misbehaving, invites frank, a user of B not in the room, with
		// /invite v2: B checks the invite against its auth events before it
		// signs, since it cannot see the room.
		frank := b.MustRegisterUser(t, "frank")
		carolAuth := []string{spec.MRoomCreate + "|", spec.MRoomPowerLevels + "|", spec.MRoomJoinRules + "|",
			spec.MRoomHistoryVisibility + "|", spec.MRoomMember + "|" + carol.UserID}
		toFrank := forgedMember(t, c, a, alice, roomID, carol.UserID, frank.UserID, invite(nil), carolAuth...)
		authJSON := fetchEvents(t, c, a, toFrank.AuthEventIDs()...)
		status, body := federatedInvite(t, c, b, toFrank, nil)
		must.Equal(t, "/invite without auth events", status, http.StatusForbidden)
		must.MatchJSON(t, body, match.JSONKeyEqual("errcode", "M_FORBIDDEN"))
		status, body = federatedInvite(t, c, b, toFrank, authJSON)
		must.Equal(t, "/invite without mls_commit: "+body.Raw, status, http.StatusForbidden)
		if !strings.Contains(body.Get("error").Str, "must carry mls_commit") {
			t.Fatalf("/invite refused for another reason: %s", body.Raw)
		}
		withCommit := forgedMember(t, c, a, alice, roomID, carol.UserID, frank.UserID, invite(map[string]any{
			mlsauth.ContentKeyCommit: mlsauthtest.InviteCommit(roomID, frank.UserID, aadAuthEvents(state, mlsauth.ActionInvite, carol.UserID, frank.UserID)),
		}), carolAuth...)
		status, body = federatedInvite(t, c, b, withCommit, authJSON)
		must.Equal(t, "/invite with a matching commit: "+body.Raw, status, http.StatusOK)
		frank.MustSyncUntil(t, syncTimeout, client.SyncInvitedTo(roomID))

		fromA := alice.MustSendMessage(t, roomID, "still working")
		for _, u := range []*client.Client{bob, carol} {
			u.MustSyncUntil(t, syncTimeout, client.SyncTimelineHas(roomID, sentBy(fromA, alice.UserID, "still working")))
		}
		fromC := carol.MustSendMessage(t, roomID, "here too")
		for _, u := range []*client.Client{alice, bob} {
			u.MustSyncUntil(t, syncTimeout, client.SyncTimelineHas(roomID, sentBy(fromC, carol.UserID, "here too")))
		}
	})
}

// Client routes never produce a member event the rule refuses: /invite,
// the state API and /join answer 403 M_FORBIDDEN saying why, a join whose
// commit the room's DS never accepted is refused before anything is sent,
// and /createRoom refuses invites an MLS room cannot make yet. With history
// visibility "joined" an invite needs no commit, but the join does.
func TestMembershipRuleClientPaths(t *testing.T) {
	harness.ForEachDatabase(t, func(t *testing.T, db harness.DB) {
		d := harness.Deploy(t, db, 2)
		a, b := d.Servers[0], d.Servers[1]
		alice := a.MustRegisterUser(t, "alice")
		gina := a.MustRegisterUser(t, "gina")
		bob := b.MustRegisterUser(t, "bob")
		const needsCommit = "must carry mls_commit"

		shared, _ := mlsRoom(t, a, newMLSDevice(t, alice), map[string]any{"preset": "public_chat"})
		expectForbidden(t, alice.Do(t, http.MethodPost, clientV3("rooms", shared, "invite"),
			client.WithJSON(map[string]any{"user_id": bob.UserID})), needsCommit)
		expectForbidden(t, alice.Do(t, http.MethodPut, clientV3("rooms", shared, "state", spec.MRoomMember, bob.UserID),
			client.WithJSON(map[string]any{"membership": spec.Invite})), needsCommit)
		// Joins without a commit: local (A is in the room) and over
		// federation (send_join refused by A, answered 403 to B).
		expectForbidden(t, gina.Do(t, http.MethodPost, clientV3("join", shared), client.WithJSON(map[string]any{})), needsCommit)
		expectForbidden(t, bob.Do(t, http.MethodPost, clientV3("join", shared), client.WithJSON(map[string]any{}),
			client.WithQuery("server_name", string(a.Name))), needsCommit)
		// A well-formed commit with a matching AAD that the DS never saw
		// (the DS does not even let users without a membership read its
		// log; see below for invited users).
		for _, u := range []*client.Client{gina, bob} {
			expectForbidden(t, joinWithCommit(t, u, shared, externalCommit(t, alice, shared, u.UserID), a.Name), "has not accepted this commit")
			must.Equal(t, "membership of "+u.UserID, memberState(t, alice, shared, u.UserID), "")
		}

		res := alice.Do(t, http.MethodPost, clientV3("createRoom"),
			client.WithJSON(mlsRoomBody(map[string]any{"invite": []string{bob.UserID}})))
		must.MatchResponse(t, res, match.MatrixError(http.StatusBadRequest, "M_INVALID_PARAM"))

		// History visibility "joined": notional invites, at creation and
		// later; joining still needs an external commit.
		joinedOnly := []map[string]any{{"type": spec.MRoomHistoryVisibility, "state_key": "", "content": map[string]any{"history_visibility": "joined"}}}
		notional := alice.MustCreateRoom(t, mlsRoomBody(map[string]any{"invite": []string{bob.UserID}, "initial_state": joinedOnly}))
		bob.MustSyncUntil(t, syncTimeout, client.SyncInvitedTo(notional))
		alice.MustInvite(t, notional, gina.UserID)
		awaitMembership(t, alice, notional, gina.UserID, spec.Invite)
		expectForbidden(t, bob.Do(t, http.MethodPost, clientV3("join", notional), client.WithJSON(map[string]any{}),
			client.WithQuery("server_name", string(a.Name))), needsCommit)
		expectForbidden(t, gina.Do(t, http.MethodPost, clientV3("join", notional), client.WithJSON(map[string]any{})), needsCommit)

		// Invited users may read the DS's log, locally and from B: it
		// lacks the commit the DS never saw.
		grouped, _ := mlsRoom(t, a, newMLSDevice(t, alice), map[string]any{"preset": "private_chat", "initial_state": joinedOnly})
		for _, u := range []*client.Client{gina, bob} {
			alice.MustInvite(t, grouped, u.UserID)
			awaitMembership(t, alice, grouped, u.UserID, spec.Invite)
			expectForbidden(t, joinWithCommit(t, u, grouped, externalCommit(t, alice, grouped, u.UserID), a.Name), "has not accepted this commit (epoch")
			must.Equal(t, "membership of "+u.UserID, memberState(t, alice, grouped, u.UserID), spec.Invite)
		}
	})
}
