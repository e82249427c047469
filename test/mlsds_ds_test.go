package test

import (
	"bytes"
	"crypto/rand"
	"net/http"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
	"github.com/matrix-org/dendrite/msc4244/test/client"
	"github.com/matrix-org/dendrite/msc4244/test/harness"
	"github.com/matrix-org/dendrite/msc4244/test/match"
	"github.com/matrix-org/dendrite/msc4244/test/must"
)

// The DS of A serves its description to its users and, through their
// servers, to users of other servers; each server has its own key.
func TestDSInfo(t *testing.T) {
	harness.ForEachDatabase(t, func(t *testing.T, db harness.DB) {
		d := harness.Deploy(t, db, 2)
		a, b := d.Servers[0], d.Servers[1]
		alice := a.MustRegisterUser(t, "alice")
		bob := b.MustRegisterUser(t, "bob")

		local := alice.MustDo(t, http.MethodGet, dsPath("ds", string(a.Name)))
		must.MatchJSON(t, local,
			match.JSONKeyEqual("server_name", string(a.Name)),
			match.JSONKeyEqual("ciphersuites.0", 1),
		)
		var sender mls.ExternalSender
		if err := codec.Unmarshal(unb64(t, local.Get("external_sender").Str), &sender); err != nil {
			t.Fatalf("external_sender is not an ExternalSender: %v", err)
		}
		if sender.Credential.Type != mls.CredentialBasic || string(sender.Credential.Identity) != dsUser(a) || len(sender.SignatureKey) != 32 {
			t.Fatalf("external sender of %s: %+v", a.Name, sender)
		}

		remote := bob.MustDo(t, http.MethodGet, dsPath("ds", string(a.Name)))
		must.Equal(t, "A's description fetched by B", remote.Raw, local.Raw)
		own := bob.MustDo(t, http.MethodGet, dsPath("ds", string(b.Name)))
		if own.Get("server_name").Str != string(b.Name) || own.Get("external_sender").Str == local.Get("external_sender").Str {
			t.Fatalf("B's description: %s", own.Raw)
		}

		// The key survives a restart.
		a.Stop(t)
		a.Start(t)
		must.Equal(t, "after a restart", alice.MustDo(t, http.MethodGet, dsPath("ds", string(a.Name))).Raw, local.Raw)

		res := alice.Do(t, http.MethodGet, dsPath("ds", "127.0.0.1:1"))
		must.MatchResponse(t, res, match.HTTPResponse{StatusCode: http.StatusBadGateway})
	})
}

