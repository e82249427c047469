package client

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/matrix-org/dendrite/msc4244/client/matrix"
	"github.com/matrix-org/dendrite/msc4244/client/mlsroom"
	"github.com/matrix-org/dendrite/msc4244/client/store"
	"github.com/matrix-org/dendrite/msc4244/mlsds/api"
	"github.com/matrix-org/dendrite/msc4244/test/harness"
)

// cheapKey keeps Argon2id fast in tests.
func cheapKey(passphrase string) store.Key {
	return store.PassphraseWithCost(passphrase, store.Argon2Params{Time: 1, MemoryKiB: 64, Threads: 1})
}

func profile(t *testing.T, name string) Profile {
	return Profile{Dir: filepath.Join(t.TempDir(), name), Key: cheapKey("pass of " + name)}
}

func register(t *testing.T, s *harness.Server, localpart string) *Client {
	t.Helper()
	c, err := Register(context.Background(), profile(t, localpart), s.ClientURL, matrix.RegisterRequest{Username: localpart, Password: harness.Password})
	if err != nil {
		t.Fatalf("registering %s: %v", localpart, err)
	}
	return c
}

// syncUntil syncs c until its journal from *next on holds an entry that
// passes match, and returns it.
func syncUntil(t *testing.T, c *Client, next *uint64, what string, match func(Entry) bool) Entry {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		entries, after, err := c.Journal(ctx, *next, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if match(e) {
				*next = e.Seq + 1 // later entries stay for the next wait
				return e
			}
		}
		*next = after
		if err = c.Sync(ctx, time.Second); err != nil {
			t.Fatalf("%s syncing: %v", c.UserID(), err)
		}
	}
	t.Fatalf("%s: no journal entry for %s within 30 s", c.UserID(), what)
	return Entry{}
}

