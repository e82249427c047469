package membership

import (
	"context"
	"crypto/ed25519"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/matrix-org/gomatrix"
	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/matrix-org/dendrite/msc4244/mlsds/api"
	"github.com/matrix-org/dendrite/msc4244/roomserver/mlsauth"
)

func TestErrorResponse(t *testing.T) {
	for _, tc := range []struct {
		err     error
		code    int
		errcode string
	}{
		{&gomatrixserverlib.NotAllowed{Message: "no"}, http.StatusForbidden, "M_FORBIDDEN"},
		{ErrNotRoomDS, http.StatusForbidden, "M_FORBIDDEN"},
		{ErrNotInRoom, http.StatusNotFound, "M_NOT_FOUND"},
		{ErrIncompatibleVersion{Version: "5"}, http.StatusBadRequest, "M_INCOMPATIBLE_ROOM_VERSION"},
		{ErrBadRequest, http.StatusBadRequest, "M_BAD_JSON"},
		{gomatrix.HTTPError{Code: http.StatusForbidden, Contents: []byte(`{"errcode":"M_FORBIDDEN","error":"remote"}`)}, http.StatusForbidden, ""},
		{errors.New("database on fire"), http.StatusInternalServerError, "M_UNKNOWN"},
	} {
		res := ErrorResponse(context.Background(), tc.err)
		if res.Code != tc.code {
			t.Errorf("%v: code %d, want %d", tc.err, res.Code, tc.code)
		}
		if e, ok := res.JSON.(spec.MatrixError); ok && e.ErrCode != spec.MatrixErrorCode(tc.errcode) {
			t.Errorf("%v: errcode %s, want %s", tc.err, e.ErrCode, tc.errcode)
		}
	}
}

// knockEvent builds an m.room.member event of room version 11.
func knockEvent(t *testing.T, sender, target, membership string) gomatrixserverlib.PDU {
	t.Helper()
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	proto := gomatrixserverlib.ProtoEvent{SenderID: sender, RoomID: "!r:a.example", Type: spec.MRoomMember, StateKey: &target,
		PrevEvents: []string{}, AuthEvents: []string{}, Depth: 1}
	if err = proto.SetContent(gomatrixserverlib.MemberContent{Membership: membership}); err != nil {
		t.Fatal(err)
	}
	ev, err := gomatrixserverlib.MustGetRoomVersion(gomatrixserverlib.RoomVersionV11).NewEventBuilderFromProtoEvent(&proto).
		Build(time.Now(), "b.example", "ed25519:1", key)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func TestCheckKnock(t *testing.T) {
	roomID, _ := spec.NewRoomID("!r:a.example")
	other, _ := spec.NewRoomID("!other:a.example")
	knock := knockEvent(t, "@k:b.example", "@k:b.example", spec.Knock)
	if err := checkKnock(knock, "b.example", *roomID, knock.EventID()); err != nil {
		t.Fatalf("a good knock: %v", err)
	}
	for why, tc := range map[string]struct {
		ev      gomatrixserverlib.PDU
		origin  spec.ServerName
		roomID  spec.RoomID
		eventID string
	}{
		"another origin":       {knock, "c.example", *roomID, knock.EventID()},
		"another event ID":     {knock, "b.example", *roomID, "$other"},
		"another room":         {knock, "b.example", *other, knock.EventID()},
		"a join":               {knockEvent(t, "@k:b.example", "@k:b.example", spec.Join), "b.example", *roomID, ""},
		"about another member": {knockEvent(t, "@k:b.example", "@j:b.example", spec.Knock), "b.example", *roomID, ""},
	} {
		id := tc.eventID
		if id == "" {
			id = tc.ev.EventID()
		}
		if err := checkKnock(tc.ev, tc.origin, tc.roomID, id); !errors.Is(err, ErrBadRequest) {
			t.Errorf("%s: %v, want ErrBadRequest", why, err)
		}
	}
}

// memberState is a StateReader holding member events by user.
type memberState map[string]gomatrixserverlib.PDU

func (m memberState) CurrentStateEvent(_ context.Context, _ spec.RoomID, eventType, stateKey string) (gomatrixserverlib.PDU, error) {
	if eventType != spec.MRoomMember {
		return nil, nil
	}
	return m[stateKey], nil
}

// The decisions CheckCommit makes before it builds the member event.
func TestCheckCommitDecisions(t *testing.T) {
	joined := knockEvent(t, "@in:a.example", "@in:a.example", spec.Join)
	rules := &DSRules{State: memberState{"@in:a.example": joined}}
	dev := func(user string) api.Device { return api.Device{UserID: user, DeviceID: "D"} }
	inviteAAD := (&mlsauth.AAD{Action: mlsauth.ActionInvite, Target: "@new:b.example", AuthEvents: map[string]string{}}).Marshal()

	// Devices of joined users: nothing to check, nothing to do.
	after, err := rules.CheckCommit(context.Background(), &api.MembershipCommit{RoomID: "!r:a.example", Committer: dev("@in:a.example"), Added: []api.Device{dev("@in:a.example")}})
	if err != nil || after != nil {
		t.Fatalf("a joined user's device: %v, after %v", err, after != nil)
	}
	for why, c := range map[string]*api.MembershipCommit{
		"two new users":        {Added: []api.Device{dev("@new:b.example"), dev("@new2:b.example")}},
		"no AAD":               {Added: []api.Device{dev("@new:b.example")}},
		"not an AAD":           {Added: []api.Device{dev("@new:b.example")}, AAD: []byte("{}")},
		"an AAD for a join":    {Added: []api.Device{dev("@new:b.example")}, AAD: (&mlsauth.AAD{Action: mlsauth.ActionJoin, Target: "@new:b.example", AuthEvents: map[string]string{}}).Marshal()},
		"an AAD for another":   {Added: []api.Device{dev("@other:b.example")}, AAD: inviteAAD},
		"an external join AAD": {External: true, AAD: inviteAAD},
		"an external w/o AAD":  {External: true},
	} {
		c.RoomID, c.Committer = "!r:a.example", dev("@in:a.example")
		if c.External {
			c.Committer = dev("@new:b.example")
		}
		if _, err := rules.CheckCommit(context.Background(), c); !errors.Is(err, api.ErrMembershipForbidden) {
			t.Errorf("%s: %v, want ErrMembershipForbidden", why, err)
		}
	}
}
