package routing

import (
	"context"
	"io"
	"net/http"
	"strings"

	"github.com/gorilla/mux"
	appserviceAPI "github.com/matrix-org/dendrite/appservice/api"
	dendriterouting "github.com/matrix-org/dendrite/clientapi/routing"
	"github.com/matrix-org/dendrite/internal/httputil"
	roomserverAPI "github.com/matrix-org/dendrite/roomserver/api"
	"github.com/matrix-org/dendrite/setup/config"
	userapi "github.com/matrix-org/dendrite/userapi/api"
	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/fclient"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/matrix-org/util"
	"github.com/tidwall/gjson"

	"github.com/matrix-org/dendrite/msc4244/roomserver/membership"
)

// KnockDeps are what the knock routes need.
type KnockDeps struct {
	Config        *config.Dendrite
	UserAPI       userapi.ClientUserAPI
	RoomserverAPI roomserverAPI.ClientRoomserverAPI
	AppserviceAPI appserviceAPI.AppServiceInternalAPI
	// FedClient resolves other servers' room aliases.
	FedClient fclient.FederationClient
	Knocker   *membership.Knocker
}

// SetupKnock registers POST /knock/{roomIdOrAlias}, which Dendrite lacks,
// and shadows POST /rooms/{roomId}/kick so that kicking a knocking user
// rejects the knock (Dendrite kicks only joined and invited users).
func SetupKnock(routers httputil.Routers, d KnockDeps) {
	v3 := routers.Client.PathPrefix("/{apiversion:(?:r0|v3)}/").Subrouter()
	v3.Handle("/knock/{roomIDOrAlias}", httputil.MakeAuthAPI("knock", d.UserAPI, func(req *http.Request, device *userapi.Device) util.JSONResponse {
		vars, err := httputil.URLDecodeMapValues(mux.Vars(req))
		if err != nil {
			return util.ErrorResponse(err)
		}
		return knock(req, device, vars["roomIDOrAlias"], &d)
	})).Methods(http.MethodPost, http.MethodOptions)
	v3.Handle("/rooms/{roomID}/kick", httputil.MakeAuthAPI("membership", d.UserAPI, func(req *http.Request, device *userapi.Device) util.JSONResponse {
		vars, err := httputil.URLDecodeMapValues(mux.Vars(req))
		if err != nil {
			return util.ErrorResponse(err)
		}
		return kick(req, device, vars["roomID"], &d)
	})).Methods(http.MethodPost, http.MethodOptions)
}

// kick kicks as Dendrite does, except that a knocking user's knock is
// rejected: their membership becomes leave.
func kick(req *http.Request, device *userapi.Device, roomID string, d *KnockDeps) util.JSONResponse {
	body, errRes := rereadBody(req)
	if errRes != nil {
		return *errRes
	}
	target, err := spec.NewUserID(gjson.GetBytes(body, "user_id").Str, true)
	validRoomID, roomErr := spec.NewRoomID(roomID)
	moderator, userErr := spec.NewUserID(device.UserID, true)
	if err == nil && roomErr == nil && userErr == nil {
		var res roomserverAPI.QueryMembershipForUserResponse
		err = d.RoomserverAPI.QueryMembershipForUser(req.Context(), &roomserverAPI.QueryMembershipForUserRequest{RoomID: roomID, UserID: *target}, &res)
		if err == nil && res.Membership == spec.Knock {
			if err = d.Knocker.Reject(req.Context(), *validRoomID, *moderator, *target, gjson.GetBytes(body, "reason").Str); err != nil {
				return membership.ErrorResponse(req.Context(), err)
			}
			return util.JSONResponse{Code: http.StatusOK, JSON: struct{}{}}
		}
	}
	return dendriterouting.SendKick(req, d.UserAPI, device, roomID, &d.Config.ClientAPI, d.RoomserverAPI, d.AppserviceAPI)
}

