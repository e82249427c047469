// Package routing serves the Delivery Service's endpoints: the DS
// description and the recovery endpoints, to clients (answered by the local
// DS or fetched from the room's DS over federation) and to other servers.
package routing

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"github.com/gorilla/mux"
	fedrouting "github.com/matrix-org/dendrite/federationapi/routing"
	"github.com/matrix-org/dendrite/internal/httputil"
	rsapi "github.com/matrix-org/dendrite/roomserver/api"
	"github.com/matrix-org/dendrite/setup/config"
	userapi "github.com/matrix-org/dendrite/userapi/api"
	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/fclient"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/matrix-org/util"

	"github.com/matrix-org/dendrite/msc4244/mlsds/api"
)

// Paging of the commits endpoints.
const (
	defaultLimit = 100
	maxLimit     = 1000
)

// Deps are what the routes need besides the DS.
type Deps struct {
	Config     *config.Dendrite
	DS         api.DeliveryServiceAPI
	Roomserver StateQuerier
	UserAPI    userapi.QueryAcccessTokenAPI
	FedClient  fclient.FederationClient
	KeyRing    gomatrixserverlib.JSONVerifier
	// Wakeups is the federation API's, which every federation route
	// reports incoming servers to.
	Wakeups *fedrouting.FederationWakeups
}

// StateQuerier reads a room's current state and users' memberships; the
// roomserver API is one.
type StateQuerier interface {
	CurrentStateEvent(ctx context.Context, roomID spec.RoomID, eventType string, stateKey string) (gomatrixserverlib.PDU, error)
	QueryMembershipForSenderID(ctx context.Context, roomID spec.RoomID, senderID spec.SenderID, res *rsapi.QueryMembershipForUserResponse) error
	InvitePending(ctx context.Context, roomID spec.RoomID, senderID spec.SenderID) (bool, error)
}

// Setup registers the client and federation endpoints of the DS.
func Setup(routers httputil.Routers, d Deps) {
	h := &handlers{Deps: d, remote: &remote{cfg: &d.Config.Global, client: d.FedClient}, commits: newCommitCache()}
	client := routers.Client.PathPrefix("/unstable/" + api.UnstablePrefix).Subrouter()
	client.Handle("/ds/{serverName}", h.auth("mlsds_info", h.clientInfo)).Methods(http.MethodGet, http.MethodOptions)
	client.Handle("/rooms/{roomID}/mls/commits", h.auth("mlsds_commits", h.clientCommits)).Methods(http.MethodGet, http.MethodOptions)
	client.Handle("/rooms/{roomID}/mls/commits/{epoch}", h.auth("mlsds_commit", h.clientCommit)).Methods(http.MethodGet, http.MethodOptions)
	client.Handle("/rooms/{roomID}/mls/group_info", h.auth("mlsds_group_info", h.clientGroupInfo)).Methods(http.MethodGet, http.MethodOptions)

	fed := routers.Federation.PathPrefix("/unstable/" + api.UnstablePrefix).Subrouter()
	fed.Handle("/ds", h.federation("mlsds_federation_info", h.federationInfo)).Methods(http.MethodGet)
	fed.Handle("/rooms/{roomID}/mls/commits", h.federation("mlsds_federation_commits", h.federationCommits)).Methods(http.MethodGet)
	fed.Handle("/rooms/{roomID}/mls/commits/{epoch}", h.federation("mlsds_federation_commit", h.federationCommit)).Methods(http.MethodGet)
	fed.Handle("/rooms/{roomID}/mls/group_info", h.federation("mlsds_federation_group_info", h.federationGroupInfo)).Methods(http.MethodGet)
}

type handlers struct {
	Deps
	remote  *remote
	commits *commitCache
}

func (h *handlers) auth(name string, f func(*http.Request, *userapi.Device, map[string]string) util.JSONResponse) http.Handler {
	return httputil.MakeAuthAPI(name, h.UserAPI, func(req *http.Request, device *userapi.Device) util.JSONResponse {
		vars, err := httputil.URLDecodeMapValues(mux.Vars(req))
		if err != nil {
			return util.ErrorResponse(err)
		}
		return f(req, device, vars)
	})
}

