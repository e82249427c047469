package dispatch

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/matrix-org/dendrite/msc4244/client/matrix"
)

// FuzzDispatch feeds any /sync answer that decodes to a router with every
// handler set: no panic, and handlers get only what the router promises
// (decoded ciphertexts or an error, state keys on memberships).
func FuzzDispatch(f *testing.F) {
	f.Add([]byte(syncAnswer))
	f.Add([]byte(`{"rooms":{"join":{"!r":{"timeline":{"events":[{"type":"m.room.member","content":{"mls_commit":"%%"}}]}}}}}`))
	f.Add([]byte(`{"rooms":{"join":{"!r":{"timeline":{"events":[{"type":"m.room.encrypted","content":{"algorithm":"m.mls.10","ciphertext":null}}]}}}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var res matrix.SyncResponse
		if json.Unmarshal(data, &res) != nil {
			return
		}
		var log []string
		r := recorder(&log)
		r.Encrypted = func(_ context.Context, e *Encrypted) error {
			if (e.Err == nil) == (e.Ciphertext == nil) && e.Err == nil {
				t.Fatalf("encrypted event without ciphertext or error: %+v", e)
			}
			return nil
		}
		r.Membership = func(_ context.Context, m *Membership) error {
			if m.StateKey == nil || m.Target != *m.StateKey {
				t.Fatalf("membership without its state key: %+v", m)
			}
			return nil
		}
		if err := r.Dispatch(context.Background(), &res); err != nil {
			t.Fatal(err)
		}
	})
}
