package routing

import (
	"encoding/json"
	"net/http"

	dendriterouting "github.com/matrix-org/dendrite/federationapi/routing"
	"github.com/matrix-org/dendrite/internal/httputil"
	roomserverAPI "github.com/matrix-org/dendrite/roomserver/api"
	"github.com/matrix-org/dendrite/setup/config"
	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/fclient"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/matrix-org/util"

	"github.com/matrix-org/dendrite/msc4244/mlsds/api"
	"github.com/matrix-org/dendrite/msc4244/roomserver"
	"github.com/matrix-org/dendrite/msc4244/roomserver/membership"
)

// MembershipDeps are what the membership routes need.
type MembershipDeps struct {
	Config        *config.Dendrite
	RoomserverAPI roomserverAPI.FederationRoomserverAPI
	KeyRing       gomatrixserverlib.JSONVerifier
	// Wakeups is the federation API's, which every federation route
	// reports incoming servers to.
	Wakeups *dendriterouting.FederationWakeups
	Knocker *membership.Knocker
	// Members sends the invites a room's DS asks for.
	Members *membership.Sender
}

// SetupMembership registers the federation routes of the MLS membership
// rule (docs/membership.md): /invite v2 checks invites into MLS rooms with
// the auth events sent along, make_join gives MLS join templates the
// history visibility as an auth event, send_join answers a refused join with
// 403; make_knock and send_knock serve knocks, which Dendrite lacks; a
// room's DS has this server's users send the invites of the commits it
// accepted. It must run before Dendrite's routes are added.
func SetupMembership(routers httputil.Routers, d MembershipDeps) {
	h := &membershipHandlers{d}
	routers.Federation.Handle("/v2/invite/{roomID}/{eventID}", h.fedAPI("federation_invite", h.invite)).Methods(http.MethodPut, http.MethodOptions)
	routers.Federation.Handle("/v1/make_join/{roomID}/{userID}", h.fedAPI("federation_make_join", h.makeJoin)).Methods(http.MethodGet)
	routers.Federation.Handle("/v1/send_join/{roomID}/{eventID}", h.fedAPI("federation_send_join", h.sendJoinV1)).Methods(http.MethodPut)
	routers.Federation.Handle("/v2/send_join/{roomID}/{eventID}", h.fedAPI("federation_send_join", h.sendJoinV2)).Methods(http.MethodPut)
	routers.Federation.Handle("/v1/make_knock/{roomID}/{userID}", h.fedAPI("federation_make_knock", h.makeKnock)).Methods(http.MethodGet)
	routers.Federation.Handle("/v1/send_knock/{roomID}/{eventID}", h.fedAPI("federation_send_knock", h.sendKnock)).Methods(http.MethodPut)
	routers.Federation.Handle("/unstable/"+api.UnstablePrefix+"/rooms/{roomID}/invite", h.fedAPI("mls_ds_invite", h.dsInvite)).Methods(http.MethodPut)
}

type membershipHandlers struct{ MembershipDeps }

type fedHandler func(req *http.Request, fedReq *fclient.FederationRequest, roomID spec.RoomID, vars map[string]string) util.JSONResponse

// fedAPI verifies the request's signature, refuses servers the room's ACLs
// ban, and parses the room ID, as Dendrite's routes do.
func (h *membershipHandlers) fedAPI(name string, f fedHandler) http.Handler {
	g := &h.Config.Global
	return dendriterouting.MakeFedAPI(name, g.ServerName, g.IsLocalServerName, h.KeyRing, h.Wakeups,
		func(req *http.Request, fedReq *fclient.FederationRequest, vars map[string]string) util.JSONResponse {
			if roomserverAPI.IsServerBannedFromRoom(req.Context(), h.RoomserverAPI, vars["roomID"], fedReq.Origin()) {
				return util.JSONResponse{Code: http.StatusForbidden, JSON: spec.Forbidden("Forbidden by server ACLs")}
			}
			roomID, err := spec.NewRoomID(vars["roomID"])
			if err != nil {
				return util.JSONResponse{Code: http.StatusBadRequest, JSON: spec.InvalidParam("Invalid RoomID")}
			}
			return f(req, fedReq, *roomID, vars)
		})
}

