package main

import (
	"context"
	"crypto/tls"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/matrix-org/dendrite/internal/sqlutil"
	"github.com/matrix-org/dendrite/setup/config"
	"github.com/sirupsen/logrus"

	_ "github.com/lib/pq" // the "postgres" driver, as Dendrite's storage uses
)

// pingTimeout bounds how long an unreachable database can delay startup.
const pingTimeout = 15 * time.Second

// preflight checks what Dendrite's constructors would otherwise report with
// a panic or a fatal log deep inside startup: the TLS key pair, the listening
// addresses, every configured database and the folders Dendrite writes to.
func preflight(cfg *config.Dendrite, addrs listeners) error {
	if addrs.https.Enabled() {
		if _, err := tls.LoadX509KeyPair(*certFile, *keyFile); err != nil {
			return fmt.Errorf("TLS certificate %s / key %s: %w", *certFile, *keyFile, err)
		}
	}
	for _, addr := range []config.ServerAddress{addrs.http, addrs.https} {
		if addr.Enabled() && !addr.IsUnixSocket() {
			if err := checkListen(addr.Address); err != nil {
				return err
			}
		}
	}
	for _, db := range databases(cfg) {
		if err := checkDatabase(db); err != nil {
			return fmt.Errorf("database %s: %w", redact(db.ConnectionString), err)
		}
	}
	for _, dir := range workDirs(cfg) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("folder %s: %w", dir, err)
		}
		if err := checkWritableDir(dir); err != nil {
			return err
		}
	}
	return nil
}

func checkListen(address string) error {
	l, err := net.Listen("tcp", address)
	if err != nil {
		return fmt.Errorf("cannot listen on %s: %w", address, err)
	}
	return l.Close()
}

// databases returns the settings of each distinct database of the
// configuration. Components without their own connection string use the
// global one, which cfg.Verify has already required in that case.
func databases(cfg *config.Dendrite) []*config.DatabaseOptions {
	all := []*config.DatabaseOptions{
		&cfg.Global.DatabaseOptions,
		&cfg.FederationAPI.Database,
		&cfg.KeyServer.Database,
		&cfg.MediaAPI.Database,
		&cfg.RelayAPI.Database,
		&cfg.RoomServer.Database,
		&cfg.SyncAPI.Database,
		&cfg.UserAPI.AccountDatabase,
		&cfg.MSCs.Database, // also the MLS Delivery Service's (mlsds)
	}
	seen := map[config.DataSource]bool{"": true}
	var distinct []*config.DatabaseOptions
	for _, db := range all {
		if !seen[db.ConnectionString] {
			seen[db.ConnectionString] = true
			distinct = append(distinct, db)
		}
	}
	return distinct
}

func checkDatabase(opts *config.DatabaseOptions) error {
	if opts.ConnectionString.IsSQLite() {
		path, err := sqlutil.ParseFileURI(opts.ConnectionString)
		if err != nil {
			return err
		}
		return checkSQLiteFile(path)
	}
	db, err := sql.Open("postgres", string(opts.ConnectionString))
	if err != nil {
		return err
	}
	defer db.Close() // nolint: errcheck
	ctx, cancel := context.WithTimeout(context.Background(), pingTimeout)
	defer cancel()
	if err = db.PingContext(ctx); err != nil {
		return err
	}
	if opts.MaxIdleConns() < opts.MaxOpenConns() {
		// A burst beyond the idle connections reopens connections, a
		// Postgres backend each time (docs/operations.md).
		logrus.Warnf("database %s: max_idle_conns %d is below max_open_conns %d; bursts such as MLS fan-outs will reopen connections",
			redact(opts.ConnectionString), opts.MaxIdleConns(), opts.MaxOpenConns())
	}
	return checkConnectionLimit(ctx, db, opts.MaxOpenConns())
}

// checkConnectionLimit refuses max_open_conns above what Postgres allows
// ordinary users, as Dendrite's storage does later (with a panic), unless
// --skip-db-sanity is given.
func checkConnectionLimit(ctx context.Context, db *sql.DB, maxOpen int) error {
	if skip, err := dendriteFlag("skip-db-sanity"); err != nil || skip == "true" {
		return err
	}
	var allowed int
	err := db.QueryRowContext(ctx, `SELECT
		(SELECT setting::integer FROM pg_settings WHERE name = 'max_connections') -
		(SELECT setting::integer FROM pg_settings WHERE name = 'superuser_reserved_connections')`).Scan(&allowed)
	if err != nil {
		return fmt.Errorf("reading the connection limit: %w", err)
	}
	if maxOpen > allowed {
		return fmt.Errorf("max_open_conns is %d but Postgres allows %d connections (raise max_connections, lower max_open_conns, or pass --skip-db-sanity)", maxOpen, allowed)
	}
	return nil
}

// checkSQLiteFile checks that the database file can be opened for writing,
// or created when it does not exist yet.
func checkSQLiteFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err == nil {
		return f.Close()
	}
	if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return checkWritableDir(filepath.Dir(path))
}

// workDirs lists the folders Dendrite creates files in, creating them
// itself when missing.
func workDirs(cfg *config.Dendrite) []string {
	var dirs []string
	if js := cfg.Global.JetStream; len(js.Addresses) == 0 && !js.InMemory {
		dirs = append(dirs, string(js.StoragePath))
	}
	dirs = append(dirs, string(cfg.MediaAPI.AbsBasePath))
	if ft := cfg.SyncAPI.Fulltext; ft.Enabled && !ft.InMemory {
		dirs = append(dirs, string(ft.IndexPath))
	}
	return dirs
}

// checkWritableDir checks that a file can be created in dir.
func checkWritableDir(dir string) error {
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("folder %s does not exist", dir)
	}
	f, err := os.CreateTemp(dir, ".dendrite-write-check-*")
	if err != nil {
		return fmt.Errorf("folder %s is not writable: %w", dir, err)
	}
	name := f.Name()
	if err = f.Close(); err != nil {
		return err
	}
	return os.Remove(name)
}

var keyValuePassword = regexp.MustCompile(`password=('[^']*'|\S*)`)

// redact hides the password of a Postgres connection string, in either of
// its URL or key=value forms.
func redact(ds config.DataSource) string {
	s := string(ds)
	if u, err := url.Parse(s); err == nil && u.Scheme != "" && u.User != nil {
		return u.Redacted()
	}
	return keyValuePassword.ReplaceAllString(s, "password=xxxxx")
}
