package client

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/matrix-org/dendrite/msc4244/client/matrix"
	"github.com/matrix-org/dendrite/msc4244/client/mlsroom"
	"github.com/matrix-org/dendrite/msc4244/mlsds/api"
	"github.com/matrix-org/dendrite/msc4244/roomserver/mlsauth"
)

// DefaultDSWait is how long operations wait for the Delivery Service's
// answer before they return ErrNoAnswer (the message stays pending), unless
// the profile says otherwise.
const DefaultDSWait = 60 * time.Second

// maxCommitAttempts bounds how often a commit is rebuilt after losing a
// race for its epoch.
const maxCommitAttempts = 5

func b64(b []byte) string { return base64.RawStdEncoding.EncodeToString(b) }

// genesis creates the room's group with the DS of the room as external
// sender and has the DS accept its epoch-0 GroupInfo.
func (c *Client) genesis(ctx context.Context, roomID string) error {
	var r *room
	err := c.locked(ctx, func() error {
		var err error
		if r, err = c.learnRoom(ctx, roomID); err != nil {
			return err
		}
		if r.Group.Member() {
			return nil
		}
		info, err := c.api.DSInfo(ctx, r.DS)
		if err != nil {
			return fmt.Errorf("fetching the Delivery Service's description: %w", err)
		}
		suite := uint16(c.account.MLS.Suite)
		sender, err := base64.RawStdEncoding.DecodeString(info.ExternalSenderFor(suite))
		if err != nil || len(sender) == 0 {
			return fmt.Errorf("the Delivery Service names no external sender in cipher suite %d", suite)
		}
		state, gi, err := mlsroom.Create(c.account.MLS, roomID, sender)
		if err != nil {
			return err
		}
		r.Group, r.Genesis = *state, gi
		return c.saveRoom(r)
	})
	if err != nil {
		return err
	}
	return c.sendGenesis(ctx, r)
}

// sendGenesis sends the room's epoch-0 GroupInfo to the DS until it
// answers.
func (c *Client) sendGenesis(ctx context.Context, r *room) error {
	if r.Genesis == nil {
		return nil
	}
	answer, err := c.sendToDS(ctx, r, r.Genesis, &api.MessageContent{RoomID: r.RoomID, Message: b64(r.Genesis)}, c.dsWait)
	if err != nil {
		return fmt.Errorf("creating the room's MLS group: %w", err)
	}
	if !answer.Accepted {
		return answer.rejection()
	}
	return c.locked(ctx, func() error {
		fresh, _, err := c.loadRoom(r.RoomID)
		if err != nil {
			return err
		}
		fresh.Genesis = nil
		return c.saveRoom(fresh)
	})
}

func (a *dsAnswer) rejection() error {
	return &RejectedError{ErrCode: a.ErrCode, Message: a.Error, CurrentEpoch: a.CurrentEpoch}
}

// commitBuilder makes a commit for the room's current epoch; it is called
// again for the next epoch when the commit loses a race.
type commitBuilder func(ctx context.Context, r *room) (*mlsroom.Pending, error)

// commit makes, sends and awaits a commit: when another commit took the
// epoch first (M_MLS_WRONG_EPOCH), it catches up with the DS's log and
// builds the commit again. It returns once the DS accepted the commit and
// the device merged it.
func (c *Client) commit(ctx context.Context, roomID string, build commitBuilder) (*mlsroom.Pending, error) {
	for attempt := 1; ; attempt++ {
		if err := c.settlePending(ctx, roomID); err != nil {
			return nil, err
		}
		var r *room
		var p *mlsroom.Pending
		err := c.locked(ctx, func() error {
			var err error
			if r, err = c.memberRoom(roomID); err != nil {
				return err
			}
			if r.Group.Pending != nil {
				return fmt.Errorf("%w; its answer arrives with the next sync (mlsclient listen)", mlsroom.ErrPending)
			}
			if p, err = build(ctx, r); err != nil {
				return err
			}
			return c.saveRoom(r)
		})
		if err != nil {
			return nil, err
		}
		accepted, err := c.sendCommit(ctx, r, p, attempt)
		if accepted || err != nil {
			return p, err
		}
		if err = c.catchUp(ctx, roomID); err != nil {
			return nil, err
		}
	}
}

