package test

import (
	"fmt"
	"testing"
	"time"

	"github.com/matrix-org/dendrite/msc4244/test/client"
	"github.com/matrix-org/dendrite/msc4244/test/harness"
)

// BenchmarkMessageRoundTrip measures one message from a client's PUT /send
// to its appearance in another member's /sync, on one SQLite server: the
// base cost that MLS messages add to.
func BenchmarkMessageRoundTrip(b *testing.B) {
	hs := harness.Deploy(b, harness.SQLite, 1).Servers[0]
	alice := hs.MustRegisterUser(b, "alice")
	bob := hs.MustRegisterUser(b, "bob")
	roomID := alice.MustCreateRoom(b, map[string]any{"preset": "public_chat"})
	bob.MustJoinRoom(b, roomID)
	bob.MustSyncUntil(b, syncTimeout, client.SyncJoinedTo(bob.UserID, roomID))

	for i := 0; b.Loop(); i++ {
		body := fmt.Sprintf("message %d", i)
		eventID := alice.MustSendMessage(b, roomID, body)
		bob.MustSyncUntil(b, 10*time.Second, client.SyncTimelineHas(roomID, sentBy(eventID, alice.UserID, body)))
	}
}
