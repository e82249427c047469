package test

import (
	"database/sql"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/matrix-org/dendrite/setup/config"
	"github.com/tidwall/gjson"

	"github.com/matrix-org/dendrite/msc4244/client/mlsroom"
	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/group"
	"github.com/matrix-org/dendrite/msc4244/test/client"
	"github.com/matrix-org/dendrite/msc4244/test/harness"
	"github.com/matrix-org/dendrite/msc4244/test/must"
)

const (
	// fanOutDevices is the size of the group BenchmarkDSFanOut commits to.
	fanOutDevices = 1000
	// sampleSize is how many devices per server wait in /sync during a
	// commit of BenchmarkDSFanOut.
	sampleSize = 10
	// syncSettle is how long the sample's /sync requests get to reach the
	// servers and wait there before a commit is sent.
	syncSettle = 3 * time.Second
)

// BenchmarkDSFanOut measures how long a commit takes to reach every device
// of a 1,000-device group spread over 3 servers (alice on A, the DS; bob on
// B; carol on C; a third of the devices each): from the committer sending
// it to its m.mls.commit being stored for the device by the device's
// homeserver, ready for its next /sync (read from each server's sync
// database every few milliseconds). Reported, averaged over the messages:
// when 95% and when all of the devices have the notice (p95-s, max-s), and
// when the last of a sample of 10 devices per server, waiting in /sync as
// connected clients do, has seen it (sample-max-s). The commit (83 KB, in a
// fresh group) goes by reference: then a device has the commit once it has
// also read it from its server, and the sample's time includes that read;
// read-p95-s and read-max-s are when 95% and all of the devices have read
// it, each of a server's devices starting its read as soon as one more
// notice is stored there (every device of a server reads through one
// cache, so which device reads does not matter). The proposal (158 B)
// goes inline.
func BenchmarkDSFanOut(b *testing.B) {
	for _, name := range []string{"sqlite", "postgres"} {
		b.Run(name, func(b *testing.B) {
			db := harness.SQLite
			if name == "postgres" {
				db = harness.Postgres(b)
			}
			benchmarkFanOut(b, db)
		})
	}
}

