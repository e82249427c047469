package mlsauth

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
)

// ContentKeyCommit is the key of an m.room.member event's content that holds
// the membership's MLS commit: the unpadded standard base64 of an
// MLSMessage carrying a PublicMessage commit (docs/membership.md).
const ContentKeyCommit = "mls_commit"

// aadKey is the only key of the AAD object.
const aadKey = "m.mls.aad"

// Actions a membership AAD names.
const (
	ActionInvite = spec.Invite
	ActionJoin   = spec.Join
)

// AAD is the authenticated_data of a membership-changing commit:
//
//	{"m.mls.aad": {"action": "invite"|"join", "target": "@user:server",
//	               "auth_events": {"<event type>": "<event ID>", ...}}}
//
// in canonical JSON. AuthEvents maps each event type the action needs
// (RequiredAuthEvents) to the ID of that room state event.
type AAD struct {
	Action     string            `json:"action"`
	Target     string            `json:"target"`
	AuthEvents map[string]string `json:"auth_events"`
}

// Marshal returns the canonical JSON of a.
func (a *AAD) Marshal() []byte {
	data, err := json.Marshal(map[string]*AAD{aadKey: a})
	if err != nil { // a holds only strings
		panic(fmt.Sprintf("mlsauth: encoding an AAD: %v", err))
	}
	canonical, err := gomatrixserverlib.CanonicalJSON(data)
	if err != nil {
		panic(fmt.Sprintf("mlsauth: canonicalising an AAD: %v", err))
	}
	return canonical
}

// ErrMalformedAAD is wrapped by every error of ParseAAD and CommitAAD.
var ErrMalformedAAD = errors.New("malformed membership AAD")

// ParseAAD decodes an AAD. The input must be exactly the canonical JSON
// Marshal produces: one key "m.mls.aad" holding action, target and
// auth_events (string values), nothing else.
func ParseAAD(data []byte) (*AAD, error) {
	var outer map[string]*AAD
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&outer); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformedAAD, err)
	}
	a := outer[aadKey]
	if len(outer) != 1 || a == nil || a.AuthEvents == nil {
		return nil, fmt.Errorf("%w: want one object %q with action, target and auth_events", ErrMalformedAAD, aadKey)
	}
	if !bytes.Equal(a.Marshal(), data) {
		return nil, fmt.Errorf("%w: not canonical JSON of exactly action, target and auth_events", ErrMalformedAAD)
	}
	return a, nil
}

// RequiredAuthEvents lists, sorted, the event types whose current state
// event an AAD for action names: for an invite the power levels, the
// history visibility and the inviter's member event; for a join the power
// levels, the join rules, the history visibility and, when the joiner has a
// member event (an invite, a knock or an earlier leave), that event.
func RequiredAuthEvents(action string, joinerHasMember bool) []string {
	switch action {
	case ActionInvite:
		return []string{spec.MRoomHistoryVisibility, spec.MRoomMember, spec.MRoomPowerLevels}
	case ActionJoin:
		if joinerHasMember {
			return []string{spec.MRoomHistoryVisibility, spec.MRoomJoinRules, spec.MRoomMember, spec.MRoomPowerLevels}
		}
		return []string{spec.MRoomHistoryVisibility, spec.MRoomJoinRules, spec.MRoomPowerLevels}
	}
	return nil
}

// MemberStateKey is the state key of the m.room.member event an AAD for
// action names: the inviter's for an invite, the joiner's for a join.
func MemberStateKey(action, sender, target string) string {
	if action == ActionInvite {
		return sender
	}
	return target
}

// Commit is the part of an mls_commit the rule reads.
type Commit struct {
	AAD *AAD
	// SenderType is the MLS sender of the commit: a member for an invite,
	// a new member (external commit) for a join.
	SenderType mls.SenderType
}

// DecodeCommit decodes the value of content.mls_commit: unpadded standard
// base64 of an MLSMessage holding a PublicMessage commit of the group
// roomID (the MLS group ID is the room ID), whose authenticated_data is an
// AAD.
func DecodeCommit(value, roomID string) (*Commit, error) {
	raw, err := base64.RawStdEncoding.Strict().DecodeString(value)
	if err != nil {
		return nil, fmt.Errorf("%w: %s is not unpadded base64", ErrMalformedAAD, ContentKeyCommit)
	}
	var msg mls.MLSMessage
	if err = codec.Unmarshal(raw, &msg); err != nil {
		return nil, fmt.Errorf("%w: %s is not an MLSMessage: %v", ErrMalformedAAD, ContentKeyCommit, err)
	}
	pub := msg.PublicMessage
	if pub == nil || pub.Content.ContentType != mls.ContentCommit {
		return nil, fmt.Errorf("%w: %s is not a PublicMessage commit", ErrMalformedAAD, ContentKeyCommit)
	}
	if string(pub.Content.GroupID) != roomID {
		return nil, fmt.Errorf("%w: the commit is for group %q, not room %s", ErrMalformedAAD, pub.Content.GroupID, roomID)
	}
	aad, err := ParseAAD(pub.Content.AuthenticatedData)
	if err != nil {
		return nil, err
	}
	return &Commit{AAD: aad, SenderType: pub.Content.Sender.Type}, nil
}

// sortedKeys returns the keys of m in order.
func sortedKeys(m map[string]string) []string { return slices.Sorted(maps.Keys(m)) }
