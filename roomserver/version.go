// Package roomserver holds our extensions of Dendrite's roomserver: the
// room version of MSC4244 and a decorator around Dendrite's roomserver API
// that every other component talks to.
package roomserver

import (
	"fmt"
	"reflect"
	"sync"
	"unsafe"

	"github.com/matrix-org/gomatrixserverlib"

	"github.com/matrix-org/dendrite/msc4244/roomserver/mlsauth"
)

// RoomVersion is the identifier of the MSC4244 room version.
const RoomVersion gomatrixserverlib.RoomVersion = "org.matrix.msc4244"

// baseVersion is the room version whose rules RoomVersion extends.
const baseVersion = gomatrixserverlib.RoomVersionV11

var registerOnce sync.Once

// RegisterRoomVersion makes the room version org.matrix.msc4244 known to
// gomatrixserverlib. cmd/dendrite calls it before the configuration is loaded
// and before any component is built, because gomatrixserverlib looks room
// versions up in a process-wide map that is only read afterwards. Calling it
// again does nothing.
//
// gomatrixserverlib has no registration API and the fields of
// RoomVersionImpl are unexported, so the version is a copy of v11's value
// whose identifier and stability are rewritten in place (see setField). A
// type that embeds v11 and overrides Version() does not work: the impl passes
// itself by value to the event constructors, so events would report "11".
// TestRoomVersionRegistration fails loudly if a gomatrixserverlib upgrade
// breaks this.
func RegisterRoomVersion() {
	registerOnce.Do(func() {
		versions := gomatrixserverlib.RoomVersions()
		v11, ok := versions[baseVersion].(gomatrixserverlib.RoomVersionImpl)
		if !ok {
			panic(fmt.Sprintf("roomserver: room version %s is %T, not a gomatrixserverlib.RoomVersionImpl", baseVersion, versions[baseVersion]))
		}
		impl := v11
		setField(&impl, "ver", RoomVersion)
		setField(&impl, "stable", false)
		installMembershipRule(&impl)
		versions[RoomVersion] = impl
	})
}

// setField sets the unexported field name of impl to value. It panics when
// the field does not exist or has another type, which only a
// gomatrixserverlib upgrade can cause.
func setField(impl *gomatrixserverlib.RoomVersionImpl, name string, value any) {
	field := reflect.ValueOf(impl).Elem().FieldByName(name)
	v := reflect.ValueOf(value)
	if !field.IsValid() || field.Type() != v.Type() {
		panic(fmt.Sprintf("roomserver: gomatrixserverlib.RoomVersionImpl has no field %s of type %s", name, v.Type()))
	}
	reflect.NewAt(field.Type(), unsafe.Pointer(field.UnsafeAddr())).Elem().Set(v)
}

// installMembershipRule makes impl's events follow the MLS membership rule
// (package mlsauth): its three event constructors wrap v11's so that every
// event built, parsed or loaded for the version can refuse itself in
// gomatrixserverlib's auth check, and its redaction keeps
// content.mls_commit on m.room.member events.
func installMembershipRule(impl *gomatrixserverlib.RoomVersionImpl) {
	setField(impl, "newEventFromUntrustedJSONFunc",
		mlsauth.WrapUntrusted(getField[mlsauth.UntrustedConstructor](impl, "newEventFromUntrustedJSONFunc")))
	setField(impl, "newEventFromTrustedJSONFunc",
		mlsauth.WrapTrusted(getField[mlsauth.TrustedConstructor](impl, "newEventFromTrustedJSONFunc")))
	setField(impl, "newEventFromTrustedJSONWithEventIDFunc",
		mlsauth.WrapTrustedWithID(getField[mlsauth.TrustedWithIDConstruct](impl, "newEventFromTrustedJSONWithEventIDFunc")))
	setField(impl, "redactionAlgorithm", mlsauth.Redaction(impl.RedactEventJSON))
}

// getField returns the unexported field name of impl, which must have type
// T. It panics otherwise, which only a gomatrixserverlib upgrade can cause.
func getField[T any](impl *gomatrixserverlib.RoomVersionImpl, name string) T {
	field := reflect.ValueOf(impl).Elem().FieldByName(name)
	want := reflect.TypeFor[T]()
	if !field.IsValid() || field.Type() != want {
		panic(fmt.Sprintf("roomserver: gomatrixserverlib.RoomVersionImpl has no field %s of type %s", name, want))
	}
	return reflect.NewAt(field.Type(), unsafe.Pointer(field.UnsafeAddr())).Elem().Interface().(T)
}
