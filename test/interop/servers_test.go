package interop

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"github.com/matrix-org/dendrite/msc4244/client/mlsroom"
	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/group"
	"github.com/matrix-org/dendrite/msc4244/test/client"
	"github.com/matrix-org/dendrite/msc4244/test/harness"
)

const syncTimeout = 30 * time.Second

// TestTSMLSThroughOurServers runs ts-mls devices against two of our
// homeservers (SQLite; the databases are covered by the DS's own tests).
func TestTSMLSThroughOurServers(t *testing.T) {
	n := NodeRuntime(t)
	d := harness.Deploy(t, harness.SQLite, 2)
	a, b := d.Servers[0], d.Servers[1]

	// A ts-mls device on B creates an MLS room and its group; the DS of B
	// accepts the genesis GroupInfo, which the user's other device reads
	// back and follows with our public view. A user of A claims one of the
	// device's KeyPackages through her server.
	t.Run("genesis", func(t *testing.T) {
		dev := n.Device(t, "ts-mls on B")
		me := dev.Call(t, "register", map[string]any{"homeserver": b.ClientURL, "username": "tsgenesis", "password": harness.Password})
		uploaded := dev.Call(t, "upload_key_packages", map[string]any{"count": 3})
		if got := uploaded.Get("counts.mls").Int(); got != 3 {
			t.Fatalf("B counts %d mls one-time keys after ts-mls uploaded 3: %s", got, uploaded.Raw)
		}

		// A user of A claims one over federation: it names the device.
		alice := a.MustRegisterUser(t, "alice-genesis")
		kp := claimKeyPackage(t, alice, me.Get("user_id").Str, me.Get("device_id").Str)
		if err := mlsroom.ClaimedKeyPackage(kp, mlsroom.Device{UserID: me.Get("user_id").Str, DeviceID: me.Get("device_id").Str}); err != nil {
			t.Fatalf("the ts-mls KeyPackage claimed through A: %v", err)
		}

		roomID := dev.Call(t, "create_room", nil).Get("room_id").Str
		created := dev.Call(t, "create_group", map[string]any{"room_id": roomID})
		if created.Get("outcome").Str != "accepted" {
			t.Fatalf("the DS refused ts-mls's genesis GroupInfo: %s", created.Raw)
		}
		view := created.Get("view")

		// The user's other device reads the group back.
		other := b.Client().MustLogin(t, me.Get("user_id").Str, harness.Password)
		served := other.MustDo(t, http.MethodGet, dsPath("rooms", roomID, "mls", "group_info"))
		if served.Get("epoch").Int() != 0 {
			t.Fatalf("group_info served through A: %s", served.Raw)
		}
		g := publicGroup(t, unb64(t, served.Get("group_info").Str))
		sameView(t, "the GroupInfo the DS serves", g, view)
		log := other.MustDo(t, http.MethodGet, dsPath("rooms", roomID, "mls", "commits"), client.WithQuery("from_epoch", "0"))
		if entries := log.Get("entries").Array(); len(entries) != 1 || entries[0].Get("kind").Str != "genesis" ||
			entries[0].Get("sender.device_id").Str != me.Get("device_id").Str {
			t.Fatalf("the DS's log after genesis: %s", log.Raw)
		}
	})
}

// claimKeyPackage claims one mls KeyPackage of a device as c.
func claimKeyPackage(t *testing.T, c *client.Client, userID, deviceID string) []byte {
	t.Helper()
	res := c.MustDo(t, http.MethodPost, []string{"_matrix", "client", "v3", "keys", "claim"}, client.WithJSON(map[string]any{
		"one_time_keys": map[string]any{userID: map[string]any{deviceID: "mls"}},
	}))
	keys := res.Get("one_time_keys." + gjson.Escape(userID) + "." + gjson.Escape(deviceID)).Map()
	if len(keys) != 1 {
		t.Fatalf("claiming a KeyPackage of %s %s: %s", userID, deviceID, res.Raw)
	}
	for _, k := range keys {
		return unb64(t, k.Get("key").Str)
	}
	return nil
}

// publicGroup follows a group from a GroupInfo MLSMessage with our public
// view.
func publicGroup(t *testing.T, data []byte) *group.PublicGroup {
	t.Helper()
	var m mls.MLSMessage
	if err := codec.Unmarshal(data, &m); err != nil || m.GroupInfo == nil {
		t.Fatalf("not a GroupInfo MLSMessage (%v): %x", err, data)
	}
	g, err := group.NewPublicGroup(m.GroupInfo, nil, nil)
	if err != nil {
		t.Fatalf("our public view refuses the GroupInfo: %v", err)
	}
	return g
}

// sameView fails unless our public view is at ts-mls's epoch and tree
// hash, showing both.
func sameView(t *testing.T, what string, g *group.PublicGroup, tsView gjson.Result) {
	t.Helper()
	want, _ := hex.DecodeString(tsView.Get("tree_hash").Str)
	if g.Epoch() != uint64(tsView.Get("epoch").Int()) || !bytes.Equal(g.TreeHash(), want) {
		t.Fatalf("%s: our view and ts-mls's differ\nours:   %s\nts-mls: %s", what, describe(g), tsView.Raw)
	}
}

// dsPath is a client path below the DS's unstable prefix.
func dsPath(segments ...string) []string {
	return append([]string{"_matrix", "client", "unstable", "org.matrix.msc4244"}, segments...)
}

func unb64(t testing.TB, s string) []byte {
	t.Helper()
	b, err := base64.RawStdEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("%q is not unpadded base64: %v", s, err)
	}
	return b
}
