// Command devserver runs a development homeserver on loopback, as `make run`
// does. On first run it creates a local certificate authority, then a signing
// key, a configuration and a TLS certificate in the data folder; later runs
// reuse them. It starts the homeserver binary with its output in
// <data>/dendrite.log, prints "ready: <url>" once the client API answers, and
// stops the server on SIGINT or SIGTERM.
//
// Two servers federate when they use different data folders and ports and
// the same authority folder, e.g.
//
//	devserver -data data  -port 8008 -https-port 8448
//	devserver -data data2 -port 8018 -https-port 8458
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/matrix-org/dendrite/msc4244/internal/devtls"
	"github.com/matrix-org/dendrite/msc4244/internal/hsprocess"
)

const (
	startTimeout = 3 * time.Minute
	stopGrace    = 30 * time.Second
)

func main() {
	binary := flag.String("bin", "bin/dendrite", "The homeserver binary to run")
	data := flag.String("data", "data", "The data folder (configuration, keys, databases, log)")
	port := flag.Int("port", 8008, "The loopback port of the client API (plain HTTP)")
	httpsPort := flag.Int("https-port", 8448, "The loopback port of the TLS listener used for federation")
	serverName := flag.String("server-name", "", "The server name when first generating the configuration (default 127.0.0.1:<https-port>)")
	caDir := flag.String("ca", "devca", "The folder of the local certificate authority shared by federating dev servers")
	database := flag.String("database", "", "A Postgres connection string used when first generating the configuration (default: SQLite files in the data folder)")
	flag.Parse()

	// Catch Ctrl-C from here on, so that the server is always stopped
	// through Stop and this process reports how it ended.
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)

	code, err := run(signals, os.Stdout, *binary, *caDir, hsprocess.NodeOptions{
		Dir:         *data,
		HTTPPort:    *port,
		HTTPSPort:   *httpsPort,
		ServerName:  spec.ServerName(*serverName),
		DatabaseURI: *database,
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "devserver: %v\n", err)
	}
	os.Exit(code)
}

// run prepares and starts the server, reports progress on out, stops the
// server when a signal arrives and returns the exit code to use.
func run(signals <-chan os.Signal, out io.Writer, binary, caDir string, o hsprocess.NodeOptions) (int, error) {
	var err error
	if o.CA, err = devtls.LoadOrCreateCA(caDir); err != nil {
		return 1, fmt.Errorf("certificate authority in %s: %w", caDir, err)
	}
	node, err := hsprocess.Prepare(o)
	if err != nil {
		return 1, err
	}
	state := "reused"
	if node.Created {
		state = "generated"
	}
	fmt.Fprintf(out, "server name: %s\nconfig: %s (%s)\nlogs: %s\n", node.ServerName, relative(node.ConfigPath), state, relative(node.LogPath()))
	proc, err := node.Start(binary)
	if err != nil {
		return 1, err
	}

	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	ready := make(chan error, 1)
	go func() { ready <- proc.WaitReady(ctx) }()
	select {
	case err = <-ready:
		cancel()
		if err != nil {
			_ = proc.Kill()
			return 1, err
		}
		fmt.Fprintf(out, "ready: %s\n", node.ClientURL())
	case <-signals:
		cancel()
		return 1, proc.Stop(stopGrace)
	}

	select {
	case <-signals:
		return 0, proc.Stop(stopGrace)
	case <-proc.Exited():
		return 1, errors.New("the server stopped; see " + relative(node.LogPath()) + ":\n" + hsprocess.LogTail(node.LogPath(), 20))
	}
}

// relative shortens path to be relative to the working directory.
func relative(path string) string {
	wd, err := os.Getwd()
	if err != nil {
		return path
	}
	if rel, err := filepath.Rel(wd, path); err == nil {
		return rel
	}
	return path
}
