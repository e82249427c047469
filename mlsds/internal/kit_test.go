package internal

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/matrix-org/dendrite/internal/sqlutil"
	rsapi "github.com/matrix-org/dendrite/roomserver/api"
	"github.com/matrix-org/dendrite/setup/config"
	"github.com/matrix-org/dendrite/setup/process"
	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/tidwall/gjson"

	"github.com/matrix-org/dendrite/msc4244/client/mlsroom"
	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/cipher"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/group"
	"github.com/matrix-org/dendrite/msc4244/mlsds/api"
	"github.com/matrix-org/dendrite/msc4244/mlsds/storage"
	"github.com/matrix-org/dendrite/msc4244/roomserver"
	"github.com/matrix-org/dendrite/msc4244/test/harness"
)

// This file is a kit for testing the DS in process: a real database, real
// MLS messages made by client devices (client/mlsroom), a roomserver that
// knows one MLS room created by alice, and a recorder of what the DS sends.

const creator = "@alice:ds.example"

// kitRoomserver is the roomserver of the kit: it knows MLS rooms created
// by alice (testRoom and those added with addRoom), whose members are those
// of joined.
type kitRoomserver struct {
	key    ed25519.PrivateKey
	mu     sync.Mutex
	rooms  map[string]gomatrixserverlib.PDU // room ID → create event
	joined map[string]string                // user ID → membership
}

func newKitRoomserver(t testing.TB) *kitRoomserver {
	t.Helper()
	roomserver.RegisterRoomVersion()
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	r := &kitRoomserver{key: key, rooms: map[string]gomatrixserverlib.PDU{}, joined: map[string]string{creator: spec.Join}}
	r.addRoom(t, testRoom)
	return r
}

// addRoom makes roomID an MLS room created by alice.
func (r *kitRoomserver) addRoom(t testing.TB, roomID string) {
	t.Helper()
	builder := gomatrixserverlib.MustGetRoomVersion(roomserver.RoomVersion).NewEventBuilderFromProtoEvent(&gomatrixserverlib.ProtoEvent{
		SenderID: creator, RoomID: roomID, Type: spec.MRoomCreate, StateKey: new(string),
		PrevEvents: []string{}, AuthEvents: []string{}, Depth: 1,
		Content: spec.RawJSON(`{"room_version":"org.matrix.msc4244","encryption_algorithm":"m.mls.10"}`),
	})
	create, err := builder.Build(time.Now(), "ds.example", "ed25519:1", r.key)
	if err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	r.rooms[roomID] = create
	r.mu.Unlock()
}

func (r *kitRoomserver) room(roomID string) gomatrixserverlib.PDU {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rooms[roomID]
}

func (r *kitRoomserver) setMembership(user, membership string) {
	r.mu.Lock()
	r.joined[user] = membership
	r.mu.Unlock()
}

func (r *kitRoomserver) QueryMembershipForSenderID(_ context.Context, roomID spec.RoomID, senderID spec.SenderID, res *rsapi.QueryMembershipForUserResponse) error {
	res.RoomExists = r.room(roomID.String()) != nil
	r.mu.Lock()
	res.Membership = r.joined[string(senderID)]
	r.mu.Unlock()
	return nil
}

func (r *kitRoomserver) QueryRoomVersionForRoom(_ context.Context, roomID string) (gomatrixserverlib.RoomVersion, error) {
	if r.room(roomID) == nil {
		return "", fmt.Errorf("no room %s", roomID)
	}
	return roomserver.RoomVersion, nil
}

func (r *kitRoomserver) CurrentStateEvent(_ context.Context, roomID spec.RoomID, eventType, stateKey string) (gomatrixserverlib.PDU, error) {
	if eventType != spec.MRoomCreate || stateKey != "" {
		return nil, nil
	}
	return r.room(roomID.String()), nil
}

// sent is one to-device message the DS sent.
type sent struct {
	To      api.Device
	Type    string
	Content gjson.Result
}

// mailbox is a ToDeviceSender that keeps what the DS sends, and counts
// the m.mls.commit messages.
type mailbox struct {
	mu   sync.Mutex
	msgs []sent
	// discard drops the messages instead of keeping them.
	discard bool
	count   atomic.Int64
}

func (m *mailbox) SendToDevices(_ context.Context, sender, eventType string, content json.RawMessage, devices []api.Device) error {
	if sender != "@:ds.example" {
		return fmt.Errorf("sent as %s", sender)
	}
	if eventType == api.EventCommit {
		m.count.Add(int64(len(devices)))
	}
	if m.discard {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, d := range devices {
		m.msgs = append(m.msgs, sent{To: d, Type: eventType, Content: gjson.ParseBytes(content)})
	}
	return nil
}

// take returns and forgets everything sent so far.
func (m *mailbox) take() []sent {
	m.mu.Lock()
	defer m.mu.Unlock()
	msgs := m.msgs
	m.msgs = nil
	return msgs
}

// kit is a DS with its database, roomserver and mailbox.
type kit struct {
	t    testing.TB
	ds   *DeliveryService
	db   storage.Database
	rs   *kitRoomserver
	mail *mailbox
	// es is the DS's external sender, encoded.
	es []byte
}

// forEachDatabase runs fn with a kit on SQLite and on Postgres (skipped
// without POSTGRES_HOST, see harness.Postgres).
func forEachDatabase(t *testing.T, fn func(t *testing.T, k *kit)) {
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) { fn(t, newKit(t, kind)) })
	}
}

