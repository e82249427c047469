package client

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/matrix-org/dendrite/msc4244/client/dispatch"
)

// SendText sends a text message (m.room.message, msgtype m.text) to an MLS
// room, encrypted.
func (c *Client) SendText(ctx context.Context, roomID, text string) (string, error) {
	return c.Send(ctx, roomID, "m.room.message", map[string]any{"msgtype": "m.text", "body": text})
}

// Send encrypts an event for the room's group and sends it as
// m.room.encrypted (algorithm m.mls.10). Proposals waiting to be committed
// (the DS's removals of users who left) are committed first, so that they
// cannot read it; commits the device missed are read from the DS's log
// first. The sender ratchet is stored before the message leaves.
func (c *Client) Send(ctx context.Context, roomID, evType string, content any) (string, error) {
	// Members who joined in epochs this device has not seen yet could not
	// read a message of an older epoch: catch up with the DS's log first
	// (when the DS cannot be reached, the message goes out in the epoch
	// the device knows).
	if err := c.catchUp(ctx, roomID); err != nil && !Transient(err) {
		return "", err
	}
	if err := c.commitProposals(ctx, roomID); err != nil {
		return "", err
	}
	raw, err := json.Marshal(content)
	if err != nil {
		return "", err
	}
	pt, err := json.Marshal(plaintext{Type: evType, Content: raw, RoomID: roomID})
	if err != nil {
		return "", err
	}
	var ciphertext []byte
	var epoch uint64
	err = c.locked(ctx, func() error {
		r, err := c.memberRoom(roomID)
		if err != nil {
			return err
		}
		if ciphertext, err = r.Group.Encrypt(pt); err != nil {
			return err
		}
		epoch = r.Group.Epoch
		return c.saveRoom(r)
	})
	if err != nil {
		return "", err
	}
	txn := make([]byte, 12)
	_, _ = rand.Read(txn)
	eventID, err := c.api.SendEvent(ctx, roomID, "m.room.encrypted", "mls"+hex.EncodeToString(txn),
		map[string]any{"algorithm": dispatch.Algorithm, "ciphertext": b64(ciphertext)})
	if err != nil {
		return "", fmt.Errorf("sending the encrypted message: %w", err)
	}
	return eventID, c.locked(ctx, func() error {
		r, _, err := c.loadRoom(roomID)
		if err != nil {
			return err
		}
		r.Sent = append(r.Sent, eventID)
		if extra := len(r.Sent) - maxSent; extra > 0 {
			r.Sent = r.Sent[extra:]
		}
		if err = c.saveRoom(r); err != nil {
			return err
		}
		return c.appendJournal([]Entry{{Kind: KindMessage, RoomID: roomID, Sender: c.UserID(), SenderDevice: c.DeviceID(),
			EventID: eventID, Epoch: epoch, Type: evType, Content: raw, Text: bodyOf(raw)}})
	})
}
