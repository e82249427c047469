package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/matrix-org/dendrite/msc4244/client/devicekeys"
	"github.com/matrix-org/dendrite/msc4244/client/matrix"
	"github.com/matrix-org/dendrite/msc4244/client/mlsroom"
	"github.com/matrix-org/dendrite/msc4244/mlsds/api"
)

// RoomVersion is the room version of MLS rooms.
const RoomVersion = "org.matrix.msc4244"

// room is the "room/<room ID>" record: what the device knows of a room.
type room struct {
	RoomID string `json:"room_id"`
	// DS is the server name of the room's Delivery Service: the server of
	// the create event's sender.
	DS string `json:"ds"`
	// MLS is set for rooms created with encryption_algorithm m.mls.10.
	MLS bool `json:"mls"`
	// Invited is set once the device saw an invite to the room.
	Invited bool `json:"invited,omitempty"`
	// Left is set once the user left or was removed.
	Left bool `json:"left,omitempty"`
	// Group is this device's view of the room's MLS group.
	Group mlsroom.State `json:"group"`
	// Genesis is the epoch-0 GroupInfo until the DS accepted it.
	Genesis []byte `json:"genesis,omitempty"`
	// Sent are the event IDs of this device's latest messages (its own
	// messages cannot be decrypted by itself; they are in the journal).
	Sent []string `json:"sent,omitempty"`
	// Deferred are messages of epochs the device has not reached yet.
	Deferred []deferred `json:"deferred,omitempty"`
	// RecoveredAt is the epoch from which this device has keys after it
	// recovered from lost state; earlier messages are unreadable.
	RecoveredAt *uint64 `json:"recovered_at,omitempty"`
}

func roomRecord(roomID string) string { return "room/" + roomID }

// roomIndex is the "rooms" record: the IDs of every room with a record.
type roomIndex struct {
	Rooms []string `json:"rooms"`
}

// loadRoom reads a room record; found is false when there is none.
func (c *Client) loadRoom(roomID string) (*room, bool, error) {
	r := &room{RoomID: roomID}
	found, err := c.store.Get(roomRecord(roomID), r)
	return r, found, err
}

// saveRoom writes a room record and adds it to the index. The caller holds
// the lock.
func (c *Client) saveRoom(r *room) error {
	var index roomIndex
	if _, err := c.store.Get("rooms", &index); err != nil {
		return err
	}
	if !slices.Contains(index.Rooms, r.RoomID) {
		index.Rooms = append(index.Rooms, r.RoomID)
		if err := c.store.Put("rooms", &index); err != nil {
			return err
		}
	}
	return c.store.Put(roomRecord(r.RoomID), r)
}

// CreateRoomOptions describe a new MLS room.
type CreateRoomOptions struct {
	Name string
	// Preset is a /createRoom preset; "" is private_chat (history
	// visibility shared: invites carry an MLS Add).
	Preset string
	// HistoryVisibility, when set, overrides the preset's; "joined" makes
	// invites notional (invited users join by external commit).
	HistoryVisibility string
	// Extra keys of the /createRoom body (invite lists, initial state...).
	Extra map[string]any
}

// CreateRoom creates an MLS room (room version org.matrix.msc4244,
// encryption algorithm m.mls.10) whose Delivery Service is the user's
// homeserver, creates its MLS group with this device as only member and
// has the DS accept the group's genesis. It returns the room ID (also with
// an error when the room exists but its group is not accepted yet).
func (c *Client) CreateRoom(ctx context.Context, o CreateRoomOptions) (string, error) {
	body := map[string]any{}
	for k, v := range o.Extra {
		body[k] = v
	}
	body["room_version"] = RoomVersion
	body["creation_content"] = map[string]any{api.CreateKeyEncryptionAlgorithm: api.EncryptionAlgorithm}
	body["preset"] = o.Preset
	if o.Preset == "" {
		body["preset"] = "private_chat"
	}
	if o.Name != "" {
		body["name"] = o.Name
	}
	if o.HistoryVisibility != "" {
		initial, _ := body["initial_state"].([]any)
		body["initial_state"] = append(initial, map[string]any{
			"type": "m.room.history_visibility", "state_key": "", "content": map[string]any{"history_visibility": o.HistoryVisibility},
		})
	}
	roomID, err := c.api.CreateRoom(ctx, body)
	if err != nil {
		return "", err
	}
	err = c.locked(ctx, func() error {
		return c.saveRoom(&room{RoomID: roomID, DS: c.ServerName(), MLS: true})
	})
	if err != nil {
		return roomID, err
	}
	return roomID, c.genesis(ctx, roomID)
}

