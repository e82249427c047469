package roomserver

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/tidwall/gjson"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/roomserver/mlsauth"
	"github.com/matrix-org/dendrite/msc4244/roomserver/mlsauth/mlsauthtest"
)

// These tests run the MLS membership rule through gomatrixserverlib's own
// auth check. The rule relies on unexported names of gomatrixserverlib
// (see mlsauth.Event); when an upgrade changes them these tests fail.

const testServer = "example.org"

var (
	alice = "@alice:" + testServer
	bob   = "@bob:" + testServer
)

// testRoom builds events of an MLS room by hand.
type testRoom struct {
	t      *testing.T
	key    ed25519.PrivateKey
	id     string
	last   gomatrixserverlib.PDU
	depth  int64
	state  map[gomatrixserverlib.StateKeyTuple]gomatrixserverlib.PDU
	create gomatrixserverlib.PDU
}

// newTestRoom creates a room of alice with the given join rule and history
// visibility: create, alice's join, power levels, join rules, history
// visibility.
func newTestRoom(t *testing.T, joinRule, historyVisibility string) *testRoom {
	t.Helper()
	RegisterRoomVersion()
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	r := &testRoom{t: t, key: key, id: "!room:" + testServer, state: map[gomatrixserverlib.StateKeyTuple]gomatrixserverlib.PDU{}}
	r.create = r.add(alice, spec.MRoomCreate, "", map[string]any{"room_version": RoomVersion, "encryption_algorithm": "m.mls.10"})
	r.add(alice, spec.MRoomMember, alice, map[string]any{"membership": spec.Join})
	r.add(alice, spec.MRoomPowerLevels, "", map[string]any{"users": map[string]int{alice: 100}})
	r.add(alice, spec.MRoomJoinRules, "", map[string]any{"join_rule": joinRule})
	r.add(alice, spec.MRoomHistoryVisibility, "", map[string]any{"history_visibility": historyVisibility})
	return r
}

// get returns the current state event of the type and state key, or nil.
func (r *testRoom) get(eventType, stateKey string) gomatrixserverlib.PDU {
	return r.state[gomatrixserverlib.StateKeyTuple{EventType: eventType, StateKey: stateKey}]
}

// authFor lists the auth events gomatrixserverlib selects for a member
// event (create, power levels, sender's and target's member events, join
// rules), plus the history visibility when withHistory is set.
func (r *testRoom) authFor(sender, target string, withHistory bool) []string {
	var ids []string
	for _, k := range []gomatrixserverlib.StateKeyTuple{
		{EventType: spec.MRoomCreate}, {EventType: spec.MRoomPowerLevels}, {EventType: spec.MRoomJoinRules},
		{EventType: spec.MRoomMember, StateKey: sender}, {EventType: spec.MRoomMember, StateKey: target},
	} {
		if ev := r.state[k]; ev != nil && !slices.Contains(ids, ev.EventID()) {
			ids = append(ids, ev.EventID())
		}
	}
	if hv := r.get(spec.MRoomHistoryVisibility, ""); withHistory && hv != nil {
		ids = append(ids, hv.EventID())
	}
	return ids
}

// build builds an event after the room's last event with the given auth
// events, without adding it to the room.
func (r *testRoom) build(sender, eventType, stateKey string, content any, authEvents []string) gomatrixserverlib.PDU {
	r.t.Helper()
	raw, err := json.Marshal(content)
	if err != nil {
		r.t.Fatal(err)
	}
	prev := []string{}
	if r.last != nil {
		prev = []string{r.last.EventID()}
	}
	if authEvents == nil {
		authEvents = []string{}
	}
	sk := stateKey
	ev, err := gomatrixserverlib.MustGetRoomVersion(RoomVersion).NewEventBuilderFromProtoEvent(&gomatrixserverlib.ProtoEvent{
		SenderID: sender, RoomID: r.id, Type: eventType, StateKey: &sk,
		PrevEvents: prev, AuthEvents: authEvents, Depth: r.depth + 1, Content: raw,
	}).Build(time.Now(), testServer, "ed25519:1", r.key)
	if err != nil {
		r.t.Fatalf("building %s: %v", eventType, err)
	}
	return ev
}

