package client

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/matrix-org/dendrite/msc4244/client/matrix"
	"github.com/matrix-org/dendrite/msc4244/client/mlsroom"
	"github.com/matrix-org/dendrite/msc4244/client/store"
	"github.com/matrix-org/dendrite/msc4244/mlsds/api"
	"github.com/matrix-org/dendrite/msc4244/test/harness"
)

func login(t *testing.T, s *harness.Server, user, name string) *Client {
	t.Helper()
	c, err := Login(context.Background(), profile(t, name), s.ClientURL, matrix.LoginRequest{User: user, Password: harness.Password})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// awaitMessage syncs c until its journal holds the decrypted message text
// from sender, and returns the entry.
func awaitMessage(t *testing.T, c *Client, next *uint64, roomID, text string) Entry {
	t.Helper()
	return syncUntil(t, c, next, "message "+text, func(e Entry) bool {
		if e.Kind == KindUndecryptable && e.RoomID == roomID {
			t.Logf("%s: undecryptable: %+v", c.DeviceID(), e)
		}
		return e.Kind == KindMessage && e.RoomID == roomID && e.Text == text
	})
}

// One user's devices in an MLS room: a second device is added with an
// Add and Welcome (no member event), both read each other's messages,
// concurrent commits resolve to one winner and the loser's commit goes
// through after catching up, and a removed device reads nothing more.
func TestMLSOwnDevices(t *testing.T) {
	ctx := context.Background()
	d := harness.Deploy(t, harness.SQLite, 1)
	a := d.Servers[0]
	phone := register(t, a, "alice")
	laptop := login(t, a, "alice", "laptop")
	var phoneNext, laptopNext uint64

	roomID, err := phone.CreateRoom(ctx, CreateRoomOptions{Name: "notes"})
	if err != nil {
		t.Fatal(err)
	}
	if err = phone.AddDevice(ctx, roomID, laptop.DeviceID()); err != nil {
		t.Fatalf("adding the laptop: %v", err)
	}
	syncUntil(t, laptop, &laptopNext, "the Welcome", func(e Entry) bool { return e.Kind == KindGroup && e.RoomID == roomID })
	members, epoch, err := laptop.GroupMembers(ctx, roomID)
	if err != nil || len(members) != 2 || epoch != 1 {
		t.Fatalf("the laptop sees %v at epoch %d (%v)", members, epoch, err)
	}
	if _, err = laptop.Join(ctx, roomID); err != nil { // the user is in the room already: a no-op join
		t.Fatal(err)
	}

	if _, err = phone.SendText(ctx, roomID, "from the phone"); err != nil {
		t.Fatal(err)
	}
	got := awaitMessage(t, laptop, &laptopNext, roomID, "from the phone")
	if got.SenderDevice != phone.DeviceID() || got.Epoch != 1 {
		t.Fatalf("laptop read %+v", got)
	}
	if _, err = laptop.SendText(ctx, roomID, "from the laptop"); err != nil {
		t.Fatal(err)
	}
	awaitMessage(t, phone, &phoneNext, roomID, "from the laptop")

	// Both devices commit at once: one wins epoch 2, the other catches up
	// and wins epoch 3.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, c := range []*Client{phone, laptop} {
		wg.Go(func() { errs[i] = c.Rekey(ctx, roomID) })
	}
	wg.Wait()
	if err = errors.Join(errs...); err != nil {
		t.Fatalf("concurrent commits: %v", err)
	}
	log, err := phone.api.MLSCommits(ctx, roomID, 2, 0)
	if err != nil || len(log.Entries) != 2 || log.Entries[0].Epoch != 2 || log.Entries[1].Epoch != 3 {
		t.Fatalf("the DS's log after the race: %+v %v", log, err)
	}
	for _, c := range []*Client{phone, laptop} {
		if err = c.Sync(ctx, 0); err != nil {
			t.Fatal(err)
		}
		if _, epoch, _ = c.GroupMembers(ctx, roomID); epoch != 3 {
			t.Fatalf("%s at epoch %d after the race, want 3", c.DeviceID(), epoch)
		}
	}

	// The phone removes the laptop, which reads nothing sent afterwards.
	if err = phone.RemoveDevice(ctx, roomID, laptop.DeviceID()); err != nil {
		t.Fatal(err)
	}
	if _, err = phone.SendText(ctx, roomID, "laptop cannot read this"); err != nil {
		t.Fatal(err)
	}
	gone := syncUntil(t, laptop, &laptopNext, "the removal", func(e Entry) bool {
		return e.Kind == KindUndecryptable && e.RoomID == roomID
	})
	if _, err = laptop.SendText(ctx, roomID, "x"); !errors.Is(err, mlsroom.ErrNotMember) {
		t.Fatalf("the removed laptop sends: %v (undecryptable entry %+v)", err, gone)
	}
}

// A Welcome for a room the device does not know yet is taken only from the
// DS of the room ID's server: another server cannot plant a group for the
// room by sending one as its own DS.
func TestWelcomeBeforeInviteOnlyFromTheRoomsServer(t *testing.T) {
	ctx := context.Background()
	s, err := store.Create(filepath.Join(t.TempDir(), "p"), cheapKey("x"))
	if err != nil {
		t.Fatal(err)
	}
	c := &Client{store: s, account: account{Credentials: matrix.Credentials{UserID: "@bob:b.test", DeviceID: "BOB"}}}
	const roomID = "!room:a.test"
	welcome := func(sender string) []Entry {
		t.Helper()
		content, err := json.Marshal(api.WelcomeContent{RoomID: roomID, Epoch: 1, Welcome: "AAAA"})
		if err != nil {
			t.Fatal(err)
		}
		b := &batch{c: c}
		if err = b.welcome(ctx, matrix.Event{Type: api.EventWelcome, Sender: sender, Content: content}); err != nil {
			t.Fatal(err)
		}
		return b.entries
	}

	entries := welcome("@:evil.test")
	if len(entries) != 1 || entries[0].Kind != KindNotice || !strings.Contains(entries[0].Error, "not sent by the room's Delivery Service") {
		t.Fatalf("a Welcome from another server: %+v", entries)
	}
	if _, found, err := c.loadRoom(roomID); found || err != nil {
		t.Fatalf("a Welcome from another server left a room record (%v)", err)
	}
	// The room's own server gets as far as the Welcome itself, which is
	// for none of this device's KeyPackages.
	entries = welcome("@:a.test")
	if len(entries) != 1 || !strings.Contains(entries[0].Error, "cannot join the group from its Welcome") {
		t.Fatalf("a Welcome from the room's server: %+v", entries)
	}
}
