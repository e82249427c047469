// Package sqlite3 is the keyserver's storage on SQLite.
package sqlite3

import (
	"github.com/matrix-org/dendrite/internal/sqlutil"
	"github.com/matrix-org/dendrite/setup/config"

	"github.com/matrix-org/dendrite/msc4244/keyserver/storage/shared"
)

// NewDatabase opens the keyserver's SQLite database and creates its tables.
func NewDatabase(conMan *sqlutil.Connections, dbProperties *config.DatabaseOptions) (*shared.Database, error) {
	return shared.NewDatabase(conMan, dbProperties, NewSQLiteKeyPackagesTable)
}
