package internal

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/matrix-org/dendrite/msc4244/mlsds/api"
	"github.com/matrix-org/dendrite/msc4244/mlsds/storage"
)

// fanOut is what an accepted message makes the DS send. It is stored in the
// outbox with the message and removed once sent, so that a crash between
// the two makes the DS send it again at startup: devices may get a message
// twice, and tell by its epoch.
type fanOut struct {
	outboxID   int64
	Deliveries []delivery
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

// fanOut sends f. When some message cannot be handed over, f stays in the
// outbox and is sent again later.
func (ds *DeliveryService) fanOut(ctx context.Context, f *fanOut) {
	start := ds.now()
	for _, d := range f.Deliveries {
		if err := ds.out.SendToDevices(ctx, ds.self.UserID, d.Type, d.Content, d.To); err != nil {
			logrus.WithError(err).Error("mlsds: fan-out failed; it will be retried")
			ds.outbox.retry(f)
			return
		}
	}
	fanOutSeconds.Observe(ds.now().Sub(start).Seconds())
	ds.outbox.sent(f.outboxID)
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
		f := &fanOut{outboxID: item.ID}
		if err = json.Unmarshal(item.Payload, &f.Deliveries); err != nil {
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

// takeFailed returns the failed fan-outs, forgetting them.
func (o *outbox) takeFailed() []*fanOut {
	o.mu.Lock()
	defer o.mu.Unlock()
	failed := o.failed
	o.failed = nil
	return failed
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
			for _, f := range ds.outbox.takeFailed() {
				ds.fanOut(ctx, f)
			}
		}
	}
}
