package roomserver

import (
	"context"
	"strings"

	"github.com/matrix-org/dendrite/roomserver/api"
	"github.com/matrix-org/gomatrixserverlib"

	"github.com/matrix-org/dendrite/msc4244/roomserver/membership"
)

// Decorator wraps Dendrite's roomserver API. Every component (federation
// API, user API, app services and the client/sync routes of the monolith)
// receives the Decorator instead of the concrete roomserver, so a method
// defined here applies to all of them. Methods it does not define go
// straight to the wrapped roomserver.
//
// The roomserver's own setters (SetFederationAPI, SetAppserviceAPI,
// SetUserAPI) must still be called on the concrete roomserver.
type Decorator struct {
	api.RoomserverInternalAPI
	members    *membership.Sender     // see decorator_membership.go
	acceptance *membership.Acceptance // see decorator_membership.go
}

var _ api.RoomserverInternalAPI = (*Decorator)(nil)

// Decorate wraps the roomserver API inner.
func Decorate(inner api.RoomserverInternalAPI) *Decorator {
	return &Decorator{RoomserverInternalAPI: inner}
}

// notAllowedPrefix starts the text of every gomatrixserverlib auth
// rejection, the MLS membership rule's included.
var notAllowedPrefix = (&gomatrixserverlib.NotAllowed{}).Error()

// InputRoomEvents sends events to the roomserver, and marks the response
// NotAllowed when an event was rejected by the room's auth rules. Dendrite
// v0.13.8 reports a rejection only as error text, so its routes (send_join,
// for one) would answer a refused membership with 500.
func (d *Decorator) InputRoomEvents(ctx context.Context, req *api.InputRoomEventsRequest, res *api.InputRoomEventsResponse) {
	d.RoomserverInternalAPI.InputRoomEvents(ctx, req, res)
	if strings.Contains(res.ErrMsg, notAllowedPrefix) {
		res.NotAllowed = true
	}
}
