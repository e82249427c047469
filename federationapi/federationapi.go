// Package federationapi holds our extensions of Dendrite's federation API:
// routes that shadow Dendrite's own (registered before them) so that
// to-device messages for the Delivery Service reach it.
package federationapi

import (
	"github.com/matrix-org/dendrite/federationapi/producers"
	fedrouting "github.com/matrix-org/dendrite/federationapi/routing"
	"github.com/matrix-org/dendrite/internal/httputil"
	roomserverAPI "github.com/matrix-org/dendrite/roomserver/api"
	"github.com/matrix-org/dendrite/setup/config"
	"github.com/matrix-org/dendrite/setup/jetstream"
	"github.com/matrix-org/dendrite/setup/process"
	userapi "github.com/matrix-org/dendrite/userapi/api"
	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/fclient"

	"github.com/matrix-org/dendrite/msc4244/federationapi/routing"
	"github.com/matrix-org/dendrite/msc4244/mlsds/api"
)

// AddPublicRoutes registers our federation routes. Call it before
// Dendrite's federation routes are added. wakeups must be built on the
// concrete federation API, as Dendrite's routes do.
func AddPublicRoutes(
	processCtx *process.ProcessContext, routers httputil.Routers, cfg *config.Dendrite,
	natsInstance *jetstream.NATSInstance, userAPI userapi.FederationUserAPI, fedClient fclient.FederationClient,
	keyRing gomatrixserverlib.JSONVerifier, rsAPI roomserverAPI.FederationRoomserverAPI,
	wakeups *fedrouting.FederationWakeups, ds api.DeliveryServiceAPI,
) {
	fedCfg := &cfg.FederationAPI
	js, _ := natsInstance.Prepare(processCtx, &fedCfg.Matrix.JetStream)
	routing.Setup(routers, routing.Deps{
		Config:        cfg,
		RoomserverAPI: rsAPI,
		UserAPI:       userAPI,
		FedClient:     fedClient,
		KeyRing:       keyRing,
		Wakeups:       wakeups,
		// As Dendrite's federation API builds it.
		SyncProducer: &producers.SyncAPIProducer{
			JetStream:              js,
			TopicReceiptEvent:      fedCfg.Matrix.JetStream.Prefixed(jetstream.OutputReceiptEvent),
			TopicSendToDeviceEvent: fedCfg.Matrix.JetStream.Prefixed(jetstream.OutputSendToDeviceEvent),
			TopicTypingEvent:       fedCfg.Matrix.JetStream.Prefixed(jetstream.OutputTypingEvent),
			TopicPresenceEvent:     fedCfg.Matrix.JetStream.Prefixed(jetstream.OutputPresenceEvent),
			TopicDeviceListUpdate:  fedCfg.Matrix.JetStream.Prefixed(jetstream.InputDeviceListUpdate),
			TopicSigningKeyUpdate:  fedCfg.Matrix.JetStream.Prefixed(jetstream.InputSigningKeyUpdate),
			Config:                 fedCfg,
			UserAPI:                userAPI,
		},
		DS: ds,
	})
}
