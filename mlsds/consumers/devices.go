package consumers

import (
	"context"
	"encoding/json"
	"slices"

	"github.com/matrix-org/dendrite/setup/config"
	"github.com/matrix-org/dendrite/setup/jetstream"
	userapi "github.com/matrix-org/dendrite/userapi/api"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/nats-io/nats.go"
	"github.com/sirupsen/logrus"

	"github.com/matrix-org/dendrite/msc4244/mlsds/api"
)

// DeviceRemover removes a device from a room's MLS group.
type DeviceRemover interface {
	RemoveDevice(ctx context.Context, roomID string, device api.Device) error
}

// RoomLister lists the rooms in which a user has a membership (the
// roomserver API).
type RoomLister interface {
	QueryRoomsForUser(ctx context.Context, userID spec.UserID, desiredMembership string) ([]spec.RoomID, error)
}

// DeviceLister lists the devices of a user of this server (the user API).
type DeviceLister interface {
	QueryDevices(ctx context.Context, req *userapi.QueryDevicesRequest, res *userapi.QueryDevicesResponse) error
}

// DeletedDeviceConsumer follows the user API's key changes: when a device
// is deleted (logged out, deleted, its account deactivated; for users of
// other servers, as their device list updates tell), the DS removes it from
// the MLS groups of the rooms its user is in or invited to. Rooms without a
// group on this DS are left alone by the DeviceRemover.
//
// Dendrite reports a deletion as a device key update without keys, which
// is also what it reports when a local device is created, so a local device
// still listed by the user API is not removed.
type DeletedDeviceConsumer struct {
	ctx     context.Context
	js      nats.JetStreamContext
	topic   string
	durable string
	cfg     *config.Global
	rooms   RoomLister
	devices DeviceLister
	remover DeviceRemover
}

// NewDeletedDeviceConsumer returns the consumer; Start starts it.
func NewDeletedDeviceConsumer(
	ctx context.Context, cfg *config.Dendrite, js nats.JetStreamContext,
	rooms RoomLister, devices DeviceLister, remover DeviceRemover,
) *DeletedDeviceConsumer {
	return &DeletedDeviceConsumer{
		ctx:     ctx,
		js:      js,
		topic:   cfg.Global.JetStream.Prefixed(jetstream.OutputKeyChangeEvent),
		durable: cfg.Global.JetStream.Durable("MLSDSKeyChangeConsumer"),
		cfg:     &cfg.Global,
		rooms:   rooms,
		devices: devices,
		remover: remover,
	}
}

// Start consumes the key changes from where the consumer left off.
func (c *DeletedDeviceConsumer) Start() error {
	return jetstream.JetStreamConsumer(c.ctx, c.js, c.topic, c.durable, 1, c.onMessage, nats.DeliverAll(), nats.ManualAck())
}

// onMessage handles one key change; it returns false to have it delivered
// again when the DS failed.
func (c *DeletedDeviceConsumer) onMessage(ctx context.Context, msgs []*nats.Msg) bool {
	var m userapi.DeviceMessage
	if err := json.Unmarshal(msgs[0].Data, &m); err != nil {
		logrus.WithError(err).Error("mlsds: key change: message parse failure")
		return true
	}
	if m.Type == userapi.TypeCrossSigningUpdate || m.DeviceKeys == nil || len(m.KeyJSON) != 0 {
		return true
	}
	device := api.Device{UserID: m.UserID, DeviceID: m.DeviceID}
	logger := logrus.WithFields(logrus.Fields{"user_id": device.UserID, "device_id": device.DeviceID})
	userID, err := spec.NewUserID(device.UserID, true)
	if err != nil || device.DeviceID == "" {
		return true
	}
	if c.cfg.IsLocalServerName(userID.Domain()) {
		exists, err := c.localDeviceExists(ctx, device)
		if err != nil {
			logger.WithError(err).Error("mlsds: checking a deleted device failed; it will be retried")
			return false
		}
		if exists {
			return true
		}
	}
	for _, membership := range []string{spec.Join, spec.Invite} {
		roomIDs, err := c.rooms.QueryRoomsForUser(ctx, *userID, membership)
		if err != nil {
			logger.WithError(err).Error("mlsds: listing a deleted device's rooms failed; it will be retried")
			return false
		}
		for _, roomID := range roomIDs {
			if err = c.remover.RemoveDevice(ctx, roomID.String(), device); err != nil {
				logger.WithError(err).WithField("room_id", roomID.String()).Error("mlsds: removing a deleted device failed; it will be retried")
				return false
			}
		}
	}
	return true
}

// localDeviceExists reports whether the user API still lists a device of
// a user of this server.
func (c *DeletedDeviceConsumer) localDeviceExists(ctx context.Context, device api.Device) (bool, error) {
	var res userapi.QueryDevicesResponse
	if err := c.devices.QueryDevices(ctx, &userapi.QueryDevicesRequest{UserID: device.UserID}, &res); err != nil {
		return false, err
	}
	return slices.ContainsFunc(res.Devices, func(d userapi.Device) bool { return d.ID == device.DeviceID }), nil
}
