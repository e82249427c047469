package roomserver

import (
	"crypto/ed25519"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
)

// The registration relies on the unexported layout of
// gomatrixserverlib.RoomVersionImpl. These tests fail when an upgrade
// changes it; the multi-server suite (test/mlsds_rooms_test.go) shows that
// createRoom, /capabilities and make_join accept the version.
func TestRoomVersionRegistration(t *testing.T) {
	RegisterRoomVersion()
	RegisterRoomVersion() // a second call changes nothing

	impl, err := gomatrixserverlib.GetRoomVersion(RoomVersion)
	if err != nil {
		t.Fatalf("room version %s is not registered: %v", RoomVersion, err)
	}
	if impl.Version() != RoomVersion {
		t.Fatalf("Version() = %q, want %q", impl.Version(), RoomVersion)
	}
	if impl.Stable() {
		t.Fatal("the MSC4244 room version must be reported as unstable")
	}
	if gomatrixserverlib.StableRoomVersion(RoomVersion) {
		t.Fatal("StableRoomVersion reports the MSC4244 room version as stable")
	}
	if !gomatrixserverlib.KnownRoomVersion(RoomVersion) {
		t.Fatal("KnownRoomVersion does not know the MSC4244 room version")
	}
	v11 := gomatrixserverlib.MustGetRoomVersion(baseVersion)
	if v11.Version() != baseVersion || !v11.Stable() {
		t.Fatal("registering the MSC4244 room version changed room version 11")
	}
}

// Every field but the identifier, the stability and the fields of the MLS
// membership rule (membershipRuleFields) is v11's.
func TestRoomVersionCopiesV11(t *testing.T) {
	RegisterRoomVersion()
	got := reflect.ValueOf(gomatrixserverlib.MustGetRoomVersion(RoomVersion))
	want := reflect.ValueOf(gomatrixserverlib.MustGetRoomVersion(baseVersion))
	if got.Type() != want.Type() {
		t.Fatalf("type %s, want %s", got.Type(), want.Type())
	}
	for i := range got.NumField() {
		name := got.Type().Field(i).Name
		g, w := got.Field(i), want.Field(i)
		switch name {
		case "ver":
			if g.String() != string(RoomVersion) {
				t.Errorf("field ver = %q", g.String())
			}
		case "stable":
			if g.Bool() {
				t.Error("field stable is true")
			}
		default:
			if same := sameValue(g, w); membershipRuleFields[name] && same {
				t.Errorf("field %s is room version 11's, not the MLS membership rule's", name)
			} else if !membershipRuleFields[name] && !same {
				t.Errorf("field %s differs from room version 11", name)
			}
		}
	}
}

// membershipRuleFields are the fields installMembershipRule replaces.
var membershipRuleFields = map[string]bool{
	"redactionAlgorithm":                     true,
	"newEventFromUntrustedJSONFunc":          true,
	"newEventFromTrustedJSONFunc":            true,
	"newEventFromTrustedJSONWithEventIDFunc": true,
}

// sameValue compares two fields of RoomVersionImpl; functions are equal
// when they are the same function.
func sameValue(a, b reflect.Value) bool {
	if a.Kind() == reflect.Func {
		return a.Pointer() == b.Pointer()
	}
	return a.Equal(b)
}

// Events built and parsed through the version report it, and have v11's
// event format and URL-safe hash event IDs.
func TestRoomVersionEvents(t *testing.T) {
	RegisterRoomVersion()
	impl := gomatrixserverlib.MustGetRoomVersion(RoomVersion)
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	builder := impl.NewEventBuilderFromProtoEvent(&gomatrixserverlib.ProtoEvent{
		SenderID:   "@alice:example.org",
		RoomID:     "!room:example.org",
		Type:       spec.MRoomCreate,
		StateKey:   new(string),
		PrevEvents: []string{},
		AuthEvents: []string{},
		Depth:      1,
		Content:    spec.RawJSON(`{"room_version":"org.matrix.msc4244","encryption_algorithm":"m.mls.10"}`),
	})
	event, err := builder.Build(time.Now(), "example.org", "ed25519:1", key)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	if event.Version() != RoomVersion {
		t.Fatalf("built event reports version %q, want %q", event.Version(), RoomVersion)
	}
	if id := event.EventID(); !strings.HasPrefix(id, "$") || strings.ContainsAny(id, "+/=") || len(id) != 44 {
		t.Fatalf("event ID %q is not a URL-safe reference hash", id)
	}

	parsed, err := impl.NewEventFromUntrustedJSON(event.JSON())
	if err != nil {
		t.Fatalf("NewEventFromUntrustedJSON: %v", err)
	}
	if parsed.Version() != RoomVersion || parsed.EventID() != event.EventID() {
		t.Fatalf("parsed event: version %q, id %q; want %q, %q", parsed.Version(), parsed.EventID(), RoomVersion, event.EventID())
	}
	trusted, err := impl.NewEventFromTrustedJSON(event.JSON(), false)
	if err != nil {
		t.Fatalf("NewEventFromTrustedJSON: %v", err)
	}
	if trusted.Version() != RoomVersion || trusted.EventID() != event.EventID() {
		t.Fatalf("trusted event: version %q, id %q", trusted.Version(), trusted.EventID())
	}
}

func TestSetFieldRefusesUnknownFields(t *testing.T) {
	var impl gomatrixserverlib.RoomVersionImpl
	for _, tc := range []struct {
		name  string
		value any
	}{
		{"noSuchField", true},
		{"stable", "not a bool"},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("setField(%q, %T) did not panic", tc.name, tc.value)
				}
			}()
			setField(&impl, tc.name, tc.value)
		}()
	}
}
