// Package storage stores the keyserver's MLS KeyPackages in Postgres or
// SQLite.
package storage

import (
	"context"
	"time"

	"github.com/matrix-org/dendrite/msc4244/keyserver/api"
)

// Database is the keyserver's storage. See shared.Database for the
// semantics of each operation.
type Database interface {
	StoreKeyPackages(ctx context.Context, kps []api.KeyPackage) (stored []string, err error)
	KeyPackageCounts(ctx context.Context, userID, deviceID string, now time.Time) (api.KeyPackageCounts, error)
	ClaimKeyPackage(ctx context.Context, userID, deviceID string, suites []uint16, required api.Capabilities, now time.Time) (*api.ClaimedKeyPackage, error)
	DeleteExpiredKeyPackages(ctx context.Context, now time.Time) (int64, error)
	DeleteKeyPackages(ctx context.Context, userID, deviceID string, keyIDs []string) error
	DeleteDeviceKeyPackages(ctx context.Context, userID string, deviceIDs []string) error
}
