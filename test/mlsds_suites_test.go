package test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/matrix-org/dendrite/msc4244/client/mlsroom"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/cipher"
	"github.com/matrix-org/dendrite/msc4244/test/client"
	"github.com/matrix-org/dendrite/msc4244/test/harness"
	"github.com/matrix-org/dendrite/msc4244/test/match"
	"github.com/matrix-org/dendrite/msc4244/test/must"
)

// The DS serves an external sender in every cipher suite of RFC 9420, and
// runs groups in each: in every suite, a device creates a room's group with
// the DS's external sender of that suite, adds a second device, which joins
// from the Welcome and commits in turn.
func TestDSCipherSuites(t *testing.T) {
	harness.ForEachDatabase(t, func(t *testing.T, db harness.DB) {
		d := harness.Deploy(t, db, 1)
		a := d.Servers[0]
		first := a.MustRegisterUser(t, "alice")
		second := a.Client().MustLogin(t, "alice", harness.Password)
		info := first.MustDo(t, http.MethodGet, dsPath("ds", string(a.Name)))
		must.MatchJSON(t, info, match.JSONKeyEqual("ciphersuites", []any{1, 2, 3, 4, 5, 6, 7}),
			match.JSONKeyEqual("external_sender", info.Get("external_senders.1").Str))
		for _, c := range []*client.Client{first, second} {
			c.MustSync(t, client.SyncOptions{})
		}
		for _, suite := range cipher.IDs() {
			t.Run(fmt.Sprint(suite), func(t *testing.T) {
				alice, alice2 := newMLSDeviceIn(t, first, suite), newMLSDeviceIn(t, second, suite)
				roomID := alice.MustCreateRoom(t, mlsRoomBody(nil))
				state, genesis := alice.genesis(t, roomID, externalSenderIn(t, alice.Client, a, suite))
				sendToDS(t, alice.Client, a, map[string]any{"room_id": roomID, "message": b64(genesis)})
				awaitFromDS(t, alice.Client, a, "m.mls.accepted", sha256b64(genesis))

				kp, err := alice2.id.NewKeyPackage(false)
				must.NotError(t, "KeyPackage", err)
				add, err := state.Commit(mlsroom.CommitRequest{Add: [][]byte{kp.Message}})
				must.NotError(t, "the Add", err)
				sendToDS(t, alice.Client, a, commitContent(roomID, add))
				awaitCommit(t, alice.Client, a, add.Message)
				welcome := awaitToDevice(t, alice2.Client, a, "m.mls.welcome", func(content gjson.Result) bool {
					return content.Get("room_id").Str == roomID
				})
				handle(t, state, add)
				state2, _, err := mlsroom.Join(alice2.id, unb64(t, welcome.Get("welcome").Str), []*mlsroom.KeyPackage{kp})
				must.NotError(t, "joining from the Welcome", err)

				update, err := state2.Commit(mlsroom.CommitRequest{})
				must.NotError(t, "the second device's commit", err)
				sendToDS(t, alice2.Client, a, commitContent(roomID, update))
				for _, dev := range []*mlsDevice{alice, alice2} {
					awaitCommit(t, dev.Client, a, update.Message)
				}
				handle(t, state, update)
				must.Equal(t, "log", logSummary(t, alice.Client, roomID), "genesis/0 commit/1 commit/2 ")
			})
		}
	})
}
