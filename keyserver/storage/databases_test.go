package storage_test

import (
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/matrix-org/dendrite/internal/sqlutil"
	"github.com/matrix-org/dendrite/setup/config"
	"github.com/matrix-org/dendrite/setup/process"
)

// maxOpenConns bounds each Postgres pool: the claim tests run 64 claimers
// and the server is shared with other test runs.
const maxOpenConns = 32

// withDatabases runs fn as a subtest on a fresh SQLite database and on a
// fresh Postgres database. Postgres is found through POSTGRES_HOST,
// POSTGRES_USER, POSTGRES_DB and POSTGRES_PASSWORD (as for Dendrite's own
// tests); without POSTGRES_HOST its run is skipped, or fails when
// REQUIRE_POSTGRES=1.
func withDatabases[T testing.TB](run func(name string, fn func(T)) bool, fn func(t T, conMan *sqlutil.Connections, opts *config.DatabaseOptions)) {
	for _, name := range []string{"sqlite", "postgres"} {
		run(name, func(t T) {
			var connStr string
			if name == "sqlite" {
				connStr = "file:" + filepath.Join(t.TempDir(), "keyserver.db")
			} else {
				connStr = createPostgresDatabase(t)
			}
			processCtx := process.NewProcessContext()
			t.Cleanup(func() {
				processCtx.ShutdownDendrite()
				processCtx.WaitForComponentsToFinish()
			})
			conMan := sqlutil.NewConnectionManager(processCtx, config.DatabaseOptions{})
			fn(t, conMan, &config.DatabaseOptions{
				ConnectionString:   config.DataSource(connStr),
				MaxOpenConnections: maxOpenConns,
				MaxIdleConnections: maxOpenConns,
			})
		})
	}
}

// createPostgresDatabase creates a database of its own for the calling
// test, dropped when the test ends, and returns its connection string.
func createPostgresDatabase(t testing.TB) string {
	if os.Getenv("POSTGRES_HOST") == "" {
		if os.Getenv("REQUIRE_POSTGRES") == "1" {
			t.Fatal("REQUIRE_POSTGRES=1 but POSTGRES_HOST is not set")
		}
		t.Skip("no Postgres: set POSTGRES_HOST, POSTGRES_USER and POSTGRES_DB to run on it")
	}
	server := fmt.Sprintf("host=%s user=%s sslmode=disable", os.Getenv("POSTGRES_HOST"), os.Getenv("POSTGRES_USER"))
	if password := os.Getenv("POSTGRES_PASSWORD"); password != "" {
		server += " password=" + password
	}
	admin, err := sql.Open("postgres", server+" dbname="+os.Getenv("POSTGRES_DB"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = admin.Close() })
	suffix := make([]byte, 8)
	_, _ = rand.Read(suffix)
	name := "keyserver_test_" + hex.EncodeToString(suffix)
	if _, err = admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("creating the test database: %v", err)
	}
	// Cleanups run last-registered first: this one after the pools close.
	t.Cleanup(func() {
		if _, err := admin.Exec("DROP DATABASE " + name + " WITH (FORCE)"); err != nil {
			t.Errorf("dropping the test database: %v", err)
		}
	})
	return server + " dbname=" + name
}
