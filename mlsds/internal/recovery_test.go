package internal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/matrix-org/dendrite/internal/sqlutil"
	rsapi "github.com/matrix-org/dendrite/roomserver/api"
	"github.com/matrix-org/dendrite/setup/config"
	"github.com/matrix-org/dendrite/setup/process"
	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
	"github.com/matrix-org/dendrite/msc4244/mlsds/api"
	"github.com/matrix-org/dendrite/msc4244/mlsds/storage"
	"github.com/matrix-org/dendrite/msc4244/mlsds/storage/tables"
)

const testRoom = "!room:ds.example"

// memberships is a RoomServer that knows users' memberships in testRoom.
type memberships map[string]string

func (m memberships) QueryMembershipForSenderID(_ context.Context, roomID spec.RoomID, senderID spec.SenderID, res *rsapi.QueryMembershipForUserResponse) error {
	res.RoomExists = roomID.String() == testRoom
	res.Membership = m[string(senderID)]
	return nil
}

func (m memberships) QueryRoomVersionForRoom(context.Context, string) (gomatrixserverlib.RoomVersion, error) {
	return "", errors.New("not used")
}

func (m memberships) CurrentStateEvent(context.Context, spec.RoomID, string, string) (gomatrixserverlib.PDU, error) {
	return nil, errors.New("not used")
}

// discard is a ToDeviceSender that sends nothing.
type discard struct{}

func (discard) SendToDevices(context.Context, string, string, json.RawMessage, []api.Device) error {
	return nil
}

func newTestDS(t *testing.T, rs RoomServer) (*DeliveryService, storage.Database) {
	t.Helper()
	processCtx := process.NewProcessContext()
	t.Cleanup(func() {
		processCtx.ShutdownDendrite()
		processCtx.WaitForComponentsToFinish()
	})
	db, err := storage.NewDatabase(sqlutil.NewConnectionManager(processCtx, config.DatabaseOptions{}), &config.DatabaseOptions{
		ConnectionString: config.DataSource("file:" + filepath.Join(t.TempDir(), "mlsds.db")),
	})
	if err != nil {
		t.Fatal(err)
	}
	identity, err := LoadOrCreateIdentity(filepath.Join(t.TempDir(), IdentityFile), "ds.example")
	if err != nil {
		t.Fatal(err)
	}
	ds, err := New(context.Background(), "ds.example", db, NewPublicView(time.Now), identity, rs, discard{})
	if err != nil {
		t.Fatal(err)
	}
	return ds, db
}

