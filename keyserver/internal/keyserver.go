// Package internal implements the keyserver: upload, counts and claims of
// MLS KeyPackages, locally and over federation.
package internal

import (
	"context"
	"time"

	"github.com/matrix-org/dendrite/setup/config"
	"github.com/matrix-org/gomatrixserverlib/fclient"
	"github.com/sirupsen/logrus"

	"github.com/matrix-org/dendrite/msc4244/keyserver/storage"
)

// KeyServer serves MLS KeyPackages.
type KeyServer struct {
	DB        storage.Database
	Cfg       *config.Global
	FedClient fclient.FederationClient
	// Now is the clock lifetimes are checked against.
	Now func() time.Time
}

// SweepInterval is how often expired KeyPackages are deleted.
const SweepInterval = time.Hour

// SweepExpired deletes expired KeyPackages every interval until ctx ends.
// Claims never hand out an expired KeyPackage whether or not it was swept:
// the sweep only reclaims space.
func (k *KeyServer) SweepExpired(ctx context.Context, interval time.Duration) {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		n, err := k.DB.DeleteExpiredKeyPackages(ctx, k.Now())
		switch {
		case err != nil && ctx.Err() == nil:
			logrus.WithError(err).Error("keyserver: sweeping expired KeyPackages failed")
		case n > 0:
			logrus.WithField("count", n).Info("keyserver: swept expired KeyPackages")
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}
