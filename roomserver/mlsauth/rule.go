// Package mlsauth is the MLS membership rule of room version
// org.matrix.msc4244 (docs/membership.md): an m.room.member event that
// changes membership in a way MLS must follow has to carry, in
// content.mls_commit, the MLS commit that did it, and that commit's AAD must
// name the same action, target and auth events as the event.
//
// The rule is part of the room version's auth rules: the room version's
// event constructors return events whose content, when read by
// gomatrixserverlib's membership auth check, reports a refused membership
// for an event that breaks the rule (see Event). gomatrixserverlib then
// rejects the event itself, wherever Dendrite checks auth: events from local
// clients, federation /send, send_join, missing events and state fetched
// from other servers, and state resolution.
package mlsauth

import (
	"errors"
	"fmt"
	"slices"

	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/tidwall/gjson"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
)

// HistoryVisibilityJoined is the history visibility under which an invite
// needs no MLS commit: the invitee sees nothing before joining, so the
// invite stays notional and the join brings the device into the group.
const HistoryVisibilityJoined = string(gomatrixserverlib.HistoryVisibilityJoined)

// Facts are what the rule reads of an auth event. They are the same for an
// event and its redacted form: the room version's redaction keeps
// membership, mls_commit and history_visibility.
type Facts struct {
	EventID  string
	Type     string
	StateKey string
	Sender   string
	// Membership and HasCommit are read from m.room.member events.
	Membership string
	HasCommit  bool
	// HistoryVisibility is read from m.room.history_visibility events.
	HistoryVisibility string
}

// FactsOf reads the facts of a state event.
func FactsOf(event gomatrixserverlib.PDU) *Facts {
	f := &Facts{EventID: event.EventID(), Type: event.Type(), Sender: string(event.SenderID())}
	if sk := event.StateKey(); sk != nil {
		f.StateKey = *sk
	}
	content := event.Content()
	switch f.Type {
	case spec.MRoomMember:
		f.Membership = gjson.GetBytes(content, "membership").Str
		f.HasCommit = gjson.GetBytes(content, ContentKeyCommit).Exists()
	case spec.MRoomHistoryVisibility:
		f.HistoryVisibility = gjson.GetBytes(content, "history_visibility").Str
	}
	return f
}

// Lookup returns the facts of the event eventID, or nil when they are not
// known.
type Lookup func(eventID string) *Facts

// LookupOf returns a Lookup that knows the facts of events.
func LookupOf(events []gomatrixserverlib.PDU) Lookup {
	facts := make(map[string]*Facts, len(events))
	for _, ev := range events {
		facts[ev.EventID()] = FactsOf(ev)
	}
	return func(eventID string) *Facts { return facts[eventID] }
}

// ErrRefused is wrapped by every error of Check.
var ErrRefused = errors.New("refused by the MLS membership rule")

func refuse(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrRefused, fmt.Sprintf(format, args...))
}

// NeedsCommit reports whether a membership event without mls_commit is
// refused, given the event's auth events: an invite unless the history
// visibility among them is "joined"; a join unless the joiner's membership
// among them is a join (a profile change) or an invite that carried
// mls_commit, or the join is the room creator's first (its only prev event
// is the create event). It returns the reason.
func NeedsCommit(membership, sender, target string, prevEvents []string, auth AuthEvents) (bool, string) {
	switch membership {
	case spec.Invite:
		hv := auth.Get(spec.MRoomHistoryVisibility, "")
		if hv != nil && hv.HistoryVisibility == HistoryVisibilityJoined {
			return false, ""
		}
		visibility := "unknown (not among the auth events)"
		if hv != nil {
			visibility = fmt.Sprintf("%q", hv.HistoryVisibility)
		}
		return true, "an invite while history visibility is " + visibility + " must carry mls_commit (an Add commit accepted by the Delivery Service)"
	case spec.Join:
		if prev := auth.Get(spec.MRoomMember, target); prev != nil {
			if prev.Membership == spec.Join || prev.Membership == spec.Invite && prev.HasCommit {
				return false, ""
			}
		}
		create := auth.Get(spec.MRoomCreate, "")
		if create != nil && create.Sender == target && sender == target && slices.Equal(prevEvents, []string{create.EventID}) {
			return false, ""
		}
		return true, "a join without an invite that carried mls_commit must carry mls_commit (an external commit accepted by the Delivery Service)"
	}
	return false, ""
}