// invite is /invite v2. Dendrite signs and stores a federated invite
// without checking it against the room's auth rules; for an MLS room the
// inviting server sends the invite's auth events along
// (membership.InviteRequest) and the invite is checked against them first.
func (h *membershipHandlers) invite(req *http.Request, fedReq *fclient.FederationRequest, roomID spec.RoomID, vars map[string]string) util.JSONResponse {
	var body membership.InviteRequest
	if err := json.Unmarshal(fedReq.Content(), &body); err == nil && body.RoomVersion == roomserver.RoomVersion {
		if errRes := checkMLSInvite(&body); errRes != nil {
			return *errRes
		}
	}
	return dendriterouting.InviteV2(req, fedReq, roomID, vars["eventID"], &h.Config.FederationAPI, h.RoomserverAPI, h.KeyRing)
}

func checkMLSInvite(body *membership.InviteRequest) *util.JSONResponse {
	event, err := gomatrixserverlib.MustGetRoomVersion(roomserver.RoomVersion).NewEventFromUntrustedJSON(body.Event)
	if err != nil {
		return &util.JSONResponse{Code: http.StatusBadRequest, JSON: spec.BadJSON("the invite is not an event of room version " + string(roomserver.RoomVersion) + ": " + err.Error())}
	}
	if len(body.AuthEvents) == 0 {
		return &util.JSONResponse{Code: http.StatusForbidden, JSON: spec.Forbidden(
			"an invite into an MLS room must come with its auth events (org.matrix.msc4244.auth_events), so that they can be checked")}
	}
	if err = membership.CheckInvite(event, body.AuthEvents); err != nil {
		return &util.JSONResponse{Code: http.StatusForbidden, JSON: spec.Forbidden(err.Error())}
	}
	return nil
}

// makeJoin is make_join. In an MLS room the template's auth events get the
// room's history visibility, which the AAD of a join's external commit
// names.
func (h *membershipHandlers) makeJoin(req *http.Request, fedReq *fclient.FederationRequest, roomID spec.RoomID, vars map[string]string) util.JSONResponse {
	userID, err := spec.NewUserID(vars["userID"], true)
	if err != nil {
		return util.JSONResponse{Code: http.StatusBadRequest, JSON: spec.InvalidParam("Invalid UserID")}
	}
	res := dendriterouting.MakeJoin(req, fedReq, &h.Config.FederationAPI, h.RoomserverAPI, roomID, *userID, remoteVersions(req))
	if res.Code != http.StatusOK {
		return res
	}
	template, ok := res.JSON.(map[string]any)
	if !ok || template["room_version"] != roomserver.RoomVersion {
		return res
	}
	proto, ok := template["event"].(gomatrixserverlib.ProtoEvent)
	authEvents, isList := proto.AuthEvents.([]string)
	if !ok || !isList {
		util.GetLogger(req.Context()).Errorf("make_join: Dendrite's template is a %T with auth events %T", template["event"], proto.AuthEvents)
		return util.JSONResponse{Code: http.StatusInternalServerError, JSON: spec.InternalServerError{}}
	}
	hv, err := h.RoomserverAPI.CurrentStateEvent(req.Context(), roomID, spec.MRoomHistoryVisibility, "")
	if err != nil {
		util.GetLogger(req.Context()).WithError(err).Error("make_join: reading the history visibility failed")
		return util.JSONResponse{Code: http.StatusInternalServerError, JSON: spec.InternalServerError{}}
	}
	if hv != nil {
		proto.AuthEvents = append(authEvents, hv.EventID())
		template["event"] = proto
	}
	return res
}

