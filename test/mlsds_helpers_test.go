package test

import (
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	_ "github.com/mattn/go-sqlite3" // the "sqlite3" driver, to look into a server's database

	"github.com/matrix-org/dendrite/msc4244/mlsds/mlsdstest"
	"github.com/matrix-org/dendrite/msc4244/test/client"
	"github.com/matrix-org/dendrite/msc4244/test/harness"
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

// mlsDevice is a client device with an MLS signature key and leaf, enough
// to create a group.
type mlsDevice struct {
	*client.Client
	*mlsdstest.Device
}

func newMLSDevice(t testing.TB, c *client.Client) *mlsDevice {
	t.Helper()
	d, err := mlsdstest.NewDevice(c.UserID, c.DeviceID)
	if err != nil {
		t.Fatal(err)
	}
	return &mlsDevice{Client: c, Device: d}
}

// genesis returns the encoded epoch-0 GroupInfo of d's group for roomID.
func (d *mlsDevice) genesis(t testing.TB, roomID string, externalSender []byte) []byte {
	t.Helper()
	gi, err := d.Genesis(roomID, externalSender)
	if err != nil {
		t.Fatal(err)
	}
	return gi
}

// externalSender returns the encoded ExternalSender the DS of server serves
// to c.
func externalSender(t testing.TB, c *client.Client, server *harness.Server) []byte {
	t.Helper()
	info := c.MustDo(t, http.MethodGet, dsPath("ds", string(server.Name)))
	return unb64(t, info.Get("external_sender").Str)
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
	var content gjson.Result
	c.MustSyncUntil(t, syncTimeout, client.SyncToDeviceHas(func(ev gjson.Result) bool {
		if ev.Get("type").Str == eventType && ev.Get("sender").Str == dsUser(server) && ev.Get("content.message_sha256").Str == digest {
			content = ev.Get("content")
			return true
		}
		return false
	}))
	return content
}

// storedToDevice counts the to-device messages the server's sync API holds
// for userID, read from its database.
func storedToDevice(t testing.TB, s *harness.Server, userID string) int {
	t.Helper()
	driver, dsn := "postgres", string(s.Config.Global.DatabaseOptions.ConnectionString)
	if conn := s.Config.SyncAPI.Database.ConnectionString; conn.IsSQLite() {
		driver, dsn = "sqlite3", strings.TrimPrefix(string(conn), "file:")
	} else if conn != "" {
		dsn = string(conn)
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close() // nolint: errcheck
	var n int
	if err = db.QueryRow("SELECT COUNT(*) FROM syncapi_send_to_device WHERE user_id = $1", userID).Scan(&n); err != nil {
		t.Fatalf("reading %s's to-device messages: %v", s.Name, err)
	}
	return n
}
