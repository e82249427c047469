package test

import (
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"github.com/matrix-org/dendrite/msc4244/client/mlsroom"
	"github.com/matrix-org/dendrite/msc4244/test/client"
	"github.com/matrix-org/dendrite/msc4244/test/harness"
	"github.com/matrix-org/dendrite/msc4244/test/match"
	"github.com/matrix-org/dendrite/msc4244/test/must"
)

// crashDelay bounds how late a message may reach /sync after a SIGKILL: the
// consumers' JetStream redelivery (AckWait 30 s) plus margin; see "Crashes"
// in docs/architecture.md.
const crashDelay = 3 * time.Minute

// The DS's server is killed with SIGKILL while a device streams commits to
// it. After the restart: every commit the DS answered is in the log, the
// epochs are contiguous with no duplicate, the committer resubmits what got
// no answer (a commit accepted just before the crash is answered again, one
// that was not is accepted now), and another device of the group receives
// every commit of the log.
func TestDSCrashDuringCommits(t *testing.T) {
	harness.ForEachDatabase(t, func(t *testing.T, db harness.DB) {
		const chain = 40
		a := harness.Deploy(t, db, 1).Servers[0]
		roomID, members := groupOfDevices(t, a, 2)
		committer, observer := members[0], members[1]

		// The committer makes its commits ahead, each for the epoch the
		// previous one creates.
		commits := make([]*mlsroom.Pending, chain)
		for i := range commits {
			p, err := committer.state.Commit(mlsroom.CommitRequest{})
			must.NotError(t, "commit", err)
			handle(t, committer.state, p)
			commits[i] = p
		}

		// Stream them until the server is gone.
		var answered atomic.Int64
		streamed := make(chan int)
		go func() {
			n := 0
			for ; n < chain; n++ {
				if send(committer.Client, a, roomID, commits[n], fmt.Sprintf("crash-%d", n)) != http.StatusOK {
					break
				}
				answered.Add(1)
			}
			streamed <- n
		}()
		for answered.Load() < chain/4 {
			time.Sleep(time.Millisecond)
		}
		a.Kill(t)
		firstUnanswered := <-streamed
		if firstUnanswered == chain {
			t.Fatal("every commit was answered before the crash: nothing was tested")
		}
		a.Start(t)

		// Every answered commit is in the log, in order.
		logged := logMessages(t, committer.Client, roomID)
		if len(logged) < 2+firstUnanswered {
			t.Fatalf("log has %d entries, but %d commits were answered before the crash", len(logged), firstUnanswered)
		}
		for i := range firstUnanswered {
			must.Equal(t, fmt.Sprintf("log entry of epoch %d", i+2), logged[i+2], b64(commits[i].Message))
		}
		t.Logf("%d commits answered before the crash, %d in the log after it", firstUnanswered, len(logged)-2)

		// The committer resubmits the rest; each is answered with its
		// m.mls.commit (again, for one accepted just before the crash).
		for i := firstUnanswered; i < chain; i++ {
			sendToDS(t, committer.Client, a, commitContent(roomID, commits[i]))
			awaitCommit(t, committer.Client, a, commits[i].Message)
		}
		logged = logMessages(t, committer.Client, roomID)
		must.Equal(t, "log entries", len(logged), 2+chain)
		for i, p := range commits {
			must.Equal(t, fmt.Sprintf("log entry of epoch %d", i+2), logged[i+2], b64(p.Message))
		}
		must.MatchJSON(t, committer.MustDo(t, http.MethodGet, dsPath("rooms", roomID, "mls", "group_info")),
			match.JSONKeyEqual("epoch", chain+1), match.JSONKeyEqual("group_info", b64(commits[chain-1].GroupInfo)))

		// The observer gets every commit, in spite of the crash.
		for i, p := range commits {
			content := awaitToDeviceWithin(t, observer.Client, a, crashDelay, "m.mls.commit", func(content gjson.Result) bool {
				return carriesCommit(content, p.Message)
			})
			must.Equal(t, fmt.Sprintf("epoch of commit %d", i), content.Get("epoch").Int(), int64(i+2))
		}
	})
}

// send sends a commit to the DS of server without failing the test, and
// returns the HTTP status, or 0 when no answer came.
func send(c *client.Client, server *harness.Server, roomID string, p *mlsroom.Pending, txnID string) int {
	body := map[string]any{"messages": map[string]any{dsUser(server): map[string]any{"": commitContent(roomID, p)}}}
	res, err := c.TryDo(http.MethodPut, clientV3("sendToDevice", "m.mls.message", txnID), client.WithJSON(body))
	if err != nil {
		return 0
	}
	return res.StatusCode
}

// logMessages returns the messages of the room's DS log, by position.
func logMessages(t testing.TB, c *client.Client, roomID string) []string {
	t.Helper()
	var out []string
	for _, e := range c.MustDo(t, http.MethodGet, dsPath("rooms", roomID, "mls", "commits")).Get("entries").Array() {
		out = append(out, e.Get("message").Str)
	}
	return out
}
