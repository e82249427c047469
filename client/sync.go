package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/matrix-org/dendrite/msc4244/client/dispatch"
	"github.com/matrix-org/dendrite/msc4244/client/matrix"
	"github.com/matrix-org/dendrite/msc4244/mlsds/api"
)

// syncState is the "sync" record.
type syncState struct {
	// Since is the next_batch of the last sync answer handled.
	Since string `json:"since"`
}

// syncFilter asks for up to 100 timeline events per room and sync, so that
// bursts of messages reach the client whole.
const syncFilter = `{"room":{"timeline":{"limit":100}}}`

// Sync fetches what is new (waiting up to timeout for news), handles it
// and writes it to the journal. When another process of the same profile
// handled the same answer first, Sync does nothing.
func (c *Client) Sync(ctx context.Context, timeout time.Duration) error {
	var st syncState
	if err := c.locked(ctx, func() error {
		_, err := c.store.Get(recordSync, &st)
		return err
	}); err != nil {
		return err
	}
	res, err := c.api.Sync(ctx, matrix.SyncRequest{Since: st.Since, Timeout: timeout, Filter: syncFilter})
	if err != nil {
		return err
	}
	return c.locked(ctx, func() error {
		var now syncState
		if _, err := c.store.Get(recordSync, &now); err != nil {
			return err
		}
		if now.Since != st.Since {
			return nil // another process handled this batch
		}
		b := &batch{c: c}
		if err := b.router().Dispatch(ctx, res); err != nil {
			return err
		}
		if err := c.appendJournal(b.entries); err != nil {
			return err
		}
		return c.store.Put(recordSync, &syncState{Since: res.NextBatch})
	})
}

// ListenOptions drive Listen.
type ListenOptions struct {
	// From is the first journal entry to pass on.
	From uint64
	// Poll is the /sync long-poll timeout (default 30 s).
	Poll time.Duration
	// OnEntry receives every journal entry, in order.
	OnEntry func(Entry)
	// OnError receives errors Listen recovers from by retrying (the
	// homeserver is unreachable or failing); Listen waits longer after
	// each one, up to 30 s.
	OnError func(error)
}

// Listen syncs until ctx ends, passing each journal entry from o.From on
// to o.OnEntry (also entries written by other processes of the profile).
// It returns ctx's error, or the first error that retrying cannot cure
// (such as a revoked access token).
func (c *Client) Listen(ctx context.Context, o ListenOptions) error {
	if o.Poll == 0 {
		o.Poll = 30 * time.Second
	}
	next, backoff := o.From, time.Duration(0)
	for {
		entries, after, err := c.Journal(ctx, next, 0)
		if err != nil {
			return err
		}
		next = after
		for _, e := range entries {
			if o.OnEntry != nil {
				o.OnEntry(e)
			}
		}
		err = c.Sync(ctx, o.Poll)
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case err == nil:
			backoff = 0
		case !Transient(err):
			return err
		default:
			if o.OnError != nil {
				o.OnError(err)
			}
			backoff = min(max(2*backoff, time.Second), 30*time.Second)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(backoff):
			}
		}
	}
}

// Transient reports whether err may go away by trying again later: the
// homeserver did not answer, answered 429, or failed with a 5xx status.
func Transient(err error) bool {
	var e *matrix.Error
	if errors.As(err, &e) {
		return e.Status == http.StatusTooManyRequests || e.Status >= 500
	}
	return errors.Is(err, matrix.ErrUnreachable)
}

// batch handles one sync answer under the profile lock and collects the
// journal entries it makes.
type batch struct {
	c       *Client
	entries []Entry
}

func (b *batch) add(e Entry) { b.entries = append(b.entries, e) }

func (b *batch) router() *dispatch.Router {
	r := &dispatch.Router{
		Encrypted:  b.encrypted,
		Membership: b.membership,
		RoomEvent:  b.roomEvent,
		Invite:     b.invite,
		Left:       b.left,
		KeyCounts:  b.keyCounts,
	}
	r.HandleToDevice(api.EventCommit, b.commit)
	r.HandleToDevice(api.EventWelcome, b.welcome)
	r.HandleToDevice(api.EventProposal, b.proposal)
	r.HandleToDevice(api.EventRejected, b.rejected)
	r.HandleToDevice(api.EventAccepted, b.accepted)
	return r
}

// fromDS decodes a to-device message that must come from the DS of the
// room it names. ok is false (and a notice is journaled) when it does not.
func (b *batch) fromDS(ctx context.Context, ev matrix.Event, content any, roomID func() string) (*room, bool, error) {
	if err := json.Unmarshal(ev.Content, content); err != nil {
		b.add(Entry{Kind: KindNotice, Sender: ev.Sender, Type: ev.Type, Error: "malformed " + ev.Type + ": " + err.Error()})
		return nil, false, nil
	}
	r, found, err := b.c.loadRoom(roomID())
	if err != nil {
		return nil, false, err
	}
	if !found && ev.Type == api.EventCommit {
		// The commit that adds this device reaches it with the Welcome,
		// possibly before the room is known: the Welcome is what counts.
		return nil, false, nil
	}
	if !found || ev.Sender != api.ServerDevice(r.DS).UserID {
		b.add(Entry{Kind: KindNotice, RoomID: roomID(), Sender: ev.Sender, Type: ev.Type,
			Error: fmt.Sprintf("ignored %s from %s: not the Delivery Service of a known room", ev.Type, ev.Sender)})
		return nil, false, nil
	}
	return r, true, nil
}

