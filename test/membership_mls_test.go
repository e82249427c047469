package test

import (
	"net/http"
	"slices"
	"testing"

	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/matrix-org/dendrite/msc4244/client/mlsroom"
	"github.com/matrix-org/dendrite/msc4244/roomserver/mlsauth"
	"github.com/matrix-org/dendrite/msc4244/test/client"
	"github.com/matrix-org/dendrite/msc4244/test/harness"
	"github.com/matrix-org/dendrite/msc4244/test/match"
	"github.com/matrix-org/dendrite/msc4244/test/must"
)

// mlsRoom creates an MLS room of creator's (with body's extra /createRoom
// fields) on ds, creates its group and returns the room ID and the
// creator's device in the group.
func mlsRoom(t testing.TB, ds *harness.Server, creator *mlsDevice, extra map[string]any) (string, *mlsMember) {
	t.Helper()
	roomID := creator.MustCreateRoom(t, mlsRoomBody(extra))
	state, gi := creator.genesis(t, roomID, externalSender(t, creator.Client, ds))
	sendToDS(t, creator.Client, ds, map[string]any{"room_id": roomID, "message": b64(gi)})
	awaitFromDS(t, creator.Client, ds, "m.mls.accepted", sha256b64(gi))
	return roomID, &mlsMember{mlsDevice: creator, state: state}
}

// mlsUser registers localpart on s and returns its device, synced up.
func mlsUser(t testing.TB, s *harness.Server, localpart string) *mlsDevice {
	t.Helper()
	d := newMLSDevice(t, s.MustRegisterUser(t, localpart))
	d.MustSync(t, client.SyncOptions{})
	return d
}

// Invites with Add and Welcome, leaves and kicks, and a user's own devices,
// with the DS on A and users on A, B and C. Alice invites bob with an Add
// commit carrying the invite AAD: the DS accepts it and has A send the
// invite with the commit; bob's device, in the group from the Welcome,
// joins without a commit and decrypts what alice sends next. Adds of new
// users without the AAD, or with an AAD naming other events, are refused.
// Bob adds and removes a second device without member events. Bob leaves:
// the DS proposes the removal of his device and refuses a commit that
// leaves it out; the next commit removes him. Carol on C, invited by bob
// (the DS has B send the invite), is kicked and removed likewise.
func TestMembershipMLSInviteLeaveKick(t *testing.T) {
	harness.ForEachDatabase(t, func(t *testing.T, db harness.DB) {
		d := harness.Deploy(t, db, 3)
		a, b, c := d.Servers[0], d.Servers[1], d.Servers[2]
		aliceDevice, bobDevice, carolDevice := mlsUser(t, a, "alice"), mlsUser(t, b, "bob"), mlsUser(t, c, "carol")
		roomID, alice := mlsRoom(t, a, aliceDevice, map[string]any{"preset": "private_chat"})

		// Invite with Add and Welcome.
		bob := mlsInvite(t, a, roomID, alice, bobDevice)
		awaitMembership(t, alice.Client, roomID, bob.UserID, spec.Invite)
		invite := alice.MustDo(t, http.MethodGet, clientV3("rooms", roomID, "state", spec.MRoomMember, bob.UserID))
		if invite.Get(mlsauth.ContentKeyCommit).Str == "" {
			t.Fatalf("the invite lacks mls_commit: %s", invite.Raw)
		}
		bob.MustJoinRoom(t, roomID, a.Name)
		awaitMembership(t, alice.Client, roomID, bob.UserID, spec.Join)
		must.Equal(t, "bob reads alice", bob.reads(t, roomID, alice.says(t, roomID, "hello bob")), "hello bob")
		must.Equal(t, "alice reads bob", alice.reads(t, roomID, bob.says(t, roomID, "hello alice")), "hello alice")

		// New users need the AAD, naming the room's current state.
		kp, err := carolDevice.id.NewKeyPackage(false)
		must.NotError(t, "carol's KeyPackage", err)
		for _, aad := range [][]byte{
			nil,
			(&mlsauth.AAD{Action: mlsauth.ActionInvite, Target: carolDevice.UserID, AuthEvents: map[string]string{
				spec.MRoomPowerLevels:       stateEventID(t, alice.Client, roomID, spec.MRoomCreate, ""),
				spec.MRoomHistoryVisibility: stateEventID(t, alice.Client, roomID, spec.MRoomHistoryVisibility, ""),
				spec.MRoomMember:            stateEventID(t, alice.Client, roomID, spec.MRoomMember, alice.UserID),
			}}).Marshal(),
			membershipAAD(t, alice.Client, roomID, mlsauth.ActionInvite, alice.UserID, bob.UserID),
		} {
			p, err := alice.state.Commit(mlsroom.CommitRequest{Add: [][]byte{kp.Message}, AAD: aad})
			must.NotError(t, "an Add of carol", err)
			refuseCommit(t, a, roomID, alice, p, "M_MLS_FORBIDDEN")
		}
		must.Equal(t, "carol's membership", memberState(t, alice.Client, roomID, carolDevice.UserID), "")

		// Bob's second device: added and removed by ordinary commits, no
		// member event.
		bobMember := stateEventID(t, alice.Client, roomID, spec.MRoomMember, bob.UserID)
		laptop := addOwnDevice(t, a, roomID, bob, b, "bob", alice)
		must.Equal(t, "the laptop reads alice", laptop.reads(t, roomID, alice.says(t, roomID, "hi laptop")), "hi laptop")
		p, err := bob.state.Commit(mlsroom.CommitRequest{Remove: []mlsroom.Device{{UserID: bob.UserID, DeviceID: laptop.DeviceID}}})
		must.NotError(t, "removing the laptop", err)
		acceptCommit(t, a, roomID, bob, p, alice)
		if slices.Contains(alice.groupDevices(t), bob.UserID+"|"+laptop.DeviceID) {
			t.Fatal("the laptop is still in the group")
		}
		must.Equal(t, "bob's member event", stateEventID(t, alice.Client, roomID, spec.MRoomMember, bob.UserID), bobMember)

		// Bob invites carol: the DS on A has B send the invite (a signed
		// federation request), which C's carol accepts.
		carol := mlsInvite(t, a, roomID, bob, carolDevice, alice)
		awaitMembership(t, alice.Client, roomID, carol.UserID, spec.Invite)
		carolInvite := alice.MustDo(t, http.MethodGet, clientV3("rooms", roomID, "state", spec.MRoomMember, carol.UserID), client.WithQuery("format", "event"))
		must.MatchJSON(t, carolInvite, match.JSONKeyEqual("sender", bob.UserID), match.JSONKeyPresent("content."+mlsauth.ContentKeyCommit))
		carol.MustJoinRoom(t, roomID, a.Name)
		awaitMembership(t, alice.Client, roomID, carol.UserID, spec.Join)

		// Bob leaves: the DS proposes removing his device; a commit that
		// leaves it out is refused, the next one removes him.
		stale := *alice.state
		bob.MustLeaveRoom(t, roomID)
		takeRemovals(t, a, roomID, 1, alice, carol)
		staleAlice := &mlsMember{mlsDevice: alice.mlsDevice, state: &stale}
		p, err = staleAlice.state.Commit(mlsroom.CommitRequest{})
		must.NotError(t, "a commit without the removal", err)
		refuseCommit(t, a, roomID, staleAlice, p, "M_MLS_PENDING_REMOVALS")
		p, err = alice.state.Commit(mlsroom.CommitRequest{})
		must.NotError(t, "a commit with the removal", err)
		acceptCommit(t, a, roomID, alice, p, carol)
		if devices := alice.groupDevices(t); slices.Contains(devices, bob.UserID+"|"+bob.DeviceID) {
			t.Fatalf("bob's device is still in the group: %v", devices)
		}
		must.Equal(t, "carol reads alice", carol.reads(t, roomID, alice.says(t, roomID, "bob has gone")), "bob has gone")

		// Carol is kicked: the same.
		alice.MustDo(t, http.MethodPost, clientV3("rooms", roomID, "kick"), client.WithJSON(map[string]any{"user_id": carol.UserID}))
		takeRemovals(t, a, roomID, 1, alice)
		p, err = alice.state.Commit(mlsroom.CommitRequest{})
		must.NotError(t, "a commit with carol's removal", err)
		acceptCommit(t, a, roomID, alice, p)
		if devices := alice.groupDevices(t); !slices.Equal(devices, []string{alice.UserID + "|" + alice.DeviceID}) {
			t.Fatalf("after carol's removal the group is %v", devices)
		}
	})
}