// The Matrix half of the client against two running servers: accounts and
// profiles, device keys, MLS rooms, invites, the journal, the DS's answers
// locally and across servers, logout.
func TestMatrixHalf(t *testing.T) {
	ctx := context.Background()
	d := harness.Deploy(t, harness.SQLite, 2)
	a, b := d.Servers[0], d.Servers[1]
	alice := register(t, a, "alice")
	bob := register(t, b, "bob")

	// Registration: the profile holds the account; a taken name leaves
	// no profile behind; a profile folder is never overwritten.
	if alice.UserID() != a.UserID("alice") || alice.DeviceID() == "" || alice.ServerName() != string(a.Name) {
		t.Fatalf("alice: %s %s", alice.UserID(), alice.DeviceID())
	}
	taken := profile(t, "taken")
	_, err := Register(ctx, taken, a.ClientURL, matrix.RegisterRequest{Username: "alice", Password: "long enough password"})
	if matrix.ErrCode(err) != "M_USER_IN_USE" {
		t.Fatalf("registering a taken name: %v", err)
	}
	if entries, _ := os.ReadDir(filepath.Dir(taken.Dir)); len(entries) != 0 {
		t.Fatalf("a failed registration left %d files", len(entries))
	}
	if _, err = Login(ctx, Profile{Dir: alice.store.Dir(), Key: cheapKey("x")}, a.ClientURL, matrix.LoginRequest{User: "alice", Password: harness.Password}); err == nil {
		t.Fatal("login into an existing profile folder")
	}

	// Reopening needs the right passphrase.
	if _, err = Open(Profile{Dir: alice.store.Dir(), Key: cheapKey("wrong")}); !errors.Is(err, store.ErrWrongKey) {
		t.Fatalf("wrong passphrase: %v", err)
	}
	if _, err = Open(Profile{Dir: filepath.Join(t.TempDir(), "none"), Key: cheapKey("x")}); !errors.Is(err, ErrNoProfile) {
		t.Fatalf("missing profile: %v", err)
	}
	reopened, err := Open(Profile{Dir: alice.store.Dir(), Key: cheapKey("pass of alice")})
	if err != nil || reopened.DeviceID() != alice.DeviceID() || reopened.Ed25519() != alice.Ed25519() {
		t.Fatalf("reopened: %v", err)
	}

	// A second device by login; both devices' keys are published, signed,
	// and visible from the other server.
	alice2, err := Login(ctx, profile(t, "alice2"), a.ClientURL, matrix.LoginRequest{User: "alice", Password: harness.Password})
	if err != nil {
		t.Fatal(err)
	}
	devices, err := bob.Devices(ctx, alice.UserID())
	if err != nil {
		t.Fatal(err)
	}
	if len(devices) != 2 {
		t.Fatalf("bob sees %d devices of alice: %+v", len(devices), devices)
	}
	for _, dev := range devices {
		want := map[string]string{alice.DeviceID(): alice.Ed25519(), alice2.DeviceID(): alice2.Ed25519()}[dev.DeviceID]
		if !dev.Verified || dev.Ed25519 != want {
			t.Fatalf("device %+v, want verified with key %q", dev, want)
		}
	}
	if _, err = bob.Devices(ctx, a.UserID("nobody")); !errors.Is(err, ErrNoDevices) {
		t.Fatalf("devices of a user without any: %v", err)
	}

	// An MLS room: alice's server is its DS, which accepted the group's
	// genesis from alice's device.
	mlsRoom, err := alice.CreateRoom(ctx, CreateRoomOptions{Name: "plans"})
	if err != nil {
		t.Fatal(err)
	}
	r, found, err := alice.loadRoom(mlsRoom)
	if err != nil || !found || !r.MLS || r.DS != string(a.Name) || !r.Group.Member() || r.Group.Epoch != 0 || r.Genesis != nil {
		t.Fatalf("alice's record of the room: %+v %v %v", r, found, err)
	}
	create, err := alice.api.StateContent(ctx, mlsRoom, "m.room.create", "")
	if err != nil || api.EncryptionAlgorithmOf(create) != api.EncryptionAlgorithm {
		t.Fatalf("create event: %s %v", create, err)
	}
	log, err := alice.api.MLSCommits(ctx, mlsRoom, 0, 0)
	if err != nil || len(log.Entries) != 1 || log.Entries[0].Kind != api.KindGenesis || log.Entries[0].Sender.DeviceID != alice.DeviceID() {
		t.Fatalf("the DS's log: %+v %v", log, err)
	}
	members, _, err := alice.GroupMembers(ctx, mlsRoom)
	if err != nil || len(members) != 1 || members[0].DeviceID != alice.DeviceID() {
		t.Fatalf("group members %v %v", members, err)
	}

	// A room without MLS for the Matrix flows: bob learns it from the
	// invite.
	roomID, err := alice.api.CreateRoom(ctx, map[string]any{"preset": "public_chat"})
	if err != nil {
		t.Fatal(err)
	}
	var bobNext uint64
	if err = alice.Invite(ctx, roomID, bob.UserID()); err != nil {
		t.Fatal(err)
	}
	inv := syncUntil(t, bob, &bobNext, "the invite", func(e Entry) bool { return e.Kind == KindInvite && e.RoomID == roomID })
	if inv.Sender != alice.UserID() {
		t.Fatalf("invite entry %+v", inv)
	}
	br, found, err := bob.loadRoom(roomID)
	if err != nil || !found || br.MLS || br.DS != string(a.Name) {
		t.Fatalf("bob's record of the room: %+v %v %v", br, found, err)
	}
	if rooms, err := bob.Rooms(ctx); err != nil || len(rooms) != 1 || rooms[0] != roomID { // before the MLS room below
		t.Fatalf("bob's rooms: %v %v", rooms, err)
	}

	// The DS answers a malformed message, for a local and a remote
	// device alike; the answer reaches sendToDS through the sync.
	// (bob knows the room as an MLS room of A's DS, as from an invite.)
	if err = bob.locked(ctx, func() error { return bob.saveRoom(&room{RoomID: mlsRoom, DS: string(a.Name), MLS: true}) }); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*Client{alice, bob} {
		msg := []byte("not*base64")
		answer, err := c.sendToDS(ctx, &room{RoomID: mlsRoom, DS: string(a.Name)}, msg, &api.MessageContent{RoomID: mlsRoom, Message: string(msg)}, 30*time.Second)
		if err != nil || answer.Accepted || answer.ErrCode != string(api.ErrBadRequest) {
			t.Fatalf("%s: answer %+v, %v", c.UserID(), answer, err)
		}
	}
	rejected, _, err := bob.Journal(ctx, bobNext, 0)
	if err != nil || !slices.ContainsFunc(rejected, func(e Entry) bool { return e.Kind == KindRejected && e.ErrCode == "M_MLS_BAD_REQUEST" }) {
		t.Fatalf("bob's journal lacks the rejection: %+v %v", rejected, err)
	}

	// Membership and unencrypted messages appear in the journal.
	if _, err = bob.api.Join(ctx, roomID, []string{string(a.Name)}, nil); err != nil {
		t.Fatal(err)
	}
	var aliceNext uint64
	syncUntil(t, alice, &aliceNext, "bob's join", func(e Entry) bool {
		return e.Kind == KindMembership && e.Text == bob.UserID()+" joined"
	})
	if _, err = alice.api.SendEvent(ctx, roomID, "m.room.message", "t1", map[string]any{"msgtype": "m.text", "body": "plain"}); err != nil {
		t.Fatal(err)
	}
	msg := syncUntil(t, bob, &bobNext, "alice's message", func(e Entry) bool { return e.Kind == KindMessage })
	if msg.Sender != alice.UserID() || !strings.Contains(msg.Text, "plain") || msg.RoomID != roomID {
		t.Fatalf("message entry %+v", msg)
	}
	matrixMembers, err := bob.Members(ctx, roomID)
	if err != nil || len(matrixMembers) != 2 || matrixMembers[0].Membership != "join" || matrixMembers[1].Membership != "join" {
		t.Fatalf("members %+v %v", matrixMembers, err)
	}

	// KeyPackages: claimed ones are replaced when the device's server
	// reports few left; each names its device.
	for range TargetKeyPackages - MinKeyPackages + 2 {
		kp, err := bob.claimKeyPackage(ctx, mlsroom.Device{UserID: alice.UserID(), DeviceID: alice.DeviceID()})
		if err != nil {
			t.Fatal(err)
		}
		if err = mlsroom.ClaimedKeyPackage(kp, mlsroom.Device{UserID: alice.UserID(), DeviceID: alice.DeviceID()}); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		if err = alice.Sync(ctx, 0); err != nil {
			t.Fatal(err)
		}
	}
	var kps *keyPackages
	_ = alice.locked(ctx, func() (err error) { kps, err = alice.loadKeyPackages(); return err })
	if kps.Uploaded < MinKeyPackages || kps.LastResort == "" || len(kps.ByID) < TargetKeyPackages+2 {
		t.Fatalf("after claims: %d uploaded, last resort %q, %d private halves", kps.Uploaded, kps.LastResort, len(kps.ByID))
	}

	// Logout ends the device: its token no longer works and Listen stops
	// with the error.
	if err = alice2.Logout(ctx); err != nil {
		t.Fatal(err)
	}
	err = alice2.Listen(ctx, ListenOptions{Poll: time.Second})
	if matrix.ErrCode(err) != "M_UNKNOWN_TOKEN" {
		t.Fatalf("Listen after logout: %v", err)
	}

	// A stopped homeserver is a transient error; state is kept.
	b.Stop(t)
	err = bob.Sync(ctx, 0)
	if !Transient(err) || !errors.Is(err, matrix.ErrUnreachable) {
		t.Fatalf("sync with the server down: %v", err)
	}
	b.Start(t)
	if err = bob.Sync(ctx, 0); err != nil {
		t.Fatalf("sync after the restart: %v", err)
	}
}

