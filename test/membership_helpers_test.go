package test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/matrix-org/gomatrix"
	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/fclient"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/tidwall/gjson"

	"github.com/matrix-org/dendrite/msc4244/client/mlsroom"
	mlsroomserver "github.com/matrix-org/dendrite/msc4244/roomserver"
	"github.com/matrix-org/dendrite/msc4244/roomserver/membership"
	"github.com/matrix-org/dendrite/msc4244/roomserver/mlsauth"
	"github.com/matrix-org/dendrite/msc4244/roomserver/mlsauth/mlsauthtest"
	"github.com/matrix-org/dendrite/msc4244/test/client"
	"github.com/matrix-org/dendrite/msc4244/test/harness"
	"github.com/matrix-org/dendrite/msc4244/test/match"
	"github.com/matrix-org/dendrite/msc4244/test/must"
)

// roomState maps "type|state_key" to the event ID of the room's current
// state, as c sees it.
func roomState(t testing.TB, c *client.Client, roomID string) map[string]string {
	t.Helper()
	state := map[string]string{}
	for _, ev := range c.MustDo(t, http.MethodGet, clientV3("rooms", roomID, "state")).Array() {
		state[ev.Get("type").Str+"|"+ev.Get("state_key").Str] = ev.Get("event_id").Str
	}
	return state
}

// aadAuthEvents names, from state, the auth events an AAD for action by
// sender about target needs.
func aadAuthEvents(state map[string]string, action, sender, target string) map[string]string {
	named := map[string]string{}
	_, targetHasMember := state[spec.MRoomMember+"|"+target]
	for _, eventType := range mlsauth.RequiredAuthEvents(action, targetHasMember) {
		stateKey := ""
		if eventType == spec.MRoomMember {
			stateKey = mlsauth.MemberStateKey(action, sender, target)
		}
		named[eventType] = state[eventType+"|"+stateKey]
	}
	return named
}

// externalCommit is the mls_commit of an external commit by which joiner
// joins the room whose state reader sees. It is well-formed but signed by
// nobody: homeservers other than the DS cannot check MLS signatures, so the
// membership rule reads only its AAD.
func externalCommit(t testing.TB, reader *client.Client, roomID, joiner string) string {
	t.Helper()
	return mlsauthtest.JoinCommit(roomID, joiner, aadAuthEvents(roomState(t, reader, roomID), mlsauth.ActionJoin, joiner, joiner))
}

// joinWithCommit asks joiner's server to join the room with the given
// mls_commit, through via.
func joinWithCommit(t testing.TB, joiner *client.Client, roomID, commit string, via spec.ServerName) *http.Response {
	t.Helper()
	return joiner.Do(t, http.MethodPost, clientV3("join", roomID),
		client.WithJSON(map[string]any{mlsauth.ContentKeyCommit: commit}), client.WithQuery("server_name", string(via)))
}

// federationAs is a federation client that signs as server s, for tests
// that play a misbehaving server. It trusts any certificate.
func federationAs(s *harness.Server) fclient.FederationClient {
	g := &s.Config.Global
	return fclient.NewFederationClient(
		[]*fclient.SigningIdentity{{ServerName: s.Name, KeyID: g.KeyID, PrivateKey: g.PrivateKey}},
		fclient.WithSkipVerify(true), fclient.WithTimeout(30*time.Second),
	)
}

// forgedMember builds, signed by sender's server s, an m.room.member event
// of sender about target with content, on top of the room's latest events
// as resident (a server in the room) reports them, with the auth events of
// authTypes ("type|state_key") as reader sees them.
func forgedMember(t testing.TB, s, resident *harness.Server, reader *client.Client, roomID, sender, target string, content map[string]any, authKeys ...string) gomatrixserverlib.PDU {
	t.Helper()
	mlsroomserver.RegisterRoomVersion()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// A join template for another user of s names the latest events and
	// the depth to build on.
	tmpl, err := federationAs(s).MakeJoin(ctx, s.Name, resident.Name, roomID, "@template:"+string(s.Name))
	if err != nil {
		t.Fatalf("make_join on %s: %v", resident.Name, err)
	}
	proto := tmpl.GetJoinEvent()
	state := roomState(t, reader, roomID)
	var authEvents []string
	for _, key := range authKeys {
		id, ok := state[key]
		if !ok {
			t.Fatalf("the room has no state %s", key)
		}
		authEvents = append(authEvents, id)
	}
	raw, err := json.Marshal(content)
	if err != nil {
		t.Fatal(err)
	}
	ev := gomatrixserverlib.ProtoEvent{
		SenderID: sender, RoomID: roomID, Type: spec.MRoomMember, StateKey: &target,
		PrevEvents: proto.PrevEvents, AuthEvents: authEvents, Depth: proto.Depth, Content: raw,
	}
	g := &s.Config.Global
	pdu, err := gomatrixserverlib.MustGetRoomVersion(mlsroomserver.RoomVersion).NewEventBuilderFromProtoEvent(&ev).
		Build(time.Now(), s.Name, g.KeyID, g.PrivateKey)
	if err != nil {
		t.Fatalf("building a member event: %v", err)
	}
	return pdu
}