func newKit(t testing.TB, kind string) *kit {
	t.Helper()
	connStr := "file:" + filepath.Join(t.TempDir(), "mlsds.db")
	if kind == "postgres" {
		connStr = harness.Postgres(t).NewDatabase(t)
	}
	processCtx := process.NewProcessContext()
	t.Cleanup(func() {
		processCtx.ShutdownDendrite()
		processCtx.WaitForComponentsToFinish()
	})
	db, err := storage.NewDatabase(sqlutil.NewConnectionManager(processCtx, config.DatabaseOptions{}), &config.DatabaseOptions{
		ConnectionString: config.DataSource(connStr), MaxOpenConnections: 32, MaxIdleConnections: 32,
	})
	if err != nil {
		t.Fatal(err)
	}
	identity, err := LoadOrCreateIdentity(filepath.Join(t.TempDir(), IdentityFile), "ds.example")
	if err != nil {
		t.Fatal(err)
	}
	k := &kit{t: t, db: db, rs: newKitRoomserver(t), mail: &mailbox{}}
	es := identity.ExternalSender(mls.CipherSuite(mlsroom.DefaultSuite))
	k.es = codec.Marshal(&es)
	if k.ds, err = New(context.Background(), "ds.example", db, NewPublicView(time.Now), identity, k.rs, k.mail); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		k.ds.RunOutbox(ctx)
		close(done)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return k
}

// device is a client device of the kit, with its group state in testRoom.
type device struct {
	api.Device
	id    *mlsroom.Identity
	state *mlsroom.State
	kps   []*mlsroom.KeyPackage
}

func (k *kit) device(user, deviceID string) *device {
	k.t.Helper()
	return k.deviceIn(user, deviceID, mlsroom.DefaultSuite)
}

// deviceIn is device with an MLS identity in suite.
func (k *kit) deviceIn(user, deviceID string, suite cipher.SuiteID) *device {
	k.t.Helper()
	d := api.Device{UserID: user, DeviceID: deviceID}
	id, err := mlsroom.NewIdentity(mlsroom.Device{UserID: user, DeviceID: deviceID}, suite)
	if err != nil {
		k.t.Fatal(err)
	}
	k.rs.setMembership(user, spec.Join)
	return &device{Device: d, id: id}
}

// keyPackage makes a KeyPackage of d, kept for joining.
func (k *kit) keyPackage(d *device) []byte {
	k.t.Helper()
	kp, err := d.id.NewKeyPackage(false)
	if err != nil {
		k.t.Fatal(err)
	}
	d.kps = append(d.kps, kp)
	return kp.Message
}

// receive hands content to the DS as sent by d.
func (k *kit) receive(d *device, content any) error {
	data, err := json.Marshal(content)
	if err != nil {
		k.t.Fatal(err)
	}
	return k.ds.Receive(context.Background(), d.Device, api.EventMessage, data)
}

func (k *kit) mustReceive(d *device, content any) {
	k.t.Helper()
	if err := k.receive(d, content); err != nil {
		k.t.Fatalf("Receive: %v", err)
	}
}

// createGroup makes d's group for testRoom, in d's suite with the DS's
// external sender of that suite, and has the DS accept it.
func (k *kit) createGroup(d *device) {
	k.t.Helper()
	es := k.ds.identity.ExternalSender(mls.CipherSuite(d.id.Suite))
	state, gi, err := mlsroom.Create(d.id, testRoom, codec.Marshal(&es))
	if err != nil {
		k.t.Fatal(err)
	}
	d.state = state
	k.mustReceive(d, map[string]any{"room_id": testRoom, "message": encodeBase64(gi)})
	k.expect(sent{To: d.Device, Type: api.EventAccepted})
}

// commitContent is the m.mls.message of a pending commit of roomID.
func commitContent(roomID string, p *mlsroom.Pending) map[string]any {
	info := map[string]any{"group_info": encodeBase64(p.GroupInfo)}
	if p.Welcome != nil {
		info["welcome"] = encodeBase64(p.Welcome)
	}
	return map[string]any{"room_id": roomID, "message": encodeBase64(p.Message), "commit_info": info}
}

// aliceAndBob returns the creator's device alice and bob's device, in a
// group alice created and added bob to (epoch 1), the fan-out taken.
func (k *kit) aliceAndBob() (alice, bob *device) {
	k.t.Helper()
	alice, bob = k.device(creator, "A"), k.device("@bob:x.example", "B")
	k.createGroup(alice)
	k.accepted(alice, k.commit(alice, bob), []*device{alice, bob}, bob)
	return alice, bob
}

