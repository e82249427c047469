package mlsauth_test

import (
	"errors"
	"testing"

	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/roomserver/mlsauth"
	"github.com/matrix-org/dendrite/msc4244/roomserver/mlsauth/mlsauthtest"
)

func TestAADRoundTrip(t *testing.T) {
	a := &mlsauth.AAD{Action: mlsauth.ActionInvite, Target: "@bob:b.example", AuthEvents: map[string]string{
		spec.MRoomPowerLevels: "$pl", spec.MRoomHistoryVisibility: "$hv", spec.MRoomMember: "$m",
	}}
	want := `{"m.mls.aad":{"action":"invite","auth_events":{"m.room.history_visibility":"$hv","m.room.member":"$m","m.room.power_levels":"$pl"},"target":"@bob:b.example"}}`
	if got := string(a.Marshal()); got != want {
		t.Fatalf("Marshal = %s\nwant      %s", got, want)
	}
	back, err := mlsauth.ParseAAD([]byte(want))
	if err != nil {
		t.Fatal(err)
	}
	if back.Action != a.Action || back.Target != a.Target || len(back.AuthEvents) != 3 || back.AuthEvents[spec.MRoomMember] != "$m" {
		t.Fatalf("ParseAAD = %+v", back)
	}
}

func TestParseAADRefuses(t *testing.T) {
	for why, in := range map[string]string{
		"empty":                  ``,
		"not JSON":               `{"m.mls.aad":`,
		"not an object":          `[]`,
		"no AAD key":             `{}`,
		"another key too":        `{"m.mls.aad":{"action":"join","auth_events":{},"target":"@a:b"},"x":1}`,
		"unknown inner key":      `{"m.mls.aad":{"action":"join","auth_events":{},"extra":1,"target":"@a:b"}}`,
		"no auth_events":         `{"m.mls.aad":{"action":"join","target":"@a:b"}}`,
		"auth event not string":  `{"m.mls.aad":{"action":"join","auth_events":{"m.room.power_levels":1},"target":"@a:b"}}`,
		"not canonical (spaces)": `{"m.mls.aad": {"action":"join","auth_events":{},"target":"@a:b"}}`,
		"not canonical (order)":  `{"m.mls.aad":{"target":"@a:b","action":"join","auth_events":{}}}`,
		"duplicate key":          `{"m.mls.aad":{"action":"join","action":"join","auth_events":{},"target":"@a:b"}}`,
		"null AAD":               `{"m.mls.aad":null}`,
	} {
		if _, err := mlsauth.ParseAAD([]byte(in)); !errors.Is(err, mlsauth.ErrMalformedAAD) {
			t.Errorf("%s: ParseAAD(%s) = %v, want ErrMalformedAAD", why, in, err)
		}
	}
}

func TestDecodeCommitRefuses(t *testing.T) {
	aad := (&mlsauth.AAD{Action: mlsauth.ActionJoin, Target: "@a:b", AuthEvents: map[string]string{}}).Marshal()
	for why, in := range map[string]string{
		"padded base64":    mlsauthtest.Commit("!r:b", mls.SenderNewMemberCommit, aad) + "=",
		"not base64":       "***",
		"not MLS":          "AAAA",
		"another group":    mlsauthtest.Commit("!other:b", mls.SenderNewMemberCommit, aad),
		"AAD not JSON":     mlsauthtest.Commit("!r:b", mls.SenderNewMemberCommit, []byte("hello")),
		"empty AAD":        mlsauthtest.Commit("!r:b", mls.SenderNewMemberCommit, nil),
		"a KeyPackage msg": "AAEABQ",
	} {
		if _, err := mlsauth.DecodeCommit(in, "!r:b"); !errors.Is(err, mlsauth.ErrMalformedAAD) {
			t.Errorf("%s: DecodeCommit = %v, want ErrMalformedAAD", why, err)
		}
	}
	c, err := mlsauth.DecodeCommit(mlsauthtest.Commit("!r:b", mls.SenderNewMemberCommit, aad), "!r:b")
	if err != nil || c.SenderType != mls.SenderNewMemberCommit || c.AAD.Action != mlsauth.ActionJoin {
		t.Fatalf("DecodeCommit = %+v, %v", c, err)
	}
}
