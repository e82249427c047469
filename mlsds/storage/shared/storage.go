// Package shared implements the Delivery Service's storage over its
// tables, the same way for Postgres and SQLite.
package shared

import (
	"context"
	"database/sql"
	"errors"

	"github.com/matrix-org/dendrite/internal/sqlutil"

	"github.com/matrix-org/dendrite/msc4244/mlsds/storage/tables"
)

var (
	// ErrGroupExists: the room already has a group.
	ErrGroupExists = errors.New("mlsds storage: the room already has a group")
	// ErrEpochChanged: the room is no longer at the epoch the caller
	// validated against, or its log already has a commit for the new epoch.
	ErrEpochChanged = errors.New("mlsds storage: the room's epoch changed")
)

// Database is the DS's storage. Every write goes through Writer, which
// serialises writes on SQLite and is a pass-through on Postgres.
type Database struct {
	DB     *sql.DB
	Writer sqlutil.Writer
	Rooms  tables.Rooms
	Log    tables.Log
	Outbox tables.Outbox
	// Appender, when the database has one, appends in one statement.
	Appender tables.Appender
}

// NewDatabase creates the tables of dialect in db if needed.
func NewDatabase(db *sql.DB, writer sqlutil.Writer, dialect tables.Dialect) (*Database, error) {
	if dialect.Setup != "" {
		if _, err := db.Exec(dialect.Setup); err != nil {
			return nil, err
		}
	}
	d := &Database{DB: db, Writer: writer}
	var err error
	if d.Rooms, err = tables.NewRoomsTable(db, dialect.RoomsSchema); err != nil {
		return nil, err
	}
	if d.Log, err = tables.NewLogTable(db, dialect.LogSchema); err != nil {
		return nil, err
	}
	if d.Outbox, err = tables.NewOutboxTable(db, dialect.OutboxSchema); err != nil {
		return nil, err
	}
	if dialect.AppendSQL != "" {
		if d.Appender, err = tables.NewAppender(db, dialect.AppendSQL); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// CreateGroup stores a new group: the room's row and its genesis entry,
// in one transaction. It returns ErrGroupExists when the room has a group.
func (d *Database) CreateGroup(ctx context.Context, room *tables.Room, genesis *tables.LogEntry) error {
	return d.Writer.Do(d.DB, nil, func(txn *sql.Tx) error {
		if err := d.Rooms.InsertRoom(ctx, txn, room); err != nil {
			if sqlutil.IsUniqueConstraintViolationErr(err) {
				return ErrGroupExists
			}
			return err
		}
		if _, err := d.Log.InsertEntry(ctx, txn, genesis); err != nil {
			if sqlutil.IsUniqueConstraintViolationErr(err) {
				return ErrGroupExists
			}
			return err
		}
		return nil
	})
}

// Append accepts a commit or a proposal in one transaction: if the room is
// still at fromEpoch, it replaces the room's row with room (whose nil
// GroupInfo keeps the stored one), appends entry
// to the log and stores the fan-out payload in the outbox, whose item ID it
// returns. It returns ErrEpochChanged, and writes nothing, when the room
// has left fromEpoch or the log already has a commit for entry's epoch.
func (d *Database) Append(ctx context.Context, fromEpoch uint64, room *tables.Room, entry *tables.LogEntry, fanOut []byte) (outboxID int64, err error) {
	if d.Appender != nil {
		return d.appendInOneStatement(ctx, fromEpoch, room, entry, fanOut)
	}
	err = d.Writer.Do(d.DB, nil, func(txn *sql.Tx) error {
		updated, err := d.Rooms.UpdateRoom(ctx, txn, fromEpoch, room)
		if err != nil {
			return err
		}
		if !updated {
			return ErrEpochChanged
		}
		if _, err = d.Log.InsertEntry(ctx, txn, entry); err != nil {
			if sqlutil.IsUniqueConstraintViolationErr(err) {
				return ErrEpochChanged
			}
			return err
		}
		outboxID, err = d.Outbox.InsertItem(ctx, txn, room.RoomID, fanOut)
		return err
	})
	return outboxID, err
}

// appendInOneStatement is Append with the database's Appender: the
// statement is its own transaction.
func (d *Database) appendInOneStatement(ctx context.Context, fromEpoch uint64, room *tables.Room, entry *tables.LogEntry, fanOut []byte) (outboxID int64, err error) {
	err = d.Writer.Do(nil, nil, func(_ *sql.Tx) error {
		var ok bool
		outboxID, ok, err = d.Appender.AppendEntry(ctx, nil, fromEpoch, room, entry, fanOut)
		switch {
		case sqlutil.IsUniqueConstraintViolationErr(err):
			return ErrEpochChanged
		case err != nil:
			return err
		case !ok:
			return ErrEpochChanged
		}
		return nil
	})
	return outboxID, err
}

// Room returns the room's state, or nil when the DS has no group for it.
func (d *Database) Room(ctx context.Context, roomID string) (*tables.Room, error) {
	return d.Rooms.SelectRoom(ctx, nil, roomID)
}

// Entries returns at most limit log entries of the room from fromEpoch on,
// in log order.
func (d *Database) Entries(ctx context.Context, roomID string, fromEpoch uint64, limit int) ([]tables.LogEntry, error) {
	return d.Log.SelectEntries(ctx, nil, roomID, fromEpoch, limit)
}

// EpochEntries returns the room's log entries of one epoch, in log order.
func (d *Database) EpochEntries(ctx context.Context, roomID string, epoch uint64) ([]tables.LogEntry, error) {
	return d.Log.SelectEpochEntries(ctx, nil, roomID, epoch)
}

// Commit returns the room's genesis (epoch 0) or the commit that created
// epoch, or nil when the log has none.
func (d *Database) Commit(ctx context.Context, roomID string, epoch uint64) (*tables.LogEntry, error) {
	return d.Log.SelectCommit(ctx, nil, roomID, epoch)
}

// LogSize counts the entries of every room's log.
func (d *Database) LogSize(ctx context.Context) (int64, error) {
	return d.Log.CountEntries(ctx, nil)
}

// PendingFanOuts returns the outbox, oldest first.
func (d *Database) PendingFanOuts(ctx context.Context) ([]tables.OutboxItem, error) {
	return d.Outbox.SelectItems(ctx, nil)
}

// FanOutsDone removes sent items from the outbox, in one transaction.
func (d *Database) FanOutsDone(ctx context.Context, ids []int64) error {
	return d.Writer.Do(d.DB, nil, func(txn *sql.Tx) error {
		for _, id := range ids {
			if err := d.Outbox.DeleteItem(ctx, txn, id); err != nil {
				return err
			}
		}
		return nil
	})
}
