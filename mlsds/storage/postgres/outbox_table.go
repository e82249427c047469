package postgres

const outboxSchema = `
-- Fan-outs of accepted messages, stored with the log entry and deleted once
-- sent: after a crash, what is left here is sent again.
CREATE TABLE IF NOT EXISTS mlsds_outbox (
	id BIGSERIAL PRIMARY KEY,
	room_id TEXT NOT NULL,
	-- The to-device messages to send, as JSON.
	payload BYTEA NOT NULL
);
`
