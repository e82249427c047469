package harness

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
)

// BinaryEnv names the variable holding the path of a prebuilt homeserver
// binary (make test sets it).
const BinaryEnv = "DENDRITE_BIN"

const modulePath = "github.com/matrix-org/dendrite/msc4244"

var (
	binaryOnce sync.Once
	binaryPath string
	binaryErr  error
)

// Binary returns the homeserver binary to run: $DENDRITE_BIN (a relative
// path is taken from the repository root), or else
// bin/dendrite in the repository, (re)built once per test process with
// `go build` under a file lock, so that packages tested in parallel share it.
func Binary(t testing.TB) string {
	t.Helper()
	binaryOnce.Do(func() {
		if path := os.Getenv(BinaryEnv); path != "" {
			binaryPath, binaryErr = fromRepoRoot(path)
			if binaryErr == nil {
				_, binaryErr = os.Stat(binaryPath)
			}
			return
		}
		binaryPath, binaryErr = buildBinary()
	})
	if binaryErr != nil {
		t.Fatalf("homeserver binary: %v", binaryErr)
	}
	return binaryPath
}

func buildBinary() (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	binDir := filepath.Join(root, "bin")
	if err = os.MkdirAll(binDir, 0o755); err != nil {
		return "", err
	}
	lock, err := os.OpenFile(filepath.Join(binDir, ".build.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", err
	}
	defer lock.Close() // nolint: errcheck
	if err = syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", err
	}
	path := filepath.Join(binDir, "dendrite")
	cmd := exec.Command("go", "build", "-o", path, "./cmd/dendrite")
	cmd.Dir = root
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err = cmd.Run(); err != nil {
		return "", errors.New("go build ./cmd/dendrite: " + err.Error() + "\n" + out.String())
	}
	return path, nil
}

func fromRepoRoot(path string) (string, error) {
	if filepath.IsAbs(path) {
		return path, nil
	}
	root, err := RepoRoot()
	return filepath.Join(root, path), err
}

// RepoRoot returns the folder of our go.mod, found from the working
// directory upwards.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.HasPrefix(data, []byte("module "+modulePath+"\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("cannot find the repository root (go.mod of " + modulePath + ")")
		}
		dir = parent
	}
}
