package client

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/matrix-org/dendrite/msc4244/client/dispatch"
	"github.com/matrix-org/dendrite/msc4244/client/matrix"
	"github.com/matrix-org/dendrite/msc4244/client/mlsroom"
	"github.com/matrix-org/dendrite/msc4244/mlsds/api"
)

// deferred is a room message of an epoch the device had not reached when
// it arrived.
type deferred struct {
	EventID    string `json:"event_id"`
	Sender     string `json:"sender"`
	TS         int64  `json:"ts"`
	Ciphertext []byte `json:"ciphertext"`
}

// maxDeferred bounds the deferred messages kept per room.
const maxDeferred = 100

// maxSent bounds the IDs of own messages kept per room.
const maxSent = 200

// plaintext is the decrypted form of an m.room.encrypted event.
type plaintext struct {
	Type    string          `json:"type"`
	Content json.RawMessage `json:"content"`
	RoomID  string          `json:"room_id"`
}

func (b *batch) commit(ctx context.Context, ev matrix.Event) error {
	var content api.CommitContent
	r, ok, err := b.fromDS(ctx, ev, &content, func() string { return content.RoomID })
	if err != nil || !ok {
		return err
	}
	message, err := b.commitMessage(ctx, r, &content)
	if message != nil {
		err = b.applyCommit(r, message, content.Epoch, content.Sender)
	}
	if errors.Is(err, mlsroom.ErrGap) {
		if err = b.catchUp(ctx, r); err != nil && !Transient(err) {
			b.add(Entry{Kind: KindNotice, RoomID: r.RoomID, Error: "catching up with the group: " + err.Error()})
			err = nil
		}
	}
	if err != nil {
		return err
	}
	b.retryDeferred(r, true)
	return b.c.saveRoom(r)
}

// commitMessage returns the commit an m.mls.commit carries, or the one it
// names by digest (docs/mls-profile.md): this device's own pending commit,
// or else the commit the DS's log holds for the epoch, read through the
// user's homeserver, which must have that digest. It returns nil and no
// error when there is nothing to apply (journaled when the DS's content or
// log is wrong), and mlsroom.ErrGap when commits before it are missing
// too, which catching up reads with it.
func (b *batch) commitMessage(ctx context.Context, r *room, content *api.CommitContent) ([]byte, error) {
	if !content.ByReference() {
		message, err := base64.RawStdEncoding.DecodeString(content.Message)
		if err != nil {
			b.add(Entry{Kind: KindNotice, RoomID: r.RoomID, Error: "malformed m.mls.commit from the Delivery Service"})
			return nil, nil
		}
		return message, nil
	}
	switch {
	case !r.Group.Member() || content.Epoch <= r.Group.Epoch:
		return nil, nil // a Welcome brings the device in, or it has the commit
	case content.Epoch > r.Group.Epoch+1:
		return nil, mlsroom.ErrGap
	case r.Group.Pending != nil && messageDigest(r.Group.Pending.Message) == content.MessageSHA256:
		return r.Group.Pending.Message, nil
	}
	entry, err := b.c.api.MLSCommit(ctx, r.RoomID, content.Epoch)
	if err != nil {
		if Transient(err) {
			return nil, err
		}
		b.add(Entry{Kind: KindNotice, RoomID: r.RoomID, Epoch: content.Epoch, Error: fmt.Sprintf("reading the commit of epoch %d from the Delivery Service: %v", content.Epoch, err)})
		return nil, nil
	}
	message, err := base64.RawStdEncoding.DecodeString(entry.Message)
	if err != nil || entry.Kind != api.KindCommit || entry.Epoch != content.Epoch || messageDigest(message) != content.MessageSHA256 {
		b.add(Entry{Kind: KindNotice, RoomID: r.RoomID, Epoch: content.Epoch, Error: fmt.Sprintf("the Delivery Service's log does not hold the commit it announced for epoch %d", content.Epoch)})
		return nil, nil
	}
	return message, nil
}

// applyCommit applies a commit the DS accepted to r (not saved) and
// journals the change. It returns mlsroom.ErrGap when commits are missing
// before it; other problems are journaled.
func (b *batch) applyCommit(r *room, message []byte, epoch uint64, sender api.Device) error {
	change, err := r.Group.HandleCommit(message, epoch)
	switch {
	case errors.Is(err, mlsroom.ErrStale), errors.Is(err, mlsroom.ErrNotMember):
		return nil
	case errors.Is(err, mlsroom.ErrGap):
		return err
	case err != nil:
		b.add(Entry{Kind: KindNotice, RoomID: r.RoomID, Epoch: epoch, Error: fmt.Sprintf("cannot apply the commit for epoch %d: %v", epoch, err)})
		return nil
	}
	if change.Own {
		if err = b.c.recordAnswer(messageDigest(message), dsAnswer{Accepted: true, CurrentEpoch: &epoch}); err != nil {
			return err
		}
	}
	if change.Lost != nil {
		current := epoch
		err = b.c.recordAnswer(messageDigest(change.Lost.Message), dsAnswer{ErrCode: string(api.ErrWrongEpoch), Error: "another commit took the epoch", CurrentEpoch: &current})
		if err != nil {
			return err
		}
	}
	b.add(Entry{Kind: KindGroup, RoomID: r.RoomID, Epoch: epoch, Sender: sender.UserID, SenderDevice: sender.DeviceID, Text: describeChange(epoch, sender, change)})
	return nil
}

