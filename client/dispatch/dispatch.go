// Package dispatch routes the contents of a /sync answer to handlers: MLS
// to-device messages by type, MLS-encrypted room messages, membership
// events that carry an MLS commit, other room events, invites, leaves and
// one-time key counts.
//
// Handlers return an error only for failures worth retrying the whole
// batch for (such as a failed write of local state): Dispatch stops at the
// first error, and the caller then keeps its since token, so the batch is
// delivered again. Handlers must therefore accept an event they have seen
// before. Problems with an event itself (it cannot be decrypted, it is
// malformed) are the handler's to report; it returns nil for them.
package dispatch

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"github.com/matrix-org/dendrite/msc4244/client/matrix"
)

// Algorithm is the m.room.encrypted algorithm of MLS room messages.
const Algorithm = "m.mls.10"

// RoomEvent is an event of a room in a sync answer.
type RoomEvent struct {
	RoomID string
	matrix.Event
	// FromState is set for events of the room's state section (the state
	// before the timeline, sent when the timeline has a gap or the room is
	// new to the device), clear for timeline events.
	FromState bool
}

// Encrypted is an m.room.encrypted event with algorithm m.mls.10.
type Encrypted struct {
	RoomEvent
	// Ciphertext is the decoded PrivateMessage, nil when Err is set.
	Ciphertext []byte
	// Err says why the content is unusable (not unpadded base64, no
	// ciphertext).
	Err error
}

// Membership is an m.room.member event that carries content.mls_commit.
type Membership struct {
	RoomEvent
	// Membership and Target are content.membership and the state key.
	Membership, Target string
	// Commit is the decoded mls_commit, nil when Err is set.
	Commit []byte
	Err    error
}

// Invite is a room the user is invited to, with its stripped state.
type Invite struct {
	RoomID string
	State  []matrix.Event
}

// KeyCounts are the device's counts of unclaimed one-time keys by
// algorithm, and the algorithms that have an unused fallback (last-resort)
// key. A sync answer without counts is not passed on.
type KeyCounts struct {
	OneTimeKeys        map[string]int
	UnusedFallbackKeys []string
}

// Router holds the handlers. The zero value routes nothing; set the
// handlers before calling Dispatch.
type Router struct {
	toDevice map[string]func(context.Context, matrix.Event) error
	// OtherToDevice receives to-device messages of types without handler.
	OtherToDevice func(context.Context, matrix.Event) error
	Encrypted     func(context.Context, *Encrypted) error
	Membership    func(context.Context, *Membership) error
	// RoomEvent receives every other room event (state and timeline).
	RoomEvent func(context.Context, *RoomEvent) error
	Invite    func(context.Context, *Invite) error
	// Left receives each room the user left (or was removed from), after
	// the room's last events.
	Left      func(ctx context.Context, roomID string) error
	KeyCounts func(context.Context, *KeyCounts) error
}

// HandleToDevice routes to-device messages of evType to h.
func (r *Router) HandleToDevice(evType string, h func(context.Context, matrix.Event) error) {
	if r.toDevice == nil {
		r.toDevice = map[string]func(context.Context, matrix.Event) error{}
	}
	r.toDevice[evType] = h
}

