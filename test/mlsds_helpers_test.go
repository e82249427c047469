package test

import (
	"crypto/sha256"
	"crypto/tls"
	"database/sql"
	"encoding/base64"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/matrix-org/dendrite/setup/config"
	"github.com/matrix-org/gomatrixserverlib/fclient"
	"github.com/tidwall/gjson"

	_ "github.com/mattn/go-sqlite3" // the "sqlite3" driver, to look into a server's database

	"github.com/matrix-org/dendrite/msc4244/client/mlsroom"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/cipher"
	"github.com/matrix-org/dendrite/msc4244/roomserver/mlsauth"
	"github.com/matrix-org/dendrite/msc4244/test/client"
	"github.com/matrix-org/dendrite/msc4244/test/harness"
	"github.com/matrix-org/dendrite/msc4244/test/must"
)

func unb64(t testing.TB, s string) []byte {
	t.Helper()
	b, err := base64.RawStdEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("%q is not unpadded base64: %v", s, err)
	}
	return b
}

// sha256b64 is the message_sha256 of a message.
func sha256b64(b []byte) string {
	sum := sha256.Sum256(b)
	return b64(sum[:])
}

// dsPath is a client path below the DS's unstable prefix.
func dsPath(segments ...string) []string {
	return append([]string{"_matrix", "client", "unstable", "org.matrix.msc4244"}, segments...)
}

// dsUser is the to-device identity of a server's DS (MSC4246).
func dsUser(s *harness.Server) string { return "@:" + string(s.Name) }

// mlsDevice is a client's device with its MLS identity.
type mlsDevice struct {
	*client.Client
	id *mlsroom.Identity
}

func newMLSDevice(t testing.TB, c *client.Client) *mlsDevice {
	t.Helper()
	return newMLSDeviceIn(t, c, mlsroom.DefaultSuite)
}

// newMLSDeviceIn is newMLSDevice with an MLS identity in suite.
func newMLSDeviceIn(t testing.TB, c *client.Client, suite cipher.SuiteID) *mlsDevice {
	t.Helper()
	id, err := mlsroom.NewIdentity(mlsroom.Device{UserID: c.UserID, DeviceID: c.DeviceID}, suite)
	if err != nil {
		t.Fatal(err)
	}
	return &mlsDevice{Client: c, id: id}
}

// genesis creates a group for roomID with d as its only member and the
// DS's externalSender, and returns its state and epoch-0 GroupInfo.
func (d *mlsDevice) genesis(t testing.TB, roomID string, externalSender []byte) (*mlsroom.State, []byte) {
	t.Helper()
	state, gi, err := mlsroom.Create(d.id, roomID, externalSender)
	if err != nil {
		t.Fatal(err)
	}
	return state, gi
}

// externalSender returns the encoded ExternalSender the DS of server serves
// to c, in the default cipher suite.
func externalSender(t testing.TB, c *client.Client, server *harness.Server) []byte {
	t.Helper()
	return externalSenderIn(t, c, server, mlsroom.DefaultSuite)
}

// externalSenderIn returns the encoded ExternalSender the DS of server
// serves to c for suite.
func externalSenderIn(t testing.TB, c *client.Client, server *harness.Server, suite cipher.SuiteID) []byte {
	t.Helper()
	info := c.MustDo(t, http.MethodGet, dsPath("ds", string(server.Name)))
	return unb64(t, info.Get("external_senders."+strconv.Itoa(int(suite))).Str)
}

// sendToDS sends an m.mls.message with content to the DS of server.
func sendToDS(t testing.TB, c *client.Client, server *harness.Server, content map[string]any) {
	t.Helper()
	c.MustSendToDevice(t, "m.mls.message", map[string]map[string]any{dsUser(server): {"": content}})
}

// awaitFromDS waits until c's device gets a to-device message of eventType
// from the DS of server about the message whose SHA-256 is digest, and
// returns its content.
func awaitFromDS(t testing.TB, c *client.Client, server *harness.Server, eventType, digest string) gjson.Result {
	t.Helper()
	return awaitToDevice(t, c, server, eventType, func(content gjson.Result) bool {
		return content.Get("message_sha256").Str == digest
	})
}

// awaitCommit waits until c's device gets the m.mls.commit of message from
// the DS of server, and returns its content.
func awaitCommit(t testing.TB, c *client.Client, server *harness.Server, message []byte) gjson.Result {
	t.Helper()
	return awaitToDevice(t, c, server, "m.mls.commit", func(content gjson.Result) bool {
		return carriesCommit(content, message)
	})
}

// carriesCommit reports whether an m.mls.commit's content is about message:
// it carries the message, or, sent by reference, names it by digest.
func carriesCommit(content gjson.Result, message []byte) bool {
	return content.Get("message").Str == b64(message) || content.Get("message_sha256").Str == sha256b64(message)
}

// inboxes keep the to-device events each client's syncs brought that no
// wait has taken yet: a sync can bring several awaited events at once.
var inboxes sync.Map // *client.Client → *inbox

type inbox struct {
	mu     sync.Mutex
	events []gjson.Result
}

// take removes and returns the first event that passes match.
func (in *inbox) take(match func(ev gjson.Result) bool) (gjson.Result, bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	for i, ev := range in.events {
		if match(ev) {
			in.events = slices.Delete(in.events, i, i+1)
			return ev, true
		}
	}
	return gjson.Result{}, false
}

func (in *inbox) add(events []gjson.Result) {
	in.mu.Lock()
	in.events = append(in.events, events...)
	in.mu.Unlock()
}

