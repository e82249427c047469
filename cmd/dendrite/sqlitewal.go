package main

import (
	"database/sql"
	"fmt"
	"strings"

	"github.com/matrix-org/dendrite/internal/sqlutil"
	"github.com/matrix-org/dendrite/setup/config"
	"github.com/sirupsen/logrus"
)

// useSQLiteWAL puts every SQLite database of the configuration in WAL mode
// before Dendrite opens it. Dendrite leaves SQLite in its rollback-journal
// mode, where every committed transaction syncs the journal and the
// database file; in WAL mode a commit appends to the log and, at the
// synchronous level go-sqlite3 builds in for WAL (NORMAL), is not synced.
// A committed transaction then survives a crash of the process (the log is
// in the operating system's cache); a crash of the whole machine can undo
// the last ones but never corrupts the database. Delivering a to-device
// message costs Dendrite's sync API one transaction per device, so a
// fan-out to hundreds of devices spent most of its time in those syncs.
// The mode is stored in the database file: it holds for every later open.
func useSQLiteWAL(cfg *config.Dendrite) error {
	for _, opts := range databases(cfg) {
		if !opts.ConnectionString.IsSQLite() {
			continue
		}
		path, err := sqlutil.ParseFileURI(opts.ConnectionString)
		if err != nil {
			return err
		}
		if err = setWAL(path); err != nil {
			return fmt.Errorf("database %s: setting WAL mode: %w", path, err)
		}
	}
	return nil
}

func setWAL(path string) error {
	db, err := sql.Open(sqlutil.SQLITE_DRIVER_NAME, path)
	if err != nil {
		return err
	}
	defer db.Close() // nolint: errcheck
	var mode string
	if err = db.QueryRow("PRAGMA journal_mode = WAL").Scan(&mode); err != nil {
		return err
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("SQLite kept journal mode %q", mode)
	}
	logrus.WithField("database", path).Debug("SQLite database in WAL mode")
	return nil
}
