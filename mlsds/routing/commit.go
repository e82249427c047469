package routing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	rsapi "github.com/matrix-org/dendrite/roomserver/api"
	userapi "github.com/matrix-org/dendrite/userapi/api"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/matrix-org/util"

	"github.com/matrix-org/dendrite/msc4244/mlsds/api"
)

// commitFetchTimeout bounds a read of one log entry from the room's DS,
// which several devices' requests may be waiting for.
const commitFetchTimeout = 30 * time.Second

// clientCommit answers GET .../rooms/{roomID}/mls/commits/{epoch}: the
// entry of the room's log that created epoch, which is how devices read a
// commit the DS sent by reference (docs/mls-profile.md, "Recovery"). Users
// whose membership this server knows to be join or invite share the commit
// cache, as the DS would let each of them read; for others (a device added
// to the group before its user's invite reached this server) the DS decides
// every time.
func (h *handlers) clientCommit(req *http.Request, device *userapi.Device, vars map[string]string) util.JSONResponse {
	ctx := req.Context()
	roomID, err := spec.NewRoomID(vars["roomID"])
	if err != nil {
		return util.JSONResponse{Code: http.StatusBadRequest, JSON: spec.InvalidParam("invalid room ID")}
	}
	epoch, errRes := parseEpoch(vars["epoch"])
	if errRes != nil {
		return *errRes
	}
	var body json.RawMessage
	if h.memberHere(ctx, roomID, device.UserID) {
		// The fetch is shared: a request that goes away must not end it.
		body, err = h.commits.load(commitKey(roomID.String(), epoch), func() (json.RawMessage, error) {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), commitFetchTimeout)
			defer cancel()
			return h.fetchCommit(ctx, device.UserID, roomID, epoch)
		})
	} else {
		body, err = h.fetchCommit(ctx, device.UserID, roomID, epoch)
	}
	var remoteErr *remoteFailure
	switch {
	case errors.As(err, &remoteErr):
		return remoteError(ctx, remoteErr.err)
	case err != nil:
		return dsError(ctx, err)
	}
	return ok(body)
}

// remoteFailure is a failed request to a remote DS.
type remoteFailure struct{ err error }

func (f *remoteFailure) Error() string { return f.err.Error() }

// fetchCommit reads the entry of the room's log that created epoch for
// user, from the local DS or the room's DS, encoded.
func (h *handlers) fetchCommit(ctx context.Context, user string, roomID *spec.RoomID, epoch uint64) (json.RawMessage, error) {
	server := h.dsOf(ctx, roomID)
	if h.Config.Global.IsLocalServerName(server) {
		entry, err := h.DS.Commit(ctx, user, roomID.String(), epoch)
		if err != nil {
			return nil, err
		}
		return json.Marshal(entry)
	}
	var entry api.LogEntry
	path := "/rooms/" + url.PathEscape(roomID.String()) + "/mls/commits/" + strconv.FormatUint(epoch, 10)
	if err := h.remote.get(ctx, server, path, url.Values{"user_id": {user}}, &entry); err != nil {
		return nil, &remoteFailure{err}
	}
	if entry.Epoch != epoch || entry.Kind == api.KindProposal {
		return nil, &remoteFailure{fmt.Errorf("asked for the commit of epoch %d, %s answered with a %s of epoch %d", epoch, server, entry.Kind, entry.Epoch)}
	}
	return json.Marshal(&entry)
}

// memberHere reports whether this server knows user's membership in the
// room to be join or invite, including an invite this server holds for its
// user while it is not in the room.
func (h *handlers) memberHere(ctx context.Context, roomID *spec.RoomID, user string) bool {
	var res rsapi.QueryMembershipForUserResponse
	if err := h.Roomserver.QueryMembershipForSenderID(ctx, *roomID, spec.SenderID(user), &res); err != nil {
		return false
	}
	if res.Membership == spec.Join || res.Membership == spec.Invite {
		return true
	}
	invited, err := h.Roomserver.InvitePending(ctx, *roomID, spec.SenderID(user))
	return err == nil && invited
}

// parseEpoch parses the {epoch} of a path.
func parseEpoch(s string) (uint64, *util.JSONResponse) {
	epoch, err := strconv.ParseUint(s, 10, 63)
	if err != nil {
		return 0, &util.JSONResponse{Code: http.StatusBadRequest, JSON: spec.InvalidParam("the epoch must be a non-negative integer")}
	}
	return epoch, nil
}
