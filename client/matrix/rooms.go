package matrix

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
)

// Event is a room or to-device event in the client-server format. RoomID
// is empty in events of a sync's room sections (the room is their key) and
// in to-device events.
type Event struct {
	Type           string          `json:"type"`
	Sender         string          `json:"sender"`
	EventID        string          `json:"event_id,omitempty"`
	RoomID         string          `json:"room_id,omitempty"`
	StateKey       *string         `json:"state_key,omitempty"`
	OriginServerTS int64           `json:"origin_server_ts,omitempty"`
	Content        json.RawMessage `json:"content"`
	Unsigned       json.RawMessage `json:"unsigned,omitempty"`
}

// IsState reports whether ev is a state event of type evType and key
// stateKey.
func (ev *Event) IsState(evType, stateKey string) bool {
	return ev.Type == evType && ev.StateKey != nil && *ev.StateKey == stateKey
}

// CreateRoom creates a room from a /createRoom body and returns its ID.
func (c *Client) CreateRoom(ctx context.Context, body map[string]any) (string, error) {
	var res struct {
		RoomID string `json:"room_id"`
	}
	err := c.do(ctx, request{method: http.MethodPost, path: clientV3("createRoom"), body: body}, &res)
	return res.RoomID, err
}

// Invite invites userID to roomID.
func (c *Client) Invite(ctx context.Context, roomID, userID string) error {
	return c.do(ctx, request{method: http.MethodPost, path: clientV3("rooms", roomID, "invite"), body: map[string]any{"user_id": userID}}, nil)
}

// Join joins a room by ID or alias, through the servers in via when the
// homeserver is not in the room yet, with extra keys for the member event's
// content (nil for none). It returns the room ID.
func (c *Client) Join(ctx context.Context, roomIDOrAlias string, via []string, content map[string]any) (string, error) {
	q := url.Values{}
	for _, server := range via {
		q.Add("server_name", server)
	}
	if content == nil {
		content = map[string]any{}
	}
	var res struct {
		RoomID string `json:"room_id"`
	}
	err := c.do(ctx, request{method: http.MethodPost, path: clientV3("join", roomIDOrAlias), query: q, body: content}, &res)
	return res.RoomID, err
}

// Leave leaves (or rejects an invite to) roomID.
func (c *Client) Leave(ctx context.Context, roomID string) error {
	return c.do(ctx, request{method: http.MethodPost, path: clientV3("rooms", roomID, "leave"), body: struct{}{}}, nil)
}

// Members returns the room's current m.room.member events.
func (c *Client) Members(ctx context.Context, roomID string) ([]Event, error) {
	var res struct {
		Chunk []Event `json:"chunk"`
	}
	err := c.do(ctx, request{method: http.MethodGet, path: clientV3("rooms", roomID, "members")}, &res)
	return res.Chunk, err
}

// State returns the room's current state events.
func (c *Client) State(ctx context.Context, roomID string) ([]Event, error) {
	var res []Event
	err := c.do(ctx, request{method: http.MethodGet, path: clientV3("rooms", roomID, "state")}, &res)
	return res, err
}

// StateContent returns the content of the room's current state event of
// evType and stateKey.
func (c *Client) StateContent(ctx context.Context, roomID, evType, stateKey string) (json.RawMessage, error) {
	var res json.RawMessage
	err := c.do(ctx, request{method: http.MethodGet, path: clientV3("rooms", roomID, "state", evType, stateKey)}, &res)
	return res, err
}

// Event returns one event of the room.
func (c *Client) Event(ctx context.Context, roomID, eventID string) (*Event, error) {
	var res Event
	err := c.do(ctx, request{method: http.MethodGet, path: clientV3("rooms", roomID, "event", eventID)}, &res)
	return &res, err
}

// SendEvent sends a room event under the transaction ID txnID (sending the
// same txnID again does not send a second event) and returns its ID.
func (c *Client) SendEvent(ctx context.Context, roomID, evType, txnID string, content any) (string, error) {
	var res struct {
		EventID string `json:"event_id"`
	}
	err := c.do(ctx, request{method: http.MethodPut, path: clientV3("rooms", roomID, "send", evType, txnID), body: content}, &res)
	return res.EventID, err
}

// SendToDevice sends to-device messages, mapped by user ID and device ID,
// under the transaction ID txnID.
func (c *Client) SendToDevice(ctx context.Context, evType, txnID string, messages map[string]map[string]any) error {
	body := map[string]any{"messages": messages}
	return c.do(ctx, request{method: http.MethodPut, path: clientV3("sendToDevice", evType, txnID), body: body}, nil)
}

// SendState sets the room's state event of evType and stateKey and
// returns its ID.
func (c *Client) SendState(ctx context.Context, roomID, evType, stateKey string, content any) (string, error) {
	var res struct {
		EventID string `json:"event_id"`
	}
	err := c.do(ctx, request{method: http.MethodPut, path: clientV3("rooms", roomID, "state", evType, stateKey), body: content}, &res)
	return res.EventID, err
}
