package consumers

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"

	"github.com/matrix-org/dendrite/setup/config"
	userapi "github.com/matrix-org/dendrite/userapi/api"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/nats-io/nats.go"

	"github.com/matrix-org/dendrite/msc4244/mlsds/api"
)

// directory answers for the rooms and devices of users, and records the
// removals asked of the DS.
type directory struct {
	devices map[string][]string // local user → device IDs
	rooms   map[string][]string // membership → room IDs
	fail    error
	removed []string
}

func (d *directory) QueryRoomsForUser(_ context.Context, _ spec.UserID, membership string) ([]spec.RoomID, error) {
	var ids []spec.RoomID
	for _, id := range d.rooms[membership] {
		roomID, err := spec.NewRoomID(id)
		if err != nil {
			return nil, err
		}
		ids = append(ids, *roomID)
	}
	return ids, nil
}

func (d *directory) QueryDevices(_ context.Context, req *userapi.QueryDevicesRequest, res *userapi.QueryDevicesResponse) error {
	for _, id := range d.devices[req.UserID] {
		res.Devices = append(res.Devices, userapi.Device{UserID: req.UserID, ID: id})
	}
	return nil
}

func (d *directory) RemoveDevice(_ context.Context, roomID string, device api.Device) error {
	if d.fail != nil {
		return d.fail
	}
	d.removed = append(d.removed, roomID+" "+device.UserID+"|"+device.DeviceID)
	return nil
}

func keyChange(t *testing.T, m userapi.DeviceMessage) []*nats.Msg {
	t.Helper()
	data, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return []*nats.Msg{{Data: data}}
}

func deviceKeys(userID, deviceID, keyJSON string) userapi.DeviceMessage {
	return userapi.DeviceMessage{Type: userapi.TypeDeviceKeyUpdate, DeviceKeys: &userapi.DeviceKeys{UserID: userID, DeviceID: deviceID, KeyJSON: []byte(keyJSON)}}
}

func TestDeletedDeviceConsumer(t *testing.T) {
	const alice, bob = "@alice:a.example", "@bob:b.example"
	rooms := map[string][]string{spec.Join: {"!joined:a.example"}, spec.Invite: {"!invited:a.example"}}
	for _, tc := range []struct {
		name    string
		msg     userapi.DeviceMessage
		fail    error
		acked   bool
		removed []string
	}{
		{"a local device deleted", deviceKeys(alice, "PHONE", ""), nil, true,
			[]string{"!joined:a.example " + alice + "|PHONE", "!invited:a.example " + alice + "|PHONE"}},
		{"a remote device deleted", deviceKeys(bob, "LAPTOP", ""), nil, true,
			[]string{"!joined:a.example " + bob + "|LAPTOP", "!invited:a.example " + bob + "|LAPTOP"}},
		{"a local device created, still listed", deviceKeys(alice, "DESK", ""), nil, true, nil},
		{"keys uploaded", deviceKeys(alice, "PHONE", `{"keys":{}}`), nil, true, nil},
		{"a cross-signing update", userapi.DeviceMessage{Type: userapi.TypeCrossSigningUpdate, DeviceKeys: &userapi.DeviceKeys{UserID: alice, DeviceID: "PHONE"}}, nil, true, nil},
		{"no device", deviceKeys(alice, "", ""), nil, true, nil},
		{"the DS fails", deviceKeys(alice, "PHONE", ""), errors.New("database down"), false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := &directory{devices: map[string][]string{alice: {"DESK"}}, rooms: rooms, fail: tc.fail}
			cfg := &config.Dendrite{}
			cfg.Global.ServerName = "a.example"
			c := NewDeletedDeviceConsumer(context.Background(), cfg, nil, dir, dir, dir)
			if acked := c.onMessage(context.Background(), keyChange(t, tc.msg)); acked != tc.acked {
				t.Fatalf("acknowledged: %v, want %v", acked, tc.acked)
			}
			if !slices.Equal(dir.removed, tc.removed) {
				t.Fatalf("removed %q, want %q", dir.removed, tc.removed)
			}
		})
	}
}
