package tables

import (
	"context"
	"database/sql"

	"github.com/matrix-org/dendrite/internal/sqlutil"

	"github.com/matrix-org/dendrite/msc4244/mlsds/api"
)

const logColumns = "id, room_id, epoch, kind, message, sender_user_id, sender_device_id, accepted_ts"

const (
	insertEntrySQL = "" +
		"INSERT INTO mlsds_log (room_id, epoch, kind, message, sender_user_id, sender_device_id, accepted_ts)" +
		" VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id"

	// Within a room the epoch never decreases along the log, so ordering by
	// (epoch, id) is log order and follows the index.
	selectEntriesSQL = "" +
		"SELECT " + logColumns + " FROM mlsds_log WHERE room_id = $1 AND epoch >= $2" +
		" ORDER BY epoch, id LIMIT $3"

	selectEpochEntriesSQL = "" +
		"SELECT " + logColumns + " FROM mlsds_log WHERE room_id = $1 AND epoch = $2 ORDER BY id"

	// The partial unique index on (room_id, epoch) finds it.
	selectCommitSQL = "" +
		"SELECT " + logColumns + " FROM mlsds_log WHERE room_id = $1 AND epoch = $2 AND kind <> 'proposal'"

	countEntriesSQL = "SELECT COUNT(*) FROM mlsds_log"
)

type logStatements struct {
	insertStmt       *sql.Stmt
	selectStmt       *sql.Stmt
	selectEpochStmt  *sql.Stmt
	selectCommitStmt *sql.Stmt
	countEntriesStmt *sql.Stmt
}

// NewLogTable creates the log table from schema if needed and prepares its
// statements.
func NewLogTable(db *sql.DB, schema string) (Log, error) {
	s := &logStatements{}
	return s, prepare(db, schema, sqlutil.StatementList{
		{&s.insertStmt, insertEntrySQL},
		{&s.selectStmt, selectEntriesSQL},
		{&s.selectEpochStmt, selectEpochEntriesSQL},
		{&s.selectCommitStmt, selectCommitSQL},
		{&s.countEntriesStmt, countEntriesSQL},
	})
}

func (s *logStatements) InsertEntry(ctx context.Context, txn *sql.Tx, e *LogEntry) (id int64, err error) {
	err = stmt(ctx, txn, s.insertStmt).QueryRowContext(ctx,
		e.RoomID, int64(e.Epoch), string(e.Kind), e.Message, e.Sender.UserID, e.Sender.DeviceID, e.AcceptedTS,
	).Scan(&id)
	return id, err
}

func (s *logStatements) SelectEntries(ctx context.Context, txn *sql.Tx, roomID string, fromEpoch uint64, limit int) ([]LogEntry, error) {
	rows, err := stmt(ctx, txn, s.selectStmt).QueryContext(ctx, roomID, int64(fromEpoch), limit)
	return scanEntries(rows, err)
}

func (s *logStatements) SelectEpochEntries(ctx context.Context, txn *sql.Tx, roomID string, epoch uint64) ([]LogEntry, error) {
	rows, err := stmt(ctx, txn, s.selectEpochStmt).QueryContext(ctx, roomID, int64(epoch))
	return scanEntries(rows, err)
}

func (s *logStatements) SelectCommit(ctx context.Context, txn *sql.Tx, roomID string, epoch uint64) (*LogEntry, error) {
	rows, err := stmt(ctx, txn, s.selectCommitStmt).QueryContext(ctx, roomID, int64(epoch))
	entries, err := scanEntries(rows, err)
	if err != nil || len(entries) == 0 {
		return nil, err
	}
	return &entries[0], nil
}

func (s *logStatements) CountEntries(ctx context.Context, txn *sql.Tx) (n int64, err error) {
	err = stmt(ctx, txn, s.countEntriesStmt).QueryRowContext(ctx).Scan(&n)
	return n, err
}

func scanEntries(rows *sql.Rows, err error) ([]LogEntry, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close() // nolint: errcheck
	var entries []LogEntry
	for rows.Next() {
		var e LogEntry
		var epoch int64
		var kind string
		if err = rows.Scan(&e.ID, &e.RoomID, &epoch, &kind, &e.Message, &e.Sender.UserID, &e.Sender.DeviceID, &e.AcceptedTS); err != nil {
			return nil, err
		}
		e.Epoch, e.Kind = uint64(epoch), api.LogKind(kind)
		entries = append(entries, e)
	}
	return entries, rows.Err()
}