func benchmarkFanOut(b *testing.B, db harness.DB) {
	d := harness.DeployWith(b, db, harness.Options{Servers: 3, Config: func(_ int, cfg *config.Dendrite) {
		// Syncing devices need more than the harness's ten Postgres
		// connections (Dendrite's /sync holds one while it asks for more);
		// three servers with 30 fit in Postgres's default 100.
		cfg.Global.DatabaseOptions.MaxOpenConnections = 30
	}})
	a := d.Servers[0]
	transport := &http.Transport{MaxIdleConnsPerHost: 3 * sampleSize}
	users := make([][]*mlsDevice, 3) // alice's, bob's and carol's devices
	for i, name := range []string{"alice", "bob", "carol"} {
		s := d.Servers[i]
		users[i] = []*mlsDevice{newMLSDevice(b, s.MustRegisterUser(b, name))}
		for len(users[i]) < (fanOutDevices+2-i)/3 {
			users[i] = append(users[i], newMLSDevice(b, s.Client().MustLogin(b, name, harness.Password)))
		}
	}
	alice, bob, carol := users[0][0], users[1][0], users[2][0]

	// Alice creates the room's group and adds her other devices, then bob
	// and carol, who add their other devices.
	roomID := alice.MustCreateRoom(b, mlsRoomBody(nil))
	aliceState, gi := alice.genesis(b, roomID, externalSender(b, alice.Client, a))
	sendToDS(b, alice.Client, a, map[string]any{"room_id": roomID, "message": b64(gi)})
	awaitFromDS(b, alice.Client, a, "m.mls.accepted", sha256b64(gi))
	states := map[*mlsDevice]*mlsroom.State{alice: aliceState}
	add := func(by *mlsDevice, devices []*mlsDevice, aad []byte) {
		b.Helper()
		req := mlsroom.CommitRequest{AAD: aad}
		kps := make([]*mlsroom.KeyPackage, len(devices))
		for i, dev := range devices {
			kp, err := dev.id.NewKeyPackage(false)
			must.NotError(b, "KeyPackage", err)
			kps[i] = kp
			req.Add = append(req.Add, kp.Message)
		}
		p, err := states[by].Commit(req)
		must.NotError(b, "commit", err)
		sendToDS(b, by.Client, a, commitContent(roomID, p))
		// A commit to a thousand devices may queue behind the previous one.
		awaitToDeviceWithin(b, by.Client, a, 3*time.Minute, "m.mls.commit", func(content gjson.Result) bool {
			return carriesCommit(content, p.Message)
		})
		for _, state := range states {
			handle(b, state, p)
		}
		// Only the first added device needs a state: it commits next.
		state, _, err := mlsroom.Join(devices[0].id, p.Welcome, kps[:1])
		must.NotError(b, "join", err)
		states[devices[0]] = state
	}
	add(alice, users[0][1:], nil)
	add(alice, []*mlsDevice{bob}, inviteAAD(b, alice.Client, roomID, bob.UserID))
	add(alice, []*mlsDevice{carol}, inviteAAD(b, alice.Client, roomID, carol.UserID))
	add(bob, users[1][1:], nil)
	add(carol, users[2][1:], nil)

	var sample []*mlsDevice
	for _, devices := range users {
		sample = append(sample, devices[:sampleSize]...)
	}
	for _, dev := range sample {
		dev.HTTP = &http.Client{Transport: transport, Timeout: time.Minute}
		dev.MustSync(b, client.SyncOptions{}) // from now on, only news
	}
	dbs := make([]*sql.DB, len(d.Servers))
	for i, s := range d.Servers {
		dbs[i] = syncDB(b, s)
	}
	// The setup's fan-outs, some 4,000 messages, must be stored before a
	// measured commit queues behind them: above all the Welcomes, one of
	// 150–200 KB per added device, which leave A's federation queues in
	// transactions of tens of MB, with pauses that a quiet sync database
	// alone would not tell from the end.
	awaitFederationQueues(b, componentDB(b, a, a.Config.FederationAPI.Database.ConnectionString))
	for _, db := range dbs {
		awaitQuiet(b, db)
	}

	f := &fanOut{a: a, alice: alice, users: users, sample: sample, dbs: dbs}
	b.Run("commit", func(b *testing.B) {
		f.measure(b, "m.mls.commit", func() *benchMessage {
			p, err := aliceState.Commit(mlsroom.CommitRequest{})
			must.NotError(b, "commit", err)
			return &benchMessage{
				message: p.Message, content: commitContent(roomID, p),
				accepted: func() { handle(b, aliceState, p) },
				read:     readCommit(roomID, p.Epoch, p.Message),
			}
		})
	})
	removed := 0
	b.Run("proposal", func(b *testing.B) {
		f.measure(b, "m.mls.proposal", func() *benchMessage {
			// Alice proposes to remove another of her devices.
			g, err := group.LoadGroup(aliceState.Group, nil)
			must.NotError(b, "alice's group", err)
			removed++
			msg, _, err := g.Propose(mls.Proposal{Type: mls.ProposalRemove, Remove: &mls.Remove{Removed: uint32(removed)}}, group.MessageOptions{})
			must.NotError(b, "proposal", err)
			message := codec.Marshal(msg)
			return &benchMessage{message: message, content: map[string]any{"room_id": roomID, "message": b64(message)}, accepted: func() {}}
		})
	})
}

// benchMessage is a message BenchmarkDSFanOut has alice send.
type benchMessage struct {
	message []byte
	// content is the m.mls.message carrying it.
	content map[string]any
	// accepted is what to do once the DS has accepted it.
	accepted func()
	// read, when set, is what a device does after the notice to have the
	// message (read a commit sent by reference); it reports success.
	read func(c *client.Client) bool
}

