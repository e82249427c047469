// Package storage stores the Delivery Service's rooms, their append-only
// logs and the fan-outs not yet sent, in Postgres or SQLite.
package storage

import (
	"context"

	"github.com/matrix-org/dendrite/msc4244/mlsds/storage/tables"
)

// Database is the DS's storage. See shared.Database for the semantics of
// each operation.
type Database interface {
	CreateGroup(ctx context.Context, room *tables.Room, genesis *tables.LogEntry) error
	Append(ctx context.Context, fromEpoch uint64, room *tables.Room, entry *tables.LogEntry, fanOut []byte) (outboxID int64, err error)
	Room(ctx context.Context, roomID string) (*tables.Room, error)
	Entries(ctx context.Context, roomID string, fromEpoch uint64, limit int) ([]tables.LogEntry, error)
	EpochEntries(ctx context.Context, roomID string, epoch uint64) ([]tables.LogEntry, error)
	Commit(ctx context.Context, roomID string, epoch uint64) (*tables.LogEntry, error)
	LogSize(ctx context.Context) (int64, error)
	PendingFanOuts(ctx context.Context) ([]tables.OutboxItem, error)
	FanOutsDone(ctx context.Context, ids []int64) error
}
