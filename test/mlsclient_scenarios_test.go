package test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	mlsclient "github.com/matrix-org/dendrite/msc4244/client"
	"github.com/matrix-org/dendrite/msc4244/client/matrix"
	"github.com/matrix-org/dendrite/msc4244/client/mlsroom"
	"github.com/matrix-org/dendrite/msc4244/mlsds/api"
	"github.com/matrix-org/dendrite/msc4244/test/harness"
)

// The whole conversation of issue 8 on three servers, driven by the MLS
// client SDK: create, invite across servers, chat both ways, a second
// device added and removed, a user joining by external commit, a user on
// a third server invited with Add and Welcome,
// someone leaving while the rest keep chatting, a client recovering after
// losing its state, a commit race with one winner, and the DS's server
// stopped while a client on another server commits.
func TestMLSClientConversation(t *testing.T) {
	harness.ForEachDatabase(t, func(t *testing.T, db harness.DB) {
		ctx := context.Background()
		w := blueprintThreeServers(t, db)
		alice, bob, carol, dan := w.alice, w.bob, w.carol, w.dan
		roomID := blueprintMLSRoom(t, w)

		// Chat both ways across servers.
		alice.says(roomID, "hello bob")
		if got := bob.reads(roomID, "hello bob"); got.Sender != alice.UserID() || got.SenderDevice != alice.DeviceID() {
			t.Fatalf("bob read %+v", got)
		}
		bob.says(roomID, "hi alice")
		alice.reads(roomID, "hi alice")

		// Bob adds his laptop (an Add and Welcome, no member event); it
		// reads what is sent next. Then he removes it; it reads nothing
		// more.
		laptop := newDevice(t, w.b, "bob", "bob-laptop")
		if err := bob.AddDevice(ctx, roomID, laptop.DeviceID()); err != nil {
			t.Fatalf("adding bob's laptop: %v", err)
		}
		laptop.await("the Welcome", func(e mlsclient.Entry) bool { return e.Kind == mlsclient.KindGroup && e.RoomID == roomID })
		alice.says(roomID, "welcome, laptop")
		laptop.reads(roomID, "welcome, laptop")
		if !slices.Contains(alice.groupDevicesAfterSync(roomID), laptop.device()) {
			t.Fatalf("alice's group lacks the laptop: %v", alice.groupDevices(roomID))
		}
		if err := bob.RemoveDevice(ctx, roomID, laptop.DeviceID()); err != nil {
			t.Fatalf("removing the laptop: %v", err)
		}
		alice.says(roomID, "after the laptop left")
		bob.reads(roomID, "after the laptop left")
		laptop.cannotRead(roomID)

		// Carol (on C, a server not in the room yet) joins by external
		// commit: alice makes invites notional (history visibility
		// "joined") and invites her; her join carries the external commit.
		if _, err := alice.API().SendState(ctx, roomID, "m.room.history_visibility", "", map[string]any{"history_visibility": "joined"}); err != nil {
			t.Fatal(err)
		}
		if err := alice.Invite(ctx, roomID, carol.UserID()); err != nil {
			t.Fatalf("inviting carol: %v", err)
		}
		carol.await("the invite", func(e mlsclient.Entry) bool { return e.Kind == mlsclient.KindInvite && e.RoomID == roomID })
		if _, err := carol.Join(ctx, roomID, string(w.a.Name)); err != nil {
			t.Fatalf("carol joins by external commit: %v", err)
		}
		for _, p := range []*person{alice, bob} {
			p.await("carol's join", func(e mlsclient.Entry) bool {
				return e.Kind == mlsclient.KindMembership && e.RoomID == roomID && e.Text == carol.UserID()+" joined"
			})
		}
		carol.says(roomID, "hi, carol here")
		alice.reads(roomID, "hi, carol here")
		bob.reads(roomID, "hi, carol here")

		// Dan (on B) is invited with an Add and Welcome again (history
		// visibility back to "shared").
		if _, err := alice.API().SendState(ctx, roomID, "m.room.history_visibility", "", map[string]any{"history_visibility": "shared"}); err != nil {
			t.Fatal(err)
		}
		if err := alice.Invite(ctx, roomID, dan.UserID()); err != nil {
			t.Fatalf("inviting dan: %v", err)
		}
		dan.await("the Welcome", func(e mlsclient.Entry) bool {
			return e.Kind == mlsclient.KindGroup && e.RoomID == roomID && strings.Contains(e.Text, "from a Welcome")
		})
		if _, err := dan.Join(ctx, roomID, string(w.a.Name)); err != nil {
			t.Fatalf("dan joins: %v", err)
		}
		dan.says(roomID, "hi all")
		for _, p := range []*person{alice, bob, carol} {
			p.reads(roomID, "hi all")
		}
		for _, p := range []*person{alice, bob, carol, dan} {
			if notice := firstNotice(t, p, "does not match"); notice != "" {
				t.Fatalf("%s found a member event whose commit does not match: %s", p.name, notice)
			}
		}

		// Bob leaves: the DS removes his device; the next message is
		// sent after the removal is committed, and bob cannot read it.
		if err := bob.Leave(ctx, roomID); err != nil {
			t.Fatal(err)
		}
		alice.await("bob's removal proposal", func(e mlsclient.Entry) bool {
			return e.Kind == mlsclient.KindGroup && e.RoomID == roomID && strings.Contains(e.Text, "proposed")
		})
		alice.says(roomID, "bob has gone")
		carol.reads(roomID, "bob has gone")
		if slices.Contains(carol.groupDevices(roomID), bob.device()) {
			t.Fatalf("bob's device is still in the group: %v", carol.groupDevices(roomID))
		}
		carol.says(roomID, "still here")
		alice.reads(roomID, "still here")

		// Carol loses her state of the room and recovers it from the DS:
		// she reads what comes next; what came before stays unreadable.
		alice.says(roomID, "before carol's loss")
		if err := carol.ForgetRoom(ctx, roomID); err != nil {
			t.Fatal(err)
		}
		start := carol.next
		epoch, err := carol.Recover(ctx, roomID)
		if err != nil {
			t.Fatalf("carol recovers: %v", err)
		}
		carol.await("the recovery notice", func(e mlsclient.Entry) bool {
			return e.Kind == mlsclient.KindNotice && strings.Contains(e.Text, "cannot be decrypted")
		})
		carol.next = start
		lost := carol.cannotRead(roomID)
		if !strings.Contains(lost.Error, "recovered") && !strings.Contains(lost.Error, "epoch") {
			t.Fatalf("carol's undecryptable message does not say why: %+v", lost)
		}
		alice.says(roomID, "after carol's recovery")
		carol.reads(roomID, "after carol's recovery")
		if e := alice.epoch(roomID); e < epoch {
			t.Fatalf("alice at epoch %d, carol recovered at %d", e, epoch)
		}

		// A commit race: alice and carol commit at once; one wins the
		// epoch, the other catches up and commits on top.
		before := alice.epochAfterSync(roomID)
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, p := range []*person{alice, carol} {
			wg.Go(func() { errs[i] = p.Rekey(ctx, roomID) })
		}
		wg.Wait()
		if err = errors.Join(errs...); err != nil {
			t.Fatalf("racing commits: %v", err)
		}
		log, err := alice.API().MLSCommits(ctx, roomID, before+1, 0)
		if err != nil || commitsIn(log.Entries) != 2 {
			t.Fatalf("the DS's log after the race: %+v %v", log, err)
		}
		if a, c := alice.epochAfterSync(roomID), carol.epochAfterSync(roomID); a != before+2 || c != before+2 {
			t.Fatalf("after the race alice is at %d, carol at %d, want %d", a, c, before+2)
		}
		carol.says(roomID, "after the race")
		alice.reads(roomID, "after the race")

		// The DS's server stops. Alice (on it) gets a clear error; carol
		// (on C) gets no answer, keeps her pending commit, and it goes
		// through once A is back.
		w.a.Stop(t)
		if err = alice.Rekey(ctx, roomID); !errors.Is(err, matrix.ErrUnreachable) {
			t.Fatalf("a commit with the DS's server down, from its server: %v", err)
		}
		impatient, err := mlsclient.Open(mlsclient.Profile{Dir: carol.profile.Dir, Key: carol.profile.Key, DSWait: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		err = impatient.Rekey(ctx, roomID)
		if !errors.Is(err, mlsclient.ErrNoAnswer) {
			t.Fatalf("a commit with the DS's server down, from another server: %v", err)
		}
		pendingEpoch := carol.epoch(roomID)
		if err = carol.Rekey(ctx, roomID); !errors.Is(err, mlsroom.ErrPending) {
			t.Fatalf("a second commit while one is pending: %v", err)
		}
		w.a.Start(t)
		carol.await("her pending commit", func(e mlsclient.Entry) bool {
			return e.Kind == mlsclient.KindGroup && e.RoomID == roomID && e.Epoch == pendingEpoch+1 && strings.Contains(e.Text, "this device")
		})
		carol.says(roomID, "the DS is back")
		alice.reads(roomID, "the DS is back")
	})
}

// firstNotice returns the first notice in p's journal whose error contains
// text, or "".
func firstNotice(t *testing.T, p *person, text string) string {
	t.Helper()
	entries, _, err := p.Journal(context.Background(), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Kind == mlsclient.KindNotice && strings.Contains(e.Error, text) {
			return e.Error
		}
	}
	return ""
}

func commitsIn(entries []api.LogEntry) int {
	n := 0
	for _, e := range entries {
		if e.Kind == "commit" {
			n++
		}
	}
	return n
}

// epochAfterSync syncs p once and returns its epoch of roomID.
func (p *person) epochAfterSync(roomID string) uint64 {
	p.t.Helper()
	if err := p.Sync(context.Background(), 0); err != nil {
		p.t.Fatal(err)
	}
	return p.epoch(roomID)
}

// groupDevicesAfterSync syncs p once and returns its group's devices.
func (p *person) groupDevicesAfterSync(roomID string) []string {
	p.t.Helper()
	if err := p.Sync(context.Background(), 0); err != nil {
		p.t.Fatal(err)
	}
	return p.groupDevices(roomID)
}

// Bob replaces his device: he logs in a new one and logs the old one out.
// The DS proposes the old device's removal; the new device joins the group
// by external commit all the same (it cannot cover that Remove and is not
// held to it), the DS proposes the removal again in the new epoch, and
// alice's next message is sent after a commit that removes the old device.
func TestMLSClientReplacedDevice(t *testing.T) {
	harness.ForEachDatabase(t, func(t *testing.T, db harness.DB) {
		ctx := context.Background()
		w := blueprintThreeServers(t, db)
		alice, bob := w.alice, w.bob
		roomID := blueprintMLSRoom(t, w)
		alice.says(roomID, "hello bob")
		bob.reads(roomID, "hello bob")

		phone := newDevice(t, w.b, "bob", "bob-phone")
		old := bob.device()
		if err := bob.API().Logout(ctx); err != nil {
			t.Fatalf("logging bob's old device out: %v", err)
		}
		alice.await("the old device's removal proposal", func(e mlsclient.Entry) bool {
			return e.Kind == mlsclient.KindGroup && e.RoomID == roomID && strings.Contains(e.Text, "proposed")
		})
		if _, err := phone.Recover(ctx, roomID); err != nil {
			t.Fatalf("bob's new device joins the group: %v", err)
		}
		alice.says(roomID, "hello bob's phone")
		phone.reads(roomID, "hello bob's phone")
		if devices := alice.groupDevices(roomID); slices.Contains(devices, old) || !slices.Contains(devices, phone.device()) {
			t.Fatalf("alice's group: %v; want bob's phone and not %s", devices, old)
		}
		phone.says(roomID, "new phone, who dis")
		alice.reads(roomID, "new phone, who dis")
	})
}