// sendPDUs sends events in one federation transaction from s to dest.
func sendPDUs(t testing.TB, s, dest *harness.Server, events ...gomatrixserverlib.PDU) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	txn := gomatrixserverlib.Transaction{
		TransactionID:  gomatrixserverlib.TransactionID(fmt.Sprintf("forged-%d", time.Now().UnixNano())),
		Origin:         s.Name,
		Destination:    dest.Name,
		OriginServerTS: spec.AsTimestamp(time.Now()),
	}
	for _, ev := range events {
		txn.PDUs = append(txn.PDUs, ev.JSON())
	}
	res, err := federationAs(s).SendTransaction(ctx, txn)
	if err != nil {
		t.Fatalf("sending a transaction from %s to %s: %v", s.Name, dest.Name, err)
	}
	for id, result := range res.PDUs {
		if result.Error != "" {
			t.Fatalf("%s did not take %s for processing: %s", dest.Name, id, result.Error)
		}
	}
}

// memberState returns target's membership in the room's current state as c
// sees it, or "" when there is none.
func memberState(t testing.TB, c *client.Client, roomID, target string) string {
	t.Helper()
	res := c.Do(t, http.MethodGet, clientV3("rooms", roomID, "state", spec.MRoomMember, target))
	defer res.Body.Close() // nolint: errcheck
	if res.StatusCode == http.StatusNotFound {
		return ""
	}
	var content struct {
		Membership string `json:"membership"`
	}
	if res.StatusCode != http.StatusOK || json.NewDecoder(res.Body).Decode(&content) != nil {
		t.Fatalf("reading %s's membership: status %d", target, res.StatusCode)
	}
	return content.Membership
}

