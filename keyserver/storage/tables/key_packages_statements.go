package tables

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/matrix-org/dendrite/internal/sqlutil"

	"github.com/matrix-org/dendrite/msc4244/keyserver/api"
)

// KeyPackagesDialect is what differs between the databases.
type KeyPackagesDialect struct {
	// Schema creates table keyserver_mls_key_packages and its indexes.
	Schema string
	// ClaimLock ends the claim's row selection: the clause, if any, that
	// keeps concurrent claims from picking the same row.
	ClaimLock string
}

// The statements, alike in both databases but for the claim's ClaimLock.
const (
	insertKeyPackageSQL = "" +
		"INSERT INTO keyserver_mls_key_packages" +
		" (user_id, device_id, key_id, ciphersuite, capabilities, last_resort, not_after, key_package)" +
		" VALUES ($1, $2, $3, $4, $5, $6, $7, $8)" +
		" ON CONFLICT (user_id, device_id, key_id) DO NOTHING"

	// One statement, so atomic on its own.
	deleteOneTimeKeyPackageSQL = "" +
		"DELETE FROM keyserver_mls_key_packages WHERE id = (" +
		" SELECT id FROM keyserver_mls_key_packages" +
		" WHERE user_id = $1 AND device_id = $2 AND last_resort = FALSE AND ciphersuite = $3" +
		" AND not_after >= $4 AND capabilities LIKE $5" +
		" ORDER BY id LIMIT 1%s" +
		") RETURNING key_id, key_package"

	selectKeyPackageDataSQL = "" +
		"SELECT key_package FROM keyserver_mls_key_packages WHERE user_id = $1 AND device_id = $2 AND key_id = $3"

	countKeyPackagesSQL = "" +
		"SELECT COUNT(*) FILTER (WHERE NOT last_resort), COUNT(*) FILTER (WHERE last_resort) > 0" +
		" FROM keyserver_mls_key_packages WHERE user_id = $1 AND device_id = $2 AND not_after >= $3"

	selectLastResortKeyPackageSQL = "" +
		"SELECT key_id, key_package FROM keyserver_mls_key_packages" +
		" WHERE user_id = $1 AND device_id = $2 AND last_resort = TRUE AND ciphersuite = $3" +
		" AND not_after >= $4 AND capabilities LIKE $5" +
		" ORDER BY id DESC LIMIT 1"

	deleteExpiredKeyPackagesSQL = "" +
		"DELETE FROM keyserver_mls_key_packages WHERE not_after < $1"

	deleteKeyPackageSQL = "" +
		"DELETE FROM keyserver_mls_key_packages WHERE user_id = $1 AND device_id = $2 AND key_id = $3"

	deleteDeviceKeyPackagesSQL = "" +
		"DELETE FROM keyserver_mls_key_packages WHERE user_id = $1 AND device_id = $2"
)

type keyPackagesStatements struct {
	insertStmt           *sql.Stmt
	selectDataStmt       *sql.Stmt
	countStmt            *sql.Stmt
	deleteOneTimeStmt    *sql.Stmt
	selectLastResortStmt *sql.Stmt
	deleteExpiredStmt    *sql.Stmt
	deleteStmt           *sql.Stmt
	deleteDeviceStmt     *sql.Stmt
}

// NewKeyPackagesTable creates the table if needed and prepares its
// statements in the given dialect.
func NewKeyPackagesTable(db *sql.DB, dialect KeyPackagesDialect) (KeyPackages, error) {
	if _, err := db.Exec(dialect.Schema); err != nil {
		return nil, err
	}
	s := &keyPackagesStatements{}
	return s, sqlutil.StatementList{
		{&s.insertStmt, insertKeyPackageSQL},
		{&s.selectDataStmt, selectKeyPackageDataSQL},
		{&s.countStmt, countKeyPackagesSQL},
		{&s.deleteOneTimeStmt, fmt.Sprintf(deleteOneTimeKeyPackageSQL, dialect.ClaimLock)},
		{&s.selectLastResortStmt, selectLastResortKeyPackageSQL},
		{&s.deleteExpiredStmt, deleteExpiredKeyPackagesSQL},
		{&s.deleteStmt, deleteKeyPackageSQL},
		{&s.deleteDeviceStmt, deleteDeviceKeyPackagesSQL},
	}.Prepare(db)
}

func (s *keyPackagesStatements) InsertKeyPackage(ctx context.Context, txn *sql.Tx, kp *api.KeyPackage) (bool, error) {
	res, err := sqlutil.TxStmtContext(ctx, txn, s.insertStmt).ExecContext(ctx,
		kp.UserID, kp.DeviceID, kp.KeyID, int(kp.Ciphersuite), EncodeCapabilities(kp.Capabilities),
		kp.LastResort, kp.NotAfter.Unix(), kp.Data,
	)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

func (s *keyPackagesStatements) SelectKeyPackageData(ctx context.Context, txn *sql.Tx, userID, deviceID, keyID string) ([]byte, error) {
	var data []byte
	err := sqlutil.TxStmtContext(ctx, txn, s.selectDataStmt).QueryRowContext(ctx, userID, deviceID, keyID).Scan(&data)
	return data, err
}

func (s *keyPackagesStatements) CountKeyPackages(ctx context.Context, userID, deviceID string, now int64) (api.KeyPackageCounts, error) {
	var counts api.KeyPackageCounts
	err := s.countStmt.QueryRowContext(ctx, userID, deviceID, now).Scan(&counts.OneTime, &counts.LastResort)
	return counts, err
}

func (s *keyPackagesStatements) DeleteOneTimeKeyPackage(ctx context.Context, txn *sql.Tx, userID, deviceID string, suite uint16, capsPattern string, now int64) (*api.ClaimedKeyPackage, error) {
	row := sqlutil.TxStmtContext(ctx, txn, s.deleteOneTimeStmt).QueryRowContext(ctx, userID, deviceID, int(suite), now, capsPattern)
	return scanClaimed(row, false)
}

func (s *keyPackagesStatements) SelectLastResortKeyPackage(ctx context.Context, txn *sql.Tx, userID, deviceID string, suite uint16, capsPattern string, now int64) (*api.ClaimedKeyPackage, error) {
	row := sqlutil.TxStmtContext(ctx, txn, s.selectLastResortStmt).QueryRowContext(ctx, userID, deviceID, int(suite), now, capsPattern)
	return scanClaimed(row, true)
}

func (s *keyPackagesStatements) DeleteExpiredKeyPackages(ctx context.Context, txn *sql.Tx, now int64) (int64, error) {
	res, err := sqlutil.TxStmtContext(ctx, txn, s.deleteExpiredStmt).ExecContext(ctx, now)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (s *keyPackagesStatements) DeleteKeyPackage(ctx context.Context, txn *sql.Tx, userID, deviceID, keyID string) error {
	_, err := sqlutil.TxStmtContext(ctx, txn, s.deleteStmt).ExecContext(ctx, userID, deviceID, keyID)
	return err
}

func (s *keyPackagesStatements) DeleteDeviceKeyPackages(ctx context.Context, txn *sql.Tx, userID, deviceID string) error {
	_, err := sqlutil.TxStmtContext(ctx, txn, s.deleteDeviceStmt).ExecContext(ctx, userID, deviceID)
	return err
}

func scanClaimed(row *sql.Row, lastResort bool) (*api.ClaimedKeyPackage, error) {
	kp := &api.ClaimedKeyPackage{LastResort: lastResort}
	err := row.Scan(&kp.KeyID, &kp.Data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return kp, nil
}
