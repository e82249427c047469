// Package interop checks our MLS core and our homeserver against ts-mls, an
// independent RFC 9420 implementation in TypeScript (npm, MIT), run by Node
// from this folder: fixtures.mjs prints ts-mls groups' handshake messages
// for our decoder and public group view, and device.mjs is a Matrix device
// whose MLS is ts-mls, driven step by step by the tests (see Device).
//
// The tests need Node 20 or later and the npm packages of
// package-lock.json (`npm ci` here; make test and .ci/run do it). Without
// them they skip, saying why, unless REQUIRE_NODE=1 (CI sets it), which
// makes that a failure.
package interop

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"testing"

	"github.com/matrix-org/dendrite/msc4244/test/harness"
)

// RequireNodeEnv names the variable that, set to 1, turns a missing Node
// or missing npm packages into a test failure.
const RequireNodeEnv = "REQUIRE_NODE"

// TSMLSVersion is the ts-mls release package.json pins.
const TSMLSVersion = "1.6.4"

// Node is the Node runtime and this folder with its npm packages installed.
type Node struct {
	Path string // the node binary
	Dir  string // test/interop
}

var (
	nodeOnce sync.Once
	node     *Node
	nodeErr  error
)

// NodeRuntime returns the Node runtime, or skips the test with one line
// saying what is missing (fails instead when REQUIRE_NODE=1).
func NodeRuntime(t testing.TB) *Node {
	t.Helper()
	nodeOnce.Do(func() { node, nodeErr = findNode() })
	if nodeErr != nil {
		if os.Getenv(RequireNodeEnv) == "1" {
			t.Fatalf("%s=1 but %v", RequireNodeEnv, nodeErr)
		}
		t.Skipf("Node: %v; the ts-mls interop tests skip", nodeErr)
	}
	return node
}

var nodeVersion = regexp.MustCompile(`^v(\d+)\.`)

func findNode() (*Node, error) {
	path, err := exec.LookPath("node")
	if err != nil {
		return nil, fmt.Errorf("node is not in PATH (install Node 20 or later, then run `npm ci` in test/interop)")
	}
	out, err := exec.Command(path, "--version").Output()
	if err != nil {
		return nil, fmt.Errorf("%s --version: %v", path, err)
	}
	version := bytes.TrimSpace(out)
	major := 0
	if m := nodeVersion.FindSubmatch(version); m != nil {
		major, _ = strconv.Atoi(string(m[1]))
	}
	if major < 20 {
		return nil, fmt.Errorf("%s is Node %s; ts-mls needs 20 or later", path, version)
	}
	root, err := harness.RepoRoot()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(root, "test", "interop")
	installed, err := os.ReadFile(filepath.Join(dir, "node_modules", "ts-mls", "package.json"))
	if err != nil {
		return nil, fmt.Errorf("the npm packages are not installed (run `npm ci` in %s)", dir)
	}
	var pkg struct{ Version string }
	if err = json.Unmarshal(installed, &pkg); err != nil || pkg.Version != TSMLSVersion {
		return nil, fmt.Errorf("node_modules holds ts-mls %q, not %s (run `npm ci` in %s)", pkg.Version, TSMLSVersion, dir)
	}
	return &Node{Path: path, Dir: dir}, nil
}

// Run runs a script of this folder with args and returns its standard
// output; it fails the test, showing the script's standard error, when
// the script fails.
func (n *Node) Run(t testing.TB, script string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(n.Path, append([]string{script}, args...)...)
	cmd.Dir = n.Dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node %s %v: %v\n%s", script, args, err, stderr.Bytes())
	}
	return stdout.Bytes()
}