// awaitToDevice waits until c's device gets a to-device message of
// eventType from the DS of server whose content passes match, and returns
// the content. Events that arrive meanwhile stay for later waits.
func awaitToDevice(t testing.TB, c *client.Client, server *harness.Server, eventType string, match func(content gjson.Result) bool) gjson.Result {
	t.Helper()
	return awaitToDeviceWithin(t, c, server, syncTimeout, eventType, match)
}

// awaitToDeviceWithin is awaitToDevice with its own time limit.
func awaitToDeviceWithin(t testing.TB, c *client.Client, server *harness.Server, timeout time.Duration, eventType string, match func(content gjson.Result) bool) gjson.Result {
	t.Helper()
	v, _ := inboxes.LoadOrStore(c, &inbox{})
	in := v.(*inbox)
	matches := func(ev gjson.Result) bool {
		return ev.Get("type").Str == eventType && ev.Get("sender").Str == dsUser(server) && match(ev.Get("content"))
	}
	if ev, ok := in.take(matches); ok {
		return ev.Get("content")
	}
	var found gjson.Result
	c.MustSyncUntil(t, timeout, client.SyncCheck{
		Name: eventType + " from " + dsUser(server),
		Match: func(sync gjson.Result) bool {
			in.add(sync.Get("to_device.events").Array())
			ev, ok := in.take(matches)
			found = ev
			return ok
		},
	})
	return found.Get("content")
}

// commitContent is the m.mls.message content of a pending commit.
func commitContent(roomID string, p *mlsroom.Pending) map[string]any {
	info := map[string]any{"group_info": b64(p.GroupInfo)}
	if p.Welcome != nil {
		info["welcome"] = b64(p.Welcome)
	}
	return map[string]any{"room_id": roomID, "message": b64(p.Message), "commit_info": info}
}

// stateEventID returns the ID of a room's current state event, as c's
// server knows it.
func stateEventID(t testing.TB, c *client.Client, roomID, eventType, stateKey string) string {
	t.Helper()
	ev := c.MustDo(t, http.MethodGet, clientV3("rooms", roomID, "state", eventType, stateKey), client.WithQuery("format", "event"))
	return must.GetString(t, ev, "event_id")
}

// logSummary is the room's DS log as c reads it: "kind/epoch" entries.
func logSummary(t testing.TB, c *client.Client, roomID string) string {
	t.Helper()
	res := c.MustDo(t, http.MethodGet, dsPath("rooms", roomID, "mls", "commits"))
	s := ""
	for _, e := range res.Get("entries").Array() {
		s += e.Get("kind").Str + "/" + e.Get("epoch").Raw + " "
	}
	return s
}

// storedToDevice counts the to-device messages the server's sync API holds
// for userID, read from its database.
func storedToDevice(t testing.TB, s *harness.Server, userID string) int {
	t.Helper()
	db := syncDB(t, s)
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM syncapi_send_to_device WHERE user_id = $1", userID).Scan(&n); err != nil {
		t.Fatalf("reading %s's to-device messages: %v", s.Name, err)
	}
	return n
}

// syncDB opens the database of the server's sync API, closed when the test
// ends.
func syncDB(t testing.TB, s *harness.Server) *sql.DB {
	t.Helper()
	return componentDB(t, s, s.Config.SyncAPI.Database.ConnectionString)
}

// componentDB opens the database of a component of s whose configured
// connection string is conn (empty: the global database).
func componentDB(t testing.TB, s *harness.Server, conn config.DataSource) *sql.DB {
	t.Helper()
	driver, dsn := "postgres", string(s.Config.Global.DatabaseOptions.ConnectionString)
	if conn.IsSQLite() {
		driver, dsn = "sqlite3", strings.TrimPrefix(string(conn), "file:")
	} else if conn != "" {
		dsn = string(conn)
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// federationGET sends a GET signed by server from, as federation requests
// are, to server to, checks the status and returns the body.
func federationGET(t testing.TB, from, to *harness.Server, requestURI string, status int) []byte {
	t.Helper()
	keyID, key, err := config.LoadMatrixKey(string(from.Config.Global.PrivateKeyPath), os.ReadFile)
	if err != nil {
		t.Fatal(err)
	}
	fedReq := fclient.NewFederationRequest(http.MethodGet, from.Name, to.Name, requestURI)
	if err = fedReq.Sign(from.Name, keyID, key); err != nil {
		t.Fatal(err)
	}
	req, err := fedReq.HTTPRequest()
	if err != nil {
		t.Fatal(err)
	}
	if req.URL, err = url.Parse(to.FederationURL + requestURI); err != nil {
		t.Fatal(err)
	}
	// Loopback only: the test trusts the server it started.
	tlsClient := &http.Client{Timeout: syncTimeout, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} // nolint: gosec
	res, err := tlsClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s on %s: %v", requestURI, to.Name, err)
	}
	body := must.ReadBody(t, res)
	if res.StatusCode != status {
		t.Fatalf("GET %s on %s as %s: HTTP %d, want %d: %s", requestURI, to.Name, from.Name, res.StatusCode, status, body)
	}
	return body
}

// inviteAAD is the profile's AAD of alice inviting target, from alice's
// view of the room's state.
func inviteAAD(t testing.TB, alice *client.Client, roomID, target string) []byte {
	t.Helper()
	aad := &mlsauth.AAD{Action: mlsauth.ActionInvite, Target: target, AuthEvents: map[string]string{}}
	for _, evType := range mlsauth.RequiredAuthEvents(mlsauth.ActionInvite, false) {
		stateKey := ""
		if evType == "m.room.member" {
			stateKey = alice.UserID
		}
		aad.AuthEvents[evType] = stateEventID(t, alice, roomID, evType, stateKey)
	}
	return aad.Marshal()
}
