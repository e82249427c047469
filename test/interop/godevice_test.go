package interop

import (
	"context"
	"encoding/base64"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	gosdk "github.com/matrix-org/dendrite/msc4244/client"
	"github.com/matrix-org/dendrite/msc4244/client/matrix"
	"github.com/matrix-org/dendrite/msc4244/client/store"
	"github.com/matrix-org/dendrite/msc4244/test/harness"
)

// awaitTimeout bounds a Go client's wait for something to happen.
const awaitTimeout = 60 * time.Second

// goDevice is a device of our Go client SDK, with the journal entries
// read but not awaited yet.
type goDevice struct {
	*gosdk.Client
	next    uint64
	pending []gosdk.Entry
}

func newGoDevice(t *testing.T, s *harness.Server, localpart string) *goDevice {
	t.Helper()
	c, err := gosdk.Register(context.Background(), goProfile(t, localpart), s.ClientURL, matrix.RegisterRequest{Username: localpart, Password: harness.Password})
	if err != nil {
		t.Fatalf("registering %s: %v", localpart, err)
	}
	return &goDevice{Client: c}
}

// loginGoDevice logs a new Go device of user in.
func loginGoDevice(t *testing.T, s *harness.Server, user string) *goDevice {
	t.Helper()
	c, err := gosdk.Login(context.Background(), goProfile(t, "login"), s.ClientURL, matrix.LoginRequest{User: user, Password: harness.Password})
	if err != nil {
		t.Fatalf("logging %s in: %v", user, err)
	}
	return &goDevice{Client: c}
}

func goProfile(t *testing.T, name string) gosdk.Profile {
	return gosdk.Profile{
		Dir: filepath.Join(t.TempDir(), name),
		Key: store.PassphraseWithCost("interop", store.Argon2Params{Time: 1, MemoryKiB: 64, Threads: 1}),
	}
}

// await syncs until the device's journal holds an entry that passes match,
// and hands it out: entries are handed out once, each to the first await
// that wants it, in journal order. A rejection by the DS in the room ends
// the wait.
func (g *goDevice) await(t *testing.T, roomID, what string, match func(gosdk.Entry) bool) gosdk.Entry {
	t.Helper()
	ctx := context.Background()
	for deadline := time.Now().Add(awaitTimeout); time.Now().Before(deadline); {
		for i, e := range g.pending {
			if match(e) {
				g.pending = slices.Delete(g.pending, i, i+1)
				return e
			}
			if e.Kind == gosdk.KindRejected && e.RoomID == roomID {
				t.Fatalf("%s, awaiting %s: the DS rejected a message: %+v\nour side: %s", g.UserID(), what, e, g.view(roomID))
			}
		}
		if err := g.Sync(ctx, time.Second); err != nil {
			t.Fatalf("%s syncing: %v", g.UserID(), err)
		}
		entries, after, err := g.Journal(ctx, g.next, 0)
		if err != nil {
			t.Fatal(err)
		}
		g.next = after
		for _, e := range entries {
			if e.Kind == gosdk.KindUndecryptable && e.RoomID == roomID {
				t.Logf("%s: undecryptable: %+v", g.UserID(), e)
			}
		}
		g.pending = append(g.pending, entries...)
	}
	t.Fatalf("%s: no %s within %s\nour side: %s", g.UserID(), what, awaitTimeout, g.view(roomID))
	return gosdk.Entry{}
}

// awaitEpoch waits until the device's group of roomID is at epoch.
func (g *goDevice) awaitEpoch(t *testing.T, roomID string, epoch uint64) {
	t.Helper()
	g.await(t, roomID, fmt.Sprintf("epoch %d", epoch), func(e gosdk.Entry) bool {
		return e.Kind == gosdk.KindGroup && e.RoomID == roomID && e.Epoch == epoch
	})
}

