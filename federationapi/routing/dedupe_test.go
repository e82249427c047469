package routing

import (
	"encoding/json"
	"testing"

	"github.com/matrix-org/gomatrixserverlib/fclient"
	"github.com/matrix-org/gomatrixserverlib/spec"
)

func transaction(t *testing.T, origin string, edus ...string) *fclient.FederationRequest {
	t.Helper()
	raw := make([]json.RawMessage, len(edus))
	for i, e := range edus {
		raw[i] = json.RawMessage(e)
	}
	r := fclient.NewFederationRequest("PUT", spec.ServerName(origin), "b.example", "/_matrix/federation/v1/send/1")
	if err := r.SetContent(map[string]any{"origin": origin, "pdus": []any{}, "edus": raw}); err != nil {
		t.Fatal(err)
	}
	return &r
}

func eduTypes(t *testing.T, r *fclient.FederationRequest) []string {
	t.Helper()
	var txn struct {
		EDUs []struct {
			Type string `json:"type"`
		} `json:"edus"`
	}
	if err := json.Unmarshal(r.Content(), &txn); err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, e := range txn.EDUs {
		types = append(types, e.Type)
	}
	return types
}

func TestSeenMessagesDropsRedeliveredToDevice(t *testing.T) {
	const (
		toDevice = `{"type":"m.direct_to_device","content":{"message_id":"m1","sender":"@:a.example","type":"m.mls.welcome","messages":{}}}`
		typing   = `{"type":"m.typing","content":{"room_id":"!r:a.example","user_id":"@u:a.example","typing":true}}`
	)
	seen := newSeenMessages()
	first := transaction(t, "a.example", toDevice, typing)
	got, keys, err := seen.filter(first)
	if err != nil || got != first || len(keys) != 1 {
		t.Fatalf("a first delivery must pass unchanged with one key: %v %v %v", got == first, keys, err)
	}
	// Not recorded until the transaction was handled: a retry still passes.
	if got, _, _ = seen.filter(transaction(t, "a.example", toDevice)); len(eduTypes(t, got)) != 1 {
		t.Fatal("a message whose first transaction failed must be delivered when sent again")
	}
	seen.add(keys)
	got, keys, err = seen.filter(transaction(t, "a.example", toDevice, typing))
	if err != nil {
		t.Fatal(err)
	}
	if types := eduTypes(t, got); len(types) != 1 || types[0] != "m.typing" || len(keys) != 0 {
		t.Fatalf("the redelivered to-device EDU must be dropped and the rest kept: %v %v", types, keys)
	}
	if got.Origin() != "a.example" || got.RequestURI() != "/_matrix/federation/v1/send/1" {
		t.Fatalf("the rewritten request must keep origin and URI: %s %s", got.Origin(), got.RequestURI())
	}
	// The same message id from another server is another message.
	if got, _, _ = seen.filter(transaction(t, "c.example", toDevice)); len(eduTypes(t, got)) != 1 {
		t.Fatal("message ids are per origin")
	}
}

func TestSeenMessagesBounded(t *testing.T) {
	seen := newSeenMessages()
	for i := range 3 * seenCapacity {
		seen.add([]string{seenKey("a.example", string(rune(i)))})
	}
	if len(seen.current)+len(seen.previous) > 2*seenCapacity {
		t.Fatalf("remembers %d ids, more than two generations", len(seen.current)+len(seen.previous))
	}
}