// settlePending finishes an earlier commit of this device that is still
// pending (its answer never came: the process ended, or the DS was away):
// the DS's log tells whether it was accepted or lost; when the log has
// nothing for its epoch, it is sent again.
func (c *Client) settlePending(ctx context.Context, roomID string) error {
	var r *room
	err := c.locked(ctx, func() error {
		var err error
		r, err = c.memberRoom(roomID)
		return err
	})
	if err != nil || r.Group.Pending == nil {
		return err
	}
	if err = c.catchUp(ctx, roomID); err != nil {
		return fmt.Errorf("%w (and the Delivery Service cannot be asked about it now: %w)", mlsroom.ErrPending, err)
	}
	err = c.locked(ctx, func() error {
		var err error
		r, err = c.memberRoom(roomID)
		return err
	})
	if err != nil || r.Group.Pending == nil {
		return err
	}
	_, err = c.sendPending(ctx, r, r.Group.Pending)
	return err
}

// sendCommit sends a pending commit and reports whether the DS accepted
// it; it returns false and no error when another commit took the epoch and
// attempt leaves room for another try.
func (c *Client) sendCommit(ctx context.Context, r *room, p *mlsroom.Pending, attempt int) (bool, error) {
	answer, err := c.sendPending(ctx, r, p)
	switch {
	case err != nil:
		return false, err
	case answer.Accepted:
		return true, nil
	case answer.ErrCode != string(api.ErrWrongEpoch) || attempt == maxCommitAttempts:
		return false, answer.rejection()
	}
	return false, nil
}

// sendPending sends the pending commit p of room r to its DS with its
// Welcome and GroupInfo, and waits for the answer. An accepted commit is
// merged (by the sync that brings the DS's m.mls.commit); a refused one is
// dropped.
func (c *Client) sendPending(ctx context.Context, r *room, p *mlsroom.Pending) (*dsAnswer, error) {
	content := &api.MessageContent{RoomID: r.RoomID, Message: b64(p.Message), CommitInfo: &api.CommitInfo{GroupInfo: b64(p.GroupInfo)}}
	if p.Welcome != nil {
		content.CommitInfo.Welcome = b64(p.Welcome)
	}
	answer, err := c.sendToDS(ctx, r, p.Message, content, c.dsWait)
	if err != nil {
		return nil, err
	}
	if !answer.Accepted {
		err = c.locked(ctx, func() error { return c.dropPending(r.RoomID, p.Message) })
	}
	return answer, err
}

// dropPending forgets the room's pending commit if it is message. The
// caller holds the lock.
func (c *Client) dropPending(roomID string, message []byte) error {
	r, found, err := c.loadRoom(roomID)
	if err != nil || !found || r.Group.Pending == nil || messageDigest(r.Group.Pending.Message) != messageDigest(message) {
		return err
	}
	r.Group.Drop()
	return c.saveRoom(r)
}

// memberRoom loads a room whose group this device is in. The caller holds
// the lock.
func (c *Client) memberRoom(roomID string) (*room, error) {
	r, found, err := c.loadRoom(roomID)
	switch {
	case err != nil:
		return nil, err
	case !found || !r.MLS:
		return nil, fmt.Errorf("%s: not an MLS room this device knows", roomID)
	case !r.Group.Member():
		return nil, fmt.Errorf("%s: %w (join it, or recover after losing state)", roomID, mlsroom.ErrNotMember)
	}
	return r, nil
}

// catchUp applies the commits (and the current epoch's proposals) of the
// DS's log that this device has not seen.
func (c *Client) catchUp(ctx context.Context, roomID string) error {
	return c.locked(ctx, func() error {
		r, err := c.memberRoom(roomID)
		if err != nil {
			return err
		}
		b := &batch{c: c}
		if err = b.catchUp(ctx, r); err != nil {
			return err
		}
		if err = c.saveRoom(r); err != nil {
			return err
		}
		return c.appendJournal(b.entries)
	})
}