// readCommit returns what a device does to read the commit message, which
// created epoch, sent by reference.
func readCommit(roomID string, epoch uint64, message []byte) func(c *client.Client) bool {
	path, want := dsPath("rooms", roomID, "mls", "commits", strconv.FormatUint(epoch, 10)), b64(message)
	return func(c *client.Client) bool {
		res, err := c.TryDo(http.MethodGet, path)
		if err != nil {
			return false
		}
		body, err := io.ReadAll(res.Body)
		return err == nil && res.StatusCode == http.StatusOK && gjson.GetBytes(body, "message").Str == want
	}
}

// fanOut is the deployment and group of BenchmarkDSFanOut.
type fanOut struct {
	a      *harness.Server
	alice  *mlsDevice
	users  [][]*mlsDevice
	sample []*mlsDevice
	dbs    []*sql.DB
}

// measure has alice send the messages next makes, and measures how they
// reach the devices as eventType.
func (f *fanOut) measure(b *testing.B, eventType string, next func() *benchMessage) {
	var p95s, maxes, readP95s, readMaxes, sampleMaxes []time.Duration
	size := 0
	for b.Loop() {
		m := next()
		size = len(m.message)
		var start time.Time
		sent := make(chan struct{})
		sampleArrivals := make([]time.Duration, len(f.sample))
		var syncing sync.WaitGroup
		for i, dev := range f.sample {
			syncing.Go(func() {
				sampleArrivals[i] = awaitQuietly(dev.Client, f.a, eventType, m.message, sent, &start)
				if m.read != nil && sampleArrivals[i] >= 0 {
					sampleArrivals[i] = readBy(dev.Client, m.read, &start)
				}
			})
		}
		time.Sleep(syncSettle)
		// On each server, the new to-device messages are counted as they
		// are stored; with each, one more of its devices reads the message.
		arrivals := make([][]time.Duration, len(f.dbs))
		reads := make([][]time.Duration, len(f.dbs))
		var counting, reading sync.WaitGroup
		for i, db := range f.dbs {
			from := maxToDeviceID(b, db)
			reads[i] = make([]time.Duration, len(f.users[i]))
			counting.Go(func() {
				arrivals[i] = countArrivals(db, from, len(f.users[i]), &start, sent, func(k int) {
					if m.read != nil {
						reading.Go(func() { reads[i][k] = readBy(f.users[i][k].Client, m.read, &start) })
					}
				})
			})
		}
		start = time.Now()
		close(sent)
		sendToDS(b, f.alice.Client, f.a, m.content)
		counting.Wait()
		reading.Wait()
		syncing.Wait()
		m.accepted()

		all := slices.Concat(arrivals...)
		if len(all) != fanOutDevices {
			b.Fatalf("%d of %d devices got the message within a minute", len(all), fanOutDevices)
		}
		if slices.Min(sampleArrivals) < 0 {
			b.Fatal("a device of the sample did not see the message in /sync within a minute")
		}
		p95, last := percentiles(all)
		p95s, maxes = append(p95s, p95), append(maxes, last)
		sampleMaxes = append(sampleMaxes, slices.Max(sampleArrivals))
		if m.read != nil {
			all = slices.Concat(reads...)
			if slices.Min(all) < 0 {
				b.Fatal("a device could not read the commit sent by reference")
			}
			p95, last = percentiles(all)
			readP95s, readMaxes = append(readP95s, p95), append(readMaxes, last)
		}
	}
	b.ReportMetric(mean(p95s).Seconds(), "p95-s")
	b.ReportMetric(mean(maxes).Seconds(), "max-s")
	if len(readP95s) > 0 {
		b.ReportMetric(mean(readP95s).Seconds(), "read-p95-s")
		b.ReportMetric(mean(readMaxes).Seconds(), "read-max-s")
	}
	b.ReportMetric(mean(sampleMaxes).Seconds(), "sample-max-s")
	b.ReportMetric(float64(size), "message-bytes")
}

// readBy has c read the message with read, and returns when it had it,
// measured from *start, or -1 when it could not read it.
func readBy(c *client.Client, read func(*client.Client) bool, start *time.Time) time.Duration {
	if !read(c) {
		return -1
	}
	return time.Since(*start)
}

