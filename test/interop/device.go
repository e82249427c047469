package interop

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"github.com/matrix-org/dendrite/msc4244/test/harness"
)

const (
	// callTimeout bounds one request to the device; the device's own
	// waits (for the DS, for a message) end sooner.
	callTimeout = 3 * time.Minute
	// stderrKeep is how much of the device's diagnostics a failure shows.
	stderrKeep = 64 << 10
)

// Device is a running device.mjs: a Matrix device whose MLS is ts-mls. Its
// commands are listed in device.mjs. The process ends with the test.
type Device struct {
	// Name labels the device in failure messages.
	Name string
	// Peer, when set, describes the other side's view (epochs, tree
	// hashes) in failure messages.
	Peer func() string
	// UserID and DeviceID: the Matrix device, once registered.
	UserID, DeviceID string

	cmd     *exec.Cmd
	stdin   io.WriteCloser
	answers chan answer
	stderr  *tail
	nextID  int
}

type answer struct {
	line []byte
	err  error
}

// Device starts a device.mjs process.
func (n *Node) Device(t testing.TB, name string) *Device {
	t.Helper()
	d := &Device{Name: name, answers: make(chan answer, 1), stderr: &tail{}}
	d.cmd = exec.Command(n.Path, "device.mjs")
	d.cmd.Dir = n.Dir
	d.cmd.Stderr = d.stderr
	var err error
	if d.stdin, err = d.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := d.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err = d.cmd.Start(); err != nil {
		t.Fatalf("starting the ts-mls device %s: %v", name, err)
	}
	go d.read(stdout)
	t.Cleanup(func() {
		d.stop()
		if t.Failed() {
			t.Logf("ts-mls device %s, end of its diagnostics:\n%s", name, d.stderr.String())
		}
	})
	return d
}

func (d *Device) read(stdout io.Reader) {
	lines := bufio.NewScanner(stdout)
	lines.Buffer(make([]byte, 1<<20), 64<<20)
	for lines.Scan() {
		d.answers <- answer{line: append([]byte(nil), lines.Bytes()...)}
	}
	err := lines.Err()
	if err == nil {
		err = io.ErrUnexpectedEOF
	}
	d.answers <- answer{err: fmt.Errorf("the device's output ended: %w", err)}
	close(d.answers)
}

// stop closes the device's input, which ends it, and kills it if it has
// not ended within a few seconds.
func (d *Device) stop() {
	d.stdin.Close() // nolint: errcheck
	done := make(chan struct{})
	go func() { d.cmd.Wait(); close(done) }() // nolint: errcheck
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		d.cmd.Process.Kill() // nolint: errcheck
		<-done
	}
}

// Failure is a command the device could not carry out, with its view of
// every group it is in.
type Failure struct {
	Command string
	Reason  string
	Views   json.RawMessage
}

func (f *Failure) Error() string {
	return fmt.Sprintf("ts-mls %s: %s\nts-mls views: %s", f.Command, f.Reason, f.Views)
}

// Try sends one command and returns its result, or a *Failure when the
// device answers with an error.
func (d *Device) Try(t testing.TB, command string, args any) (gjson.Result, error) {
	t.Helper()
	d.nextID++
	req, err := json.Marshal(map[string]any{"id": d.nextID, "cmd": command, "args": args})
	if err != nil {
		t.Fatal(err)
	}
	if _, err = d.stdin.Write(append(req, '\n')); err != nil {
		t.Fatalf("ts-mls device %s: sending %s: %v%s", d.Name, command, err, d.peer())
	}
	var a answer
	select {
	case a = <-d.answers:
	case <-time.After(callTimeout):
		t.Fatalf("ts-mls device %s: no answer to %s within %s%s", d.Name, command, callTimeout, d.peer())
	}
	if a.err != nil {
		t.Fatalf("ts-mls device %s: %s: %v%s", d.Name, command, a.err, d.peer())
	}
	res := gjson.ParseBytes(a.line)
	if res.Get("id").Int() != int64(d.nextID) {
		t.Fatalf("ts-mls device %s: answer %s to request %d", d.Name, a.line, d.nextID)
	}
	if !res.Get("ok").Bool() {
		return res, &Failure{Command: command, Reason: res.Get("error").Str, Views: json.RawMessage(res.Get("views").Raw)}
	}
	return res.Get("result"), nil
}

// Register registers username on the homeserver at homeserver with the
// harness's password; the device uses cipher suite 1.
func (d *Device) Register(t testing.TB, homeserver, username string) {
	t.Helper()
	d.signIn(t, "register", map[string]any{"homeserver": homeserver, "username": username, "password": harness.Password})
}

// Login logs a new device of user (password: the harness's) in.
func (d *Device) Login(t testing.TB, homeserver, user string) {
	t.Helper()
	d.signIn(t, "login", map[string]any{"homeserver": homeserver, "user": user, "password": harness.Password})
}

func (d *Device) signIn(t testing.TB, command string, args map[string]any) {
	t.Helper()
	res := d.Call(t, command, args)
	d.UserID, d.DeviceID = res.Get("user_id").Str, res.Get("device_id").Str
}

// Call is Try that fails the test, showing both sides' views, when the
// device answers with an error.
func (d *Device) Call(t testing.TB, command string, args any) gjson.Result {
	t.Helper()
	res, err := d.Try(t, command, args)
	if err != nil {
		t.Fatalf("device %s: %v%s", d.Name, err, d.peer())
	}
	return res
}

func (d *Device) peer() string {
	if d.Peer == nil {
		return ""
	}
	return "\nour side: " + d.Peer()
}

// tail keeps the last stderrKeep bytes written to it.
type tail struct {
	mu  sync.Mutex
	buf []byte
}

func (w *tail) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	if over := len(w.buf) - stderrKeep; over > 0 {
		w.buf = w.buf[over:]
	}
	return len(p), nil
}

func (w *tail) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.TrimSpace(string(w.buf))
}