// catchUp reads the room's log from the device's next epoch on and
// applies it to r (not saved). The caller holds the lock.
func (b *batch) catchUp(ctx context.Context, r *room) error {
	from := r.Group.Epoch + 1
	for {
		page, err := b.c.api.MLSCommits(ctx, r.RoomID, from, 0)
		if err != nil {
			return fmt.Errorf("reading the Delivery Service's log: %w", err)
		}
		for _, e := range page.Entries {
			message, err := base64.RawStdEncoding.DecodeString(e.Message)
			if err != nil {
				return fmt.Errorf("the DS's log holds malformed base64 at epoch %d", e.Epoch)
			}
			switch {
			case e.Kind == api.KindCommit:
				if err = b.applyCommit(r, message, e.Epoch, e.Sender); err != nil {
					return err
				}
			case e.Kind == api.KindProposal && e.Epoch == r.Group.Epoch:
				b.applyProposal(r, message)
			}
		}
		if page.NextEpoch == nil {
			return nil
		}
		from = *page.NextEpoch
	}
}

// Invite invites userID to roomID. In an MLS room whose history is
// visible to invited users, the invite is an Add commit of one of the
// user's devices (a KeyPackage is claimed) with a Welcome and the
// profile's AAD; once the DS accepts it, the DS has the invite event sent.
// With history visibility "joined" the invite is notional: an ordinary
// invite, and the user joins by external commit.
func (c *Client) Invite(ctx context.Context, roomID, userID string) error {
	var r *room
	err := c.locked(ctx, func() error {
		var err error
		r, err = c.learnRoom(ctx, roomID)
		return err
	})
	if err != nil {
		return err
	}
	visibility, err := c.historyVisibility(ctx, roomID)
	if err != nil {
		return err
	}
	if !r.MLS || visibility == "joined" {
		return c.api.Invite(ctx, roomID, userID)
	}
	devices, err := c.Devices(ctx, userID)
	if err != nil {
		return err
	}
	var keyPackage []byte
	var device mlsroom.Device
	for _, d := range devices {
		device = mlsroom.Device{UserID: userID, DeviceID: d.DeviceID}
		if keyPackage, err = c.claimKeyPackage(ctx, device); err == nil {
			break
		}
	}
	if keyPackage == nil {
		return fmt.Errorf("inviting %s: no device with a KeyPackage: %w", userID, err)
	}
	_, err = c.commit(ctx, roomID, func(ctx context.Context, r *room) (*mlsroom.Pending, error) {
		aad, err := c.membershipAAD(ctx, roomID, "invite", userID)
		if err != nil {
			return nil, err
		}
		return r.Group.Commit(mlsroom.CommitRequest{Add: [][]byte{keyPackage}, AAD: aad})
	})
	return err
}

// AddDevice adds another device of the user to the room's group (an
// ordinary commit, no member event).
func (c *Client) AddDevice(ctx context.Context, roomID, deviceID string) error {
	device := mlsroom.Device{UserID: c.UserID(), DeviceID: deviceID}
	keyPackage, err := c.claimKeyPackage(ctx, device)
	if err != nil {
		return err
	}
	_, err = c.commit(ctx, roomID, func(_ context.Context, r *room) (*mlsroom.Pending, error) {
		return r.Group.Commit(mlsroom.CommitRequest{Add: [][]byte{keyPackage}})
	})
	return err
}

// RemoveDevice removes a device of the user from the room's group.
func (c *Client) RemoveDevice(ctx context.Context, roomID, deviceID string) error {
	device := mlsroom.Device{UserID: c.UserID(), DeviceID: deviceID}
	_, err := c.commit(ctx, roomID, func(_ context.Context, r *room) (*mlsroom.Pending, error) {
		return r.Group.Commit(mlsroom.CommitRequest{Remove: []mlsroom.Device{device}})
	})
	return err
}

// Rekey commits an update of this device's keys (an empty commit with a
// path), which also covers any proposals the device holds.
func (c *Client) Rekey(ctx context.Context, roomID string) error {
	_, err := c.commit(ctx, roomID, func(_ context.Context, r *room) (*mlsroom.Pending, error) {
		return r.Group.Commit(mlsroom.CommitRequest{})
	})
	return err
}

