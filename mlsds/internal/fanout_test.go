package internal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/matrix-org/dendrite/msc4244/mlsds/api"
	"github.com/matrix-org/dendrite/msc4244/mlsds/storage"
	"github.com/matrix-org/dendrite/msc4244/mlsds/storage/tables"
)

// recorder is a ToDeviceSender that records what it sends, or fails.
type recorder struct {
	mu   sync.Mutex
	sent []string
	fail bool
}

func (r *recorder) SendToDevices(_ context.Context, sender, eventType string, _ json.RawMessage, devices []api.Device) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail {
		return errors.New("JetStream is down")
	}
	for _, d := range devices {
		r.sent = append(r.sent, fmt.Sprintf("%s>%s/%s:%s", sender, d.UserID, d.DeviceID, eventType))
	}
	return nil
}

// storeFanOuts appends two commits whose fan-outs are left in the outbox,
// as after a crash between append and fan-out; their payloads are lists of
// deliveries, as the DS stored them before it had invites to send.
func storeFanOuts(t *testing.T, db storage.Database) {
	t.Helper()
	ctx := context.Background()
	sender := api.Device{UserID: "@alice:ds.example", DeviceID: "A"}
	room := func(epoch uint64) *tables.Room {
		return &tables.Room{RoomID: testRoom, Epoch: epoch, GroupState: []byte("s"), GroupInfo: []byte("gi")}
	}
	if err := db.CreateGroup(ctx, room(0), &tables.LogEntry{RoomID: testRoom, Kind: api.KindGenesis, Message: []byte("g"), Sender: sender}); err != nil {
		t.Fatal(err)
	}
	for epoch := uint64(1); epoch <= 2; epoch++ {
		f := &fanOut{}
		f.add(api.EventCommit, api.CommitContent{RoomID: testRoom, Epoch: epoch}, []api.Device{sender, {UserID: "@bob:x.example", DeviceID: "B"}})
		payload, err := json.Marshal(f.Deliveries)
		if err != nil {
			t.Fatal(err)
		}
		entry := &tables.LogEntry{RoomID: testRoom, Epoch: epoch, Kind: api.KindCommit, Message: []byte{byte(epoch)}, Sender: sender}
		if _, err = db.Append(ctx, epoch-1, room(epoch), entry, payload); err != nil {
			t.Fatal(err)
		}
	}
}

func pending(t *testing.T, db storage.Database) int {
	t.Helper()
	items, err := db.PendingFanOuts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return len(items)
}

// A new DS sends what the outbox holds, in order, before it serves.
func TestOutboxResentAtStart(t *testing.T) {
	_, db := newTestDS(t, memberships{})
	storeFanOuts(t, db)
	out := &recorder{}
	if _, err := New(context.Background(), "ds.example", db, NewPublicView(time.Now), nil, memberships{}, out); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprint([]string{
		"@:ds.example>@alice:ds.example/A:m.mls.commit", "@:ds.example>@bob:x.example/B:m.mls.commit",
		"@:ds.example>@alice:ds.example/A:m.mls.commit", "@:ds.example>@bob:x.example/B:m.mls.commit",
	})
	if got := fmt.Sprint(out.sent); got != want {
		t.Fatalf("sent %s, want %s", got, want)
	}
	if n := pending(t, db); n != 0 {
		t.Fatalf("%d items left in the outbox after sending", n)
	}
}

// A fan-out that cannot be sent stays in the outbox, and RunOutbox sends it
// once sending works again.
func TestOutboxKeepsFailedFanOuts(t *testing.T) {
	_, db := newTestDS(t, memberships{})
	storeFanOuts(t, db)
	out := &recorder{fail: true}
	ds, err := New(context.Background(), spec.ServerName("ds.example"), db, NewPublicView(time.Now), nil, memberships{}, out)
	if err != nil {
		t.Fatal(err)
	}
	if n := pending(t, db); n != 2 {
		t.Fatalf("%d items in the outbox, want the 2 unsent", n)
	}
	out.mu.Lock()
	out.fail = false
	out.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		ds.RunOutbox(ctx)
		close(done)
	}()
	deadline := time.Now().Add(3 * outboxRetryInterval)
	for pending(t, db) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the failed fan-outs were not sent again")
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	<-done
	out.mu.Lock()
	defer out.mu.Unlock()
	if len(out.sent) != 4 {
		t.Fatalf("sent %v, want 4 messages", out.sent)
	}
}