// remoteVersions are the room versions a make_join request says its server
// supports (?ver=), room version 1 when it says none, as the specification
// of make_join has it.
func remoteVersions(req *http.Request) []gomatrixserverlib.RoomVersion {
	vers := req.URL.Query()["ver"]
	if len(vers) == 0 {
		return []gomatrixserverlib.RoomVersion{gomatrixserverlib.RoomVersionV1}
	}
	versions := make([]gomatrixserverlib.RoomVersion, len(vers))
	for i, v := range vers {
		versions[i] = gomatrixserverlib.RoomVersion(v)
	}
	return versions
}

// sendJoinV2 is send_join v2, with a join the room's auth rules refuse
// answered 403 M_FORBIDDEN (Dendrite answers 400).
func (h *membershipHandlers) sendJoinV2(req *http.Request, fedReq *fclient.FederationRequest, roomID spec.RoomID, vars map[string]string) util.JSONResponse {
	res := dendriterouting.SendJoin(req, fedReq, &h.Config.FederationAPI, h.RoomserverAPI, h.KeyRing, roomID, vars["eventID"])
	if e, ok := res.JSON.(spec.MatrixError); ok && res.Code == http.StatusBadRequest && e.ErrCode == spec.ErrorForbidden {
		res.Code = http.StatusForbidden
	}
	return res
}

// sendJoinV1 is send_join v1: v2's answer, a success wrapped in
// [code, body] as v1 has it.
func (h *membershipHandlers) sendJoinV1(req *http.Request, fedReq *fclient.FederationRequest, roomID spec.RoomID, vars map[string]string) util.JSONResponse {
	res := h.sendJoinV2(req, fedReq, roomID, vars)
	if _, isError := res.JSON.(spec.MatrixError); !isError {
		res.JSON = []any{res.Code, res.JSON}
	}
	return res
}

// makeKnock is make_knock: a knock template for a user of the requesting
// server.
func (h *membershipHandlers) makeKnock(req *http.Request, fedReq *fclient.FederationRequest, roomID spec.RoomID, vars map[string]string) util.JSONResponse {
	userID, err := spec.NewUserID(vars["userID"], true)
	if err != nil {
		return util.JSONResponse{Code: http.StatusBadRequest, JSON: spec.InvalidParam("Invalid UserID")}
	}
	res, err := h.Knocker.MakeKnock(req.Context(), fedReq.Origin(), roomID, *userID, remoteVersions(req))
	if err != nil {
		return membership.ErrorResponse(req.Context(), err)
	}
	return util.JSONResponse{Code: http.StatusOK, JSON: res}
}

// sendKnock is send_knock: the signed knock goes into the room, and the
// knocker's server gets the room's stripped state.
func (h *membershipHandlers) sendKnock(req *http.Request, fedReq *fclient.FederationRequest, roomID spec.RoomID, vars map[string]string) util.JSONResponse {
	res, err := h.Knocker.SendKnock(req.Context(), fedReq.Origin(), roomID, vars["eventID"], fedReq.Content())
	if err != nil {
		return membership.ErrorResponse(req.Context(), err)
	}
	return util.JSONResponse{Code: http.StatusOK, JSON: res}
}

// dsInvite serves the room's DS asking for the invite of a commit it
// accepted (membership.DSInviteRequest): the inviter, a user of this
// server, sends it.
func (h *membershipHandlers) dsInvite(req *http.Request, fedReq *fclient.FederationRequest, roomID spec.RoomID, _ map[string]string) util.JSONResponse {
	var body membership.DSInviteRequest
	if err := json.Unmarshal(fedReq.Content(), &body); err != nil {
		return util.JSONResponse{Code: http.StatusBadRequest, JSON: spec.BadJSON(err.Error())}
	}
	eventID, err := h.Members.HandleDSInvite(req.Context(), fedReq.Origin(), roomID, &body, h.RoomserverAPI)
	if err != nil {
		return membership.ErrorResponse(req.Context(), err)
	}
	return util.JSONResponse{Code: http.StatusOK, JSON: map[string]string{"event_id": eventID}}
}
