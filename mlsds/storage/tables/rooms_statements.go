package tables

import (
	"context"
	"database/sql"
	"errors"

	"github.com/matrix-org/dendrite/internal/sqlutil"
)

const (
	insertRoomSQL = "" +
		"INSERT INTO mlsds_rooms (room_id, epoch, group_state, group_info)" +
		" VALUES ($1, $2, $3, $4)"

	selectRoomSQL = "" +
		"SELECT epoch, group_state, group_info FROM mlsds_rooms WHERE room_id = $1"

	// The epoch condition makes the update the epoch check: of two
	// transactions moving the room from the same epoch, the second finds
	// no row once the first has committed. A NULL GroupInfo keeps the
	// stored one.
	updateRoomSQL = "" +
		"UPDATE mlsds_rooms SET epoch = $1, group_state = $2, group_info = COALESCE($3, group_info)" +
		" WHERE room_id = $4 AND epoch = $5"
)

type roomsStatements struct {
	insertStmt *sql.Stmt
	selectStmt *sql.Stmt
	updateStmt *sql.Stmt
}

// NewRoomsTable creates the rooms table from schema if needed and prepares
// its statements.
func NewRoomsTable(db *sql.DB, schema string) (Rooms, error) {
	s := &roomsStatements{}
	return s, prepare(db, schema, sqlutil.StatementList{
		{&s.insertStmt, insertRoomSQL},
		{&s.selectStmt, selectRoomSQL},
		{&s.updateStmt, updateRoomSQL},
	})
}

func (s *roomsStatements) InsertRoom(ctx context.Context, txn *sql.Tx, room *Room) error {
	_, err := stmt(ctx, txn, s.insertStmt).ExecContext(ctx,
		room.RoomID, int64(room.Epoch), room.GroupState, room.GroupInfo)
	return err
}

func (s *roomsStatements) SelectRoom(ctx context.Context, txn *sql.Tx, roomID string) (*Room, error) {
	room := &Room{RoomID: roomID}
	var epoch int64
	err := stmt(ctx, txn, s.selectStmt).QueryRowContext(ctx, roomID).
		Scan(&epoch, &room.GroupState, &room.GroupInfo)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	room.Epoch = uint64(epoch)
	return room, err
}

func (s *roomsStatements) UpdateRoom(ctx context.Context, txn *sql.Tx, fromEpoch uint64, room *Room) (bool, error) {
	res, err := stmt(ctx, txn, s.updateStmt).ExecContext(ctx,
		int64(room.Epoch), room.GroupState, nullable(room.GroupInfo), room.RoomID, int64(fromEpoch))
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// nullable turns nil into NULL: a nil []byte is not NULL for every driver
// (lib/pq sends an empty bytea), a nil interface is.
func nullable(b []byte) any {
	if b == nil {
		return nil
	}
	return b
}