func describeChange(epoch uint64, sender api.Device, c *mlsroom.Change) string {
	var parts []string
	if len(c.Added) > 0 {
		parts = append(parts, "added "+deviceList(c.Added))
	}
	if len(c.Removed) > 0 {
		parts = append(parts, "removed "+deviceList(c.Removed))
	}
	if len(parts) == 0 {
		parts = append(parts, "updated keys")
	}
	who := sender.UserID + "/" + sender.DeviceID
	if c.Own {
		who = "this device"
	}
	text := fmt.Sprintf("epoch %d: %s %s", epoch, who, strings.Join(parts, ", "))
	if c.SelfRemoved {
		text += " — this device is no longer in the group"
	}
	return text
}

func deviceList(devices []mlsroom.Device) string {
	names := make([]string, len(devices))
	for i, d := range devices {
		names[i] = d.String()
	}
	return strings.Join(names, ", ")
}

func (b *batch) welcome(ctx context.Context, ev matrix.Event) error {
	var content api.WelcomeContent
	if err := json.Unmarshal(ev.Content, &content); err != nil {
		b.add(Entry{Kind: KindNotice, Sender: ev.Sender, Error: "malformed m.mls.welcome: " + err.Error()})
		return nil
	}
	r, _, err := b.c.loadRoom(content.RoomID)
	if err != nil {
		return err
	}
	if r.DS == "" {
		// The Welcome came before the invite, so the room's create event
		// is unknown: its DS is taken to be the server of the room ID,
		// which the creator's server minted, and never the sender's word,
		// so that no other server can plant a group for the room.
		r.DS, r.MLS = serverOf(content.RoomID), true
	}
	if ev.Sender != api.ServerDevice(r.DS).UserID {
		b.add(Entry{Kind: KindNotice, RoomID: r.RoomID, Sender: ev.Sender, Error: "ignored an m.mls.welcome not sent by the room's Delivery Service"})
		return nil
	}
	if r.Group.Member() && r.Group.Epoch >= content.Epoch {
		return nil // seen already
	}
	welcome, err := base64.RawStdEncoding.DecodeString(content.Welcome)
	if err != nil {
		b.add(Entry{Kind: KindNotice, RoomID: r.RoomID, Error: "malformed Welcome from the Delivery Service"})
		return nil
	}
	kps, err := b.c.loadKeyPackages()
	if err != nil {
		return err
	}
	list := make([]*mlsroom.KeyPackage, 0, len(kps.ByID))
	for _, kp := range kps.ByID {
		list = append(list, kp)
	}
	state, used, err := mlsroom.Join(b.c.account.MLS, welcome, list)
	if err != nil {
		b.add(Entry{Kind: KindNotice, RoomID: r.RoomID, Epoch: content.Epoch, Error: "cannot join the group from its Welcome: " + err.Error()})
		return nil
	}
	r.Group = *state
	b.add(Entry{Kind: KindGroup, RoomID: r.RoomID, Epoch: state.Epoch, Text: fmt.Sprintf("epoch %d: this device joined the group from a Welcome", state.Epoch)})
	if err = b.c.usedKeyPackage(used); err != nil {
		return err
	}
	b.retryDeferred(r, true)
	return b.c.saveRoom(r)
}

func (b *batch) proposal(ctx context.Context, ev matrix.Event) error {
	var content api.ProposalContent
	r, ok, err := b.fromDS(ctx, ev, &content, func() string { return content.RoomID })
	if err != nil || !ok {
		return err
	}
	message, err := base64.RawStdEncoding.DecodeString(content.Message)
	if err != nil {
		b.add(Entry{Kind: KindNotice, RoomID: r.RoomID, Error: "malformed m.mls.proposal from the Delivery Service"})
		return nil
	}
	if b.applyProposal(r, message) {
		who := content.Sender.UserID
		if who == "" || who == ev.Sender {
			who = "the Delivery Service"
		}
		b.add(Entry{Kind: KindGroup, RoomID: r.RoomID, Epoch: content.Epoch, Text: fmt.Sprintf("epoch %d: %s proposed a change; the next commit makes it", content.Epoch, who)})
	}
	return b.c.saveRoom(r)
}

// applyProposal records a proposal in r's group (not saved) and reports
// whether it was new to it.
func (b *batch) applyProposal(r *room, message []byte) bool {
	if !r.Group.Member() {
		return false
	}
	before, _ := r.Group.PendingProposals()
	if err := r.Group.HandleProposal(message); err != nil {
		if !errors.Is(err, mlsroom.ErrStale) {
			b.add(Entry{Kind: KindNotice, RoomID: r.RoomID, Error: "cannot apply a proposal: " + err.Error()})
		}
		return false
	}
	after, _ := r.Group.PendingProposals()
	return after > before
}

