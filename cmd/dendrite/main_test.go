package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"
)

const panicModeEnv = "DENDRITE_TEST_PANIC_MODE"

// panicInChild runs in the child process started by TestExitOnPanic.
func panicInChild(mode string) {
	logrus.SetOutput(io.Discard) // as after Dendrite's logging setup: entries go to hooks
	defer exitOnPanic()
	switch mode {
	case "logrus":
		logrus.WithError(errors.New("connection reset")).Panic("failed to connect to room server db")
	default:
		panic("index out of range")
	}
}

// A panic on the main goroutine (Dendrite's constructors panic through
// logrus) ends the process with one line and exit status 1, without a
// goroutine trace.
func TestExitOnPanic(t *testing.T) {
	if mode := os.Getenv(panicModeEnv); mode != "" {
		panicInChild(mode)
		return
	}
	for mode, want := range map[string]string{
		"logrus": "dendrite: fatal: failed to connect to room server db: connection reset",
		"plain":  "dendrite: fatal: index out of range",
	} {
		t.Run(mode, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestExitOnPanic$")
			cmd.Env = append(os.Environ(), panicModeEnv+"="+mode)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 1 {
				t.Fatalf("want exit status 1, got %v; stderr: %s", err, &stderr)
			}
			if got := strings.TrimSuffix(stderr.String(), "\n"); got != want {
				t.Fatalf("stderr is %q, want %q", got, want)
			}
		})
	}
}
