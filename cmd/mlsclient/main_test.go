package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/matrix-org/dendrite/msc4244/client"
	"github.com/matrix-org/dendrite/msc4244/client/store"
	"github.com/matrix-org/dendrite/msc4244/test/harness"
)

// cli runs mlsclient command lines in-process as one person.
type cli struct {
	t    *testing.T
	vars map[string]string
}

func newCLI(t *testing.T, vars map[string]string) *cli { return &cli{t: t, vars: vars} }

// run runs args and returns the exit status, stdout and stderr.
func (c *cli) run(args ...string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	status := run(context.Background(), args, &env{
		stdin:  strings.NewReader(""),
		stdout: &stdout,
		stderr: &stderr,
		getenv: func(k string) string { return c.vars[k] },
	})
	return status, stdout.String(), stderr.String()
}

// must runs args, fails the test unless they succeed, and returns stdout.
func (c *cli) must(args ...string) string {
	c.t.Helper()
	status, stdout, stderr := c.run(args...)
	if status != 0 {
		c.t.Fatalf("mlsclient %s: status %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), status, stdout, stderr)
	}
	return stdout
}

// mustJSON runs args with --json and decodes each stdout line.
func (c *cli) mustJSON(args ...string) []map[string]any {
	c.t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(c.must(append([]string{"--json"}, args...)...)), "\n") {
		if line == "" {
			continue
		}
		var v map[string]any
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			c.t.Fatalf("mlsclient --json %s printed a line that is not a JSON object: %q", strings.Join(args, " "), line)
		}
		out = append(out, v)
	}
	return out
}

func TestCommandLineMistakes(t *testing.T) {
	c := newCLI(t, map[string]string{"MLSCLIENT_HOME": filepath.Join(t.TempDir(), "none")})
	cases := []struct {
		args   []string
		status int
		stderr string
	}{
		{nil, 2, "usage: mlsclient"},
		{[]string{"help"}, 0, "create-room"},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"invite", "!r:hs"}, 2, "wrong number of arguments"},
		{[]string{"register"}, 2, "usage: mlsclient register"},
		{[]string{"--bogus"}, 2, "flag provided but not defined"},
		{[]string{"whoami", "--passphrase-file", "/nonexistent"}, 1, "passphrase file"},
		// No passphrase from anywhere and no terminal to ask on.
		{[]string{"whoami"}, 1, "MLSCLIENT_PASSPHRASE"},
	}
	for _, tc := range cases {
		status, _, stderr := c.run(tc.args...)
		if status != tc.status || !strings.Contains(stderr, tc.stderr) {
			t.Errorf("mlsclient %v: status %d, stderr %q; want %d and %q", tc.args, status, stderr, tc.status, tc.stderr)
		}
	}
	c.vars["MLSCLIENT_PASSPHRASE"] = "secret"
	status, _, stderr := c.run("whoami")
	if status != 1 || !strings.Contains(stderr, "no profile") || !strings.Contains(stderr, "mlsclient register") {
		t.Errorf("whoami without a profile: %d %q", status, stderr)
	}
	status, _, stderr = c.run("--json", "whoami")
	var v map[string]string
	if status != 1 || json.Unmarshal([]byte(stderr), &v) != nil || !strings.Contains(v["error"], "no profile") {
		t.Errorf("--json whoami without a profile: %d %q", status, stderr)
	}
}

func TestFormatEntry(t *testing.T) {
	ts := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixMilli()
	cases := []struct {
		entry client.Entry
		want  string
	}{
		{client.Entry{TS: ts, Kind: client.KindMessage, RoomID: "!r:a", Sender: "@al:a", SenderDevice: "D1", Text: "hi"}, "[2026-01-02 03:04:05] !r:a <@al:a/D1> hi"},
		{client.Entry{TS: ts, Kind: client.KindMessage, RoomID: "!r:a", Sender: "@al:a", Text: "(unencrypted) x"}, "[2026-01-02 03:04:05] !r:a <@al:a> (unencrypted) x"},
		{client.Entry{TS: ts, Kind: client.KindUndecryptable, RoomID: "!r:a", Sender: "@al:a", Error: "epoch 3 is gone"}, "[2026-01-02 03:04:05] !r:a <@al:a> ** cannot decrypt: epoch 3 is gone **"},
		{client.Entry{TS: ts, Kind: client.KindMembership, RoomID: "!r:a", Text: "@bo:b joined"}, "[2026-01-02 03:04:05] !r:a * @bo:b joined"},
		{client.Entry{TS: ts, Kind: client.KindRejected, RoomID: "!r:a", ErrCode: "M_MLS_WRONG_EPOCH", Error: "epoch 4"}, "[2026-01-02 03:04:05] !r:a ! refused by the Delivery Service: M_MLS_WRONG_EPOCH: epoch 4"},
		{client.Entry{TS: ts, Kind: client.KindNotice, Error: "ignored m.mls.commit"}, "[2026-01-02 03:04:05] - ! ignored m.mls.commit"},
	}
	for _, tc := range cases {
		if got := formatEntry(tc.entry, time.UTC); got != tc.want {
			t.Errorf("formatEntry(%+v)\n got %q\nwant %q", tc.entry, got, tc.want)
		}
	}
}

