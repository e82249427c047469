// Package clientapi holds our extensions of Dendrite's client API: routes
// that shadow Dendrite's own (registered before them) to apply the MLS rules
// of MSC4244 and to hand to-device messages for the Delivery Service to it.
package clientapi

import (
	appserviceAPI "github.com/matrix-org/dendrite/appservice/api"
	"github.com/matrix-org/dendrite/clientapi/producers"
	"github.com/matrix-org/dendrite/internal/httputil"
	roomserverAPI "github.com/matrix-org/dendrite/roomserver/api"
	"github.com/matrix-org/dendrite/setup/config"
	"github.com/matrix-org/dendrite/setup/jetstream"
	"github.com/matrix-org/dendrite/setup/process"
	userapi "github.com/matrix-org/dendrite/userapi/api"

	"github.com/matrix-org/dendrite/msc4244/clientapi/routing"
	"github.com/matrix-org/dendrite/msc4244/mlsds/api"
)

// AddPublicRoutes registers our client routes. Call it before Dendrite's
// client routes are added.
func AddPublicRoutes(
	processCtx *process.ProcessContext, routers httputil.Routers, cfg *config.Dendrite,
	natsInstance *jetstream.NATSInstance, rsAPI roomserverAPI.ClientRoomserverAPI,
	asAPI appserviceAPI.AppServiceInternalAPI, userAPI userapi.ClientUserAPI, ds api.DeliveryServiceAPI,
) {
	js, _ := natsInstance.Prepare(processCtx, &cfg.Global.JetStream)
	routing.Setup(routers, routing.Deps{
		Config:        cfg,
		UserAPI:       userAPI,
		RoomserverAPI: rsAPI,
		AppserviceAPI: asAPI,
		// As Dendrite's client API builds it; only to-device messages go
		// through this one.
		SyncProducer: &producers.SyncAPIProducer{
			JetStream:              js,
			TopicSendToDeviceEvent: cfg.Global.JetStream.Prefixed(jetstream.OutputSendToDeviceEvent),
			UserAPI:                userAPI,
			ServerName:             cfg.Global.ServerName,
		},
		DS: ds,
	})
}
