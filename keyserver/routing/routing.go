// Package routing serves the keyserver's client and federation endpoints.
// They are registered before Dendrite's own and shadow them: MLS keys are
// handled here, everything else is checked here and then handed to
// Dendrite's user API.
package routing

import (
	"net/http"

	fedrouting "github.com/matrix-org/dendrite/federationapi/routing"
	"github.com/matrix-org/dendrite/internal/httputil"
	"github.com/matrix-org/dendrite/setup/config"
	userapi "github.com/matrix-org/dendrite/userapi/api"
	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/fclient"
	"github.com/matrix-org/util"

	"github.com/matrix-org/dendrite/msc4244/keyserver/internal"
)

// Setup registers the keyserver's routes on routers: client
// /keys/upload (with the deprecated /keys/upload/{deviceID}) and
// /keys/claim, in the r0 and v3 versions Dendrite serves, and federation
// /v1/user/keys/claim. It must run before Dendrite registers its routes.
func Setup(
	routers httputil.Routers, cfg *config.Dendrite, keys *internal.KeyServer, userAPI userapi.UserInternalAPI,
	keyRing gomatrixserverlib.JSONVerifier, wakeups *fedrouting.FederationWakeups,
) {
	upload := httputil.MakeAuthAPI("keys_upload", userAPI, func(req *http.Request, device *userapi.Device) util.JSONResponse {
		return UploadKeys(req, keys, userAPI, device)
	}, httputil.WithAllowGuests())
	claim := httputil.MakeAuthAPI("keys_claim", userAPI, func(req *http.Request, device *userapi.Device) util.JSONResponse {
		return ClaimKeys(req, keys, userAPI)
	}, httputil.WithAllowGuests())
	v3 := routers.Client.PathPrefix("/{apiversion:(?:r0|v3)}/").Subrouter()
	v3.Handle("/keys/upload/{deviceID}", upload).Methods(http.MethodPost, http.MethodOptions)
	v3.Handle("/keys/upload", upload).Methods(http.MethodPost, http.MethodOptions)
	v3.Handle("/keys/claim", claim).Methods(http.MethodPost, http.MethodOptions)

	routers.Federation.Handle("/v1/user/keys/claim", fedrouting.MakeFedAPI(
		"federation_keys_claim", cfg.Global.ServerName, cfg.Global.IsLocalServerName, keyRing, wakeups,
		func(req *http.Request, fedReq *fclient.FederationRequest, _ map[string]string) util.JSONResponse {
			return ClaimKeysForServer(req, fedReq, keys, userAPI)
		},
	)).Methods(http.MethodPost)
}
