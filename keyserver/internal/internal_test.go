package internal

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"

	kpt "github.com/matrix-org/dendrite/msc4244/keyserver/keypackage/keypackagetest"
)

const (
	suite1Name = "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519"
	suite3Name = "MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519"
)

func TestParseMLSClaim(t *testing.T) {
	p, err := ParseMLSClaim(nil)
	if err != nil || len(p.Suites) != 1 || p.Suites[0] != 1 || p.claim.ProtocolVersion != "mls10" ||
		p.claim.AcceptableCiphersuites[0] != suite1Name {
		t.Fatalf("defaults: %+v, %v", p, err)
	}
	required := codec.Marshal(&mls.RequiredCapabilities{
		ExtensionTypes: []mls.ExtensionType{0xf001}, ProposalTypes: []mls.ProposalType{8},
		CredentialTypes: []mls.CredentialType{1},
	})
	p, err = ParseMLSClaim(&MLSClaim{
		AcceptableCiphersuites: []string{suite3Name, suite1Name, suite3Name},
		RequiredCapabilities:   base64.RawStdEncoding.EncodeToString(required),
	})
	if err != nil || len(p.Suites) != 2 || p.Suites[0] != 3 || p.Suites[1] != 1 ||
		len(p.Required.Extensions) != 1 || p.Required.Extensions[0] != 0xf001 || p.Required.Proposals[0] != 8 {
		t.Fatalf("ParseMLSClaim = %+v, %v", p, err)
	}
	for name, c := range map[string]MLSClaim{
		"version":          {ProtocolVersion: "mls11"},
		"unknown suite":    {AcceptableCiphersuites: []string{"MLS_999"}},
		"padded caps":      {RequiredCapabilities: base64.StdEncoding.EncodeToString([]byte{0, 0})},
		"caps not base64":  {RequiredCapabilities: "***"},
		"caps trailing":    {RequiredCapabilities: base64.RawStdEncoding.EncodeToString(append(required, 0))},
		"caps truncated":   {RequiredCapabilities: base64.RawStdEncoding.EncodeToString(required[:2])},
		"caps not varints": {RequiredCapabilities: base64.RawStdEncoding.EncodeToString([]byte{0xff})},
	} {
		if _, err := ParseMLSClaim(&c); err == nil {
			t.Errorf("%s: accepted %+v", name, c)
		}
	}
}

func keyJSON(data []byte) json.RawMessage { return keyObject(data, false) }

// checkRemote keeps only what was asked for and is valid.
func TestCheckRemote(t *testing.T) {
	const alice, bob = "@alice:remote", "@bob:remote"
	k := &KeyServer{Now: time.Now}
	p, err := ParseMLSClaim(&MLSClaim{AcceptableCiphersuites: []string{suite1Name}})
	if err != nil {
		t.Fatal(err)
	}
	good := kpt.New(alice, "A1", kpt.Options{})
	asked := Devices{alice: {"A1": "mls", "A2": "mls", "A3": "mls", "A4": "mls", "A5": "mls", "A6": "mls"}, bob: {"B1": "mls"}}
	answer := Claimed{
		alice: {
			"A1": {"mls:good": keyJSON(good)},
			// another device's KeyPackage under A2
			"A2": {"mls:stolen": keyJSON(kpt.New(alice, "A1", kpt.Options{}))},
			// two keys for one device
			"A3": {"mls:x": keyJSON(kpt.New(alice, "A3", kpt.Options{})), "mls:y": keyJSON(kpt.New(alice, "A3", kpt.Options{}))},
			// a suite not asked for
			"A4": {"mls:s3": keyJSON(kpt.New(alice, "A4", kpt.Options{Suite: 3}))},
			// not an mls key, and a malformed key id
			"A5": {"signed_curve25519:AAAA": keyJSON(kpt.New(alice, "A5", kpt.Options{}))},
			"A6": {"mls": keyJSON(kpt.New(alice, "A6", kpt.Options{}))},
			// not asked for
			"A9": {"mls:extra": keyJSON(kpt.New(alice, "A9", kpt.Options{}))},
		},
		bob:          {"B1": {"mls:bad": json.RawMessage(`{"key": "AAAA"}`)}},
		"@eve:other": {"E1": {"mls:eve": keyJSON(kpt.New("@eve:other", "E1", kpt.Options{}))}},
	}
	checked := k.checkRemote(context.Background(), "remote", asked, p, answer)
	want := Claimed{alice: {"A1": {"mls:good": keyJSON(good)}}}
	gotJSON, _ := json.Marshal(checked)
	wantJSON, _ := json.Marshal(want)
	if string(gotJSON) != string(wantJSON) {
		t.Fatalf("checkRemote kept %s, want %s", gotJSON, wantJSON)
	}

	// A last-resort KeyPackage is marked fallback whatever the server said.
	lr := kpt.New(alice, "A1", kpt.Options{LastResort: true})
	checked = k.checkRemote(context.Background(), "remote", Devices{alice: {"A1": "mls"}}, p,
		Claimed{alice: {"A1": {"mls:lr": keyJSON(lr)}}})
	if got := string(checked[alice]["A1"]["mls:lr"]); !strings.Contains(got, `"fallback":true`) {
		t.Fatalf("last-resort KeyPackage from a remote server: %s", got)
	}
}

func TestParseOneTimeKeys(t *testing.T) {
	const alice, device = "@alice:test", "DEV"
	k := &KeyServer{Now: time.Now}
	kp := kpt.New(alice, device, kpt.Options{LastResort: true})
	kps, others, err := k.ParseOneTimeKeys(alice, device, map[string]json.RawMessage{
		"mls:one":                keyJSON(kp),
		"signed_curve25519:AAAA": json.RawMessage(`{"key": "x"}`),
	})
	if err != nil || len(kps) != 1 || kps[0].KeyID != "one" || !kps[0].LastResort || kps[0].UserID != alice ||
		len(others) != 1 || others["signed_curve25519:AAAA"] == nil {
		t.Fatalf("ParseOneTimeKeys = %+v, %v, %v", kps, others, err)
	}
	// The first fault in key id order is reported.
	_, _, err = k.ParseOneTimeKeys(alice, device, map[string]json.RawMessage{
		"mls:b": keyJSON([]byte("junk")), "mls:a": json.RawMessage(`"string"`), "mls:c": keyJSON(kp),
	})
	var uploadErr *UploadError
	if !errors.As(err, &uploadErr) || uploadErr.KeyID != "mls:a" {
		t.Fatalf("ParseOneTimeKeys = %v, want an error for mls:a", err)
	}
}

func FuzzParseMLSClaim(f *testing.F) {
	f.Add([]byte(`{"protocol_version":"mls10","acceptable_ciphersuites":["` + suite1Name + `"],"required_capabilities":"AgD/AAA"}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		var c MLSClaim
		if json.Unmarshal(raw, &c) != nil {
			return
		}
		p, err := ParseMLSClaim(&c)
		if err == nil && (len(p.Suites) == 0 || p.claim.ProtocolVersion != ProtocolVersion) {
			t.Fatalf("ParseMLSClaim(%s) = %+v", raw, p)
		}
	})
}
