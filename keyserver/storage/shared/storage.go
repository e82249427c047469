// Package shared implements the keyserver's storage over its tables, the
// same way for Postgres and SQLite.
package shared

import (
	"bytes"
	"context"
	"database/sql"
	"time"

	"github.com/matrix-org/dendrite/internal/sqlutil"
	"github.com/matrix-org/dendrite/setup/config"

	"github.com/matrix-org/dendrite/msc4244/keyserver/api"
	"github.com/matrix-org/dendrite/msc4244/keyserver/storage/tables"
)

// Database is the keyserver's storage. Every write goes through Writer,
// which serialises writes on SQLite and is a pass-through on Postgres.
type Database struct {
	DB          *sql.DB
	Writer      sqlutil.Writer
	KeyPackages tables.KeyPackages
}

// NewDatabase opens the database dbProperties names, through conMan, and
// creates its tables with the given constructor.
func NewDatabase(
	conMan *sqlutil.Connections, dbProperties *config.DatabaseOptions,
	newKeyPackagesTable func(*sql.DB) (tables.KeyPackages, error),
) (*Database, error) {
	db, writer, err := conMan.Connection(dbProperties)
	if err != nil {
		return nil, err
	}
	keyPackages, err := newKeyPackagesTable(db)
	if err != nil {
		return nil, err
	}
	return &Database{DB: db, Writer: writer, KeyPackages: keyPackages}, nil
}

// StoreKeyPackages stores all of kps or none of them, and returns the key
// ids it stored. Uploading a key id the device already has is a no-op when
// the content is the same and a *api.KeyIDConflictError otherwise.
func (d *Database) StoreKeyPackages(ctx context.Context, kps []api.KeyPackage) (stored []string, err error) {
	err = d.Writer.Do(d.DB, nil, func(txn *sql.Tx) error {
		for i := range kps {
			kp := &kps[i]
			inserted, err := d.KeyPackages.InsertKeyPackage(ctx, txn, kp)
			if err != nil {
				return err
			}
			if inserted {
				stored = append(stored, kp.KeyID)
				continue
			}
			existing, err := d.KeyPackages.SelectKeyPackageData(ctx, txn, kp.UserID, kp.DeviceID, kp.KeyID)
			if err != nil {
				return err
			}
			if !bytes.Equal(existing, kp.Data) {
				return &api.KeyIDConflictError{KeyID: kp.KeyID}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return stored, nil
}

// KeyPackageCounts counts a device's KeyPackages that are valid at now.
func (d *Database) KeyPackageCounts(ctx context.Context, userID, deviceID string, now time.Time) (api.KeyPackageCounts, error) {
	return d.KeyPackages.CountKeyPackages(ctx, userID, deviceID, now.Unix())
}

// ClaimKeyPackage hands out one KeyPackage of the device that is valid at
// now, has one of suites (tried in the given order) and supports required.
// A one-time KeyPackage is removed as it is handed out, so it is never
// handed out twice; only when none matches is a matching last-resort one
// returned, and kept. It returns nil when nothing matches.
func (d *Database) ClaimKeyPackage(
	ctx context.Context, userID, deviceID string, suites []uint16, required api.Capabilities, now time.Time,
) (*api.ClaimedKeyPackage, error) {
	pattern := tables.CapabilitiesPattern(required)
	var claimed *api.ClaimedKeyPackage
	err := d.Writer.Do(nil, nil, func(_ *sql.Tx) error {
		for _, suite := range suites {
			kp, err := d.KeyPackages.DeleteOneTimeKeyPackage(ctx, nil, userID, deviceID, suite, pattern, now.Unix())
			if err != nil || kp != nil {
				claimed = kp
				return err
			}
		}
		return nil
	})
	if err != nil || claimed != nil {
		return claimed, err
	}
	for _, suite := range suites {
		kp, err := d.KeyPackages.SelectLastResortKeyPackage(ctx, nil, userID, deviceID, suite, pattern, now.Unix())
		if err != nil || kp != nil {
			return kp, err
		}
	}
	return nil, nil
}

// DeleteExpiredKeyPackages removes every KeyPackage whose lifetime ended
// before now, returning how many.
func (d *Database) DeleteExpiredKeyPackages(ctx context.Context, now time.Time) (n int64, err error) {
	err = d.Writer.Do(nil, nil, func(_ *sql.Tx) error {
		n, err = d.KeyPackages.DeleteExpiredKeyPackages(ctx, nil, now.Unix())
		return err
	})
	return n, err
}

// DeleteKeyPackages removes the given key ids of a device.
func (d *Database) DeleteKeyPackages(ctx context.Context, userID, deviceID string, keyIDs []string) error {
	return d.Writer.Do(d.DB, nil, func(txn *sql.Tx) error {
		for _, keyID := range keyIDs {
			if err := d.KeyPackages.DeleteKeyPackage(ctx, txn, userID, deviceID, keyID); err != nil {
				return err
			}
		}
		return nil
	})
}

// DeleteDeviceKeyPackages removes every KeyPackage of the given devices.
func (d *Database) DeleteDeviceKeyPackages(ctx context.Context, userID string, deviceIDs []string) error {
	return d.Writer.Do(d.DB, nil, func(txn *sql.Tx) error {
		for _, deviceID := range deviceIDs {
			if err := d.KeyPackages.DeleteDeviceKeyPackages(ctx, txn, userID, deviceID); err != nil {
				return err
			}
		}
		return nil
	})
}
