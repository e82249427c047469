package main

import (
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/matrix-org/dendrite/internal/sqlutil"
	"github.com/matrix-org/dendrite/setup/config"
)

// Every SQLite database of the configuration is left in WAL mode, which a
// later open (Dendrite's) finds stored in the file.
func TestUseSQLiteWAL(t *testing.T) {
	dir := t.TempDir()
	cfg := &config.Dendrite{}
	cfg.SyncAPI.Database.ConnectionString = config.DataSource("file:" + filepath.Join(dir, "sync.db"))
	cfg.RoomServer.Database.ConnectionString = config.DataSource("file:" + filepath.Join(dir, "room.db"))
	if err := useSQLiteWAL(cfg); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"sync.db", "room.db"} {
		db, err := sql.Open(sqlutil.SQLITE_DRIVER_NAME, filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		var mode string
		err = db.QueryRow("PRAGMA journal_mode").Scan(&mode)
		db.Close() // nolint: errcheck
		if err != nil || mode != "wal" {
			t.Errorf("%s: journal mode %q, %v; want wal", name, mode, err)
		}
	}
}

// A database SQLite cannot open stops the server with the path named.
func TestUseSQLiteWALFails(t *testing.T) {
	cfg := &config.Dendrite{}
	cfg.SyncAPI.Database.ConnectionString = config.DataSource("file:" + filepath.Join(t.TempDir(), "missing", "sync.db"))
	if err := useSQLiteWAL(cfg); err == nil {
		t.Fatal("no error for a database in a folder that does not exist")
	}
}