// rejectedPending drops the room's pending commit the DS refused.
func (b *batch) rejectedPending(content *api.RejectedContent) error {
	r, found, err := b.c.loadRoom(content.RoomID)
	if err != nil || !found || r.Group.Pending == nil || messageDigest(r.Group.Pending.Message) != content.MessageSHA256 {
		return err
	}
	r.Group.Drop()
	return b.c.saveRoom(r)
}

func (b *batch) encrypted(ctx context.Context, e *dispatch.Encrypted) error {
	if e.FromState {
		return nil
	}
	r, found, err := b.c.loadRoom(e.RoomID)
	if err != nil {
		return err
	}
	if (found && slices.Contains(r.Sent, e.EventID)) || ownEcho(e.Unsigned) {
		return nil // this device's own message, journaled when sent
	}
	if e.Err != nil {
		b.add(Entry{Kind: KindUndecryptable, RoomID: e.RoomID, Sender: e.Sender, EventID: e.EventID, TS: e.OriginServerTS, Error: e.Err.Error()})
		return nil
	}
	if !found {
		r.MLS = true
	}
	if !b.decrypt(r, deferred{EventID: e.EventID, Sender: e.Sender, TS: e.OriginServerTS, Ciphertext: e.Ciphertext}, true) && r.Group.Member() {
		// A message of a later epoch: the commits leading there may not
		// be meant for this device (one that removed it is not sent to
		// it), so read them from the DS's log.
		if err = b.catchUp(ctx, r); err != nil && Transient(err) {
			return err
		}
		b.retryDeferred(r, false)
	}
	return b.c.saveRoom(r)
}

// decrypt journals a room message of r, or defers it when its epoch is
// ahead of the device (when mayDefer).
func (b *batch) decrypt(r *room, m deferred, mayDefer bool) bool {
	out, err := r.Group.Decrypt(m.Ciphertext)
	if errors.Is(err, mlsroom.ErrFutureEpoch) && mayDefer {
		if len(r.Deferred) < maxDeferred {
			r.Deferred = append(r.Deferred, m)
		}
		return false
	}
	entry := Entry{RoomID: r.RoomID, Sender: m.Sender, EventID: m.EventID, TS: m.TS}
	if err == nil {
		var pt plaintext
		switch {
		case out.Sender.UserID != m.Sender:
			err = fmt.Errorf("the MLS sender %s is not the event's sender", out.Sender)
		case json.Unmarshal(out.Plaintext, &pt) != nil:
			err = fmt.Errorf("the plaintext is not the JSON of an event")
		case pt.RoomID != r.RoomID:
			err = fmt.Errorf("the plaintext is for room %q (replayed from another room?)", pt.RoomID)
		default:
			entry.Kind, entry.SenderDevice, entry.Epoch = KindMessage, out.Sender.DeviceID, out.Epoch
			entry.Type, entry.Content, entry.Text = pt.Type, pt.Content, bodyOf(pt.Content)
		}
	}
	if err != nil {
		entry.Kind, entry.Error = KindUndecryptable, err.Error()
		switch {
		case errors.Is(err, mlsroom.ErrEpochGone) && r.RecoveredAt != nil && out == nil:
			entry.Error = fmt.Sprintf("sent before epoch %d, when this device recovered: its keys were lost with the old state", *r.RecoveredAt)
		case !r.Group.Member() && r.Group.Pending == nil:
			entry.Error = "this device is not in the room's MLS group (it was removed, or has not been added): " + err.Error()
		}
	}
	b.add(entry)
	return true
}

// retryDeferred decrypts the deferred messages whose epoch the device
// reached; the others wait on, unless mayDefer is false.
func (b *batch) retryDeferred(r *room, mayDefer bool) {
	waiting := r.Deferred
	r.Deferred = nil
	for _, m := range waiting {
		b.decrypt(r, m, mayDefer)
	}
}

func (b *batch) membership(ctx context.Context, m *dispatch.Membership) error {
	if err := b.roomEvent(ctx, &m.RoomEvent); err != nil || m.FromState {
		return err
	}
	err := b.c.verifyMembership(ctx, m)
	var unchecked *uncheckedError
	switch {
	case err == nil:
	case Transient(err):
		return err
	case errors.As(err, &unchecked):
		b.add(Entry{Kind: KindNotice, RoomID: m.RoomID, Sender: m.Sender, EventID: m.EventID,
			Error: fmt.Sprintf("could not check the MLS commit of %s's %s: %v", m.Target, m.Membership, err)})
	default:
		b.add(Entry{Kind: KindNotice, RoomID: m.RoomID, Sender: m.Sender, EventID: m.EventID,
			Error: fmt.Sprintf("the MLS commit of %s's %s does not match the event: %v", m.Target, m.Membership, err)})
	}
	return nil
}

// ownEcho reports whether an event's unsigned data carries a transaction
// ID, which the server adds only for the device that sent the event.
func ownEcho(unsigned json.RawMessage) bool {
	var u struct {
		TransactionID string `json:"transaction_id"`
	}
	return unsigned != nil && json.Unmarshal(unsigned, &u) == nil && u.TransactionID != ""
}