// Rooms lists the rooms the device has records of.
func (c *Client) Rooms(ctx context.Context) ([]string, error) {
	var index roomIndex
	err := c.locked(ctx, func() error {
		_, err := c.store.Get("rooms", &index)
		return err
	})
	return index.Rooms, err
}

// learnRoom makes sure the device has a record of roomID, reading the
// create event from the server when it has none. The caller holds the
// lock.
func (c *Client) learnRoom(ctx context.Context, roomID string) (*room, error) {
	r, found, err := c.loadRoom(roomID)
	if err != nil || found {
		return r, err
	}
	raw, err := c.api.State(ctx, roomID)
	if err != nil {
		return nil, fmt.Errorf("reading the state of %s: %w", roomID, err)
	}
	for i := range raw {
		if raw[i].IsState("m.room.create", "") {
			noteCreate(r, &raw[i])
		}
	}
	return r, c.saveRoom(r)
}

// noteCreate records what a room's create event says.
func noteCreate(r *room, create *matrix.Event) {
	r.DS = serverOf(create.Sender)
	r.MLS = api.EncryptionAlgorithmOf(create.Content) == api.EncryptionAlgorithm
}

// Member is a user of a room as Matrix sees them.
type Member struct {
	UserID      string `json:"user_id"`
	Membership  string `json:"membership"`
	DisplayName string `json:"displayname,omitempty"`
}

// Members returns the room's members (every membership state) as the
// homeserver has them.
func (c *Client) Members(ctx context.Context, roomID string) ([]Member, error) {
	events, err := c.api.Members(ctx, roomID)
	if err != nil {
		return nil, err
	}
	out := make([]Member, 0, len(events))
	for _, ev := range events {
		if ev.StateKey == nil {
			continue
		}
		m := Member{UserID: *ev.StateKey}
		var content struct {
			Membership  string `json:"membership"`
			DisplayName string `json:"displayname"`
		}
		if err = json.Unmarshal(ev.Content, &content); err != nil {
			return nil, fmt.Errorf("member event %s: %w", ev.EventID, err)
		}
		m.Membership, m.DisplayName = content.Membership, content.DisplayName
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b Member) int { return strings.Compare(a.UserID, b.UserID) })
	return out, nil
}

// DeviceInfo is a device of a user as the homeserver publishes it.
type DeviceInfo struct {
	UserID   string `json:"user_id"`
	DeviceID string `json:"device_id"`
	Ed25519  string `json:"ed25519,omitempty"`
	// Verified says whether the device keys carry a valid self-signature.
	Verified bool   `json:"verified"`
	Problem  string `json:"problem,omitempty"`
}

// ErrNoDevices is returned by Devices for a user without published devices.
var ErrNoDevices = errors.New("the user has no devices with published keys")

// Devices lists userID's devices with their published identity keys.
func (c *Client) Devices(ctx context.Context, userID string) ([]DeviceInfo, error) {
	res, err := c.api.QueryKeys(ctx, userID)
	if err != nil {
		return nil, err
	}
	if failure, ok := res.Failures[serverOf(userID)]; ok {
		return nil, fmt.Errorf("the server of %s did not answer: %s", userID, failure)
	}
	devices := res.DeviceKeys[userID]
	if len(devices) == 0 {
		return nil, fmt.Errorf("%s: %w", userID, ErrNoDevices)
	}
	out := make([]DeviceInfo, 0, len(devices))
	for id, dk := range devices {
		out = append(out, deviceInfo(userID, id, dk))
	}
	slices.SortFunc(out, func(a, b DeviceInfo) int { return strings.Compare(a.DeviceID, b.DeviceID) })
	return out, nil
}

func deviceInfo(userID, deviceID string, raw json.RawMessage) DeviceInfo {
	d := DeviceInfo{UserID: userID, DeviceID: deviceID}
	var dk matrix.DeviceKeys
	err := json.Unmarshal(raw, &dk)
	if err == nil {
		d.Ed25519 = dk.Keys["ed25519:"+deviceID]
		err = devicekeys.Verify(raw, userID, deviceID)
	}
	d.Verified = err == nil
	if err != nil {
		d.Problem = err.Error()
	}
	return d
}

// Leave leaves roomID (or rejects an invite). In an MLS room the DS then
// removes the user's devices from the group.
func (c *Client) Leave(ctx context.Context, roomID string) error {
	if err := c.api.Leave(ctx, roomID); err != nil {
		return err
	}
	return c.locked(ctx, func() error {
		r, found, err := c.loadRoom(roomID)
		if err != nil || !found {
			return err
		}
		r.Left = true
		return c.saveRoom(r)
	})
}
