package internal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
// as after a crash between append and fan-out.
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
