package routing

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/matrix-org/dendrite/clientapi/httputil"
	userapi "github.com/matrix-org/dendrite/userapi/api"
	"github.com/matrix-org/gomatrixserverlib/fclient"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/matrix-org/util"

	"github.com/matrix-org/dendrite/msc4244/keyserver/api"
	"github.com/matrix-org/dendrite/msc4244/keyserver/internal"
	"github.com/matrix-org/dendrite/msc4244/keyserver/validate"
)

// Claim timeouts for remote servers: Dendrite's default, and a ceiling.
const (
	defaultClaimTimeout = 10 * time.Second
	maxClaimTimeout     = time.Minute
)

type claimKeysRequest struct {
	// TimeoutMS bounds the wait for remote servers, in milliseconds.
	TimeoutMS   *int64             `json:"timeout"`
	OneTimeKeys internal.Devices   `json:"one_time_keys"`
	MLS         *internal.MLSClaim `json:"mls"`
}

// ClaimKeys serves POST /keys/claim: devices asked for with algorithm "mls"
// are claimed by the keyserver (with the request's "mls" object), the
// others by Dendrite, both at once; the answers are merged.
func ClaimKeys(req *http.Request, keys *internal.KeyServer, userAPI userapi.UserInternalAPI) util.JSONResponse {
	var r claimKeysRequest
	if resErr := httputil.UnmarshalJSONRequest(req, &r); resErr != nil {
		return *resErr
	}
	timeout := defaultClaimTimeout
	if r.TimeoutMS != nil {
		if *r.TimeoutMS < 0 {
			return invalidParam("timeout is negative")
		}
		timeout = min(time.Duration(*r.TimeoutMS)*time.Millisecond, maxClaimTimeout)
	}
	mlsDevices, otherDevices, params, err := splitClaim(r.OneTimeKeys, r.MLS)
	if err != nil {
		return invalidParam(err.Error())
	}
	ctx := req.Context()

	var claimRes userapi.PerformClaimKeysResponse
	var wg sync.WaitGroup
	if len(otherDevices) > 0 {
		wg.Go(func() {
			userAPI.PerformClaimKeys(ctx, &userapi.PerformClaimKeysRequest{OneTimeKeys: otherDevices, Timeout: timeout}, &claimRes)
		})
	}
	claimed, failures := keys.Claim(ctx, mlsDevices, params, timeout)
	wg.Wait()
	if claimRes.Error != nil {
		return internalError(req, claimRes.Error, "PerformClaimKeys")
	}
	claimed.Merge(claimRes.OneTimeKeys)
	for server, failure := range claimRes.Failures {
		failures[server] = failure
	}
	return util.JSONResponse{
		Code: http.StatusOK,
		JSON: map[string]any{"one_time_keys": claimed, "failures": failures},
	}
}

// ClaimKeysForServer serves POST /_matrix/federation/v1/user/keys/claim
// for another server: its devices of local users, "mls" ones claimed by the
// keyserver with the request's "mls" object, the others by Dendrite. Users
// of other servers are ignored, as Dendrite does.
func ClaimKeysForServer(req *http.Request, fedReq *fclient.FederationRequest, keys *internal.KeyServer, userAPI userapi.UserInternalAPI) util.JSONResponse {
	var r internal.FederationClaim
	if err := json.Unmarshal(fedReq.Content(), &r); err != nil {
		return util.JSONResponse{Code: http.StatusBadRequest, JSON: spec.BadJSON("The request body could not be decoded into valid JSON: " + err.Error())}
	}
	mlsDevices, otherDevices, params, err := splitClaim(r.OneTimeKeys, r.MLS)
	if err != nil {
		return invalidParam(err.Error())
	}
	for userID := range otherDevices {
		if _, server, _ := splitUserID(userID); !keys.Cfg.IsLocalServerName(server) {
			delete(otherDevices, userID)
		}
	}
	claimed := keys.ClaimLocal(req.Context(), mlsDevices, params)
	if len(otherDevices) > 0 {
		var claimRes userapi.PerformClaimKeysResponse
		userAPI.PerformClaimKeys(req.Context(), &userapi.PerformClaimKeysRequest{OneTimeKeys: otherDevices}, &claimRes)
		if claimRes.Error != nil {
			return internalError(req, claimRes.Error, "PerformClaimKeys")
		}
		claimed.Merge(claimRes.OneTimeKeys)
	}
	return util.JSONResponse{
		Code: http.StatusOK,
		JSON: map[string]any{"one_time_keys": claimed},
	}
}

// splitClaim checks the devices and algorithms of a claim and its "mls"
// object, and splits the devices into those claimed with algorithm "mls"
// and the others.
func splitClaim(devices internal.Devices, mls *internal.MLSClaim) (mlsDevices, others internal.Devices, params internal.ClaimParams, err error) {
	if params, err = internal.ParseMLSClaim(mls); err != nil {
		return nil, nil, params, err
	}
	mlsDevices, others = make(internal.Devices), make(internal.Devices)
	for userID, userDevices := range devices {
		if _, _, err := splitUserID(userID); err != nil {
			return nil, nil, params, fmt.Errorf("one_time_keys: %q is not a user id", userID)
		}
		for deviceID, algorithm := range userDevices {
			if deviceID == "" {
				return nil, nil, params, fmt.Errorf("one_time_keys: empty device id for %s", userID)
			}
			if err := validate.Algorithm(algorithm); err != nil {
				return nil, nil, params, fmt.Errorf("one_time_keys: %s %s: %w", userID, deviceID, err)
			}
			target := others
			if algorithm == api.Algorithm {
				target = mlsDevices
			}
			if target[userID] == nil {
				target[userID] = make(map[string]string)
			}
			target[userID][deviceID] = algorithm
		}
	}
	return mlsDevices, others, params, nil
}

func splitUserID(userID string) (string, spec.ServerName, error) {
	id, err := spec.NewUserID(userID, true)
	if err != nil {
		return "", "", err
	}
	return id.Local(), id.Domain(), nil
}