// ForgetRoom deletes this device's state of a room (its MLS group state
// with it). Recover rejoins the group afterwards.
func (c *Client) ForgetRoom(ctx context.Context, roomID string) error {
	return c.locked(ctx, func() error { return c.store.Delete(roomRecord(roomID)) })
}

// commitProposals commits the proposals the device holds (the DS's
// Removes of users who left), so that nobody who left can read what is
// sent next.
func (c *Client) commitProposals(ctx context.Context, roomID string) error {
	var n int
	err := c.locked(ctx, func() error {
		r, err := c.memberRoom(roomID)
		if err == nil {
			n, err = r.Group.PendingProposals()
		}
		return err
	})
	if err != nil || n == 0 {
		return err
	}
	_, err = c.commit(ctx, roomID, func(_ context.Context, r *room) (*mlsroom.Pending, error) {
		if n, err := r.Group.PendingProposals(); err != nil || n == 0 {
			return nil, errNothingToCommit
		}
		return r.Group.Commit(mlsroom.CommitRequest{})
	})
	if errors.Is(err, errNothingToCommit) {
		return nil // another member's commit covered them
	}
	return err
}

var errNothingToCommit = errors.New("nothing to commit")

// Join joins roomID. When a Welcome already made this device a member of
// the room's group, it is an ordinary join; otherwise the device joins the
// group by external commit from the GroupInfo the DS serves (with the
// profile's AAD) and, once the DS accepted it, the join carries the commit
// as content.mls_commit.
func (c *Client) Join(ctx context.Context, roomIDOrAlias string, via ...string) (string, error) {
	r, err := c.knownRoom(ctx, roomIDOrAlias)
	if err != nil {
		return "", err
	}
	if r == nil {
		// Learn the invite (and any Welcome) first.
		if err = c.Sync(ctx, 0); err != nil {
			return "", err
		}
		if r, err = c.knownRoom(ctx, roomIDOrAlias); err != nil {
			return "", err
		}
	}
	if r != nil && r.MLS && !r.Group.Member() {
		p, err := c.externalJoin(ctx, r, true)
		if err != nil {
			return "", err
		}
		return c.api.Join(ctx, r.RoomID, via, map[string]any{"mls_commit": b64(p.Message)})
	}
	roomID, err := c.api.Join(ctx, roomIDOrAlias, via, nil)
	if matrix.ErrCode(err) == "M_FORBIDDEN" && r != nil && r.MLS {
		// The Welcome came first: the DS has the invite sent after it,
		// and the room's servers take a moment to have it as state.
		roomID, err = c.joinAfterWelcome(ctx, r, via)
	}
	if err != nil {
		return "", err
	}
	return roomID, c.locked(ctx, func() error {
		_, err := c.learnRoom(ctx, roomID)
		return err
	})
}

// knownRoom returns the device's record of a room, or nil.
func (c *Client) knownRoom(ctx context.Context, roomID string) (*room, error) {
	var r *room
	err := c.locked(ctx, func() error {
		loaded, found, err := c.loadRoom(roomID)
		if found {
			r = loaded
		}
		return err
	})
	return r, err
}