// add builds a state event with the auth events gomatrixserverlib would
// select (plus the history visibility for member events), checks it and
// makes it current.
func (r *testRoom) add(sender, eventType, stateKey string, content any) gomatrixserverlib.PDU {
	r.t.Helper()
	var auth []string
	switch {
	case eventType == spec.MRoomCreate:
	case eventType == spec.MRoomMember:
		auth = r.authFor(sender, stateKey, true)
	default:
		auth = r.authFor(sender, sender, false)
	}
	ev := r.build(sender, eventType, stateKey, content, auth)
	if err := r.allowed(ev); err != nil {
		r.t.Fatalf("%s by %s refused: %v", eventType, sender, err)
	}
	r.accept(ev)
	return ev
}

// accept makes ev the room's last event and current state.
func (r *testRoom) accept(ev gomatrixserverlib.PDU) {
	r.last = ev
	r.depth++
	r.state[gomatrixserverlib.StateKeyTuple{EventType: ev.Type(), StateKey: *ev.StateKey()}] = ev
}

// allowed runs gomatrixserverlib's auth check on ev against its own auth
// events.
func (r *testRoom) allowed(ev gomatrixserverlib.PDU) error {
	var events []gomatrixserverlib.PDU
	for _, s := range r.state {
		if slices.Contains(ev.AuthEventIDs(), s.EventID()) {
			events = append(events, s)
		}
	}
	provider := gomatrixserverlib.NewAuthEvents(events)
	return gomatrixserverlib.Allowed(ev, &provider, userIDForSender)
}

func userIDForSender(_ spec.RoomID, senderID spec.SenderID) (*spec.UserID, error) {
	return spec.NewUserID(string(senderID), true)
}

// aadFor names the auth events an AAD for the action needs, as the room's
// current state.
func (r *testRoom) aadFor(action, sender, target string) map[string]string {
	named := map[string]string{}
	member := r.get(spec.MRoomMember, mlsauth.MemberStateKey(action, sender, target))
	for _, eventType := range mlsauth.RequiredAuthEvents(action, r.get(spec.MRoomMember, target) != nil) {
		if eventType == spec.MRoomMember {
			named[eventType] = member.EventID()
			continue
		}
		named[eventType] = r.get(eventType, "").EventID()
	}
	return named
}

func member(membership string, extra map[string]any) map[string]any {
	content := map[string]any{"membership": membership}
	for k, v := range extra {
		content[k] = v
	}
	return content
}

func commitContent(membership, commit string) map[string]any {
	return member(membership, map[string]any{mlsauth.ContentKeyCommit: commit})
}

// expectRefused checks that ev is refused by the MLS rule.
func expectRefused(t *testing.T, r *testRoom, ev gomatrixserverlib.PDU, why string) {
	t.Helper()
	err := r.allowed(ev)
	if err == nil {
		t.Fatalf("%s: allowed, want refused by the MLS rule", why)
	}
	if !strings.Contains(err.Error(), mlsauth.ErrRefused.Error()) {
		t.Fatalf("%s: refused for another reason: %v", why, err)
	}
}

func expectAllowed(t *testing.T, r *testRoom, ev gomatrixserverlib.PDU, why string) {
	t.Helper()
	if err := r.allowed(ev); err != nil {
		t.Fatalf("%s: %v", why, err)
	}
}

