package storage_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/matrix-org/dendrite/internal/sqlutil"
	"github.com/matrix-org/dendrite/setup/config"
	"github.com/matrix-org/dendrite/setup/process"

	"github.com/matrix-org/dendrite/msc4244/mlsds/api"
	"github.com/matrix-org/dendrite/msc4244/mlsds/storage"
	"github.com/matrix-org/dendrite/msc4244/mlsds/storage/shared"
	"github.com/matrix-org/dendrite/msc4244/mlsds/storage/tables"
	"github.com/matrix-org/dendrite/msc4244/test/harness"
)

const roomID = "!room:ds.example"

var alice = api.Device{UserID: "@alice:ds.example", DeviceID: "ALICE"}

// forEachDatabase runs fn on a fresh SQLite database and on a fresh
// Postgres database (skipped without POSTGRES_HOST, see harness.Postgres).
func forEachDatabase(t *testing.T, fn func(t *testing.T, db storage.Database)) {
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) { fn(t, openDatabase(t, kind)) })
	}
}

// openDatabase opens a new, empty DS database of the given kind.
func openDatabase(t testing.TB, kind string) storage.Database {
	t.Helper()
	var connStr string
	if kind == "sqlite" {
		connStr = "file:" + filepath.Join(t.TempDir(), "mlsds.db")
	} else {
		connStr = harness.Postgres(t).NewDatabase(t)
	}
	processCtx := process.NewProcessContext()
	t.Cleanup(func() {
		processCtx.ShutdownDendrite()
		processCtx.WaitForComponentsToFinish()
	})
	conMan := sqlutil.NewConnectionManager(processCtx, config.DatabaseOptions{})
	db, err := storage.NewDatabase(conMan, &config.DatabaseOptions{
		ConnectionString:   config.DataSource(connStr),
		MaxOpenConnections: 32,
		MaxIdleConnections: 32,
	})
	if err != nil {
		t.Fatalf("opening the %s database: %v", kind, err)
	}
	return db
}

// room returns the state of roomID at epoch, with contents derived from
// the epoch so that tests can tell states apart.
func room(epoch uint64) *tables.Room {
	return &tables.Room{
		RoomID:     roomID,
		Epoch:      epoch,
		GroupState: fmt.Appendf(nil, "state %d", epoch),
		GroupInfo:  fmt.Appendf(nil, "group info %d", epoch),
	}
}

func entry(kind api.LogKind, epoch uint64, message string) *tables.LogEntry {
	return &tables.LogEntry{
		RoomID: roomID, Epoch: epoch, Kind: kind, Message: []byte(message),
		Sender: alice, AcceptedTS: 1700000000000 + int64(epoch),
	}
}

func mustCreate(t testing.TB, db storage.Database) {
	t.Helper()
	if err := db.CreateGroup(context.Background(), room(0), entry(api.KindGenesis, 0, "genesis")); err != nil {
		t.Fatalf("CreateGroup: %v", err)
	}
}

// mustCommit moves the room from epoch to epoch+1.
func mustCommit(t testing.TB, db storage.Database, epoch uint64) {
	t.Helper()
	if _, err := db.Append(context.Background(), epoch, room(epoch+1), entry(api.KindCommit, epoch+1, fmt.Sprintf("commit %d", epoch+1)), []byte("fan-out")); err != nil {
		t.Fatalf("Append commit to epoch %d: %v", epoch+1, err)
	}
}

func mustPropose(t testing.TB, db storage.Database, epoch uint64, message string) {
	t.Helper()
	if _, err := db.Append(context.Background(), epoch, room(epoch), entry(api.KindProposal, epoch, message), []byte("fan-out")); err != nil {
		t.Fatalf("Append proposal in epoch %d: %v", epoch, err)
	}
}

func messages(entries []tables.LogEntry) []string {
	var out []string
	for _, e := range entries {
		out = append(out, fmt.Sprintf("%s/%d/%s", e.Kind, e.Epoch, e.Message))
	}
	return out
}

func mustEntries(t testing.TB, db storage.Database, fromEpoch uint64, limit int) []string {
	t.Helper()
	entries, err := db.Entries(context.Background(), roomID, fromEpoch, limit)
	if err != nil {
		t.Fatalf("Entries: %v", err)
	}
	return messages(entries)
}

func equalStrings(t testing.TB, what string, got, want []string) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("%s:\n got %q\nwant %q", what, got, want)
	}
}

func mustRoom(t testing.TB, db storage.Database) *tables.Room {
	t.Helper()
	r, err := db.Room(context.Background(), roomID)
	if err != nil || r == nil {
		t.Fatalf("Room: %v, %v", r, err)
	}
	return r
}

