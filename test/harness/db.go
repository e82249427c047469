package harness

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"

	_ "github.com/lib/pq" // the "postgres" driver
)

// Environment variables selecting the Postgres server for tests, named as
// in Dendrite's own test package.
const (
	PostgresHostEnv     = "POSTGRES_HOST"
	PostgresPortEnv     = "POSTGRES_PORT"
	PostgresUserEnv     = "POSTGRES_USER"
	PostgresPasswordEnv = "POSTGRES_PASSWORD"
	PostgresDBEnv       = "POSTGRES_DB"
	// RequirePostgresEnv=1 makes a missing or unreachable Postgres a test
	// failure instead of a skip (CI sets it).
	RequirePostgresEnv = "REQUIRE_POSTGRES"
)

// PostgresSkipMessage is the line printed when the Postgres tests are skipped.
const PostgresSkipMessage = "Postgres: skipped (set POSTGRES_HOST=127.0.0.1 POSTGRES_USER=postgres POSTGRES_DB=postgres to run them)"

// DB is a database engine homeservers of a deployment run on.
type DB struct {
	// Kind is "sqlite" or "postgres".
	Kind string
	pg   *postgres
}

// SQLite is the SQLite engine: each server gets its own files.
var SQLite = DB{Kind: "sqlite"}

func (db DB) String() string { return db.Kind }

// IsPostgres tells whether servers run on Postgres.
func (db DB) IsPostgres() bool { return db.pg != nil }

// ForEachDatabase runs fn as a subtest for each engine: "sqlite" always,
// "postgres" when POSTGRES_HOST is set. Without POSTGRES_HOST the postgres
// subtest is skipped, or fails when REQUIRE_POSTGRES=1; a configured but
// unreachable Postgres always fails.
func ForEachDatabase(t *testing.T, fn func(t *testing.T, db DB)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, SQLite) })
	t.Run("postgres", func(t *testing.T) { fn(t, Postgres(t)) })
}

// Postgres returns the Postgres engine configured by the environment, after
// checking that it answers. It skips or fails the test as ForEachDatabase
// describes when Postgres is not configured.
func Postgres(t testing.TB) DB {
	t.Helper()
	pg := postgresFromEnv()
	if pg == nil {
		if os.Getenv(RequirePostgresEnv) == "1" {
			t.Fatalf("%s=1 but %s is not set", RequirePostgresEnv, PostgresHostEnv)
		}
		t.Skip(PostgresSkipMessage)
	}
	if err := pg.ping(); err != nil {
		t.Fatalf("Postgres at %s is not reachable: %v", pg.host, err)
	}
	return DB{Kind: "postgres", pg: pg}
}

// NewDatabase returns the connection string of a new, empty database for
// one server, dropped when the test ends; for SQLite it returns "" (each
// server keeps SQLite files in its data folder).
func (db DB) NewDatabase(t testing.TB) string {
	t.Helper()
	if db.pg == nil {
		return ""
	}
	name := "h_" + randomHex(t, 8)
	if err := db.pg.exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("creating Postgres database %s: %v", name, err)
	}
	t.Cleanup(func() {
		if err := db.pg.exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); err != nil {
			t.Errorf("dropping Postgres database %s: %v", name, err)
		}
	})
	return db.pg.dsn(name)
}

// ConnectionString returns the connection string of the named database on
// this engine's Postgres server, whether or not that database exists; it is
// "" for SQLite.
func (db DB) ConnectionString(database string) string {
	if db.pg == nil {
		return ""
	}
	return db.pg.dsn(database)
}

// postgres is a server reached with the POSTGRES_* variables.
type postgres struct {
	host, port, user, password, adminDB string
}

func postgresFromEnv() *postgres {
	host := os.Getenv(PostgresHostEnv)
	if host == "" {
		return nil
	}
	pg := &postgres{
		host:     host,
		port:     os.Getenv(PostgresPortEnv),
		user:     os.Getenv(PostgresUserEnv),
		password: os.Getenv(PostgresPasswordEnv),
		adminDB:  os.Getenv(PostgresDBEnv),
	}
	if pg.user == "" {
		pg.user = "postgres"
	}
	if pg.adminDB == "" {
		pg.adminDB = "postgres"
	}
	return pg
}

// dsn returns a key=value connection string for database name.
func (pg *postgres) dsn(name string) string {
	params := []string{"host=" + quote(pg.host), "user=" + quote(pg.user), "dbname=" + quote(name), "sslmode=disable"}
	if pg.port != "" {
		params = append(params, "port="+quote(pg.port))
	}
	if pg.password != "" {
		params = append(params, "password="+quote(pg.password))
	}
	return strings.Join(params, " ")
}

func (pg *postgres) ping() error {
	return pg.withAdmin(func(ctx context.Context, db *sql.DB) error { return db.PingContext(ctx) })
}

func (pg *postgres) exec(statement string) error {
	return pg.withAdmin(func(ctx context.Context, db *sql.DB) error {
		_, err := db.ExecContext(ctx, statement)
		return err
	})
}

func (pg *postgres) withAdmin(fn func(context.Context, *sql.DB) error) error {
	db, err := sql.Open("postgres", pg.dsn(pg.adminDB))
	if err != nil {
		return err
	}
	defer db.Close() // nolint: errcheck
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return fn(ctx, db)
}

// quote quotes a value of a key=value connection string.
func quote(v string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
}

func randomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("random: %v", err)
	}
	return hex.EncodeToString(b)
}