func TestRuleRejectsThroughAllowed(t *testing.T) {
	r := newTestRoom(t, spec.Invite, "shared")
	withHV := r.authFor(alice, bob, true)

	expectRefused(t, r, r.build(alice, spec.MRoomMember, bob, member(spec.Invite, nil), withHV),
		"an invite without mls_commit while history is shared")
	expectRefused(t, r, r.build(alice, spec.MRoomMember, bob, member(spec.Invite, map[string]any{mlsauth.ContentKeyCommit: 42}), withHV),
		"an mls_commit that is not a string")
	expectRefused(t, r, r.build(alice, spec.MRoomMember, bob, commitContent(spec.Invite, "not base64!"), withHV),
		"an mls_commit that is not base64")

	good := r.aadFor(mlsauth.ActionInvite, alice, bob)
	expectAllowed(t, r, r.build(alice, spec.MRoomMember, bob, commitContent(spec.Invite, mlsauthtest.InviteCommit(r.id, bob, good)), withHV),
		"an invite whose commit names its auth events")

	otherPL := map[string]string{}
	for k, v := range good {
		otherPL[k] = v
	}
	otherPL[spec.MRoomPowerLevels] = r.create.EventID()
	for why, commit := range map[string]string{
		"an AAD naming another power levels event": mlsauthtest.InviteCommit(r.id, bob, otherPL),
		"an AAD for another target":                mlsauthtest.InviteCommit(r.id, alice, good),
		"an AAD for a join":                        mlsauthtest.JoinCommit(r.id, bob, good),
		"a commit of another group":                mlsauthtest.InviteCommit("!other:"+testServer, bob, good),
		"an invite commit by a new member":         mlsauthtest.Commit(r.id, mls.SenderNewMemberCommit, (&mlsauth.AAD{Action: spec.Invite, Target: bob, AuthEvents: good}).Marshal()),
		"an AAD that is not canonical JSON":        mlsauthtest.Commit(r.id, mls.SenderMember, []byte(` {"m.mls.aad":{}}`)),
		"an AAD naming too few events":             mlsauthtest.InviteCommit(r.id, bob, map[string]string{spec.MRoomPowerLevels: good[spec.MRoomPowerLevels]}),
	} {
		expectRefused(t, r, r.build(alice, spec.MRoomMember, bob, commitContent(spec.Invite, commit), withHV), why)
	}
	// Without the history visibility among its auth events the event cannot
	// match an AAD that names it.
	expectRefused(t, r, r.build(alice, spec.MRoomMember, bob, commitContent(spec.Invite, mlsauthtest.InviteCommit(r.id, bob, good)), r.authFor(alice, bob, false)),
		"an invite whose auth events lack the AAD's history visibility")

	// Leaves, kicks, bans and knocks are never refused by the rule.
	r.add(alice, spec.MRoomMember, bob, commitContent(spec.Invite, mlsauthtest.InviteCommit(r.id, bob, good)))
	expectAllowed(t, r, r.build(alice, spec.MRoomMember, bob, member(spec.Ban, nil), r.authFor(alice, bob, false)), "a ban")
	expectAllowed(t, r, r.build(bob, spec.MRoomMember, bob, member(spec.Leave, nil), r.authFor(bob, bob, false)), "a rejected invite")

	// After an invite that carried mls_commit (the device was added with a
	// Welcome) the join needs none.
	expectAllowed(t, r, r.build(bob, spec.MRoomMember, bob, member(spec.Join, nil), r.authFor(bob, bob, false)),
		"a join after an invite with mls_commit")
	r.add(bob, spec.MRoomMember, bob, member(spec.Join, nil))
	expectAllowed(t, r, r.build(bob, spec.MRoomMember, bob, member(spec.Join, map[string]any{"displayname": "Bob"}), r.authFor(bob, bob, false)),
		"a joined user's profile change")
}

func TestRuleNotionalInvite(t *testing.T) {
	r := newTestRoom(t, spec.Invite, "joined")
	expectAllowed(t, r, r.build(alice, spec.MRoomMember, bob, member(spec.Invite, nil), r.authFor(alice, bob, true)),
		"an invite without mls_commit while history is joined")
	expectRefused(t, r, r.build(alice, spec.MRoomMember, bob, member(spec.Invite, nil), r.authFor(alice, bob, false)),
		"an invite without mls_commit whose auth events lack the history visibility")

	r.add(alice, spec.MRoomMember, bob, member(spec.Invite, nil))
	expectRefused(t, r, r.build(bob, spec.MRoomMember, bob, member(spec.Join, nil), r.authFor(bob, bob, true)),
		"a join after a notional invite without mls_commit")
	good := r.aadFor(mlsauth.ActionJoin, bob, bob)
	if good[spec.MRoomMember] != r.get(spec.MRoomMember, bob).EventID() {
		t.Fatal("the join AAD does not name the joiner's invite")
	}
	expectAllowed(t, r, r.build(bob, spec.MRoomMember, bob, commitContent(spec.Join, mlsauthtest.JoinCommit(r.id, bob, good)), r.authFor(bob, bob, true)),
		"a join by external commit after a notional invite")
	withoutInvite := map[string]string{}
	for k, v := range good {
		if k != spec.MRoomMember {
			withoutInvite[k] = v
		}
	}
	expectRefused(t, r, r.build(bob, spec.MRoomMember, bob, commitContent(spec.Join, mlsauthtest.JoinCommit(r.id, bob, withoutInvite)), r.authFor(bob, bob, true)),
		"a join whose AAD leaves out the joiner's invite")
}