// awaitMessage waits for a decrypted message with text from a device.
func (g *goDevice) awaitMessage(t *testing.T, roomID, text, senderDevice string) gosdk.Entry {
	t.Helper()
	return g.await(t, roomID, "the message "+text, func(e gosdk.Entry) bool {
		return e.Kind == gosdk.KindMessage && e.RoomID == roomID && e.Text == text && e.SenderDevice == senderDevice
	})
}

// view describes our side of a room: the Go client's epoch and devices,
// and the DS's latest GroupInfo as our public view reads it.
func (g *goDevice) view(roomID string) string {
	ctx := context.Background()
	var b strings.Builder
	members, epoch, err := g.GroupMembers(ctx, roomID)
	if err != nil {
		fmt.Fprintf(&b, "Go client %s: %v", g.DeviceID(), err)
	} else {
		fmt.Fprintf(&b, "Go client %s: epoch %d, devices %v", g.DeviceID(), epoch, members)
	}
	served, err := g.API().MLSGroupInfo(ctx, roomID)
	if err != nil {
		fmt.Fprintf(&b, "; DS: %v", err)
		return b.String()
	}
	gi, err := base64.RawStdEncoding.DecodeString(served.GroupInfo)
	if err != nil {
		fmt.Fprintf(&b, "; DS: group_info: %v", err)
		return b.String()
	}
	ds, err := loadPublicGroup(gi)
	if err != nil {
		fmt.Fprintf(&b, "; DS's GroupInfo: %v", err)
		return b.String()
	}
	fmt.Fprintf(&b, "; DS: %s", describe(ds))
	return b.String()
}

// agree checks that the Go client, the DS and ts-mls (its view tsView)
// see the room's group alike: the same epoch and devices, and the tree
// hash of the DS's GroupInfo is ts-mls's.
func (g *goDevice) agree(t *testing.T, roomID string, tsView gjson.Result) {
	t.Helper()
	ctx := context.Background()
	members, epoch, err := g.GroupMembers(ctx, roomID)
	if err != nil {
		t.Fatal(err)
	}
	var ours, theirs []string
	for _, m := range members {
		ours = append(ours, m.UserID+"|"+m.DeviceID)
	}
	for _, m := range tsView.Get("members").Array() {
		theirs = append(theirs, m.Get("identity").Str)
	}
	slices.Sort(ours)
	slices.Sort(theirs)
	if epoch != uint64(tsView.Get("epoch").Int()) || !slices.Equal(ours, theirs) {
		t.Fatalf("the Go client and ts-mls disagree\nour side: %s\nts-mls:   %s", g.view(roomID), tsView.Raw)
	}
	served, err := g.API().MLSGroupInfo(ctx, roomID)
	if err != nil {
		t.Fatal(err)
	}
	sameView(t, "the DS's GroupInfo", publicGroup(t, unb64(t, served.GroupInfo)), tsView)
}

// talk has each side send a message the other decrypts.
func talk(t *testing.T, g *goDevice, dev *Device, roomID, tag string) {
	t.Helper()
	ctx := context.Background()
	fromGo := "from Go " + tag
	if _, err := g.SendText(ctx, roomID, fromGo); err != nil {
		t.Fatalf("sending %q: %v", fromGo, err)
	}
	got := dev.Call(t, "await", map[string]any{"kind": "message", "room_id": roomID, "body": fromGo})
	if got.Get("sender").Str != g.UserID() || got.Get("plaintext.type").Str != "m.room.message" {
		t.Fatalf("ts-mls read %s", got.Raw)
	}
	fromTS := "from ts-mls " + tag
	sent := dev.Call(t, "send", map[string]any{"room_id": roomID, "body": fromTS})
	e := g.awaitMessage(t, roomID, fromTS, dev.DeviceID)
	if e.EventID != sent.Get("event_id").Str || e.Epoch != uint64(sent.Get("epoch").Int()) {
		t.Fatalf("the Go client read %+v; ts-mls sent %s", e, sent.Raw)
	}
}
