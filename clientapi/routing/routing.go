// Package routing holds our overrides of Dendrite's client routes: thin
// handlers that apply the MLS rules, then call Dendrite's own handler.
package routing

import (
	"bytes"
	"io"
	"net/http"
	"strings"

	"github.com/gorilla/mux"
	appserviceAPI "github.com/matrix-org/dendrite/appservice/api"
	"github.com/matrix-org/dendrite/clientapi/producers"
	dendriterouting "github.com/matrix-org/dendrite/clientapi/routing"
	"github.com/matrix-org/dendrite/internal/httputil"
	"github.com/matrix-org/dendrite/internal/transactions"
	roomserverAPI "github.com/matrix-org/dendrite/roomserver/api"
	"github.com/matrix-org/dendrite/setup/config"
	userapi "github.com/matrix-org/dendrite/userapi/api"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/matrix-org/util"

	"github.com/matrix-org/dendrite/msc4244/mlsds/api"
	"github.com/matrix-org/dendrite/msc4244/mlsds/divert"
)

// Deps are what the overridden routes need.
type Deps struct {
	Config        *config.Dendrite
	UserAPI       userapi.ClientUserAPI
	RoomserverAPI roomserverAPI.ClientRoomserverAPI
	AppserviceAPI appserviceAPI.AppServiceInternalAPI
	// SyncProducer publishes to-device messages as Dendrite's client API
	// does; its JetStream is replaced per request (package divert).
	SyncProducer *producers.SyncAPIProducer
	DS           api.DeliveryServiceAPI
}

// Setup registers the overrides on the client router. It must run before
// Dendrite's routes are added, so that these match first.
func Setup(routers httputil.Routers, d Deps) {
	h := &handlers{Deps: d, txnCache: transactions.New()}
	v3 := routers.Client.PathPrefix("/{apiversion:(?:r0|v3)}/").Subrouter()
	unstable := routers.Client.PathPrefix("/unstable").Subrouter()

	v3.Handle("/createRoom", h.auth("createRoom", h.createRoom)).Methods(http.MethodPost, http.MethodOptions)
	for _, path := range []string{
		"/rooms/{roomID}/state/{eventType:" + encryptionType + "/?}",
		"/rooms/{roomID}/state/{eventType:" + encryptionType + "}/{stateKey}",
	} {
		v3.Handle(path, h.auth("send_message", h.sendState, httputil.WithAllowGuests())).Methods(http.MethodPut, http.MethodOptions)
	}
	for _, r := range []*mux.Router{v3, unstable} {
		r.Handle("/sendToDevice/{eventType}/{txnID}", h.auth("send_to_device", h.sendToDevice, httputil.WithAllowGuests())).
			Methods(http.MethodPut, http.MethodOptions)
	}
}

// encryptionType matches m.room.encryption in a route template.
var encryptionType = strings.ReplaceAll(spec.MRoomEncryption, ".", `\.`)

type handlers struct {
	Deps
	txnCache *transactions.Cache
}

func (h *handlers) auth(name string, f func(*http.Request, *userapi.Device, map[string]string) util.JSONResponse, opts ...httputil.AuthAPIOption) http.Handler {
	return httputil.MakeAuthAPI(name, h.UserAPI, func(req *http.Request, device *userapi.Device) util.JSONResponse {
		vars, err := httputil.URLDecodeMapValues(mux.Vars(req))
		if err != nil {
			return util.ErrorResponse(err)
		}
		return f(req, device, vars)
	}, opts...)
}

// createRoom refuses the MLS combinations the profile forbids, then
// creates the room as Dendrite does.
func (h *handlers) createRoom(req *http.Request, device *userapi.Device, _ map[string]string) util.JSONResponse {
	body, errRes := rereadBody(req)
	if errRes != nil {
		return *errRes
	}
	if errRes = checkCreateRoom(body); errRes != nil {
		return *errRes
	}
	return dendriterouting.CreateRoom(req, device, &h.Config.ClientAPI, h.UserAPI, h.RoomserverAPI, h.AppserviceAPI)
}

// sendState refuses m.room.encryption events naming an MLS algorithm, then
// sends the state event as Dendrite does.
func (h *handlers) sendState(req *http.Request, device *userapi.Device, vars map[string]string) util.JSONResponse {
	body, errRes := rereadBody(req)
	if errRes != nil {
		return *errRes
	}
	if errRes = checkEncryptionEvent(body); errRes != nil {
		return *errRes
	}
	stateKey := vars["stateKey"]
	eventType := strings.TrimSuffix(vars["eventType"], "/")
	return dendriterouting.SendEvent(req, device, vars["roomID"], eventType, nil, &stateKey, &h.Config.ClientAPI, h.RoomserverAPI, nil)
}

// sendToDevice sends to-device messages as Dendrite does, except that
// messages to this server's DS are handled by the DS before the request
// returns (package divert).
func (h *handlers) sendToDevice(req *http.Request, device *userapi.Device, vars map[string]string) util.JSONResponse {
	producer := *h.SyncProducer
	g := &h.Config.Global
	producer.JetStream = divert.ForClient(req.Context(), producer.JetStream, producer.TopicSendToDeviceEvent, g.IsLocalServerName, h.DS, device.ID)
	txnID := vars["txnID"]
	return dendriterouting.SendToDevice(req, device, &producer, h.txnCache, vars["eventType"], &txnID)
}

// rereadBody reads the request body and puts it back for the next reader.
func rereadBody(req *http.Request) ([]byte, *util.JSONResponse) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, &util.JSONResponse{Code: http.StatusBadRequest, JSON: spec.BadJSON("cannot read the request body")}
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	return body, nil
}
