package test

import (
	"testing"

	"github.com/matrix-org/dendrite/msc4244/test/client"
	"github.com/matrix-org/dendrite/msc4244/test/harness"
)

// A server killed with SIGKILL, or stopped gracefully, starts again with its
// data: accounts, access tokens, rooms and messages are still there, and it
// keeps serving.
//
// The server is killed only once its sync API has caught up: killed in the
// middle of work, it can hold up new events of the room for 30 s to minutes
// after the restart (see "Crashes" in docs/architecture.md).
func TestServerRestartKeepsData(t *testing.T) {
	harness.ForEachDatabase(t, func(t *testing.T, db harness.DB) {
		hs := harness.Deploy(t, db, 1).Servers[0]
		alice := hs.MustRegisterUser(t, "alice")
		roomID := alice.MustCreateRoom(t, map[string]any{"preset": "private_chat"})
		before := alice.MustSendMessage(t, roomID, "before the crash")
		alice.MustSyncUntil(t, syncTimeout, client.SyncTimelineHas(roomID, sentBy(before, alice.UserID, "before the crash")))

		hs.Kill(t)
		if hs.Running() {
			t.Fatal("server still running after Kill")
		}
		hs.Start(t)
		alice.SyncToken = "" // a full sync must show the old message
		alice.MustSyncUntil(t, syncTimeout, client.SyncTimelineHas(roomID, sentBy(before, alice.UserID, "before the crash")))

		hs.Stop(t)
		hs.Start(t)
		after := alice.MustSendMessage(t, roomID, "after the restarts")
		alice.MustSyncUntil(t, syncTimeout, client.SyncTimelineHas(roomID, sentBy(after, alice.UserID, "after the restarts")))
	})
}