// The commands against two running servers, as two people would use them.
func TestCommandsAgainstServers(t *testing.T) {
	d := harness.Deploy(t, harness.SQLite, 2)
	a, b := d.Servers[0], d.Servers[1]
	dir := t.TempDir()
	alice := newCLI(t, map[string]string{
		"MLSCLIENT_HOME":       filepath.Join(dir, "alice"),
		"MLSCLIENT_HOMESERVER": a.ClientURL,
		"MLSCLIENT_PASSWORD":   harness.Password,
	})
	bob := newCLI(t, map[string]string{
		"MLSCLIENT_HOME":       filepath.Join(dir, "bob"),
		"MLSCLIENT_HOMESERVER": b.ClientURL,
		"MLSCLIENT_PASSWORD":   harness.Password,
		"MLSCLIENT_PASSPHRASE": "bob's passphrase",
	})
	keyFile := filepath.Join(dir, "alice.key")

	out := alice.must("--key-file", keyFile, "register", "alice")
	if !strings.Contains(out, "registered "+a.UserID("alice")) {
		t.Fatalf("register printed %q", out)
	}
	alice.vars["MLSCLIENT_PASSPHRASE"] = "unused" // the key file wins
	who := alice.mustJSON("--key-file", keyFile, "whoami")
	if len(who) != 1 || who[0]["user_id"] != a.UserID("alice") || who[0]["ed25519"] == "" {
		t.Fatalf("whoami: %v", who)
	}
	if status, _, stderr := alice.run("whoami"); status != 1 || !strings.Contains(stderr, "key file") {
		t.Fatalf("whoami with a passphrase for a key-file profile: %d %q", status, stderr)
	}
	bobID := bob.mustJSON("register", "bob")[0]["user_id"].(string)
	carol := newCLI(t, map[string]string{"MLSCLIENT_HOME": filepath.Join(dir, "carol"), "MLSCLIENT_PASSPHRASE": "c", "MLSCLIENT_PASSWORD": harness.Password})
	carolID := carol.mustJSON("register", "--homeserver", b.ClientURL, "carol")[0]["user_id"].(string)

	room := alice.mustJSON("--key-file", keyFile, "create-room", "--name", "plans", "--preset", "public_chat")[0]
	if room["ds"] != string(a.Name) {
		t.Fatalf("create-room: %v", room)
	}
	mlsMembers := alice.mustJSON("--key-file", keyFile, "members", room["room_id"].(string))
	if len(mlsMembers) != 1 || fmt.Sprint(mlsMembers[0]["mls_devices"]) != fmt.Sprintf("[%s]", who[0]["device_id"]) {
		t.Fatalf("members of the new MLS room: %v", mlsMembers)
	}

	// The Matrix flows in a room without MLS (the MLS flows are in the
	// scenario suite): made through the SDK on alice's profile.
	sdk, err := client.Open(client.Profile{Dir: alice.vars["MLSCLIENT_HOME"], Key: store.KeyFile(keyFile)})
	if err != nil {
		t.Fatal(err)
	}
	roomID, err := sdk.API().CreateRoom(context.Background(), map[string]any{"preset": "public_chat"})
	if err != nil {
		t.Fatal(err)
	}

	// Bulk invites show progress on stderr and one result per user.
	status, stdout, stderr := alice.run("--key-file", keyFile, "invite", roomID, bobID, carolID)
	if status != 0 || strings.Count(stdout, "invited ") != 2 || !strings.Contains(stderr, "inviting: 1/2 "+carolID) || !strings.Contains(stderr, "inviting: 2/2 done") {
		t.Fatalf("invite: %d\n%s\n%s", status, stdout, stderr)
	}
	status, _, stderr = alice.run("--key-file", keyFile, "invite", roomID, "@nobody:127.0.0.1:1")
	if status != 1 || !strings.Contains(stderr, "inviting @nobody:127.0.0.1:1") {
		t.Fatalf("invite of an unreachable user: %d %q", status, stderr)
	}

	listened := bob.must("listen", "--for", "3s")
	if !strings.Contains(listened, "* "+a.UserID("alice")+" invited you") {
		t.Fatalf("bob's listen printed:\n%s", listened)
	}
	bob.must("join", roomID)
	// listen continues where it stopped: the invite is not printed again.
	listened = bob.must("listen", "--for", "3s")
	if strings.Contains(listened, "invited you") || !strings.Contains(listened, bobID+" joined") {
		t.Fatalf("bob's second listen printed:\n%s", listened)
	}
	all := bob.mustJSON("listen", "--all", "--for", "1s")
	if len(all) < 2 || all[0]["kind"] != "invite" {
		t.Fatalf("listen --all: %v", all)
	}

	members := alice.mustJSON("--key-file", keyFile, "members", roomID)
	got := map[string]any{}
	for _, m := range members {
		got[m["user_id"].(string)] = m["membership"]
	}
	if got[a.UserID("alice")] != "join" || got[bobID] != "join" || got[carolID] != "invite" {
		t.Fatalf("members: %v", members)
	}
	rooms := bob.must("rooms")
	if !strings.Contains(rooms, roomID) {
		t.Fatalf("bob's rooms: %q", rooms)
	}
	devices := bob.must("devices", a.UserID("alice"))
	if !strings.Contains(devices, "signature valid") || !strings.Contains(devices, who[0]["ed25519"].(string)) {
		t.Fatalf("devices of alice: %q", devices)
	}
	if own := bob.must("devices"); !strings.Contains(own, "(this device)") {
		t.Fatalf("own devices: %q", own)
	}

	bob.must("leave", roomID)
	bob.must("logout")
	status, _, stderr = bob.run("rooms")
	if status != 0 {
		t.Fatalf("rooms after logout (local): %d %q", status, stderr)
	}
	status, _, stderr = bob.run("devices")
	if status != 1 || !strings.Contains(stderr, "logged out") {
		t.Fatalf("devices after logout: %d %q", status, stderr)
	}
}