// A page of the log holds whole epochs.
func TestCommitsPaging(t *testing.T) {
	ds, db := newTestDS(t, memberships{"@alice:ds.example": spec.Join, "@bob:x.example": spec.Invite, "@eve:x.example": spec.Leave})
	ctx := context.Background()
	sender := api.Device{UserID: "@alice:ds.example", DeviceID: "A"}
	entry := func(kind api.LogKind, epoch uint64, msg string) *tables.LogEntry {
		return &tables.LogEntry{RoomID: testRoom, Epoch: epoch, Kind: kind, Message: []byte(msg), Sender: sender, AcceptedTS: 1}
	}
	group := genesisState(t)
	state := func(epoch uint64) *tables.Room {
		return &tables.Room{RoomID: testRoom, Epoch: epoch, GroupState: group, GroupInfo: []byte("gi")}
	}
	if err := db.CreateGroup(ctx, state(0), entry(api.KindGenesis, 0, "g")); err != nil {
		t.Fatal(err)
	}
	// Log: g/0, c/1, p/1, p/1, p/1, c/2, c/3.
	appendEntry := func(from uint64, e *tables.LogEntry) {
		if _, err := db.Append(ctx, from, state(e.Epoch), e, []byte("[]")); err != nil {
			t.Fatal(err)
		}
	}
	appendEntry(0, entry(api.KindCommit, 1, "c1"))
	for _, p := range []string{"p1a", "p1b", "p1c"} {
		appendEntry(1, entry(api.KindProposal, 1, p))
	}
	appendEntry(1, entry(api.KindCommit, 2, "c2"))
	appendEntry(2, entry(api.KindCommit, 3, "c3"))

	page := func(user string, from uint64, limit int) string {
		res, err := ds.Commits(ctx, user, testRoom, from, limit)
		if err != nil {
			return err.Error()
		}
		s := ""
		for _, e := range res.Entries {
			msg, _ := decodeBase64(e.Message)
			s += fmt.Sprintf("%s/%d ", msg, e.Epoch)
		}
		if res.NextEpoch != nil {
			s += fmt.Sprintf("next=%d", *res.NextEpoch)
		}
		return s
	}
	for _, tc := range []struct {
		from  uint64
		limit int
		want  string
	}{
		{0, 100, "g/0 c1/1 p1a/1 p1b/1 p1c/1 c2/2 c3/3 "},
		{0, 7, "g/0 c1/1 p1a/1 p1b/1 p1c/1 c2/2 c3/3 "},
		{0, 6, "g/0 c1/1 p1a/1 p1b/1 p1c/1 c2/2 next=3"},
		{0, 3, "g/0 next=1"},                    // epoch 1 does not fit: the page ends before it
		{1, 2, "c1/1 p1a/1 p1b/1 p1c/1 next=2"}, // epoch 1 alone is bigger than limit: returned whole
		{2, 1, "c2/2 next=3"},
		{3, 1, "c3/3 "},
		{4, 10, ""},
	} {
		if got := page("@alice:ds.example", tc.from, tc.limit); got != tc.want {
			t.Errorf("from %d limit %d: %q, want %q", tc.from, tc.limit, got, tc.want)
		}
	}
	if got := page("@bob:x.example", 3, 1); got != "c3/3 " {
		t.Errorf("invited user: %q", got)
	}
	for _, user := range []string{"@eve:x.example", "@mallory:x.example"} {
		if _, err := ds.Commits(ctx, user, testRoom, 0, 10); !errors.Is(err, api.ErrNotAllowed) {
			t.Errorf("%s: %v, want ErrNotAllowed", user, err)
		}
		if _, err := ds.GroupInfo(ctx, user, testRoom); !errors.Is(err, api.ErrNotAllowed) {
			t.Errorf("%s: GroupInfo: %v, want ErrNotAllowed", user, err)
		}
	}
	gi, err := ds.GroupInfo(ctx, "@bob:x.example", testRoom)
	if err != nil || gi.Epoch != 3 || gi.GroupInfo != encodeBase64([]byte("gi")) {
		t.Fatalf("GroupInfo: %+v, %v", gi, err)
	}
}

// genesisState is the stored state of a new group of testRoom, whose only
// member is a device of @alice:ds.example.
func genesisState(t *testing.T) []byte {
	t.Helper()
	var gi mls.MLSMessage
	if err := codec.Unmarshal(genesisSeed(t), &gi); err != nil {
		t.Fatal(err)
	}
	g, err := NewPublicView(time.Now).Genesis(gi.GroupInfo)
	if err != nil {
		t.Fatal(err)
	}
	state, err := g.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return state
}

func TestRecoveryWithoutGroup(t *testing.T) {
	ds, _ := newTestDS(t, memberships{"@alice:ds.example": spec.Join})
	ctx := context.Background()
	if _, err := ds.Commits(ctx, "@alice:ds.example", testRoom, 0, 10); !errors.Is(err, api.ErrNoGroup) {
		t.Fatalf("Commits: %v, want ErrNoGroup", err)
	}
	if _, err := ds.GroupInfo(ctx, "@alice:ds.example", testRoom); !errors.Is(err, api.ErrNoGroup) {
		t.Fatalf("GroupInfo: %v, want ErrNoGroup", err)
	}
}