func (b *batch) rejected(ctx context.Context, ev matrix.Event) error {
	var content api.RejectedContent
	_, ok, err := b.fromDS(ctx, ev, &content, func() string { return content.RoomID })
	if err != nil || !ok {
		return err
	}
	answer := dsAnswer{ErrCode: string(content.ErrCode), Error: content.Error, CurrentEpoch: content.CurrentEpoch}
	if err = b.c.recordAnswer(content.MessageSHA256, answer); err != nil {
		return err
	}
	if err = b.rejectedPending(&content); err != nil {
		return err
	}
	b.add(Entry{Kind: KindRejected, RoomID: content.RoomID, Sender: ev.Sender, ErrCode: string(content.ErrCode), Error: content.Error,
		Text: fmt.Sprintf("the Delivery Service refused a message of this device: %s: %s", content.ErrCode, content.Error)})
	return nil
}

func (b *batch) accepted(ctx context.Context, ev matrix.Event) error {
	var content api.AcceptedContent
	_, ok, err := b.fromDS(ctx, ev, &content, func() string { return content.RoomID })
	if err != nil || !ok {
		return err
	}
	epoch := content.Epoch
	return b.c.recordAnswer(content.MessageSHA256, dsAnswer{Accepted: true, CurrentEpoch: &epoch})
}

func (b *batch) roomEvent(ctx context.Context, e *dispatch.RoomEvent) error {
	if e.IsState("m.room.create", "") {
		r, found, err := b.c.loadRoom(e.RoomID)
		if err != nil {
			return err
		}
		if !found || r.DS == "" {
			noteCreate(r, &e.Event)
			return b.c.saveRoom(r)
		}
	}
	if e.FromState {
		return nil
	}
	switch e.Type {
	case "m.room.message":
		b.add(Entry{Kind: KindMessage, RoomID: e.RoomID, Sender: e.Sender, EventID: e.EventID, TS: e.OriginServerTS,
			Type: e.Type, Content: e.Content, Text: "(unencrypted) " + bodyOf(e.Content)})
	case "m.room.member":
		if e.StateKey != nil {
			b.add(Entry{Kind: KindMembership, RoomID: e.RoomID, Sender: e.Sender, EventID: e.EventID, TS: e.OriginServerTS,
				Type: e.Type, Content: e.Content, Text: membershipText(e.Sender, *e.StateKey, e.Content)})
		}
	}
	return nil
}

func (b *batch) invite(_ context.Context, inv *dispatch.Invite) error {
	r, _, err := b.c.loadRoom(inv.RoomID)
	if err != nil {
		return err
	}
	inviter := ""
	for i := range inv.State {
		ev := &inv.State[i]
		switch {
		case ev.IsState("m.room.create", ""):
			noteCreate(r, ev)
		case ev.IsState("m.room.member", b.c.UserID()):
			inviter = ev.Sender
		}
	}
	r.Invited = true
	if err = b.c.saveRoom(r); err != nil {
		return err
	}
	b.add(Entry{Kind: KindInvite, RoomID: inv.RoomID, Sender: inviter, Text: fmt.Sprintf("%s invited you", inviter)})
	return nil
}

func (b *batch) left(_ context.Context, roomID string) error {
	r, found, err := b.c.loadRoom(roomID)
	if err != nil || !found || r.Left {
		return err
	}
	r.Left = true
	return b.c.saveRoom(r)
}

// bodyOf returns content.body, or a placeholder.
func bodyOf(content json.RawMessage) string {
	var c struct {
		Body string `json:"body"`
	}
	if json.Unmarshal(content, &c) != nil || c.Body == "" {
		return "(no body)"
	}
	return c.Body
}

// membershipText describes a member event in words.
func membershipText(sender, target string, content json.RawMessage) string {
	var c struct {
		Membership string `json:"membership"`
	}
	_ = json.Unmarshal(content, &c)
	switch {
	case c.Membership == "join":
		return target + " joined"
	case c.Membership == "invite":
		return sender + " invited " + target
	case c.Membership == "leave" && sender == target:
		return target + " left"
	case c.Membership == "leave":
		return sender + " removed " + target
	case c.Membership == "ban":
		return sender + " banned " + target
	case c.Membership == "knock":
		return target + " knocked"
	}
	return fmt.Sprintf("%s set the membership of %s to %q", sender, target, c.Membership)
}
