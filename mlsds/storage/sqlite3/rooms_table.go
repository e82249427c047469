package sqlite3

const roomsSchema = `
-- The MLS rooms this server is the Delivery Service of (MSC4244), one row
-- each: the group's current epoch and public state.
CREATE TABLE IF NOT EXISTS mlsds_rooms (
	room_id TEXT PRIMARY KEY,
	epoch BIGINT NOT NULL,
	-- The group's public state, serialised by the DS's group view (with
	-- the proposals of the epoch, among them the Removes the DS requires).
	group_state BLOB NOT NULL,
	-- The latest GroupInfo (an encoded MLSMessage), served for joins and
	-- recovery.
	group_info BLOB NOT NULL
);
`