// Two processes of one profile syncing at once handle each answer once.
func TestConcurrentSyncsHandleEachAnswerOnce(t *testing.T) {
	ctx := context.Background()
	d := harness.Deploy(t, harness.SQLite, 1)
	s := d.Servers[0]
	alice := register(t, s, "alice")
	bob := register(t, s, "bob")
	roomID, err := alice.api.CreateRoom(ctx, map[string]any{"preset": "public_chat"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err = bob.api.Join(ctx, roomID, nil, nil); err != nil {
		t.Fatal(err)
	}
	other, err := Open(Profile{Dir: bob.store.Dir(), Key: cheapKey("pass of bob")})
	if err != nil {
		t.Fatal(err)
	}
	if err = bob.Sync(ctx, 0); err != nil {
		t.Fatal(err)
	}
	const messages = 40
	for i := range messages {
		if _, err = alice.api.SendEvent(ctx, roomID, "m.room.message", fmt.Sprint("m", i), map[string]any{"body": "x"}); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for _, c := range []*Client{bob, other} {
		wg.Go(func() {
			for range 5 {
				if err := c.Sync(ctx, 200*time.Millisecond); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	entries, _, err := bob.Journal(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	n := 0
	for _, e := range entries {
		if e.Kind == KindMessage {
			seen[e.EventID]++
			n++
		}
	}
	if n != messages || len(seen) != messages {
		t.Fatalf("journal holds %d message entries for %d events, want %d each once", n, len(seen), messages)
	}
}