// A notional invite (history visibility "joined") and a join by external
// commit: dave, invited on C, reads the group's GroupInfo from the DS
// through C, joins the group by external commit with the join AAD, which
// the DS accepts, and then joins the room with the commit. An external
// commit without the AAD, by a user the join rules do not let in, is
// refused.
func TestMembershipMLSExternalJoin(t *testing.T) {
	harness.ForEachDatabase(t, func(t *testing.T, db harness.DB) {
		d := harness.Deploy(t, db, 2)
		a, c := d.Servers[0], d.Servers[1]
		aliceDevice, daveDevice, erinDevice := mlsUser(t, a, "alice"), mlsUser(t, c, "dave"), mlsUser(t, c, "erin")
		joinedOnly := []map[string]any{{"type": spec.MRoomHistoryVisibility, "state_key": "", "content": map[string]any{"history_visibility": "joined"}}}
		roomID, alice := mlsRoom(t, a, aliceDevice, map[string]any{"preset": "private_chat", "initial_state": joinedOnly})

		alice.MustInvite(t, roomID, daveDevice.UserID)
		awaitMembership(t, alice.Client, roomID, daveDevice.UserID, spec.Invite)
		gi := unb64(t, daveDevice.MustDo(t, http.MethodGet, dsPath("rooms", roomID, "mls", "group_info")).Get("group_info").Str)

		erin, err := mlsroom.JoinExternal(erinDevice.id, gi, nil)
		must.NotError(t, "erin's external commit", err)
		refuseCommit(t, a, roomID, &mlsMember{mlsDevice: erinDevice, state: erin}, erin.Pending, "M_MLS_FORBIDDEN")

		dave := joinByExternalCommit(t, a, roomID, daveDevice, alice)
		must.Equal(t, "dave reads alice", dave.reads(t, roomID, alice.says(t, roomID, "welcome dave")), "welcome dave")
	})
}
