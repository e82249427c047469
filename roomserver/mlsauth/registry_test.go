package mlsauth

import (
	"crypto/ed25519"
	"runtime"
	"testing"
	"time"

	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
)

// v11Member builds an m.room.member event of room version 11 (whose
// constructors do not wrap), for wrap to register.
func v11Member(t *testing.T, target string) gomatrixserverlib.PDU {
	t.Helper()
	ev, err := gomatrixserverlib.MustGetRoomVersion(gomatrixserverlib.RoomVersionV11).NewEventBuilderFromProtoEvent(&gomatrixserverlib.ProtoEvent{
		SenderID: target, RoomID: "!r:example.org", Type: spec.MRoomMember, StateKey: &target,
		PrevEvents: []string{}, AuthEvents: []string{}, Depth: 1,
		Content: []byte(`{"membership":"invite","mls_commit":"AAAA"}`),
	}).Build(time.Now(), "example.org", "ed25519:1", newKey(t))
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// Copies of an event share their facts; the entry goes when the last copy
// is collected.
func TestRegistryFollowsLiveEvents(t *testing.T) {
	inner := v11Member(t, "@gc:example.org")
	id := inner.EventID()
	first := wrap(inner).(*Event)
	second := wrap(first.Unwrap().Sign("other.example", "ed25519:2", newKey(t))).(*Event)
	if first.facts != second.facts {
		t.Fatal("two copies of one event have separate facts")
	}
	f := registered.lookup(id)
	if f == nil || f.Membership != spec.Invite || !f.HasCommit || f.StateKey != "@gc:example.org" {
		t.Fatalf("lookup = %+v", f)
	}
	runtime.KeepAlive(first)
	runtime.KeepAlive(second)
	f, first, second, inner = nil, nil, nil, nil
	deadline := time.Now().Add(10 * time.Second)
	for registered.holds(id) {
		if time.Now().After(deadline) {
			t.Fatal("the facts of a collected event stay registered")
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
}

func newKey(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// holds reports whether the registry has an entry for eventID, live or not.
func (r *registry) holds(eventID string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.events[eventID]
	return ok
}
