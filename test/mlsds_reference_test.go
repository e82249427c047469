package test

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/matrix-org/dendrite/setup/config"
	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/matrix-org/dendrite/msc4244/client/mlsroom"
	"github.com/matrix-org/dendrite/msc4244/test/client"
	"github.com/matrix-org/dendrite/msc4244/test/harness"
	"github.com/matrix-org/dendrite/msc4244/test/match"
	"github.com/matrix-org/dendrite/msc4244/test/must"
)

// A commit too large to go inline reaches every device by reference: the
// DS sends its digest, and each device reads it through its own server from
// the room's log by epoch. The three devices of bob's server (invited, his
// server not in the room) cause one read of the DS's log between them
// (their server keeps the entry), and so do the DS's own server's devices; a stranger gets 403, an epoch the group
// has not reached 404.
func TestDSCommitByReference(t *testing.T) {
	harness.ForEachDatabase(t, func(t *testing.T, db harness.DB) {
		d := deployWithMetrics(t, db, 2)
		a, b := d.Servers[0], d.Servers[1]
		alice := newMLSDevice(t, a.MustRegisterUser(t, "alice"))
		bobs := []*mlsDevice{newMLSDevice(t, b.MustRegisterUser(t, "bob"))}
		for len(bobs) < 3 {
			bobs = append(bobs, newMLSDevice(t, b.Client().MustLogin(t, "bob", harness.Password)))
		}
		devices := append([]*mlsDevice{alice}, bobs...)
		for _, dev := range devices {
			dev.MustSync(t, client.SyncOptions{})
		}
		roomID := alice.MustCreateRoom(t, mlsRoomBody(nil))
		aliceState, genesis := alice.genesis(t, roomID, externalSender(t, alice.Client, a))
		sendToDS(t, alice.Client, a, map[string]any{"room_id": roomID, "message": b64(genesis)})
		awaitFromDS(t, alice.Client, a, "m.mls.accepted", sha256b64(genesis))

		// Alice invites bob with his three devices. His server is not in
		// the room; it knows the invite.
		req := mlsroom.CommitRequest{AAD: inviteAAD(t, alice.Client, roomID, bobs[0].UserID)}
		for _, dev := range bobs {
			kp, err := dev.id.NewKeyPackage(false)
			must.NotError(t, "bob's KeyPackage", err)
			req.Add = append(req.Add, kp.Message)
		}
		add, err := aliceState.Commit(req)
		must.NotError(t, "alice's Add", err)
		sendToDS(t, alice.Client, a, commitContent(roomID, add))
		awaitCommit(t, alice.Client, a, add.Message)
		handle(t, aliceState, add)
		awaitMembership(t, alice.Client, roomID, bobs[0].UserID, spec.Invite)

		// Its authenticated data makes alice's next commit 20 KB.
		large, err := aliceState.Commit(mlsroom.CommitRequest{AAD: bytes.Repeat([]byte{'.'}, 20000)})
		must.NotError(t, "alice's large commit", err)
		sendToDS(t, alice.Client, a, commitContent(roomID, large))
		for _, dev := range devices {
			notice := awaitCommit(t, dev.Client, a, large.Message)
			if notice.Get("message").Exists() || notice.Get("message_sha256").Str != sha256b64(large.Message) {
				t.Fatalf("%s got the commit inline: %.200s", dev.DeviceID, notice.Raw)
			}
			must.MatchJSON(t, notice, match.JSONKeyEqual("epoch", 2), match.JSONKeyEqual("room_id", roomID),
				match.JSONKeyEqual("sender", map[string]any{"user_id": alice.UserID, "device_id": alice.DeviceID}))
		}

		commitPath := dsPath("rooms", roomID, "mls", "commits", "2")
		readsBefore := commitReads(t, a)
		responses := make([]*http.Response, len(bobs))
		var reading sync.WaitGroup
		for i, dev := range bobs {
			reading.Go(func() { responses[i], _ = dev.TryDo(http.MethodGet, commitPath) })
		}
		reading.Wait()
		for i, res := range responses {
			if res == nil {
				t.Fatalf("bob's device %d got no answer", i)
			}
			must.MatchResponse(t, res, match.HTTPResponse{StatusCode: http.StatusOK, JSON: []match.JSON{
				match.JSONKeyEqual("kind", "commit"), match.JSONKeyEqual("epoch", 2),
				match.JSONKeyEqual("message", b64(large.Message)), match.JSONKeyEqual("sender.device_id", alice.DeviceID),
			}})
		}
		must.Equal(t, "reads of the DS's log for bob's three devices", commitReads(t, a)-readsBefore, 1)
		for range 2 {
			must.MatchJSON(t, alice.MustDo(t, http.MethodGet, commitPath), match.JSONKeyEqual("message", b64(large.Message)))
		}
		must.Equal(t, "reads of the DS's log after alice's two", commitReads(t, a)-readsBefore, 2)
		handle(t, aliceState, large)

		eve := b.MustRegisterUser(t, "eve")
		must.MatchResponse(t, eve.Do(t, http.MethodGet, commitPath), match.MatrixError(http.StatusForbidden, "M_FORBIDDEN"))
		must.MatchResponse(t, bobs[0].Do(t, http.MethodGet, dsPath("rooms", roomID, "mls", "commits", "3")),
			match.MatrixError(http.StatusNotFound, "M_NOT_FOUND"))
		must.MatchResponse(t, alice.Do(t, http.MethodGet, dsPath("rooms", roomID, "mls", "commits", "x")),
			match.MatrixError(http.StatusBadRequest, "M_INVALID_PARAM"))
	})
}

// commitReads is the DS's count of single log entries read, from the
// metrics of its server s.
func commitReads(t testing.TB, s *harness.Server) int {
	t.Helper()
	metrics := metricsOf(t, s)
	const name = "dendrite_mlsds_commit_reads_total "
	for line := range strings.Lines(metrics) {
		if value, ok := strings.CutPrefix(strings.TrimSpace(line), name); ok {
			n, err := strconv.ParseFloat(value, 64)
			must.NotError(t, "the metric's value", err)
			return int(n)
		}
	}
	t.Fatalf("the metrics of %s lack %s", s.Name, name)
	return 0
}

// mustHaveMetrics checks that the metrics of s hold each of lines (a
// metric with its labels and value), showing the DS's when one is missing.
func mustHaveMetrics(t testing.TB, s *harness.Server, lines ...string) {
	t.Helper()
	metrics := metricsOf(t, s)
	for _, line := range lines {
		if !strings.Contains(metrics, "\n"+line+"\n") {
			var ds []string
			for l := range strings.Lines(metrics) {
				if strings.HasPrefix(l, "dendrite_mlsds_") {
					ds = append(ds, l)
				}
			}
			t.Errorf("the metrics of %s lack %s; the DS's are:\n%s", s.Name, line, strings.Join(ds, ""))
		}
	}
}

// deployWithMetrics deploys n servers that serve their metrics
// (metricsOf).
func deployWithMetrics(t *testing.T, db harness.DB, n int) *harness.Deployment {
	t.Helper()
	return harness.DeployWith(t, db, harness.Options{Servers: n, Config: func(_ int, cfg *config.Dendrite) {
		cfg.Global.Metrics.Enabled = true
	}})
}

// metricsOf returns the Prometheus metrics of s, which must enable them.
func metricsOf(t testing.TB, s *harness.Server) string {
	t.Helper()
	basic := s.Config.Global.Metrics.BasicAuth
	return string(must.ReadBody(t, s.Client().Do(t, http.MethodGet, []string{"metrics"},
		client.WithHeader("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(basic.Username+":"+basic.Password))))))
}
