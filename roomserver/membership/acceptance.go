package membership

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/matrix-org/dendrite/setup/config"
	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
	"github.com/matrix-org/dendrite/msc4244/mlsds/api"
)

// Acceptance tells whether a room's DS accepted a commit. A join carries
// mls_commit only once the DS has: its log holds the commit for the epoch
// the commit creates (docs/membership.md).
type Acceptance struct {
	Config *config.Global
	// DS is this server's Delivery Service.
	DS    api.DeliveryServiceAPI
	State StateReader
	// Remote reads other servers' DS logs.
	Remote *DSClient
}

// ErrNotAccepted is returned by Check when the DS's log does not hold the
// commit (or the DS does not let the user read it).
var ErrNotAccepted = errors.New("the room's Delivery Service has not accepted this commit")

// Check checks that the DS of the room accepted commit (the value of
// content.mls_commit), asking it as user.
func (a *Acceptance) Check(ctx context.Context, roomID spec.RoomID, user spec.UserID, commit string) error {
	raw, err := base64.RawStdEncoding.Strict().DecodeString(commit)
	if err != nil {
		return fmt.Errorf("%w: mls_commit is not unpadded base64", ErrNotAccepted)
	}
	var msg mls.MLSMessage
	if err = codec.Unmarshal(raw, &msg); err != nil || msg.PublicMessage == nil {
		return fmt.Errorf("%w: mls_commit is not a PublicMessage", ErrNotAccepted)
	}
	epoch := msg.PublicMessage.Content.Epoch + 1
	server, err := a.dsOf(ctx, roomID)
	if err != nil {
		return err
	}
	var log *api.CommitsResponse
	if a.Config.IsLocalServerName(server) {
		log, err = a.DS.Commits(ctx, user.String(), roomID.String(), epoch, 1)
	} else {
		log, err = a.Remote.Commits(ctx, server, roomID, user, epoch, 1)
	}
	if err != nil {
		return fmt.Errorf("%w: reading the log of %s: %v", ErrNotAccepted, server, err)
	}
	for _, e := range log.Entries {
		logged, decodeErr := base64.RawStdEncoding.DecodeString(e.Message)
		if decodeErr == nil && e.Kind == api.KindCommit && e.Epoch == epoch && bytes.Equal(logged, raw) {
			return nil
		}
	}
	return fmt.Errorf("%w (epoch %d of %s's log)", ErrNotAccepted, epoch, server)
}

// dsOf is the server of the room's DS: the server of the create event's
// sender when this server knows the room's state, else the room ID's.
func (a *Acceptance) dsOf(ctx context.Context, roomID spec.RoomID) (spec.ServerName, error) {
	create, err := a.State.CurrentStateEvent(ctx, roomID, spec.MRoomCreate, "")
	if err != nil || create == nil {
		// The room is unknown here.
		return roomID.Domain(), nil
	}
	creator, err := spec.NewUserID(string(create.SenderID()), true)
	if err != nil {
		return roomID.Domain(), nil
	}
	return creator.Domain(), nil
}
