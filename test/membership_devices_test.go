package test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/tidwall/gjson"

	"github.com/matrix-org/dendrite/msc4244/client/mlsroom"
	"github.com/matrix-org/dendrite/msc4244/test/client"
	"github.com/matrix-org/dendrite/msc4244/test/harness"
	"github.com/matrix-org/dendrite/msc4244/test/must"
)

// A device deleted from its account leaves the groups it is in: the DS on
// A proposes its removal, as for a user who leaves, and refuses commits
// that leave it out. Alice's phone on A is deleted through A's client API;
// bob's laptop on B is deleted on B, which A learns from B's device list
// update. The DS counts its removals and the invite it had sent.
func TestDeletedDevicesLeaveGroups(t *testing.T) {
	harness.ForEachDatabase(t, func(t *testing.T, db harness.DB) {
		d := deployWithMetrics(t, db, 2)
		a, b := d.Servers[0], d.Servers[1]
		aliceDevice, bobDevice := mlsUser(t, a, "alice"), mlsUser(t, b, "bob")
		roomID, alice := mlsRoom(t, a, aliceDevice, map[string]any{"preset": "private_chat"})
		bob := mlsInvite(t, a, roomID, alice, bobDevice)
		awaitMembership(t, alice.Client, roomID, bob.UserID, spec.Invite)
		bob.MustJoinRoom(t, roomID, a.Name)
		awaitMembership(t, alice.Client, roomID, bob.UserID, spec.Join)

		phone := addOwnDevice(t, a, roomID, alice, a, "alice", bob)
		laptop := addOwnDevice(t, a, roomID, bob, b, "bob", alice, phone)

		stale := *alice.state
		deleteDevice(t, phone.Client)
		takeRemovals(t, a, roomID, 1, alice, bob, laptop)
		staleAlice := &mlsMember{mlsDevice: alice.mlsDevice, state: &stale}
		p, err := staleAlice.state.Commit(mlsroom.CommitRequest{})
		must.NotError(t, "a commit without the phone's removal", err)
		refuseCommit(t, a, roomID, staleAlice, p, "M_MLS_PENDING_REMOVALS")
		p, err = alice.state.Commit(mlsroom.CommitRequest{})
		must.NotError(t, "a commit with the phone's removal", err)
		acceptCommit(t, a, roomID, alice, p, bob, laptop)

		deleteDevice(t, laptop.Client)
		takeRemovals(t, a, roomID, 1, alice, bob)
		p, err = bob.state.Commit(mlsroom.CommitRequest{})
		must.NotError(t, "a commit with the laptop's removal", err)
		acceptCommit(t, a, roomID, bob, p, alice)

		devices := alice.groupDevices(t)
		slices.Sort(devices)
		want := []string{alice.UserID + "|" + alice.DeviceID, bob.UserID + "|" + bob.DeviceID}
		slices.Sort(want)
		must.Equal(t, "the group's devices", strings.Join(devices, " "), strings.Join(want, " "))
		must.Equal(t, "bob reads alice", bob.reads(t, roomID, alice.says(t, roomID, "two devices fewer")), "two devices fewer")

		mustHaveMetrics(t, a,
			`dendrite_mlsds_removals_total{reason="deleted_device"} 2`,
			`dendrite_mlsds_invite_attempts_total{outcome="sent"} 1`,
		)
	})
}

// addOwnDevice logs localpart in on s with a new device, which owner adds to
// roomID's group (the DS on ds); others process the commit. It returns the
// new device in the group.
func addOwnDevice(t testing.TB, ds *harness.Server, roomID string, owner *mlsMember, s *harness.Server, localpart string, others ...*mlsMember) *mlsMember {
	t.Helper()
	device := newMLSDevice(t, s.Client().MustLogin(t, localpart, harness.Password))
	device.MustSync(t, client.SyncOptions{})
	kp, err := device.id.NewKeyPackage(false)
	must.NotError(t, "the new device's KeyPackage", err)
	p, err := owner.state.Commit(mlsroom.CommitRequest{Add: [][]byte{kp.Message}})
	must.NotError(t, "adding the new device", err)
	acceptCommit(t, ds, roomID, owner, p, others...)
	welcome := awaitToDevice(t, device.Client, ds, "m.mls.welcome", func(c gjson.Result) bool { return c.Get("room_id").Str == roomID })
	state, _, err := mlsroom.Join(device.id, unb64(t, welcome.Get("welcome").Str), []*mlsroom.KeyPackage{kp})
	must.NotError(t, "the new device joins from the Welcome", err)
	return &mlsMember{mlsDevice: device, state: state}
}

// deleteDevice deletes c's own device, authenticating with its password.
func deleteDevice(t testing.TB, c *client.Client) {
	t.Helper()
	c.MustDo(t, http.MethodDelete, clientV3("devices", c.DeviceID), client.WithJSON(map[string]any{
		"auth": map[string]any{
			"type":       "m.login.password",
			"identifier": map[string]any{"type": "m.id.user", "user": c.UserID},
			"password":   harness.Password,
		},
	}))
}
