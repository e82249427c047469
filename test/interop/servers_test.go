package interop

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	gosdk "github.com/matrix-org/dendrite/msc4244/client"
	"github.com/matrix-org/dendrite/msc4244/client/mlsroom"
	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/group"
	"github.com/matrix-org/dendrite/msc4244/test/client"
	"github.com/matrix-org/dendrite/msc4244/test/harness"
)

// TestTSMLSThroughOurServers runs ts-mls devices against two of our
// homeservers (SQLite; the databases are covered by the DS's own tests).
func TestTSMLSThroughOurServers(t *testing.T) {
	n := NodeRuntime(t)
	d := harness.Deploy(t, harness.SQLite, 2)
	a, b := d.Servers[0], d.Servers[1]

	// A ts-mls device on B creates an MLS room and its group; the DS of B
	// accepts the genesis GroupInfo, which the user's other device reads
	// back and follows with our public view. A user of A claims one of the
	// device's KeyPackages through her server.
	t.Run("genesis", func(t *testing.T) {
		dev := n.Device(t, "ts-mls on B")
		dev.Register(t, b.ClientURL, "tsgenesis")
		uploaded := dev.Call(t, "upload_key_packages", map[string]any{"count": 3})
		if got := uploaded.Get("counts.mls").Int(); got != 3 {
			t.Fatalf("B counts %d mls one-time keys after ts-mls uploaded 3: %s", got, uploaded.Raw)
		}

		// A user of A claims one over federation: it names the device.
		alice := a.MustRegisterUser(t, "alice-genesis")
		kp := claimKeyPackage(t, alice, dev.UserID, dev.DeviceID)
		if err := mlsroom.ClaimedKeyPackage(kp, mlsroom.Device{UserID: dev.UserID, DeviceID: dev.DeviceID}); err != nil {
			t.Fatalf("the ts-mls KeyPackage claimed through A: %v", err)
		}

		roomID, view := genesis(t, dev)

		// The user's other device reads the group back.
		other := b.Client().MustLogin(t, dev.UserID, harness.Password)
		served := other.MustDo(t, http.MethodGet, dsPath("rooms", roomID, "mls", "group_info"))
		if served.Get("epoch").Int() != 0 {
			t.Fatalf("the group_info the DS serves: %s", served.Raw)
		}
		g := publicGroup(t, unb64(t, served.Get("group_info").Str))
		sameView(t, "the GroupInfo the DS serves", g, view)
		log := other.MustDo(t, http.MethodGet, dsPath("rooms", roomID, "mls", "commits"), client.WithQuery("from_epoch", "0"))
		if entries := log.Get("entries").Array(); len(entries) != 1 || entries[0].Get("kind").Str != "genesis" ||
			entries[0].Get("sender.device_id").Str != dev.DeviceID {
			t.Fatalf("the DS's log after genesis: %s", log.Raw)
		}
	})

	// (1) A ts-mls device of a user joins the group of the user's Go
	// device: the Go client's Add commit goes through the DS, the ts-mls
	// device joins from the forwarded Welcome, messages decrypt both ways,
	// and the Go client follows the ts-mls device's own commit.
	t.Run("ts-mls device joins a Go group", func(t *testing.T) {
		ctx := context.Background()
		alice := newGoDevice(t, a, "alice1")
		dev := n.Device(t, "alice1's ts-mls device")
		dev.Login(t, a.ClientURL, alice.UserID())
		dev.Call(t, "upload_key_packages", map[string]any{"count": 2})
		roomID, err := alice.CreateRoom(ctx, gosdk.CreateRoomOptions{Name: "interop 1"})
		if err != nil {
			t.Fatal(err)
		}
		dev.Peer = func() string { return alice.view(roomID) }
		if err = alice.AddDevice(ctx, roomID, dev.DeviceID); err != nil {
			t.Fatalf("adding the ts-mls device: %v\nour side: %s", err, alice.view(roomID))
		}
		joined := dev.Call(t, "await", map[string]any{"kind": "welcome", "room_id": roomID, "epoch": 1})
		alice.agree(t, roomID, joined.Get("view"))
		talk(t, alice, dev, roomID, "epoch 1")

		// ts-mls commits (an empty commit with a path); the Go client
		// follows and both talk in the new epoch.
		updated := commit(t, dev, map[string]any{"room_id": roomID})
		alice.awaitEpoch(t, roomID, 2)
		alice.agree(t, roomID, updated.Get("view"))
		talk(t, alice, dev, roomID, "epoch 2")
	})

	// (2) A ts-mls device creates the MLS room's group (genesis) and adds
	// its user's Go device; the Go client joins from the Welcome, messages
	// decrypt both ways, and ts-mls follows the Go client's commit. (3)
	// Then a ts-mls commit made for the epoch the Go client's commit ended
	// is rejected as stale: M_MLS_WRONG_EPOCH with the current epoch, and
	// the log does not change.
	t.Run("ts-mls genesis adds a Go device; stale commit", func(t *testing.T) {
		ctx := context.Background()
		dev := n.Device(t, "carol2's ts-mls device")
		dev.Register(t, b.ClientURL, "carol2")
		roomID, _ := genesis(t, dev)
		carol := loginGoDevice(t, b, dev.UserID)
		dev.Peer = func() string { return carol.view(roomID) }
		added := commit(t, dev, map[string]any{"room_id": roomID, "add": []any{map[string]any{"user_id": carol.UserID(), "device_id": carol.DeviceID()}}})
		carol.awaitEpoch(t, roomID, 1)
		carol.agree(t, roomID, added.Get("view"))
		talk(t, carol, dev, roomID, "epoch 1")

		// ts-mls makes a commit for epoch 1 and holds it; the Go client's
		// commit wins epoch 1 → 2, which ts-mls follows.
		held := dev.Call(t, "commit", map[string]any{"room_id": roomID, "hold": true})
		if err := carol.Rekey(ctx, roomID); err != nil {
			t.Fatalf("the Go client's commit: %v\nour side: %s", err, carol.view(roomID))
		}
		followed := dev.Call(t, "await", map[string]any{"kind": "commit", "room_id": roomID, "epoch": 2})
		carol.agree(t, roomID, followed.Get("view"))
		talk(t, carol, dev, roomID, "epoch 2")

		stale := dev.Call(t, "send_held", map[string]any{"room_id": roomID, "commit": held.Get("commit").Str})
		if stale.Get("outcome").Str != "rejected" || stale.Get("errcode").Str != "M_MLS_WRONG_EPOCH" || stale.Get("current_epoch").Int() != 2 {
			t.Fatalf("the stale commit: %s, want rejected with M_MLS_WRONG_EPOCH at epoch 2\nour side: %s", stale.Raw, carol.view(roomID))
		}
		page, err := carol.API().MLSCommits(ctx, roomID, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(page.Entries); n != 3 || page.Entries[2].Epoch != 2 || page.Entries[2].Sender.DeviceID != carol.DeviceID() {
			t.Fatalf("the DS's log after the stale commit: %+v", page.Entries)
		}
		// ts-mls is still in step: its next commit goes through.
		commit(t, dev, map[string]any{"room_id": roomID})
		carol.awaitEpoch(t, roomID, 3)
		talk(t, carol, dev, roomID, "epoch 3")
	})

	// (4) A commit too large to go inline (its authenticated_data is 20,000
	// bytes) reaches the other devices by reference: the DS sends its
	// digest, and the Go client and a second ts-mls device each read it
	// from the log through their server, check the digest and follow.
	t.Run("commit by reference", func(t *testing.T) {
		ctx := context.Background()
		alice := newGoDevice(t, a, "alice4")
		devs := []*Device{n.Device(t, "alice4's first ts-mls device"), n.Device(t, "alice4's second ts-mls device")}
		roomID, err := alice.CreateRoom(ctx, gosdk.CreateRoomOptions{Name: "interop 4"})
		if err != nil {
			t.Fatal(err)
		}
		for i, dev := range devs {
			dev.Login(t, a.ClientURL, alice.UserID())
			dev.Call(t, "upload_key_packages", map[string]any{"count": 1})
			dev.Peer = func() string { return alice.view(roomID) }
			if err = alice.AddDevice(ctx, roomID, dev.DeviceID); err != nil {
				t.Fatalf("adding ts-mls device %d: %v\nour side: %s", i, err, alice.view(roomID))
			}
			dev.Call(t, "await", map[string]any{"kind": "welcome", "room_id": roomID, "epoch": i + 1})
		}
		devs[0].Call(t, "await", map[string]any{"kind": "commit", "room_id": roomID, "epoch": 2})

		large := commit(t, devs[0], map[string]any{"room_id": roomID, "filler": 20000})
		followed := devs[1].Call(t, "await", map[string]any{"kind": "commit", "room_id": roomID, "epoch": 3})
		if !followed.Get("by_reference").Bool() {
			t.Fatalf("the second ts-mls device got the large commit inline: %s", followed.Raw)
		}
		if followed.Get("view.tree_hash").Str != large.Get("view.tree_hash").Str {
			t.Fatalf("the ts-mls devices disagree after the commit by reference:\n%s\n%s", followed.Get("view").Raw, large.Get("view").Raw)
		}
		alice.awaitEpoch(t, roomID, 3)
		alice.agree(t, roomID, large.Get("view"))
		talk(t, alice, devs[1], roomID, "after a commit by reference")
	})

	// Across servers and users: a Go client on A invites a user of B whose
	// only device is ts-mls (an Add commit with the profile's AAD and a
	// Welcome, through A's DS); and a ts-mls device on B invites a Go user
	// of A the same way, through B's DS. Each invitee joins from the
	// Welcome, the DS has the invite event sent, and messages decrypt both
	// ways.
	t.Run("invites across servers", func(t *testing.T) {
		ctx := context.Background()
		alice := newGoDevice(t, a, "alice3")
		bob := n.Device(t, "bob3 (ts-mls) on B")
		bob.Register(t, b.ClientURL, "bob3")
		bob.Call(t, "upload_key_packages", map[string]any{"count": 2})
		roomID, err := alice.CreateRoom(ctx, gosdk.CreateRoomOptions{Name: "interop 3"})
		if err != nil {
			t.Fatal(err)
		}
		bob.Peer = func() string { return alice.view(roomID) }
		if err = alice.Invite(ctx, roomID, bob.UserID); err != nil {
			t.Fatalf("inviting the ts-mls user: %v\nour side: %s", err, alice.view(roomID))
		}
		joined := bob.Call(t, "await", map[string]any{"kind": "welcome", "room_id": roomID, "epoch": 1})
		alice.agree(t, roomID, joined.Get("view"))
		bob.Call(t, "await", map[string]any{"kind": "invite", "room_id": roomID})
		bob.Call(t, "join_room", map[string]any{"room_id": roomID, "via": []string{string(a.Name)}})
		talk(t, alice, bob, roomID, "A's room")

		carol := n.Device(t, "carol3 (ts-mls) on B")
		carol.Register(t, b.ClientURL, "carol3")
		dave := newGoDevice(t, a, "dave3")
		roomID, _ = genesis(t, carol)
		carol.Peer = func() string { return dave.view(roomID) }
		added := commit(t, carol, map[string]any{
			"room_id": roomID,
			"add":     []any{map[string]any{"user_id": dave.UserID(), "device_id": dave.DeviceID()}},
			"aad":     map[string]any{"action": "invite", "target": dave.UserID()},
		})
		dave.awaitEpoch(t, roomID, 1)
		dave.await(t, roomID, "the invite", func(e gosdk.Entry) bool { return e.Kind == gosdk.KindInvite && e.RoomID == roomID })
		if _, err = dave.Join(ctx, roomID, string(b.Name)); err != nil {
			t.Fatalf("joining after the Welcome: %v\nour side: %s", err, dave.view(roomID))
		}
		dave.agree(t, roomID, added.Get("view"))
		talk(t, dave, carol, roomID, "B's room")
	})

	// (5) The DS's Remove proposals, as the group's external sender
	// (RFC 9420 §12.1.8.1), reach a ts-mls device of another user. Alice's
	// second Go device logs out: ts-mls verifies the DS's proposal against
	// the group's external_senders; a commit of ts-mls that leaves it out
	// is refused with M_MLS_PENDING_REMOVALS, the one that covers it is
	// accepted, and the Go client follows. Then carol (Go, on B) leaves the
	// room: the Go client commits the DS's Remove, which ts-mls follows by
	// the proposal's reference. After each, the Go client, the DS and
	// ts-mls have the same GroupContext, and messages decrypt both ways.
	t.Run("the DS's Remove proposals", func(t *testing.T) {
		ctx := context.Background()
		alice := newGoDevice(t, a, "alice5")
		bob := n.Device(t, "bob5 (ts-mls) on B")
		bob.Register(t, b.ClientURL, "bob5")
		bob.Call(t, "upload_key_packages", map[string]any{"count": 1})
		roomID, err := alice.CreateRoom(ctx, gosdk.CreateRoomOptions{Name: "interop 5"})
		if err != nil {
			t.Fatal(err)
		}
		bob.Peer = func() string { return alice.view(roomID) }
		if err = alice.Invite(ctx, roomID, bob.UserID); err != nil {
			t.Fatalf("inviting the ts-mls user: %v\nour side: %s", err, alice.view(roomID))
		}
		bob.Call(t, "await", map[string]any{"kind": "welcome", "room_id": roomID, "epoch": 1})
		bob.Call(t, "await", map[string]any{"kind": "invite", "room_id": roomID})
		bob.Call(t, "join_room", map[string]any{"room_id": roomID, "via": []string{string(a.Name)}})
		alice2 := loginGoDevice(t, a, alice.UserID())
		if err = alice.AddDevice(ctx, roomID, alice2.DeviceID()); err != nil {
			t.Fatalf("adding alice's second device: %v\nour side: %s", err, alice.view(roomID))
		}
		alice.agree(t, roomID, bob.Call(t, "await", map[string]any{"kind": "commit", "room_id": roomID, "epoch": 2}).Get("view"))

		// ts-mls makes a commit for epoch 2 and holds it; then the DS
		// proposes alice2's removal in epoch 2.
		held := bob.Call(t, "commit", map[string]any{"room_id": roomID, "hold": true})
		if err = alice2.Logout(ctx); err != nil {
			t.Fatal(err)
		}
		proposed := bob.Call(t, "await", map[string]any{"kind": "proposal", "room_id": roomID, "epoch": 2})
		if !proposed.Get("external").Bool() || leafOf(t, proposed.Get("view"), alice.UserID(), alice2.DeviceID()) != proposed.Get("removed").Int() {
			t.Fatalf("ts-mls's record of the DS's proposal: %s, want the external Remove of %s", proposed.Raw, alice2.DeviceID())
		}
		refused := bob.Call(t, "send_held", map[string]any{"room_id": roomID, "commit": held.Get("commit").Str})
		if refused.Get("outcome").Str != "rejected" || refused.Get("errcode").Str != "M_MLS_PENDING_REMOVALS" {
			t.Fatalf("a commit without the DS's Remove: %s, want rejected with M_MLS_PENDING_REMOVALS\nour side: %s", refused.Raw, alice.view(roomID))
		}
		removed := commit(t, bob, map[string]any{"room_id": roomID})
		if removed.Get("epoch").Int() != 3 || removed.Get("view.members.#").Int() != 2 {
			t.Fatalf("ts-mls's commit of the DS's Remove: %s", removed.Raw)
		}
		alice.awaitEpoch(t, roomID, 3)
		alice.agree(t, roomID, removed.Get("view"))
		talk(t, alice, bob, roomID, "after alice's second device left")

		// Carol joins and leaves; the Go client commits her removal when
		// it next sends, and ts-mls follows.
		carol := newGoDevice(t, b, "carol5")
		if err = alice.Invite(ctx, roomID, carol.UserID()); err != nil {
			t.Fatalf("inviting carol: %v\nour side: %s", err, alice.view(roomID))
		}
		bob.Call(t, "await", map[string]any{"kind": "commit", "room_id": roomID, "epoch": 4})
		carol.await(t, roomID, "the invite", func(e gosdk.Entry) bool { return e.Kind == gosdk.KindInvite && e.RoomID == roomID })
		if _, err = carol.Join(ctx, roomID, string(a.Name)); err != nil {
			t.Fatalf("carol joins: %v\nour side: %s", err, carol.view(roomID))
		}
		if err = carol.Leave(ctx, roomID); err != nil {
			t.Fatal(err)
		}
		proposed = bob.Call(t, "await", map[string]any{"kind": "proposal", "room_id": roomID, "epoch": 4})
		if !proposed.Get("external").Bool() || leafOf(t, proposed.Get("view"), carol.UserID(), carol.DeviceID()) != proposed.Get("removed").Int() {
			t.Fatalf("ts-mls's record of the DS's proposal: %s, want the external Remove of carol's device", proposed.Raw)
		}
		alice.await(t, roomID, "carol's removal proposal", func(e gosdk.Entry) bool {
			return e.Kind == gosdk.KindGroup && e.RoomID == roomID && e.Epoch == 4 && strings.Contains(e.Text, "proposed")
		})
		talk(t, alice, bob, roomID, "after carol left")
		followed := bob.Call(t, "view", map[string]any{"room_id": roomID})
		if followed.Get("epoch").Int() != 5 || followed.Get("members.#").Int() != 2 {
			t.Fatalf("ts-mls after the Go client's commit of carol's removal: %s", followed.Raw)
		}
		alice.agree(t, roomID, followed)
	})
}

// leafOf returns the leaf of a device in a ts-mls view, failing the test
// when the device is not a member.
func leafOf(t *testing.T, tsView gjson.Result, userID, deviceID string) int64 {
	t.Helper()
	for _, m := range tsView.Get("members").Array() {
		if m.Get("identity").Str == userID+"|"+deviceID {
			return m.Get("leaf").Int()
		}
	}
	t.Fatalf("%s %s is not in ts-mls's view %s", userID, deviceID, tsView.Raw)
	return 0
}

// genesis has the ts-mls device create an MLS room on its server and the
// room's group, and returns the room and ts-mls's view of the group once
// the DS accepted it.
func genesis(t *testing.T, dev *Device) (string, gjson.Result) {
	t.Helper()
	roomID := dev.Call(t, "create_room", nil).Get("room_id").Str
	created := dev.Call(t, "create_group", map[string]any{"room_id": roomID})
	if created.Get("outcome").Str != "accepted" {
		t.Fatalf("the DS refused ts-mls's genesis GroupInfo: %s", created.Raw)
	}
	return roomID, created.Get("view")
}

// commit has the ts-mls device commit and fails unless the DS accepts it.
func commit(t *testing.T, dev *Device, args map[string]any) gjson.Result {
	t.Helper()
	res := dev.Call(t, "commit", args)
	if res.Get("outcome").Str != "accepted" {
		t.Fatalf("the DS refused ts-mls's commit %v: %s%s", args, res.Raw, dev.peer())
	}
	return res
}

// claimKeyPackage claims one mls KeyPackage of a device as c.
func claimKeyPackage(t *testing.T, c *client.Client, userID, deviceID string) []byte {
	t.Helper()
	res := c.MustDo(t, http.MethodPost, []string{"_matrix", "client", "v3", "keys", "claim"}, client.WithJSON(map[string]any{
		"one_time_keys": map[string]any{userID: map[string]any{deviceID: "mls"}},
	}))
	keys := res.Get("one_time_keys." + gjson.Escape(userID) + "." + gjson.Escape(deviceID)).Map()
	if len(keys) != 1 {
		t.Fatalf("claiming a KeyPackage of %s %s: %s", userID, deviceID, res.Raw)
	}
	for _, k := range keys {
		return unb64(t, k.Get("key").Str)
	}
	return nil
}

// publicGroup follows a group from a GroupInfo MLSMessage with our public
// view.
func publicGroup(t *testing.T, data []byte) *group.PublicGroup {
	t.Helper()
	g, err := loadPublicGroup(data)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func loadPublicGroup(data []byte) (*group.PublicGroup, error) {
	var m mls.MLSMessage
	if err := codec.Unmarshal(data, &m); err != nil || m.GroupInfo == nil {
		return nil, fmt.Errorf("not a GroupInfo MLSMessage (%v): %x", err, data)
	}
	g, err := group.NewPublicGroup(m.GroupInfo, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("our public view refuses the GroupInfo: %w", err)
	}
	return g, nil
}

// sameView fails unless our public view has ts-mls's GroupContext, byte
// for byte (RFC 9420 §8.1): the same epoch, tree hash, confirmed
// transcript hash and extensions, showing both.
func sameView(t *testing.T, what string, g *group.PublicGroup, tsView gjson.Result) {
	t.Helper()
	want, _ := hex.DecodeString(tsView.Get("group_context").Str)
	if !bytes.Equal(codec.Marshal(g.Context()), want) {
		t.Fatalf("%s: our view and ts-mls's differ\nours:   %s\nts-mls: %s", what, describe(g), tsView.Raw)
	}
}

// dsPath is a client path below the DS's unstable prefix.
func dsPath(segments ...string) []string {
	return append([]string{"_matrix", "client", "unstable", "org.matrix.msc4244"}, segments...)
}

func unb64(t testing.TB, s string) []byte {
	t.Helper()
	b, err := base64.RawStdEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("%q is not unpadded base64: %v", s, err)
	}
	return b
}
