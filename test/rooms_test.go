package test

import (
	"net/http"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"github.com/matrix-org/dendrite/msc4244/test/client"
	"github.com/matrix-org/dendrite/msc4244/test/harness"
	"github.com/matrix-org/dendrite/msc4244/test/match"
	"github.com/matrix-org/dendrite/msc4244/test/must"
)

// syncTimeout bounds how long a test waits for something to show in /sync.
const syncTimeout = 30 * time.Second

// sentBy matches the event eventID sent by sender with message body.
func sentBy(eventID, sender, body string) func(ev gjson.Result) bool {
	return func(ev gjson.Result) bool {
		return ev.Get("event_id").Str == eventID && ev.Get("sender").Str == sender && client.IsMessage(body)(ev)
	}
}

// One server: two users (registered through /register and through the
// shared-secret admin API), one room, a message both of them see in /sync.
func TestLocalRoomMessage(t *testing.T) {
	harness.ForEachDatabase(t, func(t *testing.T, db harness.DB) {
		hs := harness.Deploy(t, db, 1).Servers[0]
		alice := hs.MustRegisterUser(t, "alice")
		hs.Client().MustRegisterWithSharedSecret(t, hs.SharedSecret(), "bob", "bob-password", false)
		bob := hs.Client().MustLogin(t, "bob", "bob-password")

		res := bob.Do(t, http.MethodGet, []string{"_matrix", "client", "v3", "account", "whoami"})
		must.MatchResponse(t, res, match.HTTPResponse{
			StatusCode: http.StatusOK,
			JSON: []match.JSON{
				match.JSONKeyEqual("user_id", hs.UserID("bob")),
				match.JSONKeyEqual("device_id", bob.DeviceID),
			},
		})

		roomID := alice.MustCreateRoom(t, map[string]any{"preset": "public_chat", "name": "local"})
		must.Equal(t, "joined room", bob.MustJoinRoom(t, roomID), roomID)
		alice.MustSyncUntil(t, syncTimeout, client.SyncJoinedTo(bob.UserID, roomID))

		eventID := alice.MustSendMessage(t, roomID, "hello bob")
		for _, c := range []*client.Client{alice, bob} {
			c.MustSyncUntil(t, syncTimeout, client.SyncTimelineHas(roomID, sentBy(eventID, alice.UserID, "hello bob")))
		}
	})
}