// inviteRules are membership rules whose SendInvite fails until told not
// to, and records the invites it sends.
type inviteRules struct {
	mu     sync.Mutex
	fail   error
	sent   []string
	called int
}

func (r *inviteRules) CheckCommit(context.Context, *api.MembershipCommit) (*api.Invite, error) {
	return nil, errors.New("not used")
}

func (r *inviteRules) SendInvite(_ context.Context, inv *api.Invite) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.called++
	if r.fail != nil {
		return r.fail
	}
	r.sent = append(r.sent, inv.Invitee)
	return nil
}

func (r *inviteRules) state() (called int, sent []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.called, slices.Clone(r.sent)
}

// storeInvite appends a commit whose fan-out, left in the outbox, has the
// invite of carol sent.
func storeInvite(t *testing.T, db storage.Database) {
	t.Helper()
	ctx := context.Background()
	sender := api.Device{UserID: "@alice:ds.example", DeviceID: "A"}
	room := &tables.Room{RoomID: testRoom, Epoch: 0, GroupState: []byte("s"), GroupInfo: []byte("gi")}
	if err := db.CreateGroup(ctx, room, &tables.LogEntry{RoomID: testRoom, Kind: api.KindGenesis, Message: []byte("g"), Sender: sender}); err != nil {
		t.Fatal(err)
	}
	f := &fanOut{Invite: &api.Invite{RoomID: testRoom, Inviter: sender.UserID, Invitee: "@carol:y.example", MLSCommit: "Y29tbWl0"}}
	f.add(api.EventCommit, api.CommitContent{RoomID: testRoom, Epoch: 1}, []api.Device{sender})
	payload, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	room.Epoch = 1
	entry := &tables.LogEntry{RoomID: testRoom, Epoch: 1, Kind: api.KindCommit, Message: []byte("c"), Sender: sender}
	if _, err = db.Append(ctx, 0, room, entry, payload); err != nil {
		t.Fatal(err)
	}
}

// The invite of an accepted commit is part of its fan-out: stored with it,
// sent after a restart, tried again (without sending the to-device
// messages again) until it is sent, and then removed from the outbox; an
// invite the room's rules refuse is given up.
func TestOutboxSendsInvites(t *testing.T) {
	for _, refused := range []bool{false, true} {
		t.Run(fmt.Sprintf("refused=%v", refused), func(t *testing.T) {
			_, db := newTestDS(t, memberships{})
			storeInvite(t, db)
			out := &recorder{}
			ds, err := New(context.Background(), "ds.example", db, NewPublicView(time.Now), nil, memberships{}, out)
			if err != nil {
				t.Fatal(err)
			}
			rules := &inviteRules{fail: errors.New("the inviter's server does not answer")}
			if refused {
				rules.fail = fmt.Errorf("%w: not allowed", api.ErrInviteRefused)
			}
			ds.SetMembership(rules)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() {
				ds.RunOutbox(ctx)
				close(done)
			}()
			defer func() {
				cancel()
				<-done
			}()
			deadline := time.Now().Add(4 * outboxRetryInterval)
			for called, _ := rules.state(); called == 0; called, _ = rules.state() {
				if time.Now().After(deadline) {
					t.Fatal("the invite was not tried")
				}
				time.Sleep(50 * time.Millisecond)
			}
			if !refused {
				if n := pending(t, db); n != 1 {
					t.Fatalf("%d items in the outbox while the invite fails, want 1", n)
				}
				rules.mu.Lock()
				rules.fail = nil
				rules.mu.Unlock()
			}
			for pending(t, db) != 0 {
				if time.Now().After(deadline) {
					t.Fatal("the fan-out stayed in the outbox")
				}
				time.Sleep(50 * time.Millisecond)
			}
			_, sent := rules.state()
			if want := map[bool]int{false: 1, true: 0}[refused]; len(sent) != want {
				t.Fatalf("invites sent: %v, want %d", sent, want)
			}
			out.mu.Lock()
			defer out.mu.Unlock()
			if len(out.sent) != 1 {
				t.Fatalf("to-device messages sent: %v, want the one m.mls.commit once", out.sent)
			}
		})
	}
}
