// Package keyserver stores and serves MLS KeyPackages, uploaded and claimed
// as "mls:<key_id>" one-time keys (MSC4244; see docs/keyserver.md).
package keyserver

import (
	"fmt"
	"time"

	fedrouting "github.com/matrix-org/dendrite/federationapi/routing"
	"github.com/matrix-org/dendrite/internal/httputil"
	"github.com/matrix-org/dendrite/internal/sqlutil"
	"github.com/matrix-org/dendrite/setup"
	"github.com/matrix-org/dendrite/setup/config"
	"github.com/matrix-org/dendrite/setup/process"

	"github.com/matrix-org/dendrite/msc4244/keyserver/internal"
	"github.com/matrix-org/dendrite/msc4244/keyserver/routing"
	"github.com/matrix-org/dendrite/msc4244/keyserver/storage"
)

// Setup builds the keyserver on Dendrite's key server database and wires it
// into the monolith. It must run after the monolith's components are built
// and before Monolith.AddAllPublicRoutes:
//   - its routes go on routers first, so that they shadow Dendrite's;
//   - the /sync middleware (key counts) goes on the Client router;
//   - monolith.UserAPI is replaced by the UserAPI decorator, so that the
//     components AddAllPublicRoutes builds (client API, sync API, federation
//     API routes) count, and delete, KeyPackages with the other keys;
//   - expired KeyPackages are swept until the process shuts down.
//
// wakeups is what the federation route reports the origins of requests to.
func Setup(
	processCtx *process.ProcessContext, cfg *config.Dendrite, cm *sqlutil.Connections,
	monolith *setup.Monolith, routers httputil.Routers, wakeups *fedrouting.FederationWakeups,
) error {
	db, err := storage.NewDatabase(cm, &cfg.KeyServer.Database)
	if err != nil {
		return fmt.Errorf("keyserver: opening the database: %w", err)
	}
	keys := &internal.KeyServer{DB: db, Cfg: &cfg.Global, FedClient: monolith.FedClient, Now: time.Now}
	userAPI := &UserAPI{UserInternalAPI: monolith.UserAPI, keys: keys}
	monolith.UserAPI = userAPI
	routing.Setup(routers, cfg, keys, userAPI, monolith.KeyRing, wakeups)
	routers.Client.Use(routing.SyncKeyCounts(userAPI))
	go keys.SweepExpired(processCtx.Context(), internal.SweepInterval)
	return nil
}
