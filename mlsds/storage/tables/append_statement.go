package tables

import (
	"context"
	"database/sql"
	"errors"

	"github.com/matrix-org/dendrite/internal/sqlutil"
)

// Appender appends an accepted message with one statement, where the
// database can: the epoch check, the room's new state, the log entry and the
// fan-out, atomically and in one round trip.
type Appender interface {
	// AppendEntry does what shared.Database.Append does. It reports
	// ok = false, and writes nothing, when the room is not at fromEpoch.
	AppendEntry(ctx context.Context, txn *sql.Tx, fromEpoch uint64, room *Room, entry *LogEntry, payload []byte) (outboxID int64, ok bool, err error)
}

// NewAppender prepares the dialect's append statement, whose parameters
// are, in order: the room's new epoch, group state, GroupInfo (NULL keeps
// it), room ID and current epoch; the entry's epoch, kind,
// message, sender user and device and acceptance time; the fan-out payload.
// It returns the outbox item's ID, and no row when the room is not at the
// current epoch.
func NewAppender(db *sql.DB, query string) (Appender, error) {
	s := &appendStatement{}
	return s, sqlutil.StatementList{{&s.stmt, query}}.Prepare(db)
}

type appendStatement struct {
	stmt *sql.Stmt
}

func (s *appendStatement) AppendEntry(ctx context.Context, txn *sql.Tx, fromEpoch uint64, room *Room, entry *LogEntry, payload []byte) (id int64, ok bool, err error) {
	err = stmt(ctx, txn, s.stmt).QueryRowContext(ctx,
		int64(room.Epoch), room.GroupState, nullable(room.GroupInfo), room.RoomID, int64(fromEpoch),
		int64(entry.Epoch), string(entry.Kind), entry.Message, entry.Sender.UserID, entry.Sender.DeviceID, entry.AcceptedTS,
		payload,
	).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	return id, err == nil, err
}
