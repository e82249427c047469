package membership

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/matrix-org/gomatrix"
	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/matrix-org/util"
)

// ErrorResponse answers a client or server whose membership request failed
// with err: 403 M_FORBIDDEN when the room's auth rules refuse it, 404 when
// this server cannot reach the room, 400 for a bad request, another
// server's own Matrix error as it was, 500 otherwise.
func ErrorResponse(ctx context.Context, err error) util.JSONResponse {
	var notAllowed *gomatrixserverlib.NotAllowed
	var remote gomatrix.HTTPError
	var version ErrIncompatibleVersion
	switch {
	case errors.As(err, &notAllowed):
		return util.JSONResponse{Code: http.StatusForbidden, JSON: spec.Forbidden(strings.TrimPrefix(err.Error(), notAllowedPrefix))}
	case errors.Is(err, ErrNotRoomDS):
		return util.JSONResponse{Code: http.StatusForbidden, JSON: spec.Forbidden(err.Error())}
	case errors.Is(err, ErrNotInRoom):
		return util.JSONResponse{Code: http.StatusNotFound, JSON: spec.NotFound(err.Error())}
	case errors.As(err, &version):
		return util.JSONResponse{Code: http.StatusBadRequest, JSON: spec.IncompatibleRoomVersion(string(version.Version))}
	case errors.Is(err, ErrBadRequest):
		return util.JSONResponse{Code: http.StatusBadRequest, JSON: spec.BadJSON(err.Error())}
	case errors.As(err, &remote) && remote.Code >= 400 && remote.Code < 500 && json.Valid(remote.Contents):
		return util.JSONResponse{Code: remote.Code, JSON: json.RawMessage(remote.Contents)}
	}
	util.GetLogger(ctx).WithError(err).Error("membership request failed")
	return util.JSONResponse{Code: http.StatusInternalServerError, JSON: spec.InternalServerError{}}
}

// notAllowedPrefix starts the text of every gomatrixserverlib auth
// rejection.
var notAllowedPrefix = (&gomatrixserverlib.NotAllowed{}).Error()