// AuthEvents are the facts of an event's auth events by type and state key.
type AuthEvents map[gomatrixserverlib.StateKeyTuple]*Facts

// NewAuthEvents collects the facts of the events ids that lookup knows.
// When two name the same type and state key, the last wins, as in
// gomatrixserverlib.AuthEvents.
func NewAuthEvents(ids []string, lookup Lookup) AuthEvents {
	auth := AuthEvents{}
	for _, id := range ids {
		if f := lookup(id); f != nil {
			auth[gomatrixserverlib.StateKeyTuple{EventType: f.Type, StateKey: f.StateKey}] = f
		}
	}
	return auth
}

// Get returns the auth event of the type and state key, or nil.
func (a AuthEvents) Get(eventType, stateKey string) *Facts {
	return a[gomatrixserverlib.StateKeyTuple{EventType: eventType, StateKey: stateKey}]
}

// Check applies the rule to an event of the room version, whose auth
// events' facts lookup provides. Events other than m.room.member invites
// and joins always pass. An unknown auth event counts as absent, as it
// does for gomatrixserverlib's rules.
func Check(event gomatrixserverlib.PDU, lookup Lookup) error {
	stateKey := event.StateKey()
	if event.Type() != spec.MRoomMember || stateKey == nil {
		return nil
	}
	content := event.Content()
	membership := gjson.GetBytes(content, "membership").Str
	if membership != spec.Invite && membership != spec.Join {
		return nil
	}
	target, sender := *stateKey, string(event.SenderID())
	auth := NewAuthEvents(event.AuthEventIDs(), lookup)
	commit := gjson.GetBytes(content, ContentKeyCommit)
	if !commit.Exists() {
		if needs, reason := NeedsCommit(membership, sender, target, event.PrevEventIDs(), auth); needs {
			return refuse("%s", reason)
		}
		return nil
	}
	if commit.Type != gjson.String {
		return refuse("content.%s must be a string", ContentKeyCommit)
	}
	c, err := DecodeCommit(commit.Str, event.RoomID().String())
	if err != nil {
		return refuse("%v", err)
	}
	return MatchAAD(c, membership, sender, target, auth)
}

// MatchAAD checks that the commit's AAD names the event's action and target
// and exactly the auth events the action needs, each being the event's own
// auth event of that type (and state key).
func MatchAAD(c *Commit, membership, sender, target string, auth AuthEvents) error {
	aad := c.AAD
	if aad.Action != membership {
		return refuse("the commit's AAD is for action %q, the event is a %s", aad.Action, membership)
	}
	if aad.Target != target {
		return refuse("the commit's AAD targets %s, the event targets %s", aad.Target, target)
	}
	wantSender := mls.SenderMember
	if membership == spec.Join {
		wantSender = mls.SenderNewMemberCommit
	}
	if c.SenderType != wantSender {
		return refuse("a %s commit must come from a %v sender, not %v", membership, wantSender, c.SenderType)
	}
	memberKey := MemberStateKey(membership, sender, target)
	required := RequiredAuthEvents(membership, auth.Get(spec.MRoomMember, target) != nil)
	if got := sortedKeys(aad.AuthEvents); !slices.Equal(got, required) {
		return refuse("the commit's AAD names auth events %v, a %s needs exactly %v", got, membership, required)
	}
	for _, eventType := range required {
		stateKey := ""
		if eventType == spec.MRoomMember {
			stateKey = memberKey
		}
		own := auth.Get(eventType, stateKey)
		if own == nil {
			return refuse("the commit's AAD names %s %s, which is not among the event's auth events", eventType, aad.AuthEvents[eventType])
		}
		if own.EventID != aad.AuthEvents[eventType] {
			return refuse("the commit's AAD names %s %s, the event's auth event is %s", eventType, aad.AuthEvents[eventType], own.EventID)
		}
	}
	return nil
}
