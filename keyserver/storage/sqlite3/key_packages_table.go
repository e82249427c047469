package sqlite3

import (
	"database/sql"

	"github.com/matrix-org/dendrite/msc4244/keyserver/storage/tables"
)

const keyPackagesSchema = `
-- MLS KeyPackages uploaded as "mls:<key_id>" one-time keys (MSC4244).
CREATE TABLE IF NOT EXISTS keyserver_mls_key_packages (
	id INTEGER PRIMARY KEY,
	user_id TEXT NOT NULL,
	device_id TEXT NOT NULL,
	key_id TEXT NOT NULL,
	ciphersuite INTEGER NOT NULL,
	-- The leaf's capabilities, encoded by tables.EncodeCapabilities.
	capabilities TEXT NOT NULL,
	last_resort BOOLEAN NOT NULL,
	-- End of the leaf's lifetime, Unix seconds.
	not_after BIGINT NOT NULL,
	key_package BLOB NOT NULL,
	UNIQUE (user_id, device_id, key_id)
);

-- Claims walk one device's packages of one kind and suite, oldest first.
CREATE INDEX IF NOT EXISTS keyserver_mls_key_packages_claim_idx
	ON keyserver_mls_key_packages (user_id, device_id, last_resort, ciphersuite, id);
CREATE INDEX IF NOT EXISTS keyserver_mls_key_packages_not_after_idx
	ON keyserver_mls_key_packages (not_after);
`

// Claims need no lock clause: they run through the writer, one at a time.
const claimLock = ""

// NewSQLiteKeyPackagesTable creates the KeyPackages table if needed.
func NewSQLiteKeyPackagesTable(db *sql.DB) (tables.KeyPackages, error) {
	return tables.NewKeyPackagesTable(db, tables.KeyPackagesDialect{Schema: keyPackagesSchema, ClaimLock: claimLock})
}