func mustLogSize(t testing.TB, db storage.Database) int64 {
	t.Helper()
	n, err := db.LogSize(context.Background())
	if err != nil {
		t.Fatalf("LogSize: %v", err)
	}
	return n
}

func TestCreateGroup(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, db storage.Database) {
		ctx := context.Background()
		if r, err := db.Room(ctx, roomID); err != nil || r != nil {
			t.Fatalf("Room before genesis: %v, %v; want nil, nil", r, err)
		}
		mustCreate(t, db)
		got := mustRoom(t, db)
		want := room(0)
		if got.Epoch != 0 || !bytes.Equal(got.GroupState, want.GroupState) || !bytes.Equal(got.GroupInfo, want.GroupInfo) {
			t.Fatalf("room after genesis: %+v", got)
		}
		err := db.CreateGroup(ctx, room(0), entry(api.KindGenesis, 0, "second genesis"))
		if !errors.Is(err, shared.ErrGroupExists) {
			t.Fatalf("second CreateGroup: %v, want ErrGroupExists", err)
		}
		entries, err := db.Entries(ctx, roomID, 0, 10)
		if err != nil || len(entries) != 1 {
			t.Fatalf("Entries: %v, %v", entries, err)
		}
		e := entries[0]
		if e.Kind != api.KindGenesis || e.Epoch != 0 || string(e.Message) != "genesis" || e.Sender != alice || e.AcceptedTS != 1700000000000 || e.RoomID != roomID {
			t.Fatalf("genesis entry: %+v", e)
		}
	})
}

func TestLogOrder(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, db storage.Database) {
		mustCreate(t, db)
		mustPropose(t, db, 0, "p0a")
		mustPropose(t, db, 0, "p0b")
		mustCommit(t, db, 0)
		mustCommit(t, db, 1)
		mustPropose(t, db, 2, "p2")
		mustCommit(t, db, 2)

		all := []string{
			"genesis/0/genesis", "proposal/0/p0a", "proposal/0/p0b",
			"commit/1/commit 1", "commit/2/commit 2", "proposal/2/p2", "commit/3/commit 3",
		}
		equalStrings(t, "whole log", mustEntries(t, db, 0, 100), all)
		equalStrings(t, "from epoch 2", mustEntries(t, db, 2, 100), all[4:])
		equalStrings(t, "limit 2", mustEntries(t, db, 0, 2), all[:2])
		equalStrings(t, "past the end", mustEntries(t, db, 4, 100), nil)

		epoch2, err := db.EpochEntries(context.Background(), roomID, 2)
		if err != nil {
			t.Fatal(err)
		}
		equalStrings(t, "epoch 2", messages(epoch2), all[4:6])
		// The commit that created an epoch, the genesis for 0; none yet for 4.
		for epoch, want := range []string{all[0], all[3], all[4], all[6], ""} {
			e, err := db.Commit(context.Background(), roomID, uint64(epoch))
			got := ""
			if e != nil {
				got = messages([]tables.LogEntry{*e})[0]
			}
			if err != nil || got != want {
				t.Fatalf("Commit(%d) = %q, %v; want %q", epoch, got, err, want)
			}
		}
		if r := mustRoom(t, db); r.Epoch != 3 || string(r.GroupState) != "state 3" {
			t.Fatalf("room after the commits: %+v", r)
		}
		if n := mustLogSize(t, db); n != int64(len(all)) {
			t.Fatalf("LogSize = %d, want %d", n, len(all))
		}
	})
}

// A commit or proposal validated against an epoch the room has left is
// refused and leaves no trace.
func TestAppendStaleEpoch(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, db storage.Database) {
		ctx := context.Background()
		mustCreate(t, db)
		mustCommit(t, db, 0)
		pending := mustPendingIDs(t, db)

		for _, e := range []*tables.LogEntry{entry(api.KindCommit, 1, "late"), entry(api.KindProposal, 0, "late")} {
			if _, err := db.Append(ctx, 0, room(e.Epoch), e, []byte("x")); !errors.Is(err, shared.ErrEpochChanged) {
				t.Fatalf("Append %s from epoch 0: %v, want ErrEpochChanged", e.Kind, err)
			}
		}
		equalStrings(t, "log", mustEntries(t, db, 0, 100), []string{"genesis/0/genesis", "commit/1/commit 1"})
		if r := mustRoom(t, db); r.Epoch != 1 || string(r.GroupState) != "state 1" {
			t.Fatalf("room: %+v", r)
		}
		if got := mustPendingIDs(t, db); fmt.Sprint(got) != fmt.Sprint(pending) {
			t.Fatalf("outbox changed: %v, was %v", got, pending)
		}
	})
}