func TestRulePublicJoin(t *testing.T) {
	r := newTestRoom(t, spec.Public, "shared")
	expectRefused(t, r, r.build(bob, spec.MRoomMember, bob, member(spec.Join, nil), r.authFor(bob, bob, true)),
		"a join into a public room without mls_commit")
	good := r.aadFor(mlsauth.ActionJoin, bob, bob)
	if _, ok := good[spec.MRoomMember]; ok {
		t.Fatal("the AAD of a first join names a member event")
	}
	expectAllowed(t, r, r.build(bob, spec.MRoomMember, bob, commitContent(spec.Join, mlsauthtest.JoinCommit(r.id, bob, good)), r.authFor(bob, bob, true)),
		"a join by external commit")
	expectRefused(t, r, r.build(bob, spec.MRoomMember, bob, commitContent(spec.Join, mlsauthtest.Commit(r.id, mls.SenderMember, (&mlsauth.AAD{Action: spec.Join, Target: bob, AuthEvents: good}).Marshal())), r.authFor(bob, bob, true)),
		"a join commit that is not an external commit")
	// Knocks need no commit.
	k := newTestRoom(t, spec.Knock, "shared")
	expectAllowed(t, k, k.build(bob, spec.MRoomMember, bob, member(spec.Knock, nil), k.authFor(bob, bob, false)), "a knock")
}

// Content shows the refusal to the membership auth check only.
func TestRefusalOnlyInAuth(t *testing.T) {
	r := newTestRoom(t, spec.Invite, "shared")
	ev := r.build(alice, spec.MRoomMember, bob, member(spec.Invite, nil), r.authFor(alice, bob, true))
	if _, ok := ev.(*mlsauth.Event); !ok {
		t.Fatalf("a member event of the room version is %T, not *mlsauth.Event", ev)
	}
	if got := gjson.GetBytes(ev.Content(), "membership").Str; got != spec.Invite {
		t.Fatalf("Content() outside the auth check shows membership %q", got)
	}
	if m, err := ev.Membership(); err != nil || m != spec.Invite {
		t.Fatalf("Membership() = %q, %v", m, err)
	}
	expectRefused(t, r, ev, "the invite")
}

// A make_join template can never carry mls_commit; gomatrixserverlib's
// make_join check of it must pass for a join the rule would refuse.
func TestRuleSkipsMakeJoinTemplate(t *testing.T) {
	r := newTestRoom(t, spec.Public, "shared")
	roomID, err := spec.NewRoomID(r.id)
	if err != nil {
		t.Fatal(err)
	}
	user, err := spec.NewUserID(bob, true)
	if err != nil {
		t.Fatal(err)
	}
	var template gomatrixserverlib.PDU
	res, err := gomatrixserverlib.HandleMakeJoin(gomatrixserverlib.HandleMakeJoinInput{
		Context: t.Context(), UserID: *user, SenderID: spec.SenderID(bob), RoomID: *roomID,
		RoomVersion: RoomVersion, RemoteVersions: []gomatrixserverlib.RoomVersion{RoomVersion},
		RequestOrigin: testServer, LocalServerName: testServer, LocalServerInRoom: true,
		RoomQuerier: roomQuerier{r}, UserIDQuerier: userIDForSender,
		BuildEventTemplate: func(proto *gomatrixserverlib.ProtoEvent) (gomatrixserverlib.PDU, []gomatrixserverlib.PDU, error) {
			template = r.build(bob, spec.MRoomMember, bob, member(spec.Join, nil), r.authFor(bob, bob, true))
			var state []gomatrixserverlib.PDU
			for _, ev := range r.state {
				state = append(state, ev)
			}
			return template, state, nil
		},
	})
	if err != nil || res == nil {
		t.Fatalf("make_join refused a join template: %v", err)
	}
	expectRefused(t, r, template, "the template signed and sent as it is")
}

// roomQuerier answers HandleMakeJoin's questions from a testRoom.
type roomQuerier struct{ r *testRoom }

func (q roomQuerier) CurrentStateEvent(_ context.Context, _ spec.RoomID, eventType, stateKey string) (gomatrixserverlib.PDU, error) {
	return q.r.get(eventType, stateKey), nil
}

