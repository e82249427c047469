package storage_test

import (
	"path/filepath"
	"testing"

	"github.com/matrix-org/dendrite/internal/sqlutil"
	"github.com/matrix-org/dendrite/setup/config"
	"github.com/matrix-org/dendrite/setup/process"

	"github.com/matrix-org/dendrite/msc4244/test/harness"
)

// maxOpenConns bounds each Postgres pool: the claim tests run 64 claimers
// and the server is shared with other test runs.
const maxOpenConns = 32

// withDatabases runs fn as a subtest on a fresh SQLite database and on a
// fresh Postgres database, which harness.Postgres finds through the
// POSTGRES_* variables; without POSTGRES_HOST its run is skipped, or fails
// when REQUIRE_POSTGRES=1.
func withDatabases[T testing.TB](run func(name string, fn func(T)) bool, fn func(t T, conMan *sqlutil.Connections, opts *config.DatabaseOptions)) {
	for _, name := range []string{"sqlite", "postgres"} {
		run(name, func(t T) {
			var connStr string
			if name == "sqlite" {
				connStr = "file:" + filepath.Join(t.TempDir(), "keyserver.db")
			} else {
				connStr = harness.Postgres(t).NewDatabase(t)
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
