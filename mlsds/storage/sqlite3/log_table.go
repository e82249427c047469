package sqlite3

const logSchema = `
-- The append-only log of every MLS room: the genesis GroupInfo, then each
-- accepted commit and proposal, in the order the DS accepted them.
CREATE TABLE IF NOT EXISTS mlsds_log (
	id INTEGER PRIMARY KEY,
	room_id TEXT NOT NULL,
	-- genesis: 0; commit: the epoch it creates; proposal: the epoch it was
	-- sent in.
	epoch BIGINT NOT NULL,
	-- 'genesis', 'commit' or 'proposal'.
	kind TEXT NOT NULL,
	-- The encoded MLSMessage.
	message BLOB NOT NULL,
	sender_user_id TEXT NOT NULL,
	sender_device_id TEXT NOT NULL,
	-- When the DS accepted it, milliseconds since the Unix epoch.
	accepted_ts BIGINT NOT NULL
);

-- At most one genesis or commit per room and epoch, whatever the DS's own
-- epoch check says.
CREATE UNIQUE INDEX IF NOT EXISTS mlsds_log_epoch_key
	ON mlsds_log (room_id, epoch) WHERE kind <> 'proposal';
-- Recovery reads a room's log from an epoch on.
CREATE INDEX IF NOT EXISTS mlsds_log_room_epoch_idx ON mlsds_log (room_id, epoch, id);
`
