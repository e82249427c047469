package test

import (
	"maps"
	"net/http"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/matrix-org/dendrite/msc4244/client/mlsroom"
	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/mlsds/mlsdstest"
	"github.com/matrix-org/dendrite/msc4244/test/client"
	"github.com/matrix-org/dendrite/msc4244/test/harness"
	"github.com/matrix-org/dendrite/msc4244/test/match"
	"github.com/matrix-org/dendrite/msc4244/test/must"
)

// Alice on A adds a device of bob on B to her MLS room's group with an
// Add commit and a Welcome (the DS fans the commit out to both servers and
// the Welcome to bob); commits then go both ways, bob reading the DS's log
// through his server; the DS refuses stale, forged and misattributed
// commits with their codes, sending the rejections across servers, and its
// log stays as it was.
func TestDSCommitsAcrossServers(t *testing.T) {
	harness.ForEachDatabase(t, func(t *testing.T, db harness.DB) {
		d := harness.Deploy(t, db, 2)
		a, b := d.Servers[0], d.Servers[1]
		alice := newMLSDevice(t, a.MustRegisterUser(t, "alice"))
		bob := newMLSDevice(t, b.MustRegisterUser(t, "bob"))
		for _, c := range []*client.Client{alice.Client, bob.Client} {
			c.MustSync(t, client.SyncOptions{})
		}

		roomID := alice.MustCreateRoom(t, mlsRoomBody(nil))
		aliceState, genesis := alice.genesis(t, roomID, externalSender(t, alice.Client, a))
		sendToDS(t, alice.Client, a, map[string]any{"room_id": roomID, "message": b64(genesis)})
		awaitFromDS(t, alice.Client, a, "m.mls.accepted", sha256b64(genesis))

		// Alice invites bob: an Add of one of his KeyPackages, with the
		// profile's AAD.
		kp, err := bob.id.NewKeyPackage(false)
		must.NotError(t, "bob's KeyPackage", err)
		add, err := aliceState.Commit(mlsroom.CommitRequest{Add: [][]byte{kp.Message}, AAD: inviteAAD(t, alice.Client, roomID, bob.UserID)})
		must.NotError(t, "alice's Add", err)
		sendToDS(t, alice.Client, a, commitContent(roomID, add))
		for _, c := range []*client.Client{alice.Client, bob.Client} {
			must.MatchJSON(t, awaitCommit(t, c, a, add.Message),
				match.JSONKeyEqual("room_id", roomID), match.JSONKeyEqual("epoch", 1),
				match.JSONKeyEqual("sender", map[string]any{"user_id": alice.UserID, "device_id": alice.DeviceID}))
		}
		welcome := awaitToDevice(t, bob.Client, a, "m.mls.welcome", func(content gjson.Result) bool {
			return content.Get("room_id").Str == roomID
		})
		must.MatchJSON(t, welcome, match.JSONKeyEqual("epoch", 1), match.JSONKeyEqual("welcome", b64(add.Welcome)))
		handle(t, aliceState, add)
		bobState, _, err := mlsroom.Join(bob.id, unb64(t, welcome.Get("welcome").Str), []*mlsroom.KeyPackage{kp})
		must.NotError(t, "bob joins from the Welcome", err)
		// Bob reads the group's state through his server.
		must.MatchJSON(t, bob.MustDo(t, http.MethodGet, dsPath("rooms", roomID, "mls", "group_info")),
			match.JSONKeyEqual("epoch", 1), match.JSONKeyEqual("group_info", b64(add.GroupInfo)))

		// Alice prepares a commit for epoch 1, but bob's comes first.
		aliceStale, err := aliceState.Commit(mlsroom.CommitRequest{})
		must.NotError(t, "alice's commit", err)
		aliceState.Drop()
		p2, err := bobState.Commit(mlsroom.CommitRequest{})
		must.NotError(t, "bob's commit", err)
		sendToDS(t, bob.Client, a, commitContent(roomID, p2))
		for _, c := range []*client.Client{alice.Client, bob.Client} {
			awaitCommit(t, c, a, p2.Message)
		}
		handle(t, aliceState, p2)
		handle(t, bobState, p2)
		sendToDS(t, alice.Client, a, commitContent(roomID, aliceStale))
		must.MatchJSON(t, awaitFromDS(t, alice.Client, a, "m.mls.rejected", sha256b64(aliceStale.Message)),
			match.JSONKeyEqual("errcode", "M_MLS_WRONG_EPOCH"), match.JSONKeyEqual("current_epoch", 2))

		wantLog := "genesis/0 commit/1 commit/2 "
		must.Equal(t, "log", logSummary(t, bob.Client, roomID), wantLog)

		// Bad commits for epoch 2, each refused with its code.
		p3, err := aliceState.Commit(mlsroom.CommitRequest{})
		must.NotError(t, "alice's commit", err)
		otherGI, err := bobState.Commit(mlsroom.CommitRequest{})
		must.NotError(t, "bob's commit", err)
		bobState.Drop()
		forged := mlsdstest.Tamper(t, p3.Message, func(m *mls.MLSMessage) { m.PublicMessage.Auth.Signature[0] ^= 1 })
		unknownSender := mlsdstest.Tamper(t, p3.Message, func(m *mls.MLSMessage) { m.PublicMessage.Content.Sender.Index = 9 })
		otherGroup := mlsdstest.Tamper(t, p3.Message, func(m *mls.MLSMessage) { m.PublicMessage.Content.GroupID = []byte("!other:" + string(a.Name)) })
		good := commitContent(roomID, p3)
		for _, tc := range []struct {
			name    string
			from    *mlsDevice
			content map[string]any
			message []byte
			errcode string
		}{
			{"forged signature", bob, with(good, "message", b64(forged)), forged, "M_MLS_INVALID"},
			{"unknown sender", bob, with(good, "message", b64(unknownSender)), unknownSender, "M_MLS_INVALID"},
			{"wrong group", alice, with(good, "message", b64(otherGroup)), otherGroup, "M_MLS_INVALID"},
			{"missing GroupInfo", alice, with(good, "commit_info", map[string]any{}), p3.Message, "M_MLS_BAD_REQUEST"},
			{"GroupInfo mismatch", alice, with(good, "commit_info", map[string]any{"group_info": b64(otherGI.GroupInfo)}), p3.Message, "M_MLS_INVALID"},
			{"malformed base64", bob, with(good, "message", "!!!"), []byte("!!!"), "M_MLS_BAD_REQUEST"},
			{"bob speaking for alice", bob, good, p3.Message, "M_MLS_FORBIDDEN"},
		} {
			sendToDS(t, tc.from.Client, a, tc.content)
			rej := awaitFromDS(t, tc.from.Client, a, "m.mls.rejected", sha256b64(tc.message))
			if rej.Get("errcode").Str != tc.errcode || rej.Get("current_epoch").Int() != 2 {
				t.Fatalf("%s: rejection %s, want %s with current_epoch 2", tc.name, rej.Raw, tc.errcode)
			}
			must.Equal(t, tc.name+": log", logSummary(t, alice.Client, roomID), wantLog)
		}

		// The genuine commit is accepted; the log lists every accepted
		// commit in order, and the GroupInfo is the latest commit's.
		sendToDS(t, alice.Client, a, good)
		for _, c := range []*client.Client{alice.Client, bob.Client} {
			awaitCommit(t, c, a, p3.Message)
		}
		for _, c := range []*client.Client{alice.Client, bob.Client} {
			must.MatchJSON(t, c.MustDo(t, http.MethodGet, dsPath("rooms", roomID, "mls", "commits")),
				match.JSONKeyEqual("entries.#", 4),
				match.JSONKeyEqual("entries.0.message", b64(genesis)),
				match.JSONKeyEqual("entries.1.message", b64(add.Message)),
				match.JSONKeyEqual("entries.2.message", b64(p2.Message)),
				match.JSONKeyEqual("entries.3.message", b64(p3.Message)),
				match.JSONKeyEqual("entries.3.epoch", 3),
			)
			must.MatchJSON(t, c.MustDo(t, http.MethodGet, dsPath("rooms", roomID, "mls", "group_info")),
				match.JSONKeyEqual("epoch", 3), match.JSONKeyEqual("group_info", b64(p3.GroupInfo)))
		}
		must.MatchJSON(t, bob.MustDo(t, http.MethodGet, dsPath("rooms", roomID, "mls", "commits"), client.WithQuery("from_epoch", "2"), client.WithQuery("limit", "1")),
			match.JSONKeyEqual("entries.#", 1), match.JSONKeyEqual("entries.0.epoch", 2), match.JSONKeyEqual("next_epoch", 3))
	})
}

// handle makes a device's state follow an accepted commit.
func handle(t testing.TB, state *mlsroom.State, p *mlsroom.Pending) {
	t.Helper()
	if _, err := state.HandleCommit(p.Message, p.Epoch); err != nil {
		t.Fatalf("handling the commit of epoch %d: %v", p.Epoch, err)
	}
}

// with returns a copy of content with key set to value.
func with(content map[string]any, key string, value any) map[string]any {
	out := maps.Clone(content)
	out[key] = value
	return out
}