// The DS of A creates a room's group from its creator's GroupInfo and
// serves it back to members and invitees, locally and over federation;
// messages to the DS are consumed (never stored for the server user), and
// malformed ones and ones for rooms without a group are answered with
// m.mls.rejected, also to devices on another server.
func TestDSGenesisAndRecovery(t *testing.T) {
	harness.ForEachDatabase(t, func(t *testing.T, db harness.DB) {
		d := deployWithMetrics(t, db, 2)
		a, b := d.Servers[0], d.Servers[1]
		alice := newMLSDevice(t, a.MustRegisterUser(t, "alice"))
		carol := a.MustRegisterUser(t, "carol")
		bob := b.MustRegisterUser(t, "bob")
		dave := b.MustRegisterUser(t, "dave")
		for _, c := range []*client.Client{alice.Client, carol, bob, dave} {
			c.MustSync(t, client.SyncOptions{})
		}

		roomID := alice.MustCreateRoom(t, mlsRoomBody(nil))
		noGroup := alice.MustCreateRoom(t, mlsRoomBody(nil))

		// Malformed base64, from a local and from a remote device.
		for _, c := range []*client.Client{alice.Client, bob} {
			sendToDS(t, c, a, map[string]any{"room_id": roomID, "message": "not*base64"})
			rej := awaitFromDS(t, c, a, "m.mls.rejected", sha256b64([]byte("not*base64")))
			must.MatchJSON(t, rej,
				match.JSONKeyEqual("errcode", "M_MLS_BAD_REQUEST"),
				match.JSONKeyEqual("room_id", roomID),
				match.JSONKeyMissing("current_epoch"),
			)
		}

		// A handshake message before the genesis, and one for a room
		// that is not an MLS room.
		plain := alice.MustCreateRoom(t, nil)
		for _, room := range []string{roomID, plain} {
			msg := emptyCommit(t, room, 0)
			sendToDS(t, bob, a, map[string]any{"room_id": room, "message": b64(msg)})
			rej := awaitFromDS(t, bob, a, "m.mls.rejected", sha256b64(msg))
			must.MatchJSON(t, rej, match.JSONKeyEqual("errcode", "M_MLS_UNKNOWN_GROUP"))
		}

		es := externalSender(t, alice.Client, a)

		// Only the creator's own device creates the group.
		bobDevice := newMLSDevice(t, bob)
		_, forged := bobDevice.genesis(t, roomID, es)
		sendToDS(t, bob, a, map[string]any{"room_id": roomID, "message": b64(forged)})
		must.MatchJSON(t, awaitFromDS(t, bob, a, "m.mls.rejected", sha256b64(forged)), match.JSONKeyEqual("errcode", "M_MLS_FORBIDDEN"))
		alice2 := newMLSDevice(t, a.Client().MustLogin(t, "alice", harness.Password))
		alice2.MustSync(t, client.SyncOptions{})
		_, forAlice := alice.genesis(t, roomID, es)
		sendToDS(t, alice2.Client, a, map[string]any{"room_id": roomID, "message": b64(forAlice)})
		must.MatchJSON(t, awaitFromDS(t, alice2.Client, a, "m.mls.rejected", sha256b64(forAlice)), match.JSONKeyEqual("errcode", "M_MLS_FORBIDDEN"))

		// A GroupInfo without the DS as external sender, or with a bad
		// signature, is refused.
		otherDS := make([]byte, 32)
		_, _ = rand.Read(otherDS)
		_, noDS := alice.genesis(t, roomID, codec.Marshal(&mls.ExternalSender{SignatureKey: otherDS, Credential: mls.Credential{Type: mls.CredentialBasic, Identity: []byte(dsUser(a))}}))
		badSig := bytes.Clone(forAlice)
		badSig[len(badSig)-1] ^= 1
		for _, msg := range [][]byte{noDS, badSig} {
			sendToDS(t, alice.Client, a, map[string]any{"room_id": roomID, "message": b64(msg)})
			must.MatchJSON(t, awaitFromDS(t, alice.Client, a, "m.mls.rejected", sha256b64(msg)), match.JSONKeyEqual("errcode", "M_MLS_INVALID"))
		}

		genesis := forAlice
		sendToDS(t, alice.Client, a, map[string]any{"room_id": roomID, "message": b64(genesis)})
		must.MatchJSON(t, awaitFromDS(t, alice.Client, a, "m.mls.accepted", sha256b64(genesis)),
			match.JSONKeyEqual("room_id", roomID), match.JSONKeyEqual("epoch", 0))
		// The same GroupInfo again (a retry) is acknowledged again; another
		// one is refused.
		sendToDS(t, alice.Client, a, map[string]any{"room_id": roomID, "message": b64(genesis)})
		awaitFromDS(t, alice.Client, a, "m.mls.accepted", sha256b64(genesis))
		_, second := alice.genesis(t, roomID, es)
		sendToDS(t, alice.Client, a, map[string]any{"room_id": roomID, "message": b64(second)})
		must.MatchJSON(t, awaitFromDS(t, alice.Client, a, "m.mls.rejected", sha256b64(second)),
			match.JSONKeyEqual("errcode", "M_MLS_WRONG_EPOCH"), match.JSONKeyEqual("current_epoch", 0))

		// Members read the log and the GroupInfo; others, local or remote,
		// get 403 (TestDSCommitsAcrossServers reads through another server).
		wantEntries := []match.JSON{
			match.JSONKeyEqual("entries.#", 1),
			match.JSONKeyEqual("entries.0.kind", "genesis"),
			match.JSONKeyEqual("entries.0.epoch", 0),
			match.JSONKeyEqual("entries.0.message", b64(genesis)),
			match.JSONKeyEqual("entries.0.sender", map[string]any{"user_id": alice.UserID, "device_id": alice.DeviceID}),
			match.JSONKeyType("entries.0.accepted_ts", gjson.Number),
			match.JSONKeyMissing("next_epoch"),
		}
		must.MatchJSON(t, alice.MustDo(t, http.MethodGet, dsPath("rooms", roomID, "mls", "commits")), wantEntries...)
		must.MatchJSON(t, alice.MustDo(t, http.MethodGet, dsPath("rooms", roomID, "mls", "group_info")),
			match.JSONKeyEqual("epoch", 0), match.JSONKeyEqual("group_info", b64(genesis)))
		must.MatchJSON(t, alice.MustDo(t, http.MethodGet, dsPath("rooms", roomID, "mls", "commits"), client.WithQuery("from_epoch", "1")),
			match.JSONKeyEqual("entries", []any{}))
		for _, c := range []*client.Client{carol, bob, dave} {
			for _, endpoint := range []string{"commits", "group_info"} {
				res := c.Do(t, http.MethodGet, dsPath("rooms", roomID, "mls", endpoint))
				must.MatchResponse(t, res, match.MatrixError(http.StatusForbidden, "M_FORBIDDEN"))
			}
		}
		// A room without a group is 404.
		res := alice.Do(t, http.MethodGet, dsPath("rooms", noGroup, "mls", "group_info"))
		must.MatchResponse(t, res, match.MatrixError(http.StatusNotFound, "M_NOT_FOUND"))
		res = alice.Do(t, http.MethodGet, dsPath("rooms", roomID, "mls", "commits"), client.WithQuery("limit", "0"))
		must.MatchResponse(t, res, match.MatrixError(http.StatusBadRequest, "M_INVALID_PARAM"))

		// The DS counted what it did.
		mustHaveMetrics(t, a,
			`dendrite_mlsds_messages_total{kind="genesis",outcome="accepted"} 2`,
			`dendrite_mlsds_messages_total{kind="genesis",outcome="M_MLS_FORBIDDEN"} 2`,
			`dendrite_mlsds_messages_total{kind="genesis",outcome="M_MLS_INVALID"} 2`,
			`dendrite_mlsds_messages_total{kind="genesis",outcome="M_MLS_WRONG_EPOCH"} 1`,
			`dendrite_mlsds_messages_total{kind="commit",outcome="M_MLS_UNKNOWN_GROUP"} 2`,
			`dendrite_mlsds_messages_total{kind="unknown",outcome="M_MLS_BAD_REQUEST"} 2`,
			`dendrite_mlsds_accept_seconds_count{kind="genesis"} 1`,
			`dendrite_mlsds_log_entries 1`,
		)

		// Nothing addressed to the DS was stored for delivery, while what
		// the DS sent to alice's devices was.
		if storedToDevice(t, a, alice.UserID) == 0 {
			t.Fatal("no to-device message stored for alice: the check below would prove nothing")
		}
		for _, s := range d.Servers {
			must.Equal(t, "to-device messages stored for "+dsUser(a)+" on "+string(s.Name), storedToDevice(t, s, dsUser(a)), 0)
		}
		// The genesis survives a restart of the DS.
		a.Stop(t)
		a.Start(t)
		must.MatchJSON(t, alice.MustDo(t, http.MethodGet, dsPath("rooms", roomID, "mls", "commits")), wantEntries...)
	})
}

// emptyCommit is an encoded PublicMessage holding an empty commit for
// group at epoch, with meaningless signature and tags: well-formed, so the
// DS gets to look at its group and epoch.
func emptyCommit(t testing.TB, group string, epoch uint64) []byte {
	t.Helper()
	random := func() []byte {
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		return b
	}
	pm := &mls.PublicMessage{
		Content: mls.FramedContent{
			GroupID: []byte(group),
			Epoch:   epoch,
			Sender:  mls.Sender{Type: mls.SenderMember, Index: 0},
			Content: mls.Content{ContentType: mls.ContentCommit, Commit: &mls.Commit{}},
		},
		Auth:          mls.FramedContentAuthData{Signature: random(), ConfirmationTag: random()},
		MembershipTag: random(),
	}
	return codec.Marshal(mls.NewPublicMessage(pm))
}