// The unique index refuses a second commit for an epoch even when the
// rooms row claims an older epoch, and the whole transaction is undone.
func TestAppendUniqueGuard(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, db storage.Database) {
		ctx := context.Background()
		mustCreate(t, db)
		mustCommit(t, db, 0)
		raw := db.(*shared.Database).DB
		if _, err := raw.Exec("UPDATE mlsds_rooms SET epoch = 0, group_state = $1 WHERE room_id = $2", []byte("rewound"), roomID); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Append(ctx, 0, room(1), entry(api.KindCommit, 1, "twin"), []byte("x")); !errors.Is(err, shared.ErrEpochChanged) {
			t.Fatalf("second commit for epoch 1: %v, want ErrEpochChanged", err)
		}
		if r := mustRoom(t, db); r.Epoch != 0 || string(r.GroupState) != "rewound" {
			t.Fatalf("the refused transaction changed the room: %+v", r)
		}
		equalStrings(t, "log", mustEntries(t, db, 0, 100), []string{"genesis/0/genesis", "commit/1/commit 1"})
	})
}

// 64 submitters race for the same epoch: exactly one wins.
func TestAppendRace(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, db storage.Database) {
		mustCreate(t, db)
		mustCommit(t, db, 0)
		const submitters = 64
		errs := make([]error, submitters)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range submitters {
			wg.Go(func() {
				<-start
				_, errs[i] = db.Append(context.Background(), 1, room(2), entry(api.KindCommit, 2, fmt.Sprintf("racer %d", i)), []byte("x"))
			})
		}
		close(start)
		wg.Wait()
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && winner >= 0:
				t.Fatalf("submitters %d and %d both accepted", winner, i)
			case err == nil:
				winner = i
			case !errors.Is(err, shared.ErrEpochChanged):
				t.Fatalf("submitter %d: %v", i, err)
			}
		}
		if winner < 0 {
			t.Fatal("no submitter was accepted")
		}
		epoch2, err := db.EpochEntries(context.Background(), roomID, 2)
		if err != nil {
			t.Fatal(err)
		}
		equalStrings(t, "epoch 2", messages(epoch2), []string{fmt.Sprintf("commit/2/racer %d", winner)})
		if r := mustRoom(t, db); r.Epoch != 2 {
			t.Fatalf("room epoch %d, want 2", r.Epoch)
		}
	})
}

// A proposal leaves the room's GroupInfo as it is: a nil GroupInfo keeps
// the stored one.
func TestAppendKeepsGroupInfo(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, db storage.Database) {
		mustCreate(t, db)
		next := room(0)
		next.GroupInfo = nil
		next.GroupState = []byte("state with a pending proposal")
		if _, err := db.Append(context.Background(), 0, next, entry(api.KindProposal, 0, "p"), []byte("x")); err != nil {
			t.Fatal(err)
		}
		r := mustRoom(t, db)
		if string(r.GroupInfo) != "group info 0" || string(r.GroupState) != "state with a pending proposal" {
			t.Fatalf("room after the proposal: %+v", r)
		}
	})
}

func mustPendingIDs(t testing.TB, db storage.Database) []int64 {
	t.Helper()
	items, err := db.PendingFanOuts(context.Background())
	if err != nil {
		t.Fatalf("PendingFanOuts: %v", err)
	}
	var ids []int64
	for _, item := range items {
		if item.RoomID != roomID {
			t.Fatalf("outbox item of room %q", item.RoomID)
		}
		ids = append(ids, item.ID)
	}
	return ids
}

func TestOutbox(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, db storage.Database) {
		ctx := context.Background()
		mustCreate(t, db)
		var ids []int64
		for epoch := range uint64(3) {
			id, err := db.Append(ctx, epoch, room(epoch+1), entry(api.KindCommit, epoch+1, "c"), fmt.Appendf(nil, "fan-out %d", epoch+1))
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}
		items, err := db.PendingFanOuts(ctx)
		if err != nil || len(items) != 3 {
			t.Fatalf("PendingFanOuts: %v, %v", items, err)
		}
		for i, item := range items {
			if item.ID != ids[i] || string(item.Payload) != fmt.Sprintf("fan-out %d", i+1) {
				t.Fatalf("item %d: %+v, want ID %d", i, item, ids[i])
			}
		}
		if err = db.FanOutsDone(ctx, ids[:2]); err != nil {
			t.Fatal(err)
		}
		if got := mustPendingIDs(t, db); fmt.Sprint(got) != fmt.Sprint(ids[2:]) {
			t.Fatalf("after FanOutsDone: %v, want %v", got, ids[2:])
		}
	})
}
