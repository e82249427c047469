// Package consumers holds the Delivery Service's consumers of other
// components' output streams.
package consumers

import (
	"context"
	"encoding/json"
	"slices"

	"github.com/matrix-org/dendrite/roomserver/api"
	"github.com/matrix-org/dendrite/setup/config"
	"github.com/matrix-org/dendrite/setup/jetstream"
	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/nats-io/nats.go"
	"github.com/sirupsen/logrus"
)

// Remover removes a user's devices from a room's MLS group.
type Remover interface {
	RemoveUser(ctx context.Context, roomID, userID string) error
}

// OutputRoomEventConsumer follows the roomserver's output: when a user's
// membership in a room of roomVersion becomes leave or ban (a leave, a
// kick, a ban, a rejected invite or knock), the DS removes the user's
// devices from the room's group (docs/membership.md). Rooms without a group
// on this DS are left alone by the Remover.
type OutputRoomEventConsumer struct {
	ctx         context.Context
	js          nats.JetStreamContext
	topic       string
	durable     string
	roomVersion gomatrixserverlib.RoomVersion
	remover     Remover
}

// NewOutputRoomEventConsumer returns the consumer; Start starts it.
func NewOutputRoomEventConsumer(ctx context.Context, cfg *config.JetStream, js nats.JetStreamContext, roomVersion gomatrixserverlib.RoomVersion, remover Remover) *OutputRoomEventConsumer {
	return &OutputRoomEventConsumer{
		ctx:         ctx,
		js:          js,
		topic:       cfg.Prefixed(jetstream.OutputRoomEvent),
		durable:     cfg.Durable("MLSDSRoomServerConsumer"),
		roomVersion: roomVersion,
		remover:     remover,
	}
}

// Start consumes the roomserver's output from where the consumer left off.
func (c *OutputRoomEventConsumer) Start() error {
	return jetstream.JetStreamConsumer(c.ctx, c.js, c.topic, c.durable, 1, c.onMessage, nats.DeliverAll(), nats.ManualAck())
}

// onMessage handles one output event; it returns false to have it
// delivered again when the DS failed.
func (c *OutputRoomEventConsumer) onMessage(ctx context.Context, msgs []*nats.Msg) bool {
	var output api.OutputEvent
	if err := json.Unmarshal(msgs[0].Data, &output); err != nil {
		logrus.WithError(err).Error("mlsds: roomserver output: message parse failure")
		return true
	}
	if output.Type != api.OutputTypeNewRoomEvent {
		return true
	}
	userID, ok := c.departure(output.NewRoomEvent)
	if !ok {
		return true
	}
	roomID := output.NewRoomEvent.Event.RoomID().String()
	if err := c.remover.RemoveUser(ctx, roomID, userID); err != nil {
		logrus.WithError(err).WithFields(logrus.Fields{"room_id": roomID, "user_id": userID}).Error("mlsds: removing a departed user's devices failed; it will be retried")
		return false
	}
	return true
}

// departure returns the user a new room event makes leave an MLS room:
// an m.room.member leave or ban of the room version that became current
// state.
func (c *OutputRoomEventConsumer) departure(ev *api.OutputNewRoomEvent) (string, bool) {
	event := ev.Event
	if event.Version() != c.roomVersion || event.Type() != spec.MRoomMember || event.StateKey() == nil ||
		!slices.Contains(ev.AddsStateEventIDs, event.EventID()) {
		return "", false
	}
	membership, err := event.Membership()
	if err != nil || membership != spec.Leave && membership != spec.Ban {
		return "", false
	}
	return *event.StateKey(), true
}