// awaitMembership waits until c sees target's membership in the room.
func awaitMembership(t testing.TB, c *client.Client, roomID, target, membership string) {
	t.Helper()
	deadline := time.Now().Add(syncTimeout)
	for memberState(t, c, roomID, target) != membership {
		if time.Now().After(deadline) {
			t.Fatalf("%s does not see %s's membership %q in %s", c.UserID, target, membership, roomID)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// loggedRefusal reports whether s's log says it rejected eventID under the
// MLS membership rule.
func loggedRefusal(t testing.TB, s *harness.Server, eventID string) bool {
	t.Helper()
	data, err := os.ReadFile(s.LogPath())
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.Contains(line, eventID) && strings.Contains(line, mlsauth.ErrRefused.Error()) {
			return true
		}
	}
	return false
}

// expectForbidden checks that res is 403 M_FORBIDDEN whose error mentions
// why.
func expectForbidden(t testing.TB, res *http.Response, why string) {
	t.Helper()
	body := must.MatchResponse(t, res, match.MatrixError(http.StatusForbidden, "M_FORBIDDEN"))
	if msg := gjson.GetBytes(body, "error").Str; !strings.Contains(msg, why) {
		t.Fatalf("403 error %q does not say %q", msg, why)
	}
}

// fetchEvents fetches events by ID from resident over federation, as s.
func fetchEvents(t testing.TB, s, resident *harness.Server, eventIDs ...string) []json.RawMessage {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var events []json.RawMessage
	for _, id := range eventIDs {
		txn, err := federationAs(s).GetEvent(ctx, s.Name, resident.Name, id)
		if err != nil || len(txn.PDUs) != 1 {
			t.Fatalf("fetching %s from %s: %v", id, resident.Name, err)
		}
		events = append(events, txn.PDUs[0])
	}
	return events
}

// federatedInvite sends invite, as s, to its invitee's server dest with
// /invite v2, with authEvents along (membership.InviteRequest), and returns
// the status and body of the answer.
func federatedInvite(t testing.TB, s, dest *harness.Server, invite gomatrixserverlib.PDU, authEvents []json.RawMessage) (int, gjson.Result) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	path := "/_matrix/federation/v2/invite/" + url.PathEscape(invite.RoomID().String()) + "/" + url.PathEscape(invite.EventID())
	fedReq := fclient.NewFederationRequest(http.MethodPut, s.Name, dest.Name, path)
	body := membership.InviteRequest{Event: invite.JSON(), RoomVersion: invite.Version(), AuthEvents: authEvents}
	must.NotError(t, "invite body", fedReq.SetContent(body))
	g := &s.Config.Global
	must.NotError(t, "signing", fedReq.Sign(s.Name, g.KeyID, g.PrivateKey))
	req, err := fedReq.HTTPRequest()
	must.NotError(t, "invite request", err)
	var res json.RawMessage
	err = federationAs(s).DoRequestAndParseResponse(ctx, req, &res)
	var httpErr gomatrix.HTTPError
	switch {
	case err == nil:
		return http.StatusOK, gjson.ParseBytes(res)
	case errors.As(err, &httpErr):
		return httpErr.Code, gjson.ParseBytes(httpErr.Contents)
	}
	t.Fatalf("/invite to %s: %v", dest.Name, err)
	return 0, gjson.Result{}
}

// acceptCommit sends the pending commit p of m to the DS of ds and waits
// until m and every one of others (the group's other devices) have got and
// applied it.
func acceptCommit(t testing.TB, ds *harness.Server, roomID string, m *mlsMember, p *mlsroom.Pending, others ...*mlsMember) {
	t.Helper()
	sendToDS(t, m.Client, ds, commitContent(roomID, p))
	for _, x := range append([]*mlsMember{m}, others...) {
		c := awaitCommit(t, x.Client, ds, p.Message)
		if _, err := x.state.HandleCommit(p.Message, c.Get("epoch").Uint()); err != nil {
			t.Fatalf("%s applying a commit: %v", x.UserID, err)
		}
	}
}

// refuseCommit sends the pending commit p of m to the DS of ds, expects
// m.mls.rejected with errcode, and drops p.
func refuseCommit(t testing.TB, ds *harness.Server, roomID string, m *mlsMember, p *mlsroom.Pending, errcode string) {
	t.Helper()
	sendToDS(t, m.Client, ds, commitContent(roomID, p))
	rej := awaitFromDS(t, m.Client, ds, "m.mls.rejected", sha256b64(p.Message))
	if got := rej.Get("errcode").Str; got != errcode {
		t.Fatalf("commit refused with %s (%s), want %s", got, rej.Get("error").Str, errcode)
	}
	m.state.Drop()
}

// membershipAAD is the profile's AAD of sender doing action to target, from
// reader's view of the room's state.
func membershipAAD(t testing.TB, reader *client.Client, roomID, action, sender, target string) []byte {
	t.Helper()
	aad := &mlsauth.AAD{Action: action, Target: target, AuthEvents: aadAuthEvents(roomState(t, reader, roomID), action, sender, target)}
	return aad.Marshal()
}

// mlsInvite has inviter add a device of target (from a fresh KeyPackage)
// with the invite AAD, the group's other devices following, and returns
// target's device in the group after the Welcome.
func mlsInvite(t testing.TB, ds *harness.Server, roomID string, inviter *mlsMember, target *mlsDevice, others ...*mlsMember) *mlsMember {
	t.Helper()
	kp, err := target.id.NewKeyPackage(false)
	must.NotError(t, "a KeyPackage", err)
	aad := membershipAAD(t, inviter.Client, roomID, mlsauth.ActionInvite, inviter.UserID, target.UserID)
	p, err := inviter.state.Commit(mlsroom.CommitRequest{Add: [][]byte{kp.Message}, AAD: aad})
	must.NotError(t, "the Add", err)
	acceptCommit(t, ds, roomID, inviter, p, others...)
	welcome := awaitToDevice(t, target.Client, ds, "m.mls.welcome", func(c gjson.Result) bool { return c.Get("room_id").Str == roomID })
	state, _, err := mlsroom.Join(target.id, unb64(t, welcome.Get("welcome").Str), []*mlsroom.KeyPackage{kp})
	must.NotError(t, "joining from the Welcome", err)
	return &mlsMember{mlsDevice: target, state: state}
}

// joinByExternalCommit has joiner's device join the room's group by
// external commit, from the GroupInfo the DS on ds serves and with the join
// AAD of member's view of the room, member following the commit; once the
// DS accepted it, joiner joins the room with it, and member sees the join.
func joinByExternalCommit(t testing.TB, ds *harness.Server, roomID string, joiner *mlsDevice, member *mlsMember) *mlsMember {
	t.Helper()
	gi := unb64(t, joiner.MustDo(t, http.MethodGet, dsPath("rooms", roomID, "mls", "group_info")).Get("group_info").Str)
	aad := membershipAAD(t, member.Client, roomID, mlsauth.ActionJoin, joiner.UserID, joiner.UserID)
	state, err := mlsroom.JoinExternal(joiner.id, gi, aad)
	must.NotError(t, joiner.UserID+"'s external commit", err)
	joined := &mlsMember{mlsDevice: joiner, state: state}
	commit := state.Pending.Message // HandleCommit clears Pending
	acceptCommit(t, ds, roomID, joined, state.Pending, member)
	must.MatchResponse(t, joinWithCommit(t, joined.Client, roomID, b64(commit), ds.Name), match.HTTPResponse{StatusCode: http.StatusOK})
	awaitMembership(t, member.Client, roomID, joined.UserID, spec.Join)
	return joined
}

// says sends an MLS-encrypted text message and returns its event ID.
func (m *mlsMember) says(t testing.TB, roomID, text string) string {
	t.Helper()
	plaintext, err := json.Marshal(map[string]any{"type": "m.room.message", "room_id": roomID,
		"content": map[string]any{"msgtype": "m.text", "body": text}})
	must.NotError(t, "plaintext", err)
	ciphertext, err := m.state.Encrypt(plaintext)
	must.NotError(t, "encrypting", err)
	return m.MustSendEvent(t, roomID, "m.room.encrypted", map[string]any{"algorithm": mlsAlgorithm, "ciphertext": b64(ciphertext)})
}

// reads fetches the room event eventID (waiting until m's server has it)
// and decrypts it, returning its body.
func (m *mlsMember) reads(t testing.TB, roomID, eventID string) string {
	t.Helper()
	deadline := time.Now().Add(syncTimeout)
	for {
		res := m.Do(t, http.MethodGet, clientV3("rooms", roomID, "event", eventID))
		if res.StatusCode == http.StatusOK {
			ev := must.ParseJSON(t, res)
			d, err := m.state.Decrypt(unb64(t, ev.Get("content.ciphertext").Str))
			if err != nil {
				t.Fatalf("%s cannot decrypt %s: %v", m.UserID, eventID, err)
			}
			return gjson.GetBytes(d.Plaintext, "content.body").Str
		}
		res.Body.Close() // nolint: errcheck
		if time.Now().After(deadline) {
			t.Fatalf("%s does not get event %s (status %d)", m.UserID, eventID, res.StatusCode)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// takeRemovals waits for the DS's Remove proposals of n devices and has
// each of members record them.
func takeRemovals(t testing.TB, ds *harness.Server, roomID string, n int, members ...*mlsMember) {
	t.Helper()
	for _, m := range members {
		for range n {
			c := awaitToDevice(t, m.Client, ds, "m.mls.proposal", func(c gjson.Result) bool {
				return c.Get("room_id").Str == roomID && c.Get("sender.user_id").Str == dsUser(ds)
			})
			must.NotError(t, m.UserID+" recording the DS's proposal", m.state.HandleProposal(unb64(t, c.Get("message").Str)))
		}
	}
}

// groupDevices lists the devices of m's group as "user|device".
func (m *mlsMember) groupDevices(t testing.TB) []string {
	t.Helper()
	members, err := m.state.Members()
	must.NotError(t, "members", err)
	var devices []string
	for _, d := range members {
		devices = append(devices, d.UserID+"|"+d.DeviceID)
	}
	return devices
}
