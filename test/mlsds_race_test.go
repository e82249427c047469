package test

import (
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/matrix-org/dendrite/msc4244/client/mlsroom"
	"github.com/matrix-org/dendrite/msc4244/test/client"
	"github.com/matrix-org/dendrite/msc4244/test/harness"
	"github.com/matrix-org/dendrite/msc4244/test/must"
)

// mlsMember is a device in a room's group, with its group state.
type mlsMember struct {
	*mlsDevice
	state *mlsroom.State
}

// groupOfDevices logs alice in n times on server s, creates an MLS room
// whose group holds all n devices (the first creates it and adds the
// others) and returns the room and the members, at epoch 1.
func groupOfDevices(t testing.TB, s *harness.Server, n int) (string, []*mlsMember) {
	t.Helper()
	first := newMLSDevice(t, s.MustRegisterUser(t, "alice"))
	members := []*mlsMember{{mlsDevice: first}}
	for len(members) < n {
		members = append(members, &mlsMember{mlsDevice: newMLSDevice(t, s.Client().MustLogin(t, "alice", harness.Password))})
	}
	for _, m := range members {
		m.MustSync(t, client.SyncOptions{})
	}
	roomID := first.MustCreateRoom(t, mlsRoomBody(nil))
	var gi []byte
	members[0].state, gi = first.genesis(t, roomID, externalSender(t, first.Client, s))
	sendToDS(t, first.Client, s, map[string]any{"room_id": roomID, "message": b64(gi)})
	awaitFromDS(t, first.Client, s, "m.mls.accepted", sha256b64(gi))

	// The user's other devices need no membership event (profile:
	// "a user's other devices").
	var req mlsroom.CommitRequest
	kps := make([]*mlsroom.KeyPackage, n)
	for i, m := range members[1:] {
		kp, err := m.id.NewKeyPackage(false)
		must.NotError(t, "KeyPackage", err)
		kps[i+1] = kp
		req.Add = append(req.Add, kp.Message)
	}
	add, err := members[0].state.Commit(req)
	must.NotError(t, "Add commit", err)
	sendToDS(t, first.Client, s, commitContent(roomID, add))
	awaitCommit(t, first.Client, s, add.Message)
	handle(t, members[0].state, add)
	for i, m := range members[1:] {
		m.state, _, err = mlsroom.Join(m.id, add.Welcome, []*mlsroom.KeyPackage{kps[i+1]})
		must.NotError(t, "join from the Welcome", err)
	}
	return roomID, members
}

// 64 devices send commits for the same epoch at once: the DS accepts
// exactly one and fans it out to all 64, refuses the 63 others with
// M_MLS_WRONG_EPOCH and current_epoch 2, and its log has one commit for
// epoch 2.
func TestDSCommitRace(t *testing.T) {
	harness.ForEachDatabase(t, func(t *testing.T, db harness.DB) {
		const n = 64
		a := harness.Deploy(t, db, 1).Servers[0]
		roomID, members := groupOfDevices(t, a, n)

		pending := make([]*mlsroom.Pending, n)
		for i, m := range members {
			p, err := m.state.Commit(mlsroom.CommitRequest{})
			must.NotError(t, "commit", err)
			pending[i] = p
		}
		var wg sync.WaitGroup
		start := make(chan struct{})
		status := make([]int, n)
		for i, m := range members {
			wg.Go(func() {
				<-start
				path := clientV3("sendToDevice", "m.mls.message", fmt.Sprintf("race-%d", i))
				res := m.Do(t, http.MethodPut, path, client.WithJSON(map[string]any{
					"messages": map[string]any{dsUser(a): map[string]any{"": commitContent(roomID, pending[i])}},
				}))
				status[i] = res.StatusCode
			})
		}
		close(start)
		wg.Wait()
		for i, code := range status {
			must.Equal(t, fmt.Sprintf("HTTP status of device %d", i), code, http.StatusOK)
		}

		log := members[0].MustDo(t, http.MethodGet, dsPath("rooms", roomID, "mls", "commits"), client.WithQuery("from_epoch", "2"))
		must.Equal(t, "commits for epoch 2", log.Get("entries.#").Int(), int64(1))
		winner := log.Get("entries.0.message").Str
		rejected := 0
		for i, m := range members {
			awaitToDevice(t, m.Client, a, "m.mls.commit", func(content gjson.Result) bool {
				return carriesCommit(content, unb64(t, winner)) && content.Get("epoch").Int() == 2
			})
			if b64(pending[i].Message) == winner {
				continue
			}
			rej := awaitFromDS(t, m.Client, a, "m.mls.rejected", sha256b64(pending[i].Message))
			if rej.Get("errcode").Str != "M_MLS_WRONG_EPOCH" || rej.Get("current_epoch").Int() != 2 {
				t.Fatalf("device %d: rejection %s", i, rej.Raw)
			}
			rejected++
		}
		must.Equal(t, "rejected commits", rejected, n-1)
	})
}
