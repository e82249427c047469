package internal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/matrix-org/dendrite/msc4244/mlsds/api"
	"github.com/matrix-org/dendrite/msc4244/mlsds/storage"
)

// fanOut is what an accepted message makes the DS send: to-device
// messages; for a commit that invites a user, the invite event, which the
// inviter's server sends; for an external commit that left out the DS's
// required Removes (it cannot cover them), those Removes proposed again in
// the epoch it created. It is stored in the outbox with the message and
// removed once all is done, so that a crash in between makes the DS do it
// again at startup: devices may get a message twice, and tell by its epoch;
// an invite sent already is not sent twice (SendInvite), a removal already
// proposed is not proposed twice.
type fanOut struct {
	outboxID   int64
	Deliveries []delivery  `json:"deliveries"`
	Invite     *api.Invite `json:"invite,omitempty"`
	// RoomID and Removals: the devices whose removal the DS proposes
	// again in RoomID's group.
	RoomID   string       `json:"room_id,omitempty"`
	Removals []api.Device `json:"removals,omitempty"`

	// delivered: the deliveries are sent; invited: the invite is sent.
	delivered, invited bool
	// attempts counts the failed attempts at what follows the deliveries,
	// which are spaced out further each time, until retryAt.
	attempts int
	retryAt  time.Time
}

// decodeFanOut reads an outbox payload: the fan-out, or the list of its
// deliveries as the DS stored it before it had invites to send.
func decodeFanOut(id int64, payload []byte) (*fanOut, error) {
	f := &fanOut{outboxID: id}
	if len(payload) > 0 && payload[0] == '[' {
		return f, json.Unmarshal(payload, &f.Deliveries)
	}
	return f, json.Unmarshal(payload, f)
}

// delivery is one to-device message to several devices.
type delivery struct {
	Type    string          `json:"type"`
	Content json.RawMessage `json:"content"`
	To      []api.Device    `json:"to"`
}

func (f *fanOut) add(eventType string, content any, to []api.Device) {
	data, err := json.Marshal(content)
	if err != nil {
		panic(err) // the contents are our own structs
	}
	f.Deliveries = append(f.Deliveries, delivery{Type: eventType, Content: data, To: to})
}

// fanOut sends f's to-device messages, then has what follows them (the
// invite, the removals) done in the background: the room's next fan-out
// need not wait for another server, and proposing a removal takes the
// room's lock. What cannot be done stays in the outbox for later.
func (ds *DeliveryService) fanOut(ctx context.Context, f *fanOut) {
	if !f.delivered {
		start := ds.now()
		for _, d := range f.Deliveries {
			if err := ds.out.SendToDevices(ctx, ds.self.UserID, d.Type, d.Content, d.To); err != nil {
				logrus.WithError(err).Error("mlsds: fan-out failed; it will be retried")
				ds.outbox.retry(f)
				return
			}
		}
		fanOutSeconds.Observe(ds.now().Sub(start).Seconds())
		f.delivered = true
	}
	if f.Invite == nil && len(f.Removals) == 0 {
		ds.outbox.sent(f.outboxID)
		return
	}
	go ds.finish(context.WithoutCancel(ctx), f)
}

// Spacing of the attempts at what follows a fan-out's deliveries: doubling
// from the first to the last.
const (
	firstFinishRetry = time.Second
	lastFinishRetry  = 5 * time.Minute
)

// finish does what follows f's deliveries: the invite, then the removals.
// A failure is tried again later, also after a restart.
func (ds *DeliveryService) finish(ctx context.Context, f *fanOut) {
	if f.Invite != nil && !f.invited {
		if err := ds.sendInvite(ctx, f.Invite); err != nil {
			ds.finishLater(f, err)
			return
		}
		f.invited = true
	}
	for len(f.Removals) > 0 {
		device := f.Removals[0]
		err := ds.removeDevices(ctx, f.RoomID, removal{
			reason: reasonCarriedOver,
			match:  func(d api.Device) bool { return d == device },
		})
		if err != nil {
			ds.finishLater(f, fmt.Errorf("proposing again the removal of %s: %w", device, err))
			return
		}
		f.Removals = f.Removals[1:]
	}
	ds.outbox.sent(f.outboxID)
}

// finishLater schedules another attempt at finishing f.
func (ds *DeliveryService) finishLater(f *fanOut, err error) {
	wait := min(firstFinishRetry<<min(f.attempts, 20), lastFinishRetry)
	f.attempts++
	f.retryAt = ds.now().Add(wait)
	logrus.WithError(err).WithField("room_id", f.RoomID).Warnf("mlsds: finishing the fan-out of an accepted message failed; trying again in %s", wait)
	ds.outbox.retry(f)
}

