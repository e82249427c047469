// Package postgres is the keyserver's storage on Postgres.
package postgres

import (
	"github.com/matrix-org/dendrite/internal/sqlutil"
	"github.com/matrix-org/dendrite/setup/config"

	"github.com/matrix-org/dendrite/msc4244/keyserver/storage/shared"
)

// NewDatabase opens the keyserver's Postgres database and creates its tables.
func NewDatabase(conMan *sqlutil.Connections, dbProperties *config.DatabaseOptions) (*shared.Database, error) {
	return shared.NewDatabase(conMan, dbProperties, NewPostgresKeyPackagesTable)
}
