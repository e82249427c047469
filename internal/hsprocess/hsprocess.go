// Package hsprocess runs our homeserver binary as a child process on
// loopback: it prepares a data folder (configuration, signing key, TLS
// certificate signed by a local authority), starts the process with its output
// in a log file, waits until both listeners serve, and stops it.
//
// cmd/devserver (`make run`) and the test harness both use it.
package hsprocess

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/matrix-org/dendrite/setup/config"
	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/matrix-org/dendrite/msc4244/internal/devconfig"
	"github.com/matrix-org/dendrite/msc4244/internal/devtls"
)

// File names inside a data folder, next to devconfig's.
const (
	TLSCertFile = "tls_cert.pem"
	TLSKeyFile  = "tls_key.pem"
	LogFile     = "dendrite.log"
)

// Node is a prepared homeserver: its data folder and loopback ports.
type Node struct {
	Dir        string
	ServerName spec.ServerName
	HTTPPort   int // plain HTTP listener for clients
	HTTPSPort  int // TLS listener, the port in ServerName, for federation
	CA         *devtls.CA
	ConfigPath string
	Config     *config.Dendrite
	// Created tells whether Prepare wrote the configuration (false: reused).
	Created bool
}

// NodeOptions describe a homeserver to prepare.
type NodeOptions struct {
	Dir       string
	HTTPPort  int
	HTTPSPort int
	// ServerName defaults to 127.0.0.1:<HTTPSPort>.
	ServerName spec.ServerName
	// DatabaseURI is a Postgres connection string; empty means SQLite files.
	DatabaseURI string
	// CA signs the TLS certificate and is trusted by the process.
	CA *devtls.CA
	// Customize may change a configuration before it is first written.
	Customize func(*config.Dendrite)
}

// Prepare writes (or reuses) the configuration, signing key and TLS
// certificate of a homeserver in o.Dir.
func Prepare(o NodeOptions) (*Node, error) {
	if o.ServerName == "" {
		o.ServerName = spec.ServerName(net.JoinHostPort("127.0.0.1", strconv.Itoa(o.HTTPSPort)))
	}
	res, err := devconfig.Ensure(devconfig.Options{
		Dir:         o.Dir,
		ServerName:  o.ServerName,
		DatabaseURI: o.DatabaseURI,
		Customize:   o.Customize,
	})
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(res.Path)
	host, _, err := net.SplitHostPort(string(res.Config.Global.ServerName))
	if err != nil {
		host = string(res.Config.Global.ServerName)
	}
	if err = o.CA.EnsureServerCert(filepath.Join(dir, TLSCertFile), filepath.Join(dir, TLSKeyFile), host); err != nil {
		return nil, fmt.Errorf("TLS certificate: %w", err)
	}
	return &Node{
		Dir:        dir,
		ServerName: res.Config.Global.ServerName,
		HTTPPort:   o.HTTPPort,
		HTTPSPort:  o.HTTPSPort,
		CA:         o.CA,
		ConfigPath: res.Path,
		Config:     res.Config,
		Created:    res.Created,
	}, nil
}

// ClientURL is the base URL of the client-server API.
func (n *Node) ClientURL() string {
	return "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(n.HTTPPort))
}

// FederationURL is the base URL of the TLS listener.
func (n *Node) FederationURL() string {
	return "https://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(n.HTTPSPort))
}

// LogPath is the file that receives the process's stdout and stderr.
func (n *Node) LogPath() string {
	return filepath.Join(n.Dir, LogFile)
}

// Process is a running homeserver.
type Process struct {
	node   *Node
	cmd    *exec.Cmd
	done   chan struct{}
	result error
}

// Start runs binary for the node, appending its output to the node's log.
// The process runs in the data folder.
func (n *Node) Start(binary string) (*Process, error) {
	binary, err := filepath.Abs(binary)
	if err != nil {
		return nil, err
	}
	log, err := os.OpenFile(n.LogPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer log.Close() // nolint: errcheck
	cmd := exec.Command(binary,
		"--config", n.ConfigPath,
		"--really-enable-open-registration",
		"--http-bind-address", net.JoinHostPort("127.0.0.1", strconv.Itoa(n.HTTPPort)),
		"--https-bind-address", net.JoinHostPort("127.0.0.1", strconv.Itoa(n.HTTPSPort)),
		"--tls-cert", filepath.Join(n.Dir, TLSCertFile),
		"--tls-key", filepath.Join(n.Dir, TLSKeyFile),
	)
	cmd.Dir = n.Dir
	cmd.Env = append(os.Environ(), "SSL_CERT_FILE="+n.CA.CertPath)
	cmd.Stdout = log
	cmd.Stderr = log
	cmd.SysProcAttr = sysProcAttr()
	fmt.Fprintf(log, "=== starting %s at %s\n", n.ServerName, time.Now().Format(time.RFC3339))
	if err = cmd.Start(); err != nil {
		return nil, err
	}
	p := &Process{node: n, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.result = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Exited is closed when the process has ended.
func (p *Process) Exited() <-chan struct{} { return p.done }

// WaitReady waits until the client API and the TLS federation listener
// answer, or fails when the process ends or ctx is done first.
func (p *Process) WaitReady(ctx context.Context) error {
	httpClient := &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: p.node.CA.Pool()},
		},
	}
	defer httpClient.CloseIdleConnections()
	probes := []string{p.node.ClientURL() + "/_matrix/client/versions", p.node.FederationURL() + "/_matrix/key/v2/server"}
	for _, url := range probes {
		for !answers(ctx, httpClient, url) {
			select {
			case <-p.done:
				return fmt.Errorf("%s exited before serving (%v); log %s:\n%s", p.node.ServerName, p.result, p.node.LogPath(), LogTail(p.node.LogPath(), 20))
			case <-ctx.Done():
				return fmt.Errorf("%s did not serve %s: %w", p.node.ServerName, url, ctx.Err())
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	return nil
}

func answers(ctx context.Context, client *http.Client, url string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	res, err := client.Do(req)
	if err != nil {
		return false
	}
	res.Body.Close() // nolint: errcheck
	return res.StatusCode == http.StatusOK
}

// Stop asks the process to shut down (SIGTERM) and kills it when it has not
// ended within grace.
func (p *Process) Stop(grace time.Duration) error {
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(grace):
		return p.Kill()
	}
}

// Kill ends the process at once (SIGKILL), as a crash would, and waits
// until it is gone.
func (p *Process) Kill() error {
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	<-p.done
	return nil
}

// LogTail returns the last n lines of the file at path.
func LogTail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read log: %v)", err)
	}
	lines := bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	var b strings.Builder
	for _, line := range lines {
		b.Write(line)
		b.WriteByte('\n')
	}
	return b.String()
}