// Dispatch hands res to the handlers in this order: key counts, to-device
// messages (MLS commits and Welcomes before the room messages that may need
// them), then per joined room (by room ID) its state and timeline events,
// invites, and left rooms (their events, then Left).
func (r *Router) Dispatch(ctx context.Context, res *matrix.SyncResponse) error {
	if r.KeyCounts != nil && (res.DeviceOneTimeKeysCount != nil || res.DeviceUnusedFallbackKeyTypes != nil) {
		err := r.KeyCounts(ctx, &KeyCounts{OneTimeKeys: res.DeviceOneTimeKeysCount, UnusedFallbackKeys: res.DeviceUnusedFallbackKeyTypes})
		if err != nil {
			return fmt.Errorf("key counts: %w", err)
		}
	}
	for _, ev := range res.ToDevice.Events {
		h := r.toDevice[ev.Type]
		if h == nil {
			h = r.OtherToDevice
		}
		if h == nil {
			continue
		}
		if err := h(ctx, ev); err != nil {
			return fmt.Errorf("to-device %s from %s: %w", ev.Type, ev.Sender, err)
		}
	}
	for _, roomID := range slices.Sorted(maps.Keys(res.Rooms.Join)) {
		if err := r.room(ctx, roomID, res.Rooms.Join[roomID]); err != nil {
			return err
		}
	}
	for _, roomID := range slices.Sorted(maps.Keys(res.Rooms.Invite)) {
		if r.Invite == nil {
			break
		}
		if err := r.Invite(ctx, &Invite{RoomID: roomID, State: res.Rooms.Invite[roomID].InviteState.Events}); err != nil {
			return fmt.Errorf("invite to %s: %w", roomID, err)
		}
	}
	for _, roomID := range slices.Sorted(maps.Keys(res.Rooms.Leave)) {
		if err := r.room(ctx, roomID, res.Rooms.Leave[roomID]); err != nil {
			return err
		}
		if r.Left == nil {
			continue
		}
		if err := r.Left(ctx, roomID); err != nil {
			return fmt.Errorf("leaving %s: %w", roomID, err)
		}
	}
	return nil
}

func (r *Router) room(ctx context.Context, roomID string, room matrix.JoinedRoom) error {
	for _, ev := range room.State.Events {
		if err := r.roomEvent(ctx, &RoomEvent{RoomID: roomID, Event: ev, FromState: true}); err != nil {
			return err
		}
	}
	for _, ev := range room.Timeline.Events {
		if err := r.roomEvent(ctx, &RoomEvent{RoomID: roomID, Event: ev}); err != nil {
			return err
		}
	}
	return nil
}

func (r *Router) roomEvent(ctx context.Context, ev *RoomEvent) error {
	var err error
	switch {
	case ev.Type == "m.room.encrypted" && r.Encrypted != nil && isMLS(ev.Content):
		err = r.Encrypted(ctx, encrypted(ev))
	case ev.Type == "m.room.member" && ev.StateKey != nil && r.Membership != nil && hasCommit(ev.Content):
		err = r.Membership(ctx, membership(ev))
	case r.RoomEvent != nil:
		err = r.RoomEvent(ctx, ev)
	}
	if err != nil {
		return fmt.Errorf("%s %s in %s: %w", ev.Type, ev.EventID, ev.RoomID, err)
	}
	return nil
}

func isMLS(content json.RawMessage) bool {
	var c struct {
		Algorithm string `json:"algorithm"`
	}
	return json.Unmarshal(content, &c) == nil && c.Algorithm == Algorithm
}

func encrypted(ev *RoomEvent) *Encrypted {
	var c struct {
		Ciphertext *string `json:"ciphertext"`
	}
	out := &Encrypted{RoomEvent: *ev}
	if err := json.Unmarshal(ev.Content, &c); err != nil || c.Ciphertext == nil {
		out.Err = fmt.Errorf("no ciphertext string in the content")
		return out
	}
	out.Ciphertext, out.Err = decodeB64("ciphertext", *c.Ciphertext)
	return out
}

// memberContent is the part of an m.room.member content the router reads.
type memberContent struct {
	Membership string          `json:"membership"`
	MLSCommit  json.RawMessage `json:"mls_commit"`
}

func hasCommit(content json.RawMessage) bool {
	var c memberContent
	return json.Unmarshal(content, &c) == nil && c.MLSCommit != nil
}

func membership(ev *RoomEvent) *Membership {
	var c memberContent
	_ = json.Unmarshal(ev.Content, &c) // hasCommit decoded it before
	out := &Membership{RoomEvent: *ev, Membership: c.Membership, Target: *ev.StateKey}
	var commit string
	if err := json.Unmarshal(c.MLSCommit, &commit); err != nil {
		out.Err = fmt.Errorf("mls_commit is not a string")
		return out
	}
	out.Commit, out.Err = decodeB64("mls_commit", commit)
	return out
}

func decodeB64(field, s string) ([]byte, error) {
	b, err := base64.RawStdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%s is not unpadded base64: %w", field, err)
	}
	return b, nil
}
