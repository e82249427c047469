// Package tables declares the keyserver's tables, implemented once for
// Postgres and once for SQLite.
package tables

import (
	"context"
	"database/sql"

	"github.com/matrix-org/dendrite/msc4244/keyserver/api"
)

// KeyPackages stores MLS KeyPackages. Times are Unix seconds. capsPattern
// is a LIKE pattern made by CapabilitiesPattern; a KeyPackage matches when
// its encoded capabilities (EncodeCapabilities) match it.
type KeyPackages interface {
	// InsertKeyPackage stores kp unless the device already has its key id,
	// in which case it reports inserted = false.
	InsertKeyPackage(ctx context.Context, txn *sql.Tx, kp *api.KeyPackage) (inserted bool, err error)
	// SelectKeyPackageData returns the stored bytes of a key id, or
	// sql.ErrNoRows.
	SelectKeyPackageData(ctx context.Context, txn *sql.Tx, userID, deviceID, keyID string) ([]byte, error)
	// CountKeyPackages counts a device's KeyPackages valid at now.
	CountKeyPackages(ctx context.Context, userID, deviceID string, now int64) (api.KeyPackageCounts, error)
	// DeleteOneTimeKeyPackage removes and returns the oldest matching
	// one-time KeyPackage valid at now, in one statement that no concurrent
	// call can hand out too; it returns nil when none matches.
	DeleteOneTimeKeyPackage(ctx context.Context, txn *sql.Tx, userID, deviceID string, suite uint16, capsPattern string, now int64) (*api.ClaimedKeyPackage, error)
	// SelectLastResortKeyPackage returns the newest matching last-resort
	// KeyPackage valid at now without removing it, or nil.
	SelectLastResortKeyPackage(ctx context.Context, txn *sql.Tx, userID, deviceID string, suite uint16, capsPattern string, now int64) (*api.ClaimedKeyPackage, error)
	// DeleteExpiredKeyPackages removes every KeyPackage whose lifetime
	// ended before now and returns how many it removed.
	DeleteExpiredKeyPackages(ctx context.Context, txn *sql.Tx, now int64) (int64, error)
	// DeleteKeyPackage removes one key id of a device.
	DeleteKeyPackage(ctx context.Context, txn *sql.Tx, userID, deviceID, keyID string) error
	// DeleteDeviceKeyPackages removes every KeyPackage of a device.
	DeleteDeviceKeyPackages(ctx context.Context, txn *sql.Tx, userID, deviceID string) error
}
