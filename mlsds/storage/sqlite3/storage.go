// Package sqlite3 holds the Delivery Service's schema for SQLite.
package sqlite3

import "github.com/matrix-org/dendrite/msc4244/mlsds/storage/tables"

// Dialect is the DS's schema on SQLite.
//
// Write-ahead logging lets recovery reads run while the DS appends, and
// makes an append one write to the log file: with the synchronous level
// go-sqlite3 uses for WAL (NORMAL) a committed append survives a crash of
// the process at once, and a crash of the machine from the next checkpoint
// on. The mode belongs to the database file, so one PRAGMA covers every
// pooled connection.
var Dialect = tables.Dialect{
	Setup:        "PRAGMA journal_mode = WAL",
	RoomsSchema:  roomsSchema,
	LogSchema:    logSchema,
	OutboxSchema: outboxSchema,
}
