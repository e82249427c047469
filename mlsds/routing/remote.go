package routing

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"

	"github.com/matrix-org/dendrite/setup/config"
	"github.com/matrix-org/gomatrix"
	"github.com/matrix-org/gomatrixserverlib/fclient"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/matrix-org/util"

	"github.com/matrix-org/dendrite/msc4244/mlsds/api"
)

// remote asks other servers' DS endpoints, with signed federation requests.
type remote struct {
	cfg    *config.Global
	client fclient.FederationClient
}

// get sends a signed GET to path (below the DS's federation prefix) on
// server and decodes the answer into out.
func (r *remote) get(ctx context.Context, server spec.ServerName, path string, query url.Values, out any) error {
	uri := "/_matrix/federation/unstable/" + api.UnstablePrefix + path
	if len(query) > 0 {
		uri += "?" + query.Encode()
	}
	identity, err := r.cfg.SigningIdentityFor(r.cfg.ServerName)
	if err != nil {
		return err
	}
	fedReq := fclient.NewFederationRequest(http.MethodGet, r.cfg.ServerName, server, uri)
	if err = fedReq.Sign(identity.ServerName, identity.KeyID, identity.PrivateKey); err != nil {
		return err
	}
	req, err := fedReq.HTTPRequest()
	if err != nil {
		return err
	}
	return r.client.DoRequestAndParseResponse(ctx, req, out)
}

// remoteError answers a client whose request to a remote DS failed: the
// remote's own Matrix error when it answered with one (403, 404, ...),
// 502 otherwise.
func remoteError(ctx context.Context, err error) util.JSONResponse {
	var httpErr gomatrix.HTTPError
	if errors.As(err, &httpErr) && httpErr.Code >= 400 && httpErr.Code < 500 && json.Valid(httpErr.Contents) {
		return util.JSONResponse{Code: httpErr.Code, JSON: json.RawMessage(httpErr.Contents)}
	}
	util.GetLogger(ctx).WithError(err).Warn("mlsds: request to a remote Delivery Service failed")
	return util.JSONResponse{Code: http.StatusBadGateway, JSON: spec.Unknown("the room's Delivery Service did not answer: " + err.Error())}
}
