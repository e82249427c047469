// Package harness runs homeservers for tests: each is a process of our
// binary (see Binary) on loopback with its own server name
// "127.0.0.1:<tls port>", its own SQLite files or Postgres database, and a
// TLS listener with a certificate from a per-deployment authority that every
// server of the deployment trusts (federation_api.disable_tls_validation is
// false). Servers log to <data>/dendrite.log; when a test fails the end of
// each log is printed. Processes are killed and databases dropped when the
// test ends.
//
//	harness.ForEachDatabase(t, func(t *testing.T, db harness.DB) {
//		d := harness.Deploy(t, db, 2)
//		alice := d.Servers[0].MustRegisterUser(t, "alice")
//		bob := d.Servers[1].MustRegisterUser(t, "bob")
//		...
//	})
package harness

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/matrix-org/dendrite/setup/config"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"golang.org/x/crypto/bcrypt"

	"github.com/matrix-org/dendrite/msc4244/internal/devtls"
	"github.com/matrix-org/dendrite/msc4244/internal/hsprocess"
	"github.com/matrix-org/dendrite/msc4244/test/client"
)

// Password is the password of users made by Server.MustRegisterUser.
const Password = "harness-password"

const (
	startTimeout = 3 * time.Minute
	stopGrace    = 30 * time.Second
	logTailLines = 80
	// maxOpenConns bounds each server's Postgres connections, so that several
	// servers fit in Postgres' default limit of 100.
	maxOpenConns = 10
)

// Options describe a deployment.
type Options struct {
	// Servers is the number of homeservers (at least 1).
	Servers int
	// Config, when set, changes the configuration of server i before it is
	// written (after the harness's own settings).
	Config func(i int, cfg *config.Dendrite)
}

// Deployment is a set of running homeservers that federate with each other.
type Deployment struct {
	DB      DB
	Servers []*Server
}

// Deploy starts n homeservers on db and waits until all serve.
func Deploy(t testing.TB, db DB, n int) *Deployment {
	t.Helper()
	return DeployWith(t, db, Options{Servers: n})
}

// DeployWith starts the homeservers described by o and waits until all
// serve. They start in parallel.
func DeployWith(t testing.TB, db DB, o Options) *Deployment {
	t.Helper()
	if o.Servers < 1 {
		t.Fatalf("harness: a deployment needs at least one server, got %d", o.Servers)
	}
	binary := Binary(t)
	root := t.TempDir()
	ca, err := devtls.LoadOrCreateCA(filepath.Join(root, "ca"))
	if err != nil {
		t.Fatalf("harness: certificate authority: %v", err)
	}
	ports := FreePorts(t, 2*o.Servers)
	d := &Deployment{DB: db}
	for i := range o.Servers {
		node, err := hsprocess.Prepare(hsprocess.NodeOptions{
			Dir:         filepath.Join(root, fmt.Sprintf("hs%d", i)),
			HTTPPort:    ports[2*i],
			HTTPSPort:   ports[2*i+1],
			DatabaseURI: db.NewDatabase(t),
			CA:          ca,
			Customize:   customize(i, o.Config),
		})
		if err != nil {
			t.Fatalf("harness: preparing server %d: %v", i, err)
		}
		d.Servers = append(d.Servers, newServer(binary, node))
	}
	t.Cleanup(func() { d.teardown(t) })

	errs := make([]error, len(d.Servers))
	var wg sync.WaitGroup
	for i, s := range d.Servers {
		wg.Go(func() { errs[i] = s.start() })
	}
	wg.Wait()
	if err = errors.Join(errs...); err != nil {
		t.Fatalf("harness: %v", err)
	}
	return d
}

func customize(i int, extra func(int, *config.Dendrite)) func(*config.Dendrite) {
	return func(cfg *config.Dendrite) {
		cfg.UserAPI.BCryptCost = bcrypt.MinCost
		cfg.Global.DatabaseOptions.MaxOpenConnections = maxOpenConns
		if extra != nil {
			extra(i, cfg)
		}
	}
}

