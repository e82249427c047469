package client

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/matrix-org/dendrite/msc4244/mlsds/api"
)

// dsAnswer is what the DS said about a message of this device.
type dsAnswer struct {
	Accepted     bool    `json:"accepted,omitempty"`
	ErrCode      string  `json:"errcode,omitempty"`
	Error        string  `json:"error,omitempty"`
	CurrentEpoch *uint64 `json:"current_epoch,omitempty"`
	TS           int64   `json:"ts"`
}

// answers is the "ds-answers" record, by message_sha256.
type answers map[string]dsAnswer

// maxAnswers bounds the "ds-answers" record; the oldest go first.
const maxAnswers = 256

// recordAnswer stores the DS's answer about a message. The caller holds
// the lock.
func (c *Client) recordAnswer(digest string, a dsAnswer) error {
	all := answers{}
	if _, err := c.store.Get("ds-answers", &all); err != nil {
		return err
	}
	a.TS = time.Now().UnixMilli()
	all[digest] = a
	for len(all) > maxAnswers {
		oldest := ""
		for k, v := range all {
			if oldest == "" || v.TS < all[oldest].TS {
				oldest = k
			}
		}
		delete(all, oldest)
	}
	return c.store.Put("ds-answers", all)
}

// answer returns the DS's answer about the message with digest, if any.
// The caller holds the lock.
func (c *Client) answer(digest string) (*dsAnswer, error) {
	all := answers{}
	if _, err := c.store.Get("ds-answers", &all); err != nil {
		return nil, err
	}
	if a, ok := all[digest]; ok {
		return &a, nil
	}
	return nil, nil
}

// messageDigest is the message_sha256 the DS uses to name a message.
func messageDigest(message []byte) string {
	sum := sha256.Sum256(message)
	return base64.RawStdEncoding.EncodeToString(sum[:])
}

// RejectedError is the DS's refusal of a message.
type RejectedError struct {
	ErrCode string
	Message string
	// CurrentEpoch is the group's epoch at the DS, when it has a group.
	CurrentEpoch *uint64
}

func (e *RejectedError) Error() string {
	return fmt.Sprintf("the Delivery Service refused the message: %s: %s", e.ErrCode, e.Message)
}

// ErrNoAnswer is wrapped when the DS did not answer in time. The message
// may still be accepted later (e.g. when the DS's server is down and the
// user's server relays it once it is back).
var ErrNoAnswer = errors.New("no answer from the Delivery Service yet")

// sendToDS sends content to the room's DS and waits until the DS answers
// it with m.mls.accepted or m.mls.rejected (syncing meanwhile, so that
// everything else that arrives is handled too), or until ctx ends. The
// caller does not hold the lock.
func (c *Client) sendToDS(ctx context.Context, r *room, message []byte, content *api.MessageContent, wait time.Duration) (*dsAnswer, error) {
	txnID := "mls-" + messageDigest(append([]byte(r.RoomID+"\x00"), message...))[:22] + fmt.Sprint(time.Now().UnixNano())
	if err := c.api.SendToDS(ctx, r.DS, txnID, content); err != nil {
		return nil, err
	}
	return c.awaitAnswer(ctx, messageDigest(message), wait)
}

// awaitAnswer syncs until the DS's answer about the message with digest is
// recorded (by this or another process of the profile) or wait passes.
func (c *Client) awaitAnswer(ctx context.Context, digest string, wait time.Duration) (*dsAnswer, error) {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	for {
		var a *dsAnswer
		err := c.locked(ctx, func() (err error) {
			a, err = c.answer(digest)
			return err
		})
		if err == nil && a != nil {
			return a, nil
		}
		if err == nil {
			err = c.Sync(ctx, time.Second)
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%w after %s", ErrNoAnswer, wait)
		}
		if err != nil && !Transient(err) {
			return nil, err
		}
		if err != nil {
			time.Sleep(time.Second)
		}
	}
}
