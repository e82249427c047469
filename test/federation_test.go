package test

import (
	"testing"

	"github.com/tidwall/gjson"

	"github.com/matrix-org/dendrite/msc4244/test/client"
	"github.com/matrix-org/dendrite/msc4244/test/harness"
)

// Two servers: a user on B joins a public room on A through A's server
// name, then messages flow both ways; an invite from A to B then lets the
// same user join a private room.
func TestFederatedRoom(t *testing.T) {
	harness.ForEachDatabase(t, func(t *testing.T, db harness.DB) {
		d := harness.Deploy(t, db, 2)
		a, b := d.Servers[0], d.Servers[1]
		alice := a.MustRegisterUser(t, "alice")
		bob := b.MustRegisterUser(t, "bob")

		roomID := alice.MustCreateRoom(t, map[string]any{"preset": "public_chat"})
		bob.MustJoinRoom(t, roomID, a.Name)
		alice.MustSyncUntil(t, syncTimeout, client.SyncJoinedTo(bob.UserID, roomID))

		fromA := alice.MustSendMessage(t, roomID, "hello from A")
		bob.MustSyncUntil(t, syncTimeout, client.SyncTimelineHas(roomID, sentBy(fromA, alice.UserID, "hello from A")))
		fromB := bob.MustSendMessage(t, roomID, "hello from B")
		alice.MustSyncUntil(t, syncTimeout, client.SyncTimelineHas(roomID, sentBy(fromB, bob.UserID, "hello from B")))

		private := alice.MustCreateRoom(t, map[string]any{"preset": "private_chat"})
		alice.MustInvite(t, private, bob.UserID)
		bob.MustSyncUntil(t, syncTimeout, client.SyncInvitedTo(private))
		bob.MustJoinRoom(t, private, a.Name)
		alice.MustSyncUntil(t, syncTimeout, client.SyncJoinedTo(bob.UserID, private))
	})
}

// A to-device message from a user on A reaches a device on B.
func TestFederatedToDevice(t *testing.T) {
	harness.ForEachDatabase(t, func(t *testing.T, db harness.DB) {
		d := harness.Deploy(t, db, 2)
		alice := d.Servers[0].MustRegisterUser(t, "alice")
		bob := d.Servers[1].MustRegisterUser(t, "bob")
		bob.MustSync(t, client.SyncOptions{}) // from now on bob sees only news

		alice.MustSendToDevice(t, "org.example.ping", map[string]map[string]any{
			bob.UserID: {bob.DeviceID: map[string]any{"nonce": "n-42"}},
		})
		bob.MustSyncUntil(t, syncTimeout, client.SyncToDeviceHas(func(ev gjson.Result) bool {
			return ev.Get("type").Str == "org.example.ping" && ev.Get("sender").Str == alice.UserID &&
				ev.Get("content.nonce").Str == "n-42"
		}))
	})
}
