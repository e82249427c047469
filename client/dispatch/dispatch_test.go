package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/matrix-org/dendrite/msc4244/client/matrix"
)

// syncAnswer is a /sync answer with something for every handler.
const syncAnswer = `{
  "next_batch": "s2",
  "device_one_time_keys_count": {"mls": 3, "signed_curve25519": 0},
  "device_unused_fallback_key_types": ["mls"],
  "to_device": {"events": [
    {"type": "m.mls.commit", "sender": "@:ds", "content": {"room_id": "!b:ds", "epoch": 2}},
    {"type": "m.mls.welcome", "sender": "@:ds", "content": {"room_id": "!b:ds", "epoch": 2}},
    {"type": "m.room_key", "sender": "@x:hs", "content": {}},
    {"type": "m.mls.rejected", "sender": "@:ds", "content": {"errcode": "M_MLS_WRONG_EPOCH"}}
  ]},
  "rooms": {
    "join": {
      "!b:ds": {
        "state": {"events": [
          {"type": "m.room.member", "state_key": "@bob:hs", "sender": "@bob:hs", "event_id": "$s1", "content": {"membership": "join", "mls_commit": "AAEC"}}
        ]},
        "timeline": {"events": [
          {"type": "m.room.encrypted", "sender": "@bob:hs", "event_id": "$e1", "content": {"algorithm": "m.mls.10", "ciphertext": "aGVsbG8"}},
          {"type": "m.room.encrypted", "sender": "@bob:hs", "event_id": "$e2", "content": {"algorithm": "m.megolm.v1.aes-sha2", "ciphertext": "x"}},
          {"type": "m.room.encrypted", "sender": "@bob:hs", "event_id": "$e3", "content": {"algorithm": "m.mls.10", "ciphertext": "not base64!"}},
          {"type": "m.room.encrypted", "sender": "@bob:hs", "event_id": "$e4", "content": {"algorithm": "m.mls.10"}},
          {"type": "m.room.member", "state_key": "@carol:hs", "sender": "@bob:hs", "event_id": "$m1", "content": {"membership": "invite", "mls_commit": "AQID"}},
          {"type": "m.room.member", "state_key": "@dan:hs", "sender": "@dan:hs", "event_id": "$m2", "content": {"membership": "leave"}},
          {"type": "m.room.member", "state_key": "@eve:hs", "sender": "@eve:hs", "event_id": "$m3", "content": {"membership": "join", "mls_commit": 7}}
        ]}
      },
      "!a:ds": {"timeline": {"events": [
        {"type": "m.room.message", "sender": "@bob:hs", "event_id": "$p1", "content": {"body": "plain"}}
      ]}}
    },
    "invite": {"!c:ds": {"invite_state": {"events": [
      {"type": "m.room.member", "state_key": "@me:hs", "sender": "@bob:hs", "content": {"membership": "invite"}}
    ]}}},
    "leave": {"!d:ds": {"timeline": {"events": [
      {"type": "m.room.member", "state_key": "@me:hs", "sender": "@me:hs", "event_id": "$l1", "content": {"membership": "leave"}}
    ]}}}
  }
}`

func parse(t *testing.T) *matrix.SyncResponse {
	t.Helper()
	var res matrix.SyncResponse
	if err := json.Unmarshal([]byte(syncAnswer), &res); err != nil {
		t.Fatal(err)
	}
	return &res
}

// recorder is a router that writes one line per handler call.
func recorder(log *[]string) *Router {
	add := func(format string, args ...any) { *log = append(*log, fmt.Sprintf(format, args...)) }
	r := &Router{
		OtherToDevice: func(_ context.Context, ev matrix.Event) error { add("other to-device %s", ev.Type); return nil },
		Encrypted: func(_ context.Context, e *Encrypted) error {
			add("encrypted %s %s %q err=%v", e.RoomID, e.EventID, e.Ciphertext, e.Err != nil)
			return nil
		},
		Membership: func(_ context.Context, m *Membership) error {
			add("membership %s %s %s %s %v err=%v state=%v", m.RoomID, m.EventID, m.Membership, m.Target, m.Commit, m.Err != nil, m.FromState)
			return nil
		},
		RoomEvent: func(_ context.Context, e *RoomEvent) error {
			add("room %s %s %s", e.RoomID, e.Type, e.EventID)
			return nil
		},
		Invite: func(_ context.Context, i *Invite) error { add("invite %s %d", i.RoomID, len(i.State)); return nil },
		Left:   func(_ context.Context, roomID string) error { add("left %s", roomID); return nil },
		KeyCounts: func(_ context.Context, k *KeyCounts) error {
			add("counts mls=%d fallback=%v", k.OneTimeKeys["mls"], k.UnusedFallbackKeys)
			return nil
		},
	}
	for _, evType := range []string{"m.mls.commit", "m.mls.welcome", "m.mls.rejected"} {
		r.HandleToDevice(evType, func(_ context.Context, ev matrix.Event) error {
			add("to-device %s from %s", ev.Type, ev.Sender)
			return nil
		})
	}
	return r
}

func TestDispatchRoutesEverythingInOrder(t *testing.T) {
	var log []string
	if err := recorder(&log).Dispatch(context.Background(), parse(t)); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"counts mls=3 fallback=[mls]",
		"to-device m.mls.commit from @:ds",
		"to-device m.mls.welcome from @:ds",
		"other to-device m.room_key",
		"to-device m.mls.rejected from @:ds",
		"room !a:ds m.room.message $p1",
		"membership !b:ds $s1 join @bob:hs [0 1 2] err=false state=true",
		`encrypted !b:ds $e1 "hello" err=false`,
		"room !b:ds m.room.encrypted $e2",
		`encrypted !b:ds $e3 "" err=true`,
		`encrypted !b:ds $e4 "" err=true`,
		"membership !b:ds $m1 invite @carol:hs [1 2 3] err=false state=false",
		"room !b:ds m.room.member $m2",
		"membership !b:ds $m3 join @eve:hs [] err=true state=false",
		"invite !c:ds 1",
		"room !d:ds m.room.member $l1",
		"left !d:ds",
	}
	if !slices.Equal(log, want) {
		t.Fatalf("calls:\n%s\nwant:\n%s", strings.Join(log, "\n"), strings.Join(want, "\n"))
	}
}

func TestDispatchStopsAtTheFirstError(t *testing.T) {
	var log []string
	r := recorder(&log)
	boom := errors.New("disk full")
	r.Encrypted = func(context.Context, *Encrypted) error { return boom }
	err := r.Dispatch(context.Background(), parse(t))
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "$e1") {
		t.Fatalf("Dispatch = %v, want the handler's error naming the event", err)
	}
	if last := log[len(log)-1]; last != "membership !b:ds $s1 join @bob:hs [0 1 2] err=false state=true" {
		t.Fatalf("handlers ran after the failing one: last call %q", last)
	}
}

func TestAnEmptyRouterIgnoresEverything(t *testing.T) {
	if err := new(Router).Dispatch(context.Background(), parse(t)); err != nil {
		t.Fatal(err)
	}
}

func TestAnswerWithoutCountsPassesNoCounts(t *testing.T) {
	var log []string
	if err := recorder(&log).Dispatch(context.Background(), &matrix.SyncResponse{NextBatch: "s"}); err != nil {
		t.Fatal(err)
	}
	if len(log) != 0 {
		t.Fatalf("calls for an empty answer: %v", log)
	}
}
