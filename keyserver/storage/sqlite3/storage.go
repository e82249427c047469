// Package sqlite3 is the keyserver's storage on SQLite.
package sqlite3

import (
	"database/sql"

	"github.com/matrix-org/dendrite/internal/sqlutil"
	"github.com/matrix-org/dendrite/setup/config"

	"github.com/matrix-org/dendrite/msc4244/keyserver/storage/shared"
	"github.com/matrix-org/dendrite/msc4244/keyserver/storage/tables"
)

// NewDatabase opens the keyserver's SQLite database, switches it to
// write-ahead logging and creates its tables.
//
// In the default rollback-journal mode every claim, a one-row DELETE, costs
// several fsyncs (about 1.5 ms here, so under 1,000 claims/s however many
// claimers there are). In WAL mode a commit appends to the log, and with the
// synchronous level go-sqlite3 builds in for WAL (NORMAL) it is not synced:
// a claim is durable across a crash of the process at once, and across a
// crash of the machine from the next checkpoint on. The mode is a property
// of the database file, so one PRAGMA covers every pooled connection.
func NewDatabase(conMan *sqlutil.Connections, dbProperties *config.DatabaseOptions) (*shared.Database, error) {
	return shared.NewDatabase(conMan, dbProperties, func(db *sql.DB) (tables.KeyPackages, error) {
		if _, err := db.Exec("PRAGMA journal_mode = WAL"); err != nil {
			return nil, err
		}
		return NewSQLiteKeyPackagesTable(db)
	})
}
