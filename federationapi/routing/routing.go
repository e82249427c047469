// Package routing holds our overrides of Dendrite's federation routes: thin
// handlers that call Dendrite's own handler with what MLS needs changed.
package routing

import (
	"net/http"

	"github.com/matrix-org/dendrite/federationapi/producers"
	dendriterouting "github.com/matrix-org/dendrite/federationapi/routing"
	"github.com/matrix-org/dendrite/internal"
	"github.com/matrix-org/dendrite/internal/httputil"
	roomserverAPI "github.com/matrix-org/dendrite/roomserver/api"
	"github.com/matrix-org/dendrite/setup/config"
	userapi "github.com/matrix-org/dendrite/userapi/api"
	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/fclient"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/matrix-org/util"

	"github.com/matrix-org/dendrite/msc4244/mlsds/api"
	"github.com/matrix-org/dendrite/msc4244/mlsds/divert"
)

// Deps are what the overridden routes need.
type Deps struct {
	Config        *config.Dendrite
	RoomserverAPI roomserverAPI.FederationRoomserverAPI
	UserAPI       userapi.FederationUserAPI
	FedClient     fclient.FederationClient
	KeyRing       gomatrixserverlib.JSONVerifier
	// Wakeups is the federation API's, which every federation route
	// reports incoming servers to.
	Wakeups *dendriterouting.FederationWakeups
	// SyncProducer publishes EDUs as Dendrite's federation API does; its
	// JetStream is replaced per request (package divert).
	SyncProducer *producers.SyncAPIProducer
	DS           api.DeliveryServiceAPI
}

// Setup registers the overrides on the federation router. It must run
// before Dendrite's routes are added, so that these match first.
func Setup(routers httputil.Routers, d Deps) {
	g := &d.Config.Global
	// Dendrite's /send serialises the PDUs of a room with a lock of its
	// own; this route replaces it, so this lock is the only one.
	mu := internal.NewMutexByRoom()
	seen := newSeenMessages()
	routers.Federation.Handle("/v1/send/{txnID}", dendriterouting.MakeFedAPI(
		"federation_send", g.ServerName, g.IsLocalServerName, d.KeyRing, d.Wakeups,
		func(req *http.Request, fedReq *fclient.FederationRequest, vars map[string]string) util.JSONResponse {
			return send(req, fedReq, vars, &d, mu, seen)
		},
	)).Methods(http.MethodPut, http.MethodOptions)
}

// send processes a transaction as Dendrite does, except that to-device
// messages to this server's DS are handled by the DS within the request.
// When the DS fails to handle one, the transaction is answered with an
// error so that the sending server sends it again; its PDUs are then
// deduplicated by event ID as usual. To-device messages already delivered
// are dropped by their message_id (see seenMessages).
func send(req *http.Request, fedReq *fclient.FederationRequest, vars map[string]string, d *Deps, mu *internal.MutexByRoom, seen *seenMessages) util.JSONResponse {
	fedReq, delivered, err := seen.filter(fedReq)
	if err != nil {
		return util.JSONResponse{Code: http.StatusBadRequest, JSON: spec.BadJSON("The transaction is not valid JSON: " + err.Error())}
	}
	producer := *d.SyncProducer
	js := divert.ForFederation(req.Context(), producer.JetStream, producer.TopicSendToDeviceEvent, d.Config.Global.IsLocalServerName, d.DS)
	producer.JetStream = js
	res := dendriterouting.Send(
		req, fedReq, gomatrixserverlib.TransactionID(vars["txnID"]),
		&d.Config.FederationAPI, d.RoomserverAPI, d.UserAPI, d.KeyRing, d.FedClient, mu, &producer,
	)
	if js.Failed() && res.Code == http.StatusOK {
		return util.JSONResponse{
			Code: http.StatusInternalServerError,
			JSON: spec.Unknown("the Delivery Service could not handle a message of this transaction; send it again"),
		}
	}
	if res.Code == http.StatusOK {
		seen.add(delivered)
	}
	return res
}
