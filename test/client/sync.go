package client

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/tidwall/gjson"
)

// SyncOptions are the parameters of one /sync request.
type SyncOptions struct {
	// Timeout is how long the server may wait for news (0: answer at once).
	Timeout time.Duration
	// Filter is a filter ID or an inline JSON filter.
	Filter    string
	FullState bool
	// Since overrides the client's SyncToken when set.
	Since string
}

// MustSync calls /sync from the client's SyncToken (or o.Since), stores the
// new next_batch in SyncToken and returns the response.
func (c *Client) MustSync(t testing.TB, o SyncOptions) gjson.Result {
	t.Helper()
	opts := []Option{WithQuery("timeout", strconv.FormatInt(o.Timeout.Milliseconds(), 10))}
	since := o.Since
	if since == "" {
		since = c.SyncToken
	}
	if since != "" {
		opts = append(opts, WithQuery("since", since))
	}
	if o.Filter != "" {
		opts = append(opts, WithQuery("filter", o.Filter))
	}
	if o.FullState {
		opts = append(opts, WithQuery("full_state", "true"))
	}
	res := c.MustDo(t, http.MethodGet, clientPath("sync"), opts...)
	c.SyncToken = res.Get("next_batch").Str
	return res
}

// SyncCheck recognises a sync response that holds what a test waits for.
type SyncCheck struct {
	Name  string // what is awaited, for failure messages
	Match func(sync gjson.Result) bool
}

// MustSyncUntil syncs (continuing from SyncToken) until a response passes
// check, and returns that response. It fails the test after timeout. Only
// news since the last sync are seen: start waiting before the awaited event
// can already have been consumed by an earlier sync of this client.
func (c *Client) MustSyncUntil(t testing.TB, timeout time.Duration, check SyncCheck) gjson.Result {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last gjson.Result
	for {
		wait := time.Until(deadline)
		if wait <= 0 {
			t.Fatalf("%s: timed out after %s waiting for %s; last sync response: %.4000s", c.who(), timeout, check.Name, last.Raw)
		}
		last = c.MustSync(t, SyncOptions{Timeout: min(wait, time.Second)})
		if check.Match(last) {
			return last
		}
	}
}

// roomPath is the gjson path of a room in a sync section ("join", "invite",
// "leave").
func roomPath(section, roomID string) string {
	return "rooms." + section + "." + gjson.Escape(roomID)
}

// SyncTimelineHas waits for a timeline event of a joined room that passes
// match.
func SyncTimelineHas(roomID string, match func(ev gjson.Result) bool) SyncCheck {
	return SyncCheck{
		Name: "a matching timeline event in " + roomID,
		Match: func(sync gjson.Result) bool {
			return anyEvent(sync.Get(roomPath("join", roomID)+".timeline.events"), match)
		},
	}
}

// SyncJoinedTo waits until userID's join to roomID shows in the room's
// timeline or state.
func SyncJoinedTo(userID, roomID string) SyncCheck {
	isJoin := func(ev gjson.Result) bool {
		return ev.Get("type").Str == "m.room.member" && ev.Get("state_key").Str == userID &&
			ev.Get("content.membership").Str == "join"
	}
	return SyncCheck{
		Name: userID + " joined to " + roomID,
		Match: func(sync gjson.Result) bool {
			room := sync.Get(roomPath("join", roomID))
			return anyEvent(room.Get("timeline.events"), isJoin) || anyEvent(room.Get("state.events"), isJoin)
		},
	}
}

// SyncInvitedTo waits for an invite of this client's user to roomID.
func SyncInvitedTo(roomID string) SyncCheck {
	return SyncCheck{
		Name: "an invite to " + roomID,
		Match: func(sync gjson.Result) bool {
			return sync.Get(roomPath("invite", roomID)).Exists()
		},
	}
}

// SyncLeftFrom waits until roomID shows in the leave section.
func SyncLeftFrom(roomID string) SyncCheck {
	return SyncCheck{
		Name: "leaving " + roomID,
		Match: func(sync gjson.Result) bool {
			return sync.Get(roomPath("leave", roomID)).Exists()
		},
	}
}

// SyncToDeviceHas waits for a to-device event that passes match.
func SyncToDeviceHas(match func(ev gjson.Result) bool) SyncCheck {
	return SyncCheck{
		Name: "a matching to-device event",
		Match: func(sync gjson.Result) bool {
			return anyEvent(sync.Get("to_device.events"), match)
		},
	}
}

// IsMessage matches an m.room.message event with the given body.
func IsMessage(body string) func(ev gjson.Result) bool {
	return func(ev gjson.Result) bool {
		return ev.Get("type").Str == "m.room.message" && ev.Get("content.body").Str == body
	}
}

func anyEvent(events gjson.Result, match func(ev gjson.Result) bool) bool {
	for _, ev := range events.Array() {
		if match(ev) {
			return true
		}
	}
	return false
}
