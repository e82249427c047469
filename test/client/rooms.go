package client

import (
	"net/http"
	"testing"

	"github.com/matrix-org/gomatrixserverlib/spec"
)

// MustCreateRoom creates a room with the /createRoom body and returns its ID.
func (c *Client) MustCreateRoom(t testing.TB, body map[string]any) string {
	t.Helper()
	if body == nil {
		body = map[string]any{}
	}
	return c.MustDo(t, http.MethodPost, clientPath("createRoom"), WithJSON(body)).Get("room_id").Str
}

// MustJoinRoom joins a room by ID or alias, asking the servers in via to help
// when the room is not known locally, and returns the room ID.
func (c *Client) MustJoinRoom(t testing.TB, roomIDOrAlias string, via ...spec.ServerName) string {
	t.Helper()
	opts := []Option{WithJSON(map[string]any{})}
	for _, server := range via {
		opts = append(opts, WithQuery("server_name", string(server)), WithQuery("via", string(server)))
	}
	return c.MustDo(t, http.MethodPost, clientPath("join", roomIDOrAlias), opts...).Get("room_id").Str
}

// MustInvite invites userID into the room.
func (c *Client) MustInvite(t testing.TB, roomID, userID string) {
	t.Helper()
	c.MustDo(t, http.MethodPost, clientPath("rooms", roomID, "invite"), WithJSON(map[string]any{"user_id": userID}))
}

// MustLeaveRoom leaves the room.
func (c *Client) MustLeaveRoom(t testing.TB, roomID string) {
	t.Helper()
	c.MustDo(t, http.MethodPost, clientPath("rooms", roomID, "leave"), WithJSON(map[string]any{}))
}

// MustSendEvent sends a message event and returns its event ID.
func (c *Client) MustSendEvent(t testing.TB, roomID, eventType string, content any) string {
	t.Helper()
	path := clientPath("rooms", roomID, "send", eventType, c.nextTxnID())
	return c.MustDo(t, http.MethodPut, path, WithJSON(content)).Get("event_id").Str
}

// MustSendMessage sends an m.text message and returns its event ID.
func (c *Client) MustSendMessage(t testing.TB, roomID, text string) string {
	t.Helper()
	return c.MustSendEvent(t, roomID, "m.room.message", map[string]any{"msgtype": "m.text", "body": text})
}

// MustSendState sets a state event and returns its event ID.
func (c *Client) MustSendState(t testing.TB, roomID, eventType, stateKey string, content any) string {
	t.Helper()
	return c.MustDo(t, http.MethodPut, clientPath("rooms", roomID, "state", eventType, stateKey), WithJSON(content)).Get("event_id").Str
}

// MustSendToDevice sends to-device events: messages maps user IDs to device
// IDs (or "*") to event contents.
func (c *Client) MustSendToDevice(t testing.TB, eventType string, messages map[string]map[string]any) {
	t.Helper()
	path := clientPath("sendToDevice", eventType, c.nextTxnID())
	c.MustDo(t, http.MethodPut, path, WithJSON(map[string]any{"messages": messages}))
}
