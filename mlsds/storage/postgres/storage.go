// Package postgres holds the Delivery Service's schema for Postgres.
package postgres

import "github.com/matrix-org/dendrite/msc4244/mlsds/storage/tables"

// Dialect is the DS's schema on Postgres.
var Dialect = tables.Dialect{
	RoomsSchema:  roomsSchema,
	LogSchema:    logSchema,
	OutboxSchema: outboxSchema,
}