func (h *handlers) federation(name string, f func(*http.Request, *fclient.FederationRequest, map[string]string) util.JSONResponse) http.Handler {
	g := &h.Config.Global
	return fedrouting.MakeFedAPI(name, g.ServerName, g.IsLocalServerName, h.KeyRing, h.Wakeups, f)
}

func (h *handlers) clientInfo(req *http.Request, _ *userapi.Device, vars map[string]string) util.JSONResponse {
	server := spec.ServerName(vars["serverName"])
	if h.Config.Global.IsLocalServerName(server) {
		return ok(h.DS.Info())
	}
	var info api.InfoResponse
	if err := h.remote.get(req.Context(), server, "/ds", nil, &info); err != nil {
		return remoteError(req.Context(), err)
	}
	if info.ServerName != string(server) {
		return util.JSONResponse{Code: http.StatusBadGateway, JSON: spec.Unknown("the server described another server")}
	}
	return ok(info)
}

func (h *handlers) clientCommits(req *http.Request, device *userapi.Device, vars map[string]string) util.JSONResponse {
	return h.clientRecovery(req, device, vars, func(ctx context.Context, p *pageParams) (any, error) {
		return h.DS.Commits(ctx, device.UserID, vars["roomID"], p.fromEpoch, p.limit)
	}, "commits", new(api.CommitsResponse))
}

func (h *handlers) clientGroupInfo(req *http.Request, device *userapi.Device, vars map[string]string) util.JSONResponse {
	return h.clientRecovery(req, device, vars, func(ctx context.Context, _ *pageParams) (any, error) {
		return h.DS.GroupInfo(ctx, device.UserID, vars["roomID"])
	}, "group_info", new(api.GroupInfoResponse))
}

// clientRecovery answers a recovery request of a local user: from the
// local DS when this server is the room's DS, otherwise from the room's DS
// over federation (remoteResult receives its answer).
func (h *handlers) clientRecovery(
	req *http.Request, device *userapi.Device, vars map[string]string,
	local func(context.Context, *pageParams) (any, error), endpoint string, remoteResult any,
) util.JSONResponse {
	p, errRes := parsePage(req.URL.Query())
	if errRes != nil {
		return *errRes
	}
	roomID, err := spec.NewRoomID(vars["roomID"])
	if err != nil {
		return util.JSONResponse{Code: http.StatusBadRequest, JSON: spec.InvalidParam("invalid room ID")}
	}
	server := h.dsOf(req.Context(), roomID)
	if h.Config.Global.IsLocalServerName(server) {
		return dsResult(req.Context(), func() (any, error) { return local(req.Context(), p) })
	}
	query := p.values()
	query.Set("user_id", device.UserID)
	if err = h.remote.get(req.Context(), server, "/rooms/"+url.PathEscape(roomID.String())+"/mls/"+endpoint, query, remoteResult); err != nil {
		return remoteError(req.Context(), err)
	}
	return ok(remoteResult)
}

// dsOf returns the room's DS: the server of the create event's sender, or
// when this server does not know the room's state, the server of the room ID.
func (h *handlers) dsOf(ctx context.Context, roomID *spec.RoomID) spec.ServerName {
	create, err := h.Roomserver.CurrentStateEvent(ctx, *roomID, spec.MRoomCreate, "")
	if err == nil && create != nil {
		if creator, err := spec.NewUserID(string(create.SenderID()), true); err == nil {
			return creator.Domain()
		}
	}
	return roomID.Domain()
}

func (h *handlers) federationInfo(*http.Request, *fclient.FederationRequest, map[string]string) util.JSONResponse {
	return ok(h.DS.Info())
}

func (h *handlers) federationCommits(req *http.Request, fedReq *fclient.FederationRequest, vars map[string]string) util.JSONResponse {
	return h.federationRecovery(req, fedReq, func(ctx context.Context, user string, p *pageParams) (any, error) {
		return h.DS.Commits(ctx, user, vars["roomID"], p.fromEpoch, p.limit)
	})
}

