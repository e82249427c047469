// Package mlsds is the MLS Delivery Service of MSC4244: for every MLS room
// created on this server it orders the group's commits, validates them as a
// non-member, keeps the room's append-only log and fans accepted messages
// out to the group's devices, local and remote. See docs/mlsds.md.
package mlsds

import (
	"fmt"
	"time"

	fedrouting "github.com/matrix-org/dendrite/federationapi/routing"
	"github.com/matrix-org/dendrite/internal/httputil"
	"github.com/matrix-org/dendrite/internal/sqlutil"
	"github.com/matrix-org/dendrite/setup/config"
	"github.com/matrix-org/dendrite/setup/jetstream"
	"github.com/matrix-org/dendrite/setup/process"
	userapi "github.com/matrix-org/dendrite/userapi/api"
	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/fclient"

	"github.com/matrix-org/dendrite/msc4244/mlsds/api"
	"github.com/matrix-org/dendrite/msc4244/mlsds/internal"
	"github.com/matrix-org/dendrite/msc4244/mlsds/producers"
	"github.com/matrix-org/dendrite/msc4244/mlsds/routing"
	"github.com/matrix-org/dendrite/msc4244/mlsds/storage"
)

// RoomServer is what the DS needs of Dendrite's roomserver API.
type RoomServer interface {
	internal.RoomServer
	routing.StateQuerier
}

// NewInternalAPI builds the DS of cfg's server. Its database is the one
// configured for MSCs (mscs.database), its MLS signature keys are in
// mls_ds_key.pem next to the server's Matrix signing key (created on first
// start), and it sends to devices as "@:<server>": through JetStream to this
// server's devices, in EDUs queued with federation to other servers' (or,
// when federation is nil, through JetStream too). Before it returns,
// fan-outs a crash interrupted are sent again.
func NewInternalAPI(
	processCtx *process.ProcessContext, cfg *config.Dendrite, cm *sqlutil.Connections,
	natsInstance *jetstream.NATSInstance, rsAPI RoomServer, federation producers.EDUSender, enableMetrics bool,
) (api.DeliveryServiceAPI, error) {
	db, err := storage.NewDatabase(cm, &cfg.MSCs.Database)
	if err != nil {
		return nil, fmt.Errorf("mlsds: database: %w", err)
	}
	identity, err := internal.LoadOrCreateIdentity(internal.IdentityPath(string(cfg.Global.PrivateKeyPath)), string(cfg.Global.ServerName))
	if err != nil {
		return nil, fmt.Errorf("mlsds: %w", err)
	}
	js, _ := natsInstance.Prepare(processCtx, &cfg.Global.JetStream)
	out := &producers.ToDevice{
		JetStream:  js,
		Topic:      cfg.Global.JetStream.Prefixed(jetstream.OutputSendToDeviceEvent),
		ServerName: cfg.Global.ServerName,
		Federation: federation,
	}
	if enableMetrics {
		internal.RegisterMetrics()
	}
	ds, err := internal.New(processCtx.Context(), cfg.Global.ServerName, db, internal.NewPublicView(time.Now), identity, rsAPI, out)
	if err != nil {
		return nil, fmt.Errorf("mlsds: %w", err)
	}
	processCtx.ComponentStarted()
	go func() {
		defer processCtx.ComponentFinished()
		ds.RunOutbox(processCtx.Context())
	}()
	return ds, nil
}

// AddPublicRoutes registers the DS's client and federation endpoints.
func AddPublicRoutes(
	routers httputil.Routers, cfg *config.Dendrite, ds api.DeliveryServiceAPI, rsAPI RoomServer,
	userAPI userapi.QueryAcccessTokenAPI, fedClient fclient.FederationClient, keyRing gomatrixserverlib.JSONVerifier,
	wakeups *fedrouting.FederationWakeups,
) {
	routing.Setup(routers, routing.Deps{
		Config: cfg, DS: ds, Roomserver: rsAPI, UserAPI: userAPI,
		FedClient: fedClient, KeyRing: keyRing, Wakeups: wakeups,
	})
}
