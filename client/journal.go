package client

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Kind says what an Entry is about.
type Kind string

// Kinds of journal entries.
const (
	// KindMessage: a room message, decrypted (or sent unencrypted).
	KindMessage Kind = "message"
	// KindUndecryptable: a room message this device cannot read; Error
	// says why.
	KindUndecryptable Kind = "undecryptable"
	// KindMembership: a user joined, was invited, left, was kicked...
	KindMembership Kind = "membership"
	// KindGroup: the room's MLS group changed (an epoch began).
	KindGroup Kind = "group"
	// KindInvite: this user is invited to a room.
	KindInvite Kind = "invite"
	// KindRejected: the Delivery Service refused a message of this device.
	KindRejected Kind = "rejected"
	// KindNotice: something the user should know (recovery, lost
	// history, a problem with an event).
	KindNotice Kind = "notice"
)

// Entry is one thing that happened, as this device saw it.
type Entry struct {
	Seq    uint64 `json:"seq"`
	TS     int64  `json:"ts"` // when the device learned it, ms since 1970
	Kind   Kind   `json:"kind"`
	RoomID string `json:"room_id,omitempty"`
	// Sender and SenderDevice: who sent the message or made the change.
	Sender       string `json:"sender,omitempty"`
	SenderDevice string `json:"sender_device,omitempty"`
	EventID      string `json:"event_id,omitempty"`
	// Epoch is the MLS epoch of a message or the epoch a change began.
	Epoch uint64 `json:"epoch,omitempty"`
	// Type and Content: the (decrypted) event type and content.
	Type    string          `json:"type,omitempty"`
	Content json.RawMessage `json:"content,omitempty"`
	// Text is a one-line human summary.
	Text  string `json:"text,omitempty"`
	Error string `json:"error,omitempty"`
	// ErrCode of a KindRejected entry.
	ErrCode string `json:"errcode,omitempty"`
}

// journalChunk is how many entries one journal record holds.
const journalChunk = 256

// journalHead is the "journal" record: the next entry's sequence number.
type journalHead struct {
	Next uint64 `json:"next"`
}

func chunkName(seq uint64) string { return fmt.Sprintf("journal/%d", seq/journalChunk) }

// appendJournal adds entries to the journal. The caller holds the lock.
func (c *Client) appendJournal(entries []Entry) error {
	if len(entries) == 0 {
		return nil
	}
	var head journalHead
	if _, err := c.store.Get("journal", &head); err != nil {
		return err
	}
	now := time.Now().UnixMilli()
	for len(entries) > 0 {
		name := chunkName(head.Next)
		var chunk []Entry
		if _, err := c.store.Get(name, &chunk); err != nil {
			return err
		}
		for len(entries) > 0 && chunkName(head.Next) == name {
			e := entries[0]
			e.Seq = head.Next
			if e.TS == 0 {
				e.TS = now
			}
			chunk = append(chunk, e)
			entries = entries[1:]
			head.Next++
		}
		if err := c.store.Put(name, chunk); err != nil {
			return err
		}
	}
	return c.store.Put("journal", &head)
}

// Journal returns the entries from sequence number from on, at most limit
// (0: all), and the sequence number that follows the last one returned.
func (c *Client) Journal(ctx context.Context, from uint64, limit int) ([]Entry, uint64, error) {
	var out []Entry
	err := c.locked(ctx, func() error {
		var head journalHead
		if _, err := c.store.Get("journal", &head); err != nil {
			return err
		}
		for seq := from; seq < head.Next && (limit == 0 || len(out) < limit); {
			var chunk []Entry
			if _, err := c.store.Get(chunkName(seq), &chunk); err != nil {
				return err
			}
			for _, e := range chunk {
				if e.Seq >= seq && (limit == 0 || len(out) < limit) {
					out = append(out, e)
				}
			}
			seq = (seq/journalChunk + 1) * journalChunk
		}
		return nil
	})
	next := from
	if len(out) > 0 {
		next = out[len(out)-1].Seq + 1
	}
	return out, next, err
}

func cursorRecord(name string) string { return "cursor/" + name }

// Cursor returns the saved journal position named name (0 when never
// saved): where a reader such as a CLI's `listen` stopped.
func (c *Client) Cursor(ctx context.Context, name string) (uint64, error) {
	var seq uint64
	err := c.locked(ctx, func() error {
		_, err := c.store.Get(cursorRecord(name), &seq)
		return err
	})
	return seq, err
}

// SaveCursor saves the journal position named name.
func (c *Client) SaveCursor(ctx context.Context, name string, seq uint64) error {
	return c.locked(ctx, func() error { return c.store.Put(cursorRecord(name), seq) })
}