func (h *handlers) federationCommit(req *http.Request, fedReq *fclient.FederationRequest, vars map[string]string) util.JSONResponse {
	epoch, errRes := parseEpoch(vars["epoch"])
	if errRes != nil {
		return *errRes
	}
	return h.federationRecovery(req, fedReq, func(ctx context.Context, user string, _ *pageParams) (any, error) {
		return h.DS.Commit(ctx, user, vars["roomID"], epoch)
	})
}

func (h *handlers) federationGroupInfo(req *http.Request, fedReq *fclient.FederationRequest, vars map[string]string) util.JSONResponse {
	return h.federationRecovery(req, fedReq, func(ctx context.Context, user string, _ *pageParams) (any, error) {
		return h.DS.GroupInfo(ctx, user, vars["roomID"])
	})
}

// federationRecovery answers a recovery request another server makes for
// one of its users (query parameter user_id).
func (h *handlers) federationRecovery(req *http.Request, fedReq *fclient.FederationRequest, f func(context.Context, string, *pageParams) (any, error)) util.JSONResponse {
	query := req.URL.Query()
	user, err := spec.NewUserID(query.Get("user_id"), true)
	if err != nil {
		return util.JSONResponse{Code: http.StatusBadRequest, JSON: spec.InvalidParam("user_id must be a user ID")}
	}
	if user.Domain() != fedReq.Origin() {
		return util.JSONResponse{Code: http.StatusForbidden, JSON: spec.Forbidden("user_id is not a user of the requesting server")}
	}
	p, errRes := parsePage(query)
	if errRes != nil {
		return *errRes
	}
	return dsResult(req.Context(), func() (any, error) { return f(req.Context(), user.String(), p) })
}

// pageParams are the from_epoch and limit query parameters.
type pageParams struct {
	fromEpoch uint64
	limit     int
}

func parsePage(query url.Values) (*pageParams, *util.JSONResponse) {
	p := &pageParams{limit: defaultLimit}
	var err error
	if s := query.Get("from_epoch"); s != "" {
		if p.fromEpoch, err = strconv.ParseUint(s, 10, 63); err != nil {
			return nil, &util.JSONResponse{Code: http.StatusBadRequest, JSON: spec.InvalidParam("from_epoch must be a non-negative integer")}
		}
	}
	if s := query.Get("limit"); s != "" {
		if p.limit, err = strconv.Atoi(s); err != nil || p.limit < 1 {
			return nil, &util.JSONResponse{Code: http.StatusBadRequest, JSON: spec.InvalidParam("limit must be a positive integer")}
		}
		p.limit = min(p.limit, maxLimit)
	}
	return p, nil
}

func (p *pageParams) values() url.Values {
	return url.Values{"from_epoch": {strconv.FormatUint(p.fromEpoch, 10)}, "limit": {strconv.Itoa(p.limit)}}
}

// dsResult turns the answer of the local DS into a response.
func dsResult(ctx context.Context, f func() (any, error)) util.JSONResponse {
	res, err := f()
	if err != nil {
		return dsError(ctx, err)
	}
	return ok(res)
}

// dsError answers a request the local DS failed.
func dsError(ctx context.Context, err error) util.JSONResponse {
	switch {
	case errors.Is(err, api.ErrNotAllowed):
		return util.JSONResponse{Code: http.StatusForbidden, JSON: spec.Forbidden(api.ErrNotAllowed.Error())}
	case errors.Is(err, api.ErrNoGroup), errors.Is(err, api.ErrNoCommit):
		return util.JSONResponse{Code: http.StatusNotFound, JSON: spec.NotFound(err.Error())}
	}
	util.GetLogger(ctx).WithError(err).Error("mlsds: recovery request failed")
	return util.JSONResponse{Code: http.StatusInternalServerError, JSON: spec.InternalServerError{}}
}

func ok(body any) util.JSONResponse { return util.JSONResponse{Code: http.StatusOK, JSON: body} }
