package membership

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/matrix-org/dendrite/setup/config"
	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/fclient"
	"github.com/matrix-org/gomatrixserverlib/spec"
)

// InviteRequest is the body of PUT /_matrix/federation/v2/invite for an
// MLS room: the body of /invite v2 plus the invite's auth events, so that
// the invitee's server can apply the room's auth rules, the MLS membership
// rule included, before it signs. Dendrite's own /invite handler takes
// invites on trust.
type InviteRequest struct {
	Event           json.RawMessage                         `json:"event"`
	RoomVersion     gomatrixserverlib.RoomVersion           `json:"room_version"`
	InviteRoomState []gomatrixserverlib.InviteStrippedState `json:"invite_room_state"`
	AuthEvents      []json.RawMessage                       `json:"org.matrix.msc4244.auth_events"`
}

// FederationClient sends signed requests to other servers.
type FederationClient interface {
	DoRequestAndParseResponse(ctx context.Context, req *http.Request, result any) error
}

// doSigned sends a federation request signed by this server to server,
// with body (when not nil) as its JSON content, and decodes the answer into
// out.
func doSigned(ctx context.Context, cfg *config.Global, client FederationClient, method string, server spec.ServerName, path string, body, out any) error {
	fedReq := fclient.NewFederationRequest(method, cfg.ServerName, server, path)
	if body != nil {
		if err := fedReq.SetContent(body); err != nil {
			return err
		}
	}
	if err := fedReq.Sign(cfg.ServerName, cfg.KeyID, cfg.PrivateKey); err != nil {
		return err
	}
	req, err := fedReq.HTTPRequest()
	if err != nil {
		return err
	}
	return client.DoRequestAndParseResponse(ctx, req, out)
}

// InviteClient has remote invitees' servers sign invites.
type InviteClient struct {
	Config  *config.Global
	Client  FederationClient
	KeyRing gomatrixserverlib.JSONVerifier
}

// Sign sends the invite of draft to the invitee's server, which checks and
// signs it, and returns the event signed by both servers.
func (c *InviteClient) Sign(ctx context.Context, draft *Draft) (gomatrixserverlib.PDU, error) {
	ev := draft.Event
	invitee, err := spec.NewUserID(*ev.StateKey(), true)
	if err != nil {
		return nil, err
	}
	body := InviteRequest{Event: ev.JSON(), RoomVersion: ev.Version(), InviteRoomState: draft.StrippedState}
	for _, authEvent := range draft.AuthEvents {
		body.AuthEvents = append(body.AuthEvents, authEvent.JSON())
	}
	path := "/_matrix/federation/v2/invite/" + url.PathEscape(ev.RoomID().String()) + "/" + url.PathEscape(ev.EventID())
	var res fclient.RespInviteV2
	if err = doSigned(ctx, c.Config, c.Client, http.MethodPut, invitee.Domain(), path, body, &res); err != nil {
		return nil, err
	}
	verImpl, err := gomatrixserverlib.GetRoomVersion(ev.Version())
	if err != nil {
		return nil, err
	}
	signed, err := verImpl.NewEventFromUntrustedJSON(res.Event)
	if err != nil {
		return nil, fmt.Errorf("the invitee's server returned a bad event: %w", err)
	}
	if signed.EventID() != ev.EventID() {
		return nil, errors.New("the invitee's server returned another event")
	}
	if err = gomatrixserverlib.VerifyEventSignatures(ctx, signed, c.KeyRing, UserIDForSender); err != nil {
		return nil, fmt.Errorf("the invite the invitee's server returned is not signed: %w", err)
	}
	return signed, nil
}

// CheckInvite applies the room version's auth rules to an invite received
// over federation, against the auth events the inviting server sent along
// (InviteRequest.AuthEvents). Only the ones the invite names count; their
// event IDs are hashes of their content, so their content is the one the
// invite refers to.
func CheckInvite(event gomatrixserverlib.PDU, authEventsJSON []json.RawMessage) error {
	verImpl, err := gomatrixserverlib.GetRoomVersion(event.Version())
	if err != nil {
		return err
	}
	var authEvents []gomatrixserverlib.PDU
	for _, raw := range authEventsJSON {
		authEvent, err := verImpl.NewEventFromUntrustedJSON(raw)
		if err != nil {
			return fmt.Errorf("an auth event is not an event of room version %s: %w", event.Version(), err)
		}
		for _, id := range event.AuthEventIDs() {
			if id == authEvent.EventID() {
				authEvents = append(authEvents, authEvent)
			}
		}
	}
	provider := gomatrixserverlib.NewAuthEvents(authEvents)
	return gomatrixserverlib.Allowed(event, &provider, UserIDForSender)
}