// joinAfterWelcome joins a room whose group the device entered by a
// Welcome, waiting (up to the profile's DS wait) for the invite to reach
// this device and the room's state.
func (c *Client) joinAfterWelcome(ctx context.Context, r *room, via []string) (string, error) {
	if err := c.awaitInvite(ctx, r.RoomID); err != nil {
		return "", err
	}
	deadline := time.Now().Add(c.dsWait)
	for {
		roomID, err := c.api.Join(ctx, r.RoomID, via, nil)
		if matrix.ErrCode(err) != "M_FORBIDDEN" || time.Now().After(deadline) {
			return roomID, err
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// awaitInvite syncs until the device has seen an invite to roomID, for at
// most the profile's DS wait.
func (c *Client) awaitInvite(ctx context.Context, roomID string) error {
	ctx, cancel := context.WithTimeout(ctx, c.dsWait)
	defer cancel()
	for {
		r, err := c.knownRoom(ctx, roomID)
		if err == nil && r != nil && r.Invited {
			return nil
		}
		if err == nil {
			err = c.Sync(ctx, time.Second)
		}
		if ctx.Err() != nil {
			return fmt.Errorf("joining %s: this device got the group's Welcome, but the invite has not arrived after %s", roomID, c.dsWait)
		}
		if err != nil && !Transient(err) {
			return err
		}
	}
}

// externalJoin joins r's group by external commit (with the join AAD when
// withAAD) and waits until the DS accepted it.
func (c *Client) externalJoin(ctx context.Context, r *room, withAAD bool) (*mlsroom.Pending, error) {
	for attempt := 1; ; attempt++ {
		res, err := c.api.MLSGroupInfo(ctx, r.RoomID)
		if err != nil {
			return nil, fmt.Errorf("fetching the group's GroupInfo from the Delivery Service: %w", err)
		}
		gi, err := base64.RawStdEncoding.DecodeString(res.GroupInfo)
		if err != nil {
			return nil, fmt.Errorf("the DS's group_info is not unpadded base64")
		}
		var aad []byte
		switch {
		case withAAD && len(res.AuthEvents) > 0:
			// The DS names the current state (a joiner cannot read it).
			aad = (&mlsauth.AAD{Action: mlsauth.ActionJoin, Target: c.UserID(), AuthEvents: res.AuthEvents}).Marshal()
		case withAAD:
			if aad, err = c.membershipAAD(ctx, r.RoomID, mlsauth.ActionJoin, c.UserID()); err != nil {
				return nil, err
			}
		}
		state, err := mlsroom.JoinExternal(c.account.MLS, gi, aad)
		if err != nil {
			return nil, err
		}
		p := state.Pending
		err = c.locked(ctx, func() error {
			fresh, _, err := c.loadRoom(r.RoomID)
			if err != nil {
				return err
			}
			fresh.Group, fresh.Deferred = *state, nil
			r = fresh
			return c.saveRoom(fresh)
		})
		if err != nil {
			return nil, err
		}
		accepted, err := c.sendCommit(ctx, r, p, attempt)
		if accepted || err != nil {
			return p, err
		}
	}
}

// Recover rejoins the room's group after this device lost its state of it
// (or its whole profile, as a new device): an external commit from the
// DS's GroupInfo that also removes the device's old leaf. Messages of
// earlier epochs cannot be decrypted on this device any more: their keys
// went with the lost state; the journal says so.
func (c *Client) Recover(ctx context.Context, roomID string) (uint64, error) {
	var r *room
	err := c.locked(ctx, func() error {
		var err error
		r, err = c.learnRoom(ctx, roomID)
		if err == nil && !r.MLS {
			err = fmt.Errorf("%s is not an MLS room", roomID)
		}
		return err
	})
	if err != nil {
		return 0, err
	}
	p, err := c.externalJoin(ctx, r, false)
	if err != nil {
		return 0, err
	}
	return p.Epoch, c.locked(ctx, func() error {
		fresh, _, err := c.loadRoom(roomID)
		if err != nil {
			return err
		}
		epoch := p.Epoch
		fresh.RecoveredAt = &epoch
		if err = c.saveRoom(fresh); err != nil {
			return err
		}
		return c.appendJournal([]Entry{{Kind: KindNotice, RoomID: roomID, Epoch: epoch, Text: fmt.Sprintf(
			"recovered the MLS group at epoch %d: messages sent before epoch %d cannot be decrypted on this device, their keys were lost with the old state", epoch, epoch)}})
	})
}

// GroupMembers lists the devices in the room's MLS group as this device
// sees it.
func (c *Client) GroupMembers(ctx context.Context, roomID string) ([]mlsroom.Device, uint64, error) {
	var out []mlsroom.Device
	var epoch uint64
	err := c.locked(ctx, func() error {
		r, err := c.memberRoom(roomID)
		if err != nil {
			return err
		}
		epoch = r.Group.Epoch
		out, err = r.Group.Members()
		return err
	})
	return out, epoch, err
}
