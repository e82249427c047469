package tables

import (
	"context"
	"database/sql"

	"github.com/matrix-org/dendrite/internal/sqlutil"
)

// Dialect is what differs between the databases: the schema of each table
// with its indexes, a statement run before them and, where the database can
// run it, the one-statement append of NewAppender.
type Dialect struct {
	Setup        string
	RoomsSchema  string
	LogSchema    string
	OutboxSchema string
	AppendSQL    string
}

// prepare creates a table from its schema, then prepares its statements.
func prepare(db *sql.DB, schema string, statements sqlutil.StatementList) error {
	if _, err := db.Exec(schema); err != nil {
		return err
	}
	return statements.Prepare(db)
}

// stmt returns statement for use inside txn, or on its own when txn is nil.
func stmt(ctx context.Context, txn *sql.Tx, statement *sql.Stmt) *sql.Stmt {
	return sqlutil.TxStmtContext(ctx, txn, statement)
}
