package roomserver

import (
	"github.com/matrix-org/dendrite/roomserver/api"
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
}

var _ api.RoomserverInternalAPI = (*Decorator)(nil)

// Decorate wraps the roomserver API inner.
func Decorate(inner api.RoomserverInternalAPI) *Decorator {
	return &Decorator{RoomserverInternalAPI: inner}
}
