package tables

import (
	"context"
	"database/sql"

	"github.com/matrix-org/dendrite/internal/sqlutil"
)

const (
	insertItemSQL  = "INSERT INTO mlsds_outbox (room_id, payload) VALUES ($1, $2) RETURNING id"
	selectItemsSQL = "SELECT id, room_id, payload FROM mlsds_outbox ORDER BY id"
	deleteItemSQL  = "DELETE FROM mlsds_outbox WHERE id = $1"
)

type outboxStatements struct {
	insertStmt *sql.Stmt
	selectStmt *sql.Stmt
	deleteStmt *sql.Stmt
}

// NewOutboxTable creates the outbox table from schema if needed and
// prepares its statements.
func NewOutboxTable(db *sql.DB, schema string) (Outbox, error) {
	s := &outboxStatements{}
	return s, prepare(db, schema, sqlutil.StatementList{
		{&s.insertStmt, insertItemSQL},
		{&s.selectStmt, selectItemsSQL},
		{&s.deleteStmt, deleteItemSQL},
	})
}

func (s *outboxStatements) InsertItem(ctx context.Context, txn *sql.Tx, roomID string, payload []byte) (id int64, err error) {
	err = stmt(ctx, txn, s.insertStmt).QueryRowContext(ctx, roomID, payload).Scan(&id)
	return id, err
}

func (s *outboxStatements) SelectItems(ctx context.Context, txn *sql.Tx) ([]OutboxItem, error) {
	rows, err := stmt(ctx, txn, s.selectStmt).QueryContext(ctx)
	if err != nil {
		return nil, err
	}
	defer rows.Close() // nolint: errcheck
	var items []OutboxItem
	for rows.Next() {
		var item OutboxItem
		if err = rows.Scan(&item.ID, &item.RoomID, &item.Payload); err != nil {
			return nil, err
		}
		items = append(items, item)
	}
	return items, rows.Err()
}

func (s *outboxStatements) DeleteItem(ctx context.Context, txn *sql.Tx, id int64) error {
	_, err := stmt(ctx, txn, s.deleteStmt).ExecContext(ctx, id)
	return err
}