// teardown kills every server, reports servers that ended on their own and,
// when the test failed, prints the end of every log.
func (d *Deployment) teardown(t testing.TB) {
	for _, s := range d.Servers {
		if crashed := s.kill(); crashed != nil {
			t.Errorf("harness: %s ended on its own during the test: %v", s.Name, crashed)
		}
	}
	if t.Failed() {
		for _, s := range d.Servers {
			t.Logf("=== last %d lines of %s (%s):\n%s", logTailLines, s.LogPath(), s.Name, s.LogTail(logTailLines))
		}
	}
}

// FreePorts returns n distinct loopback TCP ports that were free a moment
// ago.
func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	ports := make([]int, n)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("harness: finding a free port: %v", err)
		}
		defer l.Close() // nolint: errcheck
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports
}

// Server is one homeserver of a deployment. Its data survives Stop, Kill and
// Start.
type Server struct {
	Name          spec.ServerName // 127.0.0.1:<FederationURL's port>
	ClientURL     string          // plain HTTP client-server API
	FederationURL string          // TLS listener (federation, keys)
	Dir           string          // data folder
	Config        *config.Dendrite

	binary string
	node   *hsprocess.Node
	mu     sync.Mutex
	proc   *hsprocess.Process
}

func newServer(binary string, node *hsprocess.Node) *Server {
	return &Server{
		Name:          node.ServerName,
		ClientURL:     node.ClientURL(),
		FederationURL: node.FederationURL(),
		Dir:           node.Dir,
		Config:        node.Config,
		binary:        binary,
		node:          node,
	}
}

// Start starts a stopped server again and waits until it serves.
func (s *Server) Start(t testing.TB) {
	t.Helper()
	if err := s.start(); err != nil {
		t.Fatalf("harness: %v", err)
	}
}

func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		return fmt.Errorf("%s is already running", s.Name)
	}
	proc, err := s.node.Start(s.binary)
	if err != nil {
		return fmt.Errorf("starting %s: %w", s.Name, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if err = proc.WaitReady(ctx); err != nil {
		_ = proc.Kill()
		return err
	}
	s.proc = proc
	return nil
}

// Stop shuts the server down gracefully (SIGTERM), killing it if it has not
// stopped within 30 seconds.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		t.Fatalf("harness: %s is not running", s.Name)
	}
	if err := s.proc.Stop(stopGrace); err != nil {
		t.Fatalf("harness: stopping %s: %v", s.Name, err)
	}
	s.proc = nil
}

// Kill ends the server at once with SIGKILL, as a crash would.
func (s *Server) Kill(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	running := s.proc != nil
	s.mu.Unlock()
	if !running {
		t.Fatalf("harness: %s is not running", s.Name)
	}
	s.kill() // nolint: errcheck
}

// kill ends the server if it runs; it returns an error when the process had
// already ended by itself.
func (s *Server) kill() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return nil
	}
	var crashed error
	select {
	case <-s.proc.Exited():
		crashed = errors.New("see " + s.LogPath())
	default:
	}
	_ = s.proc.Kill()
	s.proc = nil
	return crashed
}

// Running tells whether the server's process is running.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return false
	}
	select {
	case <-s.proc.Exited():
		return false
	default:
		return true
	}
}

// Client returns a client without credentials for this server.
func (s *Server) Client() *client.Client {
	return client.New(s.ClientURL)
}

// MustRegisterUser registers localpart (with the password Password) and
// returns a client logged in as its first device.
func (s *Server) MustRegisterUser(t testing.TB, localpart string) *client.Client {
	t.Helper()
	return s.Client().MustRegister(t, localpart, Password)
}

// UserID returns the full user ID of localpart on this server.
func (s *Server) UserID(localpart string) string {
	return "@" + localpart + ":" + string(s.Name)
}

// SharedSecret is the registration shared secret of the server, for
// client.MustRegisterWithSharedSecret.
func (s *Server) SharedSecret() string {
	return s.Config.ClientAPI.RegistrationSharedSecret
}

// LogPath is the file receiving the server's output.
func (s *Server) LogPath() string { return s.node.LogPath() }

// LogTail returns the last n lines of the server's log.
func (s *Server) LogTail(n int) string { return hsprocess.LogTail(s.LogPath(), n) }