// sendInvite has the inviter's server send an invite. A refused invite is
// given up (the commit stays accepted): nil; any other failure is
// returned.
func (ds *DeliveryService) sendInvite(ctx context.Context, inv *api.Invite) error {
	err := errors.New("the membership rules are not running yet")
	if rules := ds.membership.Load(); rules != nil {
		err = rules.SendInvite(ctx, inv)
	}
	switch {
	case err == nil:
		inviteAttempts.WithLabelValues("sent").Inc()
	case errors.Is(err, api.ErrInviteRefused):
		inviteAttempts.WithLabelValues("refused").Inc()
		logrus.WithError(err).WithFields(logrus.Fields{"room_id": inv.RoomID, "inviter": inv.Inviter, "invitee": inv.Invitee}).
			Error("mlsds: the invite of an accepted commit is refused; giving up")
		return nil
	default:
		inviteAttempts.WithLabelValues("failed").Inc()
		return fmt.Errorf("sending the invite of %s to %s: %w", inv.Inviter, inv.Invitee, err)
	}
	return nil
}

// resendOutbox sends what the outbox holds, oldest first: fan-outs that a
// crash or a failure interrupted.
func (ds *DeliveryService) resendOutbox(ctx context.Context) error {
	items, err := ds.db.PendingFanOuts(ctx)
	if err != nil {
		return err
	}
	if len(items) > 0 {
		logrus.Infof("mlsds: sending %d interrupted fan-outs again", len(items))
	}
	for _, item := range items {
		f, err := decodeFanOut(item.ID, item.Payload)
		if err != nil {
			logrus.WithError(err).Errorf("mlsds: dropping unreadable outbox item %d", item.ID)
			ds.outbox.sent(item.ID)
			continue
		}
		ds.fanOut(ctx, f)
	}
	return ds.outbox.flush(ctx)
}

// Intervals of the outbox's background work.
const (
	outboxFlushInterval = 20 * time.Millisecond
	outboxRetryInterval = 5 * time.Second
)

// outbox removes sent fan-outs from the database in batches, and sends
// failed ones again.
type outbox struct {
	db storage.Database

	mu     sync.Mutex
	sentID []int64
	failed []*fanOut
}

func newOutbox(db storage.Database) *outbox { return &outbox{db: db} }

func (o *outbox) sent(id int64) {
	o.mu.Lock()
	o.sentID = append(o.sentID, id)
	o.mu.Unlock()
}

func (o *outbox) retry(f *fanOut) {
	o.mu.Lock()
	o.failed = append(o.failed, f)
	o.mu.Unlock()
}

// flush removes the sent items from the database.
func (o *outbox) flush(ctx context.Context) error {
	o.mu.Lock()
	ids := o.sentID
	o.sentID = nil
	o.mu.Unlock()
	if len(ids) == 0 {
		return nil
	}
	if err := o.db.FanOutsDone(ctx, ids); err != nil {
		o.mu.Lock()
		o.sentID = append(o.sentID, ids...)
		o.mu.Unlock()
		return err
	}
	return nil
}

// takeFailed returns the failed fan-outs due for another try at now,
// forgetting them.
func (o *outbox) takeFailed(now time.Time) []*fanOut {
	o.mu.Lock()
	defer o.mu.Unlock()
	var due, waiting []*fanOut
	for _, f := range o.failed {
		if f.retryAt.After(now) {
			waiting = append(waiting, f)
		} else {
			due = append(due, f)
		}
	}
	o.failed = waiting
	return due
}

// RunOutbox removes sent fan-outs from the outbox and sends failed ones
// again, until ctx ends; then it removes the last sent ones.
func (ds *DeliveryService) RunOutbox(ctx context.Context) {
	flush := time.NewTicker(outboxFlushInterval)
	defer flush.Stop()
	retry := time.NewTicker(outboxRetryInterval)
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			if err := ds.outbox.flush(context.WithoutCancel(ctx)); err != nil {
				logrus.WithError(err).Warn("mlsds: could not empty the outbox; its items will be sent again at startup")
			}
			return
		case <-flush.C:
			if err := ds.outbox.flush(ctx); err != nil && ctx.Err() == nil {
				logrus.WithError(err).Warn("mlsds: could not empty the outbox")
			}
		case <-retry.C:
			for _, f := range ds.outbox.takeFailed(ds.now()) {
				ds.fanOut(ctx, f)
			}
		}
	}
}