// knock knocks on a room for the device's user: body {"reason"}, the
// servers to knock through in ?server_name= and ?via=; answers
// {"room_id"}.
func knock(req *http.Request, device *userapi.Device, roomIDOrAlias string, d *KnockDeps) util.JSONResponse {
	if device.AccountType == userapi.AccountTypeGuest {
		return util.JSONResponse{Code: http.StatusForbidden, JSON: spec.GuestAccessForbidden("guests cannot knock")}
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return util.JSONResponse{Code: http.StatusBadRequest, JSON: spec.BadJSON("cannot read the request body")}
	}
	if len(body) > 0 && !gjson.ValidBytes(body) {
		return util.JSONResponse{Code: http.StatusBadRequest, JSON: spec.NotJSON("the body is not JSON")}
	}
	reason := gjson.GetBytes(body, "reason")
	if reason.Exists() && reason.Type != gjson.String {
		return util.JSONResponse{Code: http.StatusBadRequest, JSON: spec.BadJSON("reason must be a string")}
	}
	user, err := spec.NewUserID(device.UserID, true)
	if err != nil {
		return util.JSONResponse{Code: http.StatusBadRequest, JSON: spec.InvalidParam("invalid user ID")}
	}
	query := req.URL.Query()
	var servers []spec.ServerName
	for _, s := range append(query["server_name"], query["via"]...) {
		servers = append(servers, spec.ServerName(s))
	}
	roomID, aliasServers, errRes := resolveRoom(req.Context(), roomIDOrAlias, d)
	if errRes != nil {
		return *errRes
	}
	servers = append(append(servers, aliasServers...), roomID.Domain())
	if _, err = d.Knocker.Knock(req.Context(), *roomID, *user, reason.Str, servers); err != nil {
		return membership.ErrorResponse(req.Context(), err)
	}
	return util.JSONResponse{Code: http.StatusOK, JSON: map[string]string{"room_id": roomID.String()}}
}

// resolveRoom returns the room ID of a room ID or alias, and for an alias
// the servers its directory names.
func resolveRoom(ctx context.Context, roomIDOrAlias string, d *KnockDeps) (*spec.RoomID, []spec.ServerName, *util.JSONResponse) {
	if !strings.HasPrefix(roomIDOrAlias, "#") {
		roomID, err := spec.NewRoomID(roomIDOrAlias)
		if err != nil {
			return nil, nil, &util.JSONResponse{Code: http.StatusBadRequest, JSON: spec.InvalidParam("not a room ID or alias: " + roomIDOrAlias)}
		}
		return roomID, nil, nil
	}
	_, domain, err := gomatrixserverlib.SplitID('#', roomIDOrAlias)
	if err != nil {
		return nil, nil, &util.JSONResponse{Code: http.StatusBadRequest, JSON: spec.InvalidParam("invalid room alias: " + roomIDOrAlias)}
	}
	var id string
	var servers []spec.ServerName
	if d.Config.Global.IsLocalServerName(domain) {
		var res roomserverAPI.GetRoomIDForAliasResponse
		if err = d.RoomserverAPI.GetRoomIDForAlias(ctx, &roomserverAPI.GetRoomIDForAliasRequest{Alias: roomIDOrAlias, IncludeAppservices: true}, &res); err != nil {
			return nil, nil, &util.JSONResponse{Code: http.StatusInternalServerError, JSON: spec.InternalServerError{}}
		}
		id = res.RoomID
	} else {
		dir, err := d.FedClient.LookupRoomAlias(ctx, d.Config.Global.ServerName, domain, roomIDOrAlias)
		if err == nil {
			id, servers = dir.RoomID, dir.Servers
		}
	}
	roomID, err := spec.NewRoomID(id)
	if id == "" || err != nil {
		return nil, nil, &util.JSONResponse{Code: http.StatusNotFound, JSON: spec.NotFound("room alias " + roomIDOrAlias + " not found")}
	}
	return roomID, servers, nil
}
