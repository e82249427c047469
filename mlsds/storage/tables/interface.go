// Package tables declares the Delivery Service's tables. Their statements
// are the same in Postgres and SQLite (both take $n parameters), so they are
// written once here; package postgres and package sqlite3 supply the schemas.
package tables

import (
	"context"
	"database/sql"

	"github.com/matrix-org/dendrite/msc4244/mlsds/api"
)

// Room is the DS's state of one MLS room.
type Room struct {
	RoomID string
	// Epoch is the group's current epoch.
	Epoch uint64
	// GroupState is the serialised public state of the group.
	GroupState []byte
	// GroupInfo is the latest GroupInfo (an encoded MLSMessage).
	GroupInfo []byte
}

// LogEntry is an entry of a room's append-only log.
type LogEntry struct {
	ID     int64 // position in the log of every room, increasing
	RoomID string
	// Epoch is 0 for the genesis, the epoch a commit creates, the epoch a
	// proposal was sent in.
	Epoch      uint64
	Kind       api.LogKind
	Message    []byte // the encoded MLSMessage
	Sender     api.Device
	AcceptedTS int64 // milliseconds since the Unix epoch
}

// OutboxItem is a fan-out that is stored but may not have been sent yet.
type OutboxItem struct {
	ID      int64
	RoomID  string
	Payload []byte
}

// Rooms stores one row per MLS room.
type Rooms interface {
	// InsertRoom stores a new room; a room that exists is a unique
	// constraint violation.
	InsertRoom(ctx context.Context, txn *sql.Tx, room *Room) error
	// SelectRoom returns the room, or nil when there is none.
	SelectRoom(ctx context.Context, txn *sql.Tx, roomID string) (*Room, error)
	// UpdateRoom replaces the room's row with room if its epoch is still
	// fromEpoch, and reports whether it did. A nil room.GroupInfo keeps the
	// stored GroupInfo.
	UpdateRoom(ctx context.Context, txn *sql.Tx, fromEpoch uint64, room *Room) (bool, error)
}

// Log stores every room's log.
type Log interface {
	// InsertEntry appends e and returns its ID. A second genesis or commit
	// for the same room and epoch is a unique constraint violation.
	InsertEntry(ctx context.Context, txn *sql.Tx, e *LogEntry) (int64, error)
	// SelectEntries returns at most limit entries of the room whose epoch
	// is at least fromEpoch, in log order.
	SelectEntries(ctx context.Context, txn *sql.Tx, roomID string, fromEpoch uint64, limit int) ([]LogEntry, error)
	// SelectEpochEntries returns every entry of the room for one epoch, in
	// log order.
	SelectEpochEntries(ctx context.Context, txn *sql.Tx, roomID string, epoch uint64) ([]LogEntry, error)
	// SelectCommit returns the room's genesis (epoch 0) or the commit that
	// created epoch, or nil when there is none.
	SelectCommit(ctx context.Context, txn *sql.Tx, roomID string, epoch uint64) (*LogEntry, error)
	// CountEntries counts the entries of every room.
	CountEntries(ctx context.Context, txn *sql.Tx) (int64, error)
}

// Outbox stores fan-outs until they are sent.
type Outbox interface {
	InsertItem(ctx context.Context, txn *sql.Tx, roomID string, payload []byte) (int64, error)
	// SelectItems returns every item, oldest first.
	SelectItems(ctx context.Context, txn *sql.Tx) ([]OutboxItem, error)
	DeleteItem(ctx context.Context, txn *sql.Tx, id int64) error
}
