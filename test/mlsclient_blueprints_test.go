package test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mlsclient "github.com/matrix-org/dendrite/msc4244/client"
	"github.com/matrix-org/dendrite/msc4244/client/matrix"
	"github.com/matrix-org/dendrite/msc4244/client/store"
	"github.com/matrix-org/dendrite/msc4244/test/harness"
)

// Blueprints are the named starting states of the client scenarios: each
// runs real servers and drives them only through the MLS client SDK
// (package client), as a user's client would.

// person is one device of a user, driven through the SDK, with its
// position in its journal.
type person struct {
	*mlsclient.Client
	t       *testing.T
	name    string
	profile mlsclient.Profile
	next    uint64
}

// sdkKey keeps Argon2id cheap in tests (the store's own tests cover it).
func sdkKey(name string) store.Key {
	return store.PassphraseWithCost("passphrase of "+name, store.Argon2Params{Time: 1, MemoryKiB: 64, Threads: 1})
}

// newPerson registers localpart on s through the SDK.
func newPerson(t *testing.T, s *harness.Server, localpart string) *person {
	t.Helper()
	p := mlsclient.Profile{Dir: filepath.Join(t.TempDir(), localpart), Key: sdkKey(localpart)}
	c, err := mlsclient.Register(context.Background(), p, s.ClientURL, matrix.RegisterRequest{Username: localpart, Password: harness.Password})
	if err != nil {
		t.Fatalf("registering %s: %v", localpart, err)
	}
	return &person{Client: c, t: t, name: localpart, profile: p}
}

// newDevice logs user (on s) in as another device with its own profile.
func newDevice(t *testing.T, s *harness.Server, user, name string) *person {
	t.Helper()
	p := mlsclient.Profile{Dir: filepath.Join(t.TempDir(), name), Key: sdkKey(name)}
	c, err := mlsclient.Login(context.Background(), p, s.ClientURL, matrix.LoginRequest{User: user, Password: harness.Password})
	if err != nil {
		t.Fatalf("logging %s in as %s: %v", user, name, err)
	}
	return &person{Client: c, t: t, name: name, profile: p}
}

// await syncs until the person's journal holds an entry that passes match,
// and returns it.
func (p *person) await(what string, match func(mlsclient.Entry) bool) mlsclient.Entry {
	p.t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(syncTimeout)
	for {
		entries, next, err := p.Journal(ctx, p.next, 0)
		if err != nil {
			p.t.Fatal(err)
		}
		for _, e := range entries {
			if match(e) {
				p.next = e.Seq + 1 // later entries stay for the next await
				return e
			}
		}
		p.next = next
		if time.Now().After(deadline) {
			all, _, _ := p.Journal(ctx, 0, 0)
			p.t.Fatalf("%s: no %s within %s; its journal:\n%s", p.name, what, syncTimeout, journalText(all))
		}
		if err = p.Sync(ctx, time.Second); err != nil && !mlsclient.Transient(err) {
			p.t.Fatalf("%s syncing: %v", p.name, err)
		}
	}
}

// reads waits until the person decrypted text in roomID and returns the
// entry.
func (p *person) reads(roomID, text string) mlsclient.Entry {
	p.t.Helper()
	return p.await("message "+text, func(e mlsclient.Entry) bool {
		return e.Kind == mlsclient.KindMessage && e.RoomID == roomID && e.Text == text
	})
}

// cannotRead waits until the person's journal shows a message in roomID it
// could not decrypt (what it was sent after), and returns the entry.
func (p *person) cannotRead(roomID string) mlsclient.Entry {
	p.t.Helper()
	return p.await("an undecryptable message", func(e mlsclient.Entry) bool {
		return e.Kind == mlsclient.KindUndecryptable && e.RoomID == roomID
	})
}

// says sends text to roomID.
func (p *person) says(roomID, text string) {
	p.t.Helper()
	if _, err := p.SendText(context.Background(), roomID, text); err != nil {
		p.t.Fatalf("%s sending %q: %v", p.name, text, err)
	}
}

// epoch returns the person's MLS epoch of roomID.
func (p *person) epoch(roomID string) uint64 {
	p.t.Helper()
	_, epoch, err := p.GroupMembers(context.Background(), roomID)
	if err != nil {
		p.t.Fatalf("%s: %v", p.name, err)
	}
	return epoch
}

// groupDevices returns "user/device" of every device in the person's view
// of roomID's group.
func (p *person) groupDevices(roomID string) []string {
	p.t.Helper()
	devices, _, err := p.GroupMembers(context.Background(), roomID)
	if err != nil {
		p.t.Fatalf("%s: %v", p.name, err)
	}
	out := make([]string, len(devices))
	for i, d := range devices {
		out[i] = d.String()
	}
	return out
}

func (p *person) device() string { return p.UserID() + "/" + p.DeviceID() }

// threeServers is the blueprint "three servers A, B, C; alice on A, bob
// and dan on B, carol on C, each with one device".
type threeServers struct {
	d                      *harness.Deployment
	a, b, c                *harness.Server
	alice, bob, carol, dan *person
}

func blueprintThreeServers(t *testing.T, db harness.DB) *threeServers {
	d := harness.Deploy(t, db, 3)
	w := &threeServers{d: d, a: d.Servers[0], b: d.Servers[1], c: d.Servers[2]}
	w.alice = newPerson(t, w.a, "alice")
	w.bob = newPerson(t, w.b, "bob")
	w.carol = newPerson(t, w.c, "carol")
	w.dan = newPerson(t, w.b, "dan")
	return w
}

// blueprintMLSRoom is "one MLS room, DS on A, alice on A and bob on B in
// it": alice creates the room (history shared), invites bob with an Add
// and Welcome, and bob joins after the Welcome. It returns the room ID.
func blueprintMLSRoom(t *testing.T, w *threeServers) string {
	t.Helper()
	ctx := context.Background()
	roomID, err := w.alice.CreateRoom(ctx, mlsclient.CreateRoomOptions{Name: "plans"})
	if err != nil {
		t.Fatalf("creating the room: %v", err)
	}
	if err = w.alice.Invite(ctx, roomID, w.bob.UserID()); err != nil {
		t.Fatalf("inviting bob: %v", err)
	}
	start := w.bob.next
	w.bob.await("the Welcome", func(e mlsclient.Entry) bool {
		return e.Kind == mlsclient.KindGroup && e.RoomID == roomID && strings.Contains(e.Text, "joined the group from a Welcome")
	})
	w.bob.next = start // the invite may come before or after the Welcome
	w.bob.await("the invite", func(e mlsclient.Entry) bool { return e.Kind == mlsclient.KindInvite && e.RoomID == roomID })
	if _, err = w.bob.Join(ctx, roomID, string(w.a.Name)); err != nil {
		t.Fatalf("bob joins: %v", err)
	}
	w.alice.await("bob's join", func(e mlsclient.Entry) bool {
		return e.Kind == mlsclient.KindMembership && e.RoomID == roomID && e.Text == w.bob.UserID()+" joined"
	})
	return roomID
}

// journalText lists journal entries, one per line, for failure messages.
func journalText(entries []mlsclient.Entry) string {
	var b strings.Builder
	for _, e := range entries {
		fmt.Fprintf(&b, "  %d %s %s %s/%s epoch=%d %q %s\n", e.Seq, e.Kind, e.RoomID, e.Sender, e.SenderDevice, e.Epoch, e.Text, e.Error)
	}
	return b.String()
}
