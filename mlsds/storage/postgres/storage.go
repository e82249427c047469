// Package postgres holds the Delivery Service's schema for Postgres.
package postgres

import "github.com/matrix-org/dendrite/msc4244/mlsds/storage/tables"

// Dialect is the DS's schema on Postgres.
var Dialect = tables.Dialect{
	RoomsSchema:  roomsSchema,
	LogSchema:    logSchema,
	OutboxSchema: outboxSchema,
	AppendSQL:    appendSQL,
}

// appendSQL appends an accepted message in one statement (see
// tables.NewAppender): data-modifying CTEs run together and atomically, the
// log entry is written only if the room moved, and the outbox item only if
// both were written. A commit costs one round trip and one commit instead of
// five round trips.
const appendSQL = `
WITH room AS (
	UPDATE mlsds_rooms SET epoch = $1, group_state = $2, group_info = COALESCE($3::bytea, group_info)
	WHERE room_id = $4 AND epoch = $5
	RETURNING room_id
), entry AS (
	INSERT INTO mlsds_log (room_id, epoch, kind, message, sender_user_id, sender_device_id, accepted_ts)
	SELECT room_id, $6::bigint, $7::text, $8::bytea, $9::text, $10::text, $11::bigint FROM room
	RETURNING id
)
INSERT INTO mlsds_outbox (room_id, payload)
SELECT room.room_id, $12::bytea FROM room, entry
RETURNING id`
