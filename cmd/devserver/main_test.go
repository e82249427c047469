package main

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/matrix-org/dendrite/msc4244/internal/devconfig"
	"github.com/matrix-org/dendrite/msc4244/internal/hsprocess"
	"github.com/matrix-org/dendrite/msc4244/test/harness"
)

// What `make run` does, twice on one data folder: the first run generates
// the configuration and keys, the second reuses them; both serve
// /_matrix/client/versions once "ready" is printed, and stop on SIGTERM.
// Paths are relative to the working directory, as make passes them.
func TestRunGeneratesThenReuses(t *testing.T) {
	dir := t.TempDir()
	binary, err := filepath.Rel(dir, harness.Binary(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	ports := harness.FreePorts(t, 2)
	opts := hsprocess.NodeOptions{Dir: "data", HTTPPort: ports[0], HTTPSPort: ports[1]}
	caDir := "devca"
	keyPath := filepath.Join(opts.Dir, devconfig.KeyFile)

	var firstKey []byte
	for _, want := range []string{"generated", "reused"} {
		lines := runUntilStopped(t, binary, caDir, opts)
		if !strings.Contains(lines, "("+want+")") {
			t.Fatalf("run output should say the configuration was %s:\n%s", want, lines)
		}
		key, err := os.ReadFile(keyPath)
		if err != nil {
			t.Fatal(err)
		}
		if firstKey == nil {
			firstKey = key
		} else if !bytes.Equal(key, firstKey) {
			t.Fatal("the second run replaced the signing key")
		}
	}
}

// runUntilStopped runs the server, checks that it serves after printing
// "ready", stops it with SIGTERM and returns what run printed.
func runUntilStopped(t *testing.T, binary, caDir string, opts hsprocess.NodeOptions) string {
	t.Helper()
	signals := make(chan os.Signal, 1)
	outR, outW := io.Pipe()
	type result struct {
		code int
		err  error
	}
	done := make(chan result, 1)
	go func() {
		code, err := run(signals, outW, binary, caDir, opts)
		outW.Close() // nolint: errcheck
		done <- result{code, err}
	}()

	url := "http://127.0.0.1:" + strconv.Itoa(opts.HTTPPort)
	var printed strings.Builder
	lines := bufio.NewScanner(outR)
	ready := false
	for !ready && lines.Scan() {
		printed.WriteString(lines.Text() + "\n")
		ready = lines.Text() == "ready: "+url
	}
	if !ready {
		r := <-done
		t.Fatalf("run ended before printing ready (code %d, error %v):\n%s", r.code, r.err, printed.String())
	}
	go io.Copy(io.Discard, outR) // nolint: errcheck

	res, err := (&http.Client{Timeout: 10 * time.Second}).Get(url + "/_matrix/client/versions")
	if err != nil {
		t.Fatalf("after %q: %v", printed.String(), err)
	}
	res.Body.Close() // nolint: errcheck
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /_matrix/client/versions: HTTP %d", res.StatusCode)
	}

	signals <- syscall.SIGTERM
	select {
	case r := <-done:
		if r.code != 0 || r.err != nil {
			t.Fatalf("run ended with code %d, error %v", r.code, r.err)
		}
	case <-time.After(time.Minute):
		t.Fatal("run did not stop after SIGTERM")
	}
	return printed.String()
}