// The MLS commands on one server: a second device of the same user is
// added to a room's group, both devices exchange encrypted messages that
// listen prints, members shows both devices, and remove-device takes the
// second out again.
func TestMLSCommands(t *testing.T) {
	d := harness.Deploy(t, harness.SQLite, 1)
	s := d.Servers[0]
	dir := t.TempDir()
	vars := func(home string) map[string]string {
		return map[string]string{
			"MLSCLIENT_HOME":       filepath.Join(dir, home),
			"MLSCLIENT_HOMESERVER": s.ClientURL,
			"MLSCLIENT_PASSWORD":   harness.Password,
			"MLSCLIENT_PASSPHRASE": "secret of " + home,
		}
	}
	phone, laptop := newCLI(t, vars("phone")), newCLI(t, vars("laptop"))
	phone.must("register", "alice")
	laptopID := laptop.mustJSON("login", "alice")[0]["device_id"].(string)
	roomID := phone.mustJSON("create-room", "--name", "notes")[0]["room_id"].(string)

	status, stdout, stderr := phone.run("add-device", roomID, laptopID)
	if status != 0 || !strings.Contains(stdout, "added device "+laptopID) || !strings.Contains(stderr, "adding device") {
		t.Fatalf("add-device: %d\n%s\n%s", status, stdout, stderr)
	}
	if out := laptop.must("listen", "--for", "3s"); !strings.Contains(out, "joined the group from a Welcome") {
		t.Fatalf("the laptop's listen after add-device:\n%s", out)
	}
	sent := phone.mustJSON("send", roomID, "hello", "from", "the", "phone")
	if len(sent) != 1 || sent[0]["event_id"] == "" {
		t.Fatalf("send: %v", sent)
	}
	if out := laptop.must("listen", "--for", "3s"); !strings.Contains(out, "> hello from the phone") {
		t.Fatalf("the laptop's listen after send:\n%s", out)
	}
	laptop.must("send", roomID, "hello back")
	var entries []map[string]any
	for range 10 {
		entries = phone.mustJSON("listen", "--for", "1s")
		if len(entries) > 0 {
			break
		}
	}
	if !slices.ContainsFunc(entries, func(e map[string]any) bool {
		return e["kind"] == "message" && e["text"] == "hello back" && e["sender_device"] == laptopID
	}) {
		t.Fatalf("the phone's listen --json: %v", entries)
	}
	members := phone.mustJSON("members", roomID)
	if len(members) != 1 || len(members[0]["mls_devices"].([]any)) != 2 {
		t.Fatalf("members: %v", members)
	}
	phone.must("remove-device", roomID, laptopID)
	if out := phone.must("members", roomID); strings.Contains(out, laptopID) {
		t.Fatalf("members after remove-device:\n%s", out)
	}
	phone.must("send", roomID, "after the removal")
	if out := laptop.must("listen", "--for", "3s"); !strings.Contains(out, "** cannot decrypt: this device is not in the room's MLS group") {
		t.Fatalf("the removed laptop's listen:\n%s", out)
	}
	status, _, stderr = laptop.run("send", roomID, "x")
	if status != 1 || !strings.Contains(stderr, "not in the room's MLS group") {
		t.Fatalf("send from the removed laptop: %d %q", status, stderr)
	}
}
