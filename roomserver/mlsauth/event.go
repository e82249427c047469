package mlsauth

import (
	"encoding/json"
	"runtime"
	"strings"

	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"golang.org/x/crypto/ed25519"
)

// Event is an event of the room version that the rule may need: an
// m.room.create, m.room.power_levels, m.room.join_rules,
// m.room.history_visibility or m.room.member state event. It behaves as the
// event it wraps, except that an m.room.member invite or join that breaks
// the rule reports, to gomatrixserverlib's membership auth check only, a
// content whose membership is the refusal: gomatrixserverlib knows no such
// membership and rejects the event with the reason in its error.
//
// gomatrixserverlib.Allowed has no hook of its own. The membership check
// reads the checked event's content through NewMemberContentFromEvent,
// called by newMembershipAllower (unexported); Content recognises that
// caller on the stack. TestRuleRejectsThroughAllowed fails when a
// gomatrixserverlib upgrade renames them.
type Event struct {
	gomatrixserverlib.PDU
	facts *Facts
}

// Functions of gomatrixserverlib on the stack of a membership auth check.
const (
	gmsl                   = "github.com/matrix-org/gomatrixserverlib."
	fnNewMemberContent     = gmsl + "NewMemberContentFromEvent"
	fnNewMembershipAllower = gmsl + "(*allowerContext).newMembershipAllower"
	// HandleMakeJoin checks a join template, which can never carry
	// mls_commit: the joining server adds it before it signs the event
	// and sends it to send_join, where it is checked.
	fnHandleMakeJoin = gmsl + "HandleMakeJoin"
)

// maxAuthDepth bounds how far up the stack HandleMakeJoin is looked for.
const maxAuthDepth = 16

// Content implements gomatrixserverlib.PDU.
func (e *Event) Content() []byte {
	content := e.PDU.Content()
	if !e.ruled() || !calledByMembershipAuth() {
		return content
	}
	if err := Check(e.PDU, registered.lookup); err != nil {
		return refusal(err)
	}
	return content
}

// ruled reports whether the rule applies to the event at all.
func (e *Event) ruled() bool {
	f := e.facts
	return f.Type == spec.MRoomMember && (f.Membership == spec.Invite || f.Membership == spec.Join)
}

// calledByMembershipAuth reports whether Content was called by
// gomatrixserverlib's membership auth check, on the checked event (not on
// one of its auth events), outside HandleMakeJoin.
func calledByMembershipAuth() bool {
	var pcs [maxAuthDepth]uintptr
	// Skip runtime.Callers, this function and Content.
	frames := runtime.CallersFrames(pcs[:runtime.Callers(3, pcs[:])])
	for _, want := range []string{fnNewMemberContent, fnNewMembershipAllower} {
		if frame, _ := frames.Next(); frame.Function != want {
			return false
		}
	}
	for more := true; more; {
		var frame runtime.Frame
		frame, more = frames.Next()
		if frame.Function == fnHandleMakeJoin {
			return false
		}
	}
	return true
}

// refusal is the content an event that breaks the rule shows the auth
// check: a membership that names the reason.
func refusal(err error) []byte {
	content, _ := json.Marshal(map[string]string{"membership": strings.ReplaceAll(err.Error(), `"`, "'")})
	return content
}

// MarshalJSON implements json.Marshaler as the wrapped event does, so that
// the wrapper never shows in JSON.
func (e *Event) MarshalJSON() ([]byte, error) { return json.Marshal(e.PDU) }

// Sign implements gomatrixserverlib.PDU; the signed copy is wrapped too.
func (e *Event) Sign(signingName string, keyID gomatrixserverlib.KeyID, privateKey ed25519.PrivateKey) gomatrixserverlib.PDU {
	return wrap(e.PDU.Sign(signingName, keyID, privateKey))
}

// SetUnsigned implements gomatrixserverlib.PDU; the copy is wrapped too.
func (e *Event) SetUnsigned(unsigned any) (gomatrixserverlib.PDU, error) {
	pdu, err := e.PDU.SetUnsigned(unsigned)
	if err != nil {
		return nil, err
	}
	return wrap(pdu), nil
}

// Unwrap returns the wrapped event.
func (e *Event) Unwrap() gomatrixserverlib.PDU { return e.PDU }

// ruleTypes are the event types whose facts the rule reads.
var ruleTypes = map[string]bool{
	spec.MRoomCreate:            true,
	spec.MRoomPowerLevels:       true,
	spec.MRoomJoinRules:         true,
	spec.MRoomHistoryVisibility: true,
	spec.MRoomMember:            true,
}

// wrap returns pdu wrapped in an Event, and its facts registered, when the
// rule may need it; any other event is returned as it is.
func wrap(pdu gomatrixserverlib.PDU) gomatrixserverlib.PDU {
	if pdu == nil {
		return nil
	}
	if _, ok := pdu.(*Event); ok || pdu.StateKey() == nil || !ruleTypes[pdu.Type()] {
		return pdu
	}
	return &Event{PDU: pdu, facts: registered.add(FactsOf(pdu))}
}

// Constructors of gomatrixserverlib.RoomVersionImpl (its unexported fields
// newEventFromUntrustedJSONFunc, newEventFromTrustedJSONFunc and
// newEventFromTrustedJSONWithEventIDFunc).
type (
	UntrustedConstructor   = func(eventJSON []byte, roomVersion gomatrixserverlib.IRoomVersion) (gomatrixserverlib.PDU, error)
	TrustedConstructor     = func(eventJSON []byte, redacted bool, roomVersion gomatrixserverlib.IRoomVersion) (gomatrixserverlib.PDU, error)
	TrustedWithIDConstruct = func(eventID string, eventJSON []byte, redacted bool, roomVersion gomatrixserverlib.IRoomVersion) (gomatrixserverlib.PDU, error)
)

// WrapUntrusted returns a constructor that builds events with base and
// wraps them (see Event).
func WrapUntrusted(base UntrustedConstructor) UntrustedConstructor {
	return func(eventJSON []byte, roomVersion gomatrixserverlib.IRoomVersion) (gomatrixserverlib.PDU, error) {
		return wrapped(base(eventJSON, roomVersion))
	}
}

// WrapTrusted returns a constructor that builds events with base and wraps
// them (see Event).
func WrapTrusted(base TrustedConstructor) TrustedConstructor {
	return func(eventJSON []byte, redacted bool, roomVersion gomatrixserverlib.IRoomVersion) (gomatrixserverlib.PDU, error) {
		return wrapped(base(eventJSON, redacted, roomVersion))
	}
}

// WrapTrustedWithID returns a constructor that builds events with base and
// wraps them (see Event).
func WrapTrustedWithID(base TrustedWithIDConstruct) TrustedWithIDConstruct {
	return func(eventID string, eventJSON []byte, redacted bool, roomVersion gomatrixserverlib.IRoomVersion) (gomatrixserverlib.PDU, error) {
		return wrapped(base(eventID, eventJSON, redacted, roomVersion))
	}
}

// wrapped wraps what a base constructor built. An event that came with an
// error (the base constructors return some, e.g. from CheckFields, with the
// event) is returned unwrapped: it is never stored nor checked.
func wrapped(pdu gomatrixserverlib.PDU, err error) (gomatrixserverlib.PDU, error) {
	if err != nil {
		return pdu, err
	}
	return wrap(pdu), nil
}