func (roomQuerier) InvitePending(context.Context, spec.RoomID, spec.SenderID) (bool, error) {
	return false, nil
}

func (roomQuerier) RestrictedRoomJoinInfo(context.Context, spec.RoomID, spec.SenderID, spec.ServerName) (*gomatrixserverlib.RestrictedRoomJoinInfo, error) {
	return nil, errors.New("the test room is not restricted")
}

// Redaction keeps mls_commit, so a redacted membership keeps its event ID
// and still passes the rule.
func TestRedactionKeepsCommit(t *testing.T) {
	r := newTestRoom(t, spec.Invite, "shared")
	withHV := r.authFor(alice, bob, true)
	commit := mlsauthtest.InviteCommit(r.id, bob, r.aadFor(mlsauth.ActionInvite, alice, bob))
	ev := r.build(alice, spec.MRoomMember, bob, commitContent(spec.Invite, commit), withHV)
	id := ev.EventID()
	redacted, err := gomatrixserverlib.MustGetRoomVersion(RoomVersion).NewEventFromTrustedJSON(ev.JSON(), false)
	if err != nil {
		t.Fatal(err)
	}
	redacted.Redact()
	if got := gjson.GetBytes(redacted.JSON(), "content."+mlsauth.ContentKeyCommit).Str; got != commit {
		t.Fatalf("redaction dropped mls_commit: %s", redacted.JSON())
	}
	if gjson.GetBytes(redacted.JSON(), "content.membership").Str != spec.Invite {
		t.Fatal("redaction dropped the membership")
	}
	reparsed, err := gomatrixserverlib.MustGetRoomVersion(RoomVersion).NewEventFromUntrustedJSON(redacted.JSON())
	if err != nil {
		t.Fatal(err)
	}
	if reparsed.EventID() != id {
		t.Fatalf("the redacted event has ID %s, want %s", reparsed.EventID(), id)
	}
	expectAllowed(t, r, reparsed, "the redacted invite")

	// Other events redact as in room version 11.
	msg := r.build(alice, spec.MRoomMember, alice, member(spec.Join, map[string]any{"displayname": "A"}), r.authFor(alice, alice, false))
	got, err := gomatrixserverlib.MustGetRoomVersion(RoomVersion).RedactEventJSON(msg.JSON())
	if err != nil {
		t.Fatal(err)
	}
	want, err := gomatrixserverlib.MustGetRoomVersion(baseVersion).RedactEventJSON(msg.JSON())
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatalf("redaction of a member event without mls_commit differs from v11:\n%s\n%s", got, want)
	}
}

// The wrapper never shows: JSON, signing and unsigned data behave as the
// wrapped event does, and copies stay wrapped.
func TestEventWrapperIsTransparent(t *testing.T) {
	r := newTestRoom(t, spec.Invite, "shared")
	ev := r.get(spec.MRoomMember, alice)
	data, err := json.Marshal(ev)
	if err != nil || string(data) != string(ev.JSON()) {
		t.Fatalf("json.Marshal = %s, %v; want the event JSON", data, err)
	}
	_, key, _ := ed25519.GenerateKey(nil)
	if _, ok := ev.Sign("other.example", "ed25519:2", key).(*mlsauth.Event); !ok {
		t.Fatal("Sign returned an unwrapped event")
	}
	withUnsigned, err := ev.SetUnsigned(map[string]any{"age": 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := withUnsigned.(*mlsauth.Event); !ok {
		t.Fatal("SetUnsigned returned an unwrapped event")
	}
	headered, err := ev.ToHeaderedJSON()
	if err != nil {
		t.Fatal(err)
	}
	back, err := gomatrixserverlib.NewEventFromHeaderedJSON(headered, false)
	if err != nil || back.EventID() != ev.EventID() || back.Version() != RoomVersion {
		t.Fatalf("headered round trip: %v", err)
	}
	if _, ok := back.(*mlsauth.Event); !ok {
		t.Fatal("an event parsed from headered JSON is not wrapped")
	}
	// Events the rule never reads are not wrapped.
	msg := r.build(alice, "m.room.topic", "", map[string]any{"topic": "x"}, r.authFor(alice, alice, false))
	if _, ok := msg.(*mlsauth.Event); ok {
		t.Fatal("a topic event is wrapped")
	}
}