// percentiles sorts durations and returns their 95th percentile and
// maximum.
func percentiles(durations []time.Duration) (p95, last time.Duration) {
	slices.Sort(durations)
	return durations[len(durations)*95/100], durations[len(durations)-1]
}

// awaitQuiet waits until no to-device message has been stored in a sync
// database for a second.
func awaitQuiet(t testing.TB, db *sql.DB) {
	t.Helper()
	last, since := maxToDeviceID(t, db), time.Now()
	for deadline := time.Now().Add(5 * time.Minute); time.Since(since) < time.Second; {
		if time.Now().After(deadline) {
			t.Fatal("the sync API kept storing to-device messages for 5 minutes")
		}
		time.Sleep(100 * time.Millisecond)
		if id := maxToDeviceID(t, db); id != last {
			last, since = id, time.Now()
		}
	}
}

// awaitFederationQueues waits until a server's federation API has no EDU
// left to send.
func awaitFederationQueues(t testing.TB, db *sql.DB) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Minute); ; time.Sleep(time.Second) {
		var n int
		if err := db.QueryRow("SELECT COUNT(*) FROM federationsender_queue_edus").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d EDUs still queued after 10 minutes", n)
		}
	}
}

// maxToDeviceID returns the highest ID of the to-device messages in a sync
// database.
func maxToDeviceID(t testing.TB, db *sql.DB) int64 {
	t.Helper()
	var id sql.NullInt64
	if err := db.QueryRow("SELECT MAX(id) FROM syncapi_send_to_device").Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id.Int64
}

// countArrivals counts, every 20 ms once sent is closed, the to-device
// messages stored with an ID above from (nothing but the measured commit is
// sent meanwhile), until there are want, and returns for each when it was
// first counted, measured from *start; it calls arrived with the index of
// each as it is counted. It gives up a minute after start. The query only
// reads the primary key's index, so that it hardly delays the sync API's
// writes.
func countArrivals(db *sql.DB, from int64, want int, start *time.Time, sent <-chan struct{}, arrived func(int)) []time.Duration {
	<-sent
	var arrivals []time.Duration
	for len(arrivals) < want && time.Since(*start) < time.Minute {
		var n int
		err := db.QueryRow("SELECT COUNT(*) FROM syncapi_send_to_device WHERE id > $1", from).Scan(&n)
		for err == nil && len(arrivals) < min(n, want) {
			arrived(len(arrivals))
			arrivals = append(arrivals, time.Since(*start))
		}
		time.Sleep(20 * time.Millisecond)
	}
	return arrivals
}

// awaitQuietly syncs c (from its SyncToken, without a test to fail) until
// the to-device message of eventType carrying message arrives from the DS
// of server, and returns how long after *start (set before sent is closed)
// it arrived, or -1 when it did not within a minute of sent.
func awaitQuietly(c *client.Client, server *harness.Server, eventType string, message []byte, sent <-chan struct{}, start *time.Time) time.Duration {
	for {
		select {
		case <-sent:
			if time.Since(*start) > time.Minute {
				return -1
			}
		default:
		}
		res, err := c.TryDo(http.MethodGet, clientV3("sync"),
			client.WithQuery("since", c.SyncToken), client.WithQuery("timeout", "30000"))
		if err != nil || res.StatusCode != http.StatusOK {
			continue
		}
		body, err := io.ReadAll(res.Body)
		if err != nil {
			continue
		}
		sync := gjson.ParseBytes(body)
		c.SyncToken = sync.Get("next_batch").Str
		for _, ev := range sync.Get("to_device.events").Array() {
			if ev.Get("type").Str == eventType && ev.Get("sender").Str == dsUser(server) && carriesCommit(ev.Get("content"), message) {
				return time.Since(*start)
			}
		}
	}
}

func mean(ds []time.Duration) time.Duration {
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return sum / time.Duration(max(len(ds), 1))
}