// commit makes d commit req (adding, for each of add, one of its
// KeyPackages) and returns the pending commit, unsent.
func (k *kit) commit(d *device, add ...*device) *mlsroom.Pending {
	k.t.Helper()
	var req mlsroom.CommitRequest
	for _, a := range add {
		req.Add = append(req.Add, k.keyPackage(a))
	}
	p, err := d.state.Commit(req)
	if err != nil {
		k.t.Fatal(err)
	}
	return p
}

// accepted sends p for d and checks the fan-out: m.mls.commit to every
// member of the new epoch, m.mls.welcome to the added devices, which then
// join; every member moves to the new epoch.
func (k *kit) accepted(d *device, p *mlsroom.Pending, members []*device, added ...*device) {
	k.t.Helper()
	k.mustReceive(d, commitContent(testRoom, p))
	var want []sent
	for _, m := range members {
		want = append(want, sent{To: m.Device, Type: api.EventCommit})
	}
	for _, a := range added {
		want = append(want, sent{To: a.Device, Type: api.EventWelcome})
	}
	got := k.expect(want...)
	for _, s := range got {
		if s.Content.Get("epoch").Uint() != p.Epoch || s.Content.Get("room_id").Str != testRoom {
			k.t.Fatalf("%s for epoch %d: %s", s.Type, p.Epoch, s.Content.Raw)
		}
		if s.Type == api.EventCommit && (!carries(s.Content, p.Message, len(members)) ||
			s.Content.Get("sender.user_id").Str != d.UserID || s.Content.Get("sender.device_id").Str != d.DeviceID) {
			k.t.Fatalf("m.mls.commit: %s", s.Content.Raw)
		}
	}
	for _, a := range added {
		state, _, err := mlsroom.Join(a.id, p.Welcome, a.kps)
		if err != nil {
			k.t.Fatalf("%v joins: %v", a.Device, err)
		}
		a.state = state
	}
	for _, m := range members {
		if m.state.Epoch == p.Epoch {
			continue // just joined
		}
		if _, err := m.state.HandleCommit(p.Message, p.Epoch); err != nil {
			k.t.Fatalf("%v handles the commit: %v", m.Device, err)
		}
	}
}

// carries reports whether an m.mls.commit's content is that of message for
// recipients devices: the message itself, or, when it goes by reference,
// its digest only.
func carries(content gjson.Result, message []byte, recipients int) bool {
	if byReference(len(message), recipients) {
		return !content.Get("message").Exists() && content.Get("message_sha256").Str == digest(message)
	}
	return content.Get("message").Str == encodeBase64(message) && !content.Get("message_sha256").Exists()
}

// expect checks that the DS sent exactly the messages of want (in any
// order; only recipients and types are compared) and returns them.
func (k *kit) expect(want ...sent) []sent {
	k.t.Helper()
	got := k.mail.take()
	key := func(s sent) string { return s.To.String() + " " + s.Type }
	count := map[string]int{}
	for _, s := range want {
		count[key(s)]++
	}
	for _, s := range got {
		count[key(s)]--
	}
	for name, n := range count {
		if n != 0 {
			var gotKeys []string
			for _, s := range got {
				gotKeys = append(gotKeys, key(s)+": "+s.Content.Raw)
			}
			k.t.Fatalf("%s: sent %d times too few (negative: too many); the DS sent:\n%v", name, n, gotKeys)
		}
	}
	return got
}

// rejected checks that the DS answered d's message with exactly one
// m.mls.rejected of errcode, and returns it.
func (k *kit) rejected(d *device, message []byte, errcode api.ErrCode) gjson.Result {
	k.t.Helper()
	got := k.expect(sent{To: d.Device, Type: api.EventRejected})
	c := got[0].Content
	if c.Get("errcode").Str != string(errcode) || c.Get("message_sha256").Str != digest(message) || c.Get("room_id").Str != testRoom {
		k.t.Fatalf("rejection %s, want errcode %s for message %s", c.Raw, errcode, digest(message))
	}
	return c
}

// logSummary is the room's log as "kind/epoch" strings.
func (k *kit) logSummary() string {
	k.t.Helper()
	entries, err := k.db.Entries(context.Background(), testRoom, 0, 10000)
	if err != nil {
		k.t.Fatal(err)
	}
	s := ""
	for _, e := range entries {
		s += fmt.Sprintf("%s/%d ", e.Kind, e.Epoch)
	}
	return s
}

// memberGroup loads d's member view, for messages mlsroom does not make.
func memberGroup(t testing.TB, d *device) *group.Group {
	t.Helper()
	g, err := group.LoadGroup(d.state.Group, &group.Config{ClientID: clientID})
	if err != nil {
		t.Fatal(err)
	}
	return g
}
