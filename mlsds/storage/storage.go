package storage

import (
	"fmt"

	"github.com/matrix-org/dendrite/internal/sqlutil"
	"github.com/matrix-org/dendrite/setup/config"

	"github.com/matrix-org/dendrite/msc4244/mlsds/storage/postgres"
	"github.com/matrix-org/dendrite/msc4244/mlsds/storage/shared"
	"github.com/matrix-org/dendrite/msc4244/mlsds/storage/sqlite3"
	"github.com/matrix-org/dendrite/msc4244/mlsds/storage/tables"
)

// NewDatabase opens the DS's database, Postgres or SQLite after the
// connection string's scheme, and creates its tables.
func NewDatabase(conMan *sqlutil.Connections, dbProperties *config.DatabaseOptions) (Database, error) {
	var dialect tables.Dialect
	switch cs := dbProperties.ConnectionString; {
	case cs.IsSQLite():
		dialect = sqlite3.Dialect
	case cs.IsPostgres():
		dialect = postgres.Dialect
	default:
		return nil, fmt.Errorf("mlsds: unexpected database type in %q", cs)
	}
	db, writer, err := conMan.Connection(dbProperties)
	if err != nil {
		return nil, err
	}
	return shared.NewDatabase(db, writer, dialect)
}
