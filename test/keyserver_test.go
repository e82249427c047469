package test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/matrix-org/dendrite/setup/config"
	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/fclient"
	"github.com/tidwall/gjson"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
	kpt "github.com/matrix-org/dendrite/msc4244/keyserver/keypackage/keypackagetest"
	"github.com/matrix-org/dendrite/msc4244/test/client"
	"github.com/matrix-org/dendrite/msc4244/test/harness"
	"github.com/matrix-org/dendrite/msc4244/test/match"
	"github.com/matrix-org/dendrite/msc4244/test/must"
)

// Cipher suite names of RFC 9420 §17.1, as claims name them.
const (
	suite1Name = "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519"
	suite2Name = "MLS_128_DHKEMP256_AES128GCM_SHA256_P256"
	suite3Name = "MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519"
	suite3     = mls.MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519
)

var (
	keysUploadPath = []string{"_matrix", "client", "v3", "keys", "upload"}
	keysClaimPath  = []string{"_matrix", "client", "v3", "keys", "claim"}
)

// keyPackage returns a KeyPackage of c's device as uploaded: the unpadded
// base64 of its MLSMessage.
func keyPackage(c *client.Client, o kpt.Options) string {
	return b64(kpt.New(c.UserID, c.DeviceID, o))
}

func b64(data []byte) string { return base64.RawStdEncoding.EncodeToString(data) }

// mlsKey is the one-time key object of a KeyPackage.
func mlsKey(kp string) map[string]any { return map[string]any{"key": kp} }

// olmKey is a signed_curve25519 one-time key object, as Dendrite stores it.
func olmKey(n byte) map[string]any {
	key := make([]byte, 32)
	key[0] = n
	return map[string]any{"key": b64(key)}
}

func uploadKeys(t *testing.T, c *client.Client, body map[string]any) *http.Response {
	t.Helper()
	return c.Do(t, http.MethodPost, keysUploadPath, client.WithJSON(body))
}

// oneTimeKeyCounts uploads nothing and returns the device's counts.
func oneTimeKeyCounts(t *testing.T, c *client.Client) gjson.Result {
	t.Helper()
	return c.MustDo(t, http.MethodPost, keysUploadPath, client.WithJSON(map[string]any{})).Get("one_time_key_counts")
}

func wantMLSCount(t *testing.T, c *client.Client, want int64) {
	t.Helper()
	if got := oneTimeKeyCounts(t, c).Get("mls"); got.Type != gjson.Number || got.Int() != want {
		t.Fatalf("%s: one_time_key_counts.mls = %s, want %d", c.UserID, got.Raw, want)
	}
}

// claimBody asks for one key of each device in devices: user → device → algorithm.
func claimBody(devices map[string]map[string]string, mls map[string]any) map[string]any {
	body := map[string]any{"one_time_keys": devices}
	if mls != nil {
		body["mls"] = mls
	}
	return body
}

func mustClaim(t *testing.T, c *client.Client, body map[string]any) gjson.Result {
	t.Helper()
	return c.MustDo(t, http.MethodPost, keysClaimPath, client.WithJSON(body))
}

// claimedMLS returns the one "mls:" key claimed for a device (key id and
// object), or fails; ok is false when none was claimed.
func claimedMLS(t *testing.T, res gjson.Result, userID, deviceID string) (keyID string, key gjson.Result, ok bool) {
	t.Helper()
	keys := res.Get("one_time_keys." + gjson.Escape(userID) + "." + gjson.Escape(deviceID))
	if !keys.Exists() {
		return "", key, false
	}
	n := 0
	keys.ForEach(func(k, v gjson.Result) bool {
		keyID, key = k.Str, v
		n++
		return true
	})
	if n != 1 || len(keyID) < 5 || keyID[:4] != "mls:" {
		t.Fatalf("claimed keys for %s %s: %s, want one mls: key", userID, deviceID, keys.Raw)
	}
	return keyID, key, true
}

// mustClaimMLS claims a KeyPackage of target's device and returns its key
// object, failing when none is handed out.
func mustClaimMLS(t *testing.T, claimer, target *client.Client, mls map[string]any) (string, gjson.Result) {
	t.Helper()
	res := mustClaim(t, claimer, claimBody(map[string]map[string]string{target.UserID: {target.DeviceID: "mls"}}, mls))
	keyID, key, ok := claimedMLS(t, res, target.UserID, target.DeviceID)
	if !ok {
		t.Fatalf("no KeyPackage claimed for %s: %s", target.UserID, res.Raw)
	}
	return keyID, key
}

func wantNoMLSClaimed(t *testing.T, claimer, target *client.Client, mls map[string]any) {
	t.Helper()
	res := mustClaim(t, claimer, claimBody(map[string]map[string]string{target.UserID: {target.DeviceID: "mls"}}, mls))
	if keyID, _, ok := claimedMLS(t, res, target.UserID, target.DeviceID); ok {
		t.Fatalf("claimed %s for %s, want none: %s", keyID, target.UserID, res.Raw)
	}
}

// signedDeviceKeys returns device keys of c's device, changed by edit
// before they are signed by the device's ed25519 key.
func signedDeviceKeys(t *testing.T, c *client.Client, edit func(map[string]any)) json.RawMessage {
	t.Helper()
	public, private, _ := ed25519.GenerateKey(nil)
	dk := map[string]any{
		"user_id":    c.UserID,
		"device_id":  c.DeviceID,
		"algorithms": []string{"m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"},
		"keys": map[string]string{
			"ed25519:" + c.DeviceID:    b64(public),
			"curve25519:" + c.DeviceID: b64(make([]byte, 32)),
		},
	}
	if edit != nil {
		edit(dk)
	}
	unsigned, err := json.Marshal(dk)
	must.NotError(t, "encoding device keys", err)
	signed, err := gomatrixserverlib.SignJSON(c.UserID, gomatrixserverlib.KeyID("ed25519:"+c.DeviceID), private, unsigned)
	must.NotError(t, "signing device keys", err)
	return signed
}

// requiredCapabilities is the unpadded base64 of a required_capabilities
// extension's data requiring the given extension types.
func requiredCapabilities(extensions ...mls.ExtensionType) string {
	var r mls.RequiredCapabilities
	r.ExtensionTypes = extensions
	return b64(codec.Marshal(&r))
}

func mlsClaim(suites ...string) map[string]any {
	return map[string]any{"protocol_version": "mls10", "acceptable_ciphersuites": suites}
}

func keyOf(key gjson.Result) string { return key.Get("key").Str }

func mustNotFallback(t *testing.T, key gjson.Result) {
	t.Helper()
	if key.Get("fallback").Bool() {
		t.Fatalf("one-time KeyPackage marked fallback: %s", key.Raw)
	}
}

func matchInvalidParam(t *testing.T, res *http.Response) {
	t.Helper()
	must.MatchResponse(t, res, match.MatrixError(http.StatusBadRequest, "M_INVALID_PARAM"))
}

// One user uploads KeyPackages of two suites, a last-resort one, an Olm key
// and device keys; the counts show in the upload response and in /sync;
// claims by a local user hand them out one by one by suite and capabilities,
// then the last-resort one; a user on another server claims over
// federation; Olm claims in the same request keep working.
func TestKeyServerUploadAndClaim(t *testing.T) {
	harness.ForEachDatabase(t, func(t *testing.T, db harness.DB) {
		d := harness.Deploy(t, db, 2)
		a, b := d.Servers[0], d.Servers[1]
		alice := a.MustRegisterUser(t, "alice")
		carol := a.MustRegisterUser(t, "carol")
		dave := a.MustRegisterUser(t, "dave")
		bob := b.MustRegisterUser(t, "bob")

		one1, one2 := keyPackage(alice, kpt.Options{}), keyPackage(alice, kpt.Options{})
		three := keyPackage(alice, kpt.Options{Suite: suite3, Extensions: []mls.ExtensionType{0xf001}})
		lastResort := keyPackage(alice, kpt.Options{LastResort: true})
		res := alice.MustDo(t, http.MethodPost, keysUploadPath, client.WithJSON(map[string]any{
			"device_keys": signedDeviceKeys(t, alice, nil),
			"one_time_keys": map[string]any{
				"mls:one1": mlsKey(one1), "mls:one2": mlsKey(one2), "mls:three": mlsKey(three),
				"mls:last": mlsKey(lastResort), "signed_curve25519:AAAAAQ": olmKey(1),
			},
		}))
		must.MatchJSON(t, res,
			match.JSONKeyEqual("one_time_key_counts.mls", 3),
			match.JSONKeyEqual("one_time_key_counts.signed_curve25519", 1))
		// Dendrite counts keys on incremental syncs only; the keyserver's
		// middleware counts them on the initial one.
		for _, sync := range []string{"initial", "incremental"} {
			t.Logf("%s sync", sync)
			must.MatchJSON(t, alice.MustSync(t, client.SyncOptions{}),
				match.JSONKeyEqual("device_one_time_keys_count.mls", 3),
				match.JSONKeyEqual("device_one_time_keys_count.signed_curve25519", 1),
				match.JSONKeyEqual("device_unused_fallback_key_types", []string{"mls"}))
		}
		// Dendrite's own device keys store got the device keys.
		query := carol.MustDo(t, http.MethodPost, []string{"_matrix", "client", "v3", "keys", "query"},
			client.WithJSON(map[string]any{"device_keys": map[string]any{alice.UserID: []string{}}}))
		must.MatchJSON(t, query, match.JSONKeyPresent("device_keys."+gjson.Escape(alice.UserID)+"."+alice.DeviceID+".keys"))
		dave.MustDo(t, http.MethodPost, keysUploadPath, client.WithJSON(map[string]any{
			"one_time_keys": map[string]any{"signed_curve25519:AAAAAg": olmKey(2)},
		}))

		// Wrong suite, or a capability the suite-1 packages lack: none.
		wantNoMLSClaimed(t, carol, alice, mlsClaim(suite2Name))
		wantNoMLSClaimed(t, carol, alice, map[string]any{
			"acceptable_ciphersuites": []string{suite1Name},
			"required_capabilities":   requiredCapabilities(0xf001),
		})

		// Suite 1, with an Olm claim for dave in the same request.
		res = mustClaim(t, carol, claimBody(map[string]map[string]string{
			alice.UserID: {alice.DeviceID: "mls"},
			dave.UserID:  {dave.DeviceID: "signed_curve25519"},
		}, mlsClaim(suite1Name)))
		must.MatchJSON(t, res, match.JSONKeyPresent("one_time_keys."+gjson.Escape(dave.UserID)+"."+dave.DeviceID+".signed_curve25519:AAAAAg"))
		first, firstKey, ok := claimedMLS(t, res, alice.UserID, alice.DeviceID)
		if !ok {
			t.Fatalf("no KeyPackage in %s", res.Raw)
		}
		second, secondKey := mustClaimMLS(t, carol, alice, mlsClaim(suite1Name))
		mustNotFallback(t, firstKey)
		mustNotFallback(t, secondKey)
		if first == second || keyOf(firstKey) == keyOf(secondKey) {
			t.Fatalf("the same KeyPackage was claimed twice: %s", first)
		}
		for keyID, key := range map[string]string{first: keyOf(firstKey), second: keyOf(secondKey)} {
			if want := map[string]string{"mls:one1": one1, "mls:one2": one2}[keyID]; key != want {
				t.Fatalf("claimed %s = %.40s..., not what was uploaded under that id", keyID, key)
			}
		}
		wantMLSCount(t, alice, 1)

		// Suite 1 is exhausted: the last-resort one, again and again.
		for range 2 {
			keyID, key := mustClaimMLS(t, carol, alice, mlsClaim(suite1Name))
			if keyID != "mls:last" || keyOf(key) != lastResort || !key.Get("fallback").Bool() {
				t.Fatalf("claimed %s %s, want the last-resort KeyPackage marked fallback", keyID, key.Raw)
			}
		}

		// Over federation: suite 3 with the capability it has, then nothing
		// more of suite 3, then suite 1's last-resort one.
		keyID, key := mustClaimMLS(t, bob, alice, map[string]any{
			"acceptable_ciphersuites": []string{suite3Name},
			"required_capabilities":   requiredCapabilities(0xf001),
		})
		if keyID != "mls:three" || keyOf(key) != three {
			t.Fatalf("claimed %s over federation, want mls:three", keyID)
		}
		wantNoMLSClaimed(t, bob, alice, mlsClaim(suite3Name))
		keyID, key = mustClaimMLS(t, bob, alice, mlsClaim(suite3Name, suite1Name))
		if keyID != "mls:last" || !key.Get("fallback").Bool() {
			t.Fatalf("claimed %s over federation, want the last-resort KeyPackage", keyID)
		}
		wantMLSCount(t, alice, 0)
		must.MatchJSON(t, alice.MustSync(t, client.SyncOptions{}),
			match.JSONKeyEqual("device_one_time_keys_count.mls", 0),
			match.JSONKeyEqual("device_unused_fallback_key_types", []string{"mls"}))
	})
}

// Every malformed upload is refused with 400 and stores nothing: not its
// valid KeyPackages, Olm keys or device keys either. A key id without a
// colon, which crashes stock Dendrite, leaves the server serving. Bad
// claims, from clients and from servers, are refused too.
func TestKeyServerRejectsBadInput(t *testing.T) {
	harness.ForEachDatabase(t, func(t *testing.T, db harness.DB) {
		d := harness.Deploy(t, db, 2)
		a, b := d.Servers[0], d.Servers[1]
		alice := a.MustRegisterUser(t, "alice")
		bob := b.MustRegisterUser(t, "bob")
		alice.MustDo(t, http.MethodPost, keysUploadPath, client.WithJSON(map[string]any{
			"one_time_keys": map[string]any{"mls:base": mlsKey(keyPackage(alice, kpt.Options{})), "signed_curve25519:AAAAAQ": olmKey(1)},
		}))
		now := time.Now()
		valid := mlsKey(keyPackage(alice, kpt.Options{}))
		for name, otks := range map[string]map[string]any{
			"mls id without colon":   {"mls": valid},
			"olm id without colon":   {"signed_curve25519AAAA": olmKey(2)},
			"empty key id part":      {"mls:": valid},
			"two colons":             {"mls:a:b": valid},
			"empty algorithm":        {":abc": valid},
			"bad characters":         {"mls:a b": valid},
			"string, not object":     {"mls:s": keyPackage(alice, kpt.Options{})},
			"object without key":     {"mls:n": map[string]any{"value": "x"}},
			"not base64":             {"mls:b": mlsKey("!!!")},
			"base64 with padding":    {"mls:p": mlsKey(keyPackage(alice, kpt.Options{}) + "=")},
			"bare KeyPackage":        {"mls:bare": mlsKey(b64(codec.Marshal(kpt.Build(alice.UserID, alice.DeviceID, kpt.Options{}))))},
			"other device's":         {"mls:o": mlsKey(b64(kpt.New(alice.UserID, "OTHER", kpt.Options{})))},
			"other user's":           {"mls:u": mlsKey(b64(kpt.New(bob.UserID, alice.DeviceID, kpt.Options{})))},
			"expired":                {"mls:e": mlsKey(keyPackage(alice, kpt.Options{NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-time.Hour)}))},
			"lifetime too long":      {"mls:l": mlsKey(keyPackage(alice, kpt.Options{NotAfter: now.Add(200 * 24 * time.Hour)}))},
			"bad signature":          {"mls:s": mlsKey(keyPackage(alice, kpt.Options{BreakSignature: true}))},
			"bad leaf signature":     {"mls:s": mlsKey(keyPackage(alice, kpt.Options{BreakLeafSignature: true}))},
			"valid with an invalid":  {"mls:good": valid, "mls:bad": mlsKey(keyPackage(alice, kpt.Options{BreakSignature: true}))},
			"olm with an invalid":    {"signed_curve25519:AAAAAg": olmKey(2), "mls:bad": mlsKey("AAAA")},
			"conflicting re-upload":  {"mls:base": valid},
			"unsupported cipher":     {"mls:c": mlsKey(keyPackage(alice, kpt.Options{Suite: 0x7a7a}))},
			"source not key_package": {"mls:k": mlsKey(keyPackage(alice, kpt.Options{Edit: func(kp *mls.KeyPackage) { kp.LeafNode.Source = mls.LeafNodeSourceUpdate }}))},
		} {
			res := uploadKeys(t, alice, map[string]any{"one_time_keys": otks})
			if res.StatusCode != http.StatusBadRequest {
				t.Errorf("%s: HTTP %d, want 400", name, res.StatusCode)
				continue
			}
			must.MatchJSON(t, must.ParseJSON(t, res), match.JSONKeyEqual("errcode", "M_INVALID_PARAM"))
		}
		for name, body := range map[string]map[string]any{
			"fallback key id without colon": {"fallback_keys": map[string]any{"signed_curve25519": olmKey(3)}},
			"device keys of another user": {"device_keys": signedDeviceKeys(t, alice, func(dk map[string]any) { dk["user_id"] = bob.UserID }),
				"one_time_keys": map[string]any{"mls:x": valid}},
			"unsigned device keys": {"device_keys": json.RawMessage(strings.Replace(string(signedDeviceKeys(t, alice, nil)), `"signatures"`, `"signaturez"`, 1)),
				"one_time_keys": map[string]any{"mls:x": valid}},
			"tampered device keys":      {"device_keys": json.RawMessage(strings.Replace(string(signedDeviceKeys(t, alice, nil)), "megolm", "mEgolm", 1))},
			"device keys not an object": {"device_keys": []string{"x"}},
		} {
			res := uploadKeys(t, alice, body)
			if res.StatusCode != http.StatusBadRequest {
				t.Errorf("%s: HTTP %d, want 400", name, res.StatusCode)
				continue
			}
			matchInvalidParam(t, res)
		}
		must.MatchResponse(t, alice.Do(t, http.MethodPost, keysUploadPath, client.WithBody("application/json", []byte(`{"one_time_keys": {`))),
			match.MatrixError(http.StatusBadRequest, "M_BAD_JSON"))

		// Nothing of the refused uploads was stored, and the server serves.
		if !a.Running() {
			t.Fatal("the server stopped")
		}
		counts := oneTimeKeyCounts(t, alice)
		if counts.Get("mls").Int() != 1 || counts.Get("signed_curve25519").Int() != 1 {
			t.Fatalf("counts after refused uploads: %s", counts.Raw)
		}
		query := bob.MustDo(t, http.MethodPost, []string{"_matrix", "client", "v3", "keys", "query"},
			client.WithJSON(map[string]any{"device_keys": map[string]any{alice.UserID: []string{}}}))
		must.MatchJSON(t, query, match.JSONKeyMissing("device_keys."+gjson.Escape(alice.UserID)+"."+alice.DeviceID))

		// Bad claims.
		target := map[string]map[string]string{alice.UserID: {alice.DeviceID: "mls"}}
		for name, body := range map[string]map[string]any{
			"unknown suite name":       claimBody(target, mlsClaim("MLS_999_NOPE")),
			"other protocol version":   claimBody(target, map[string]any{"protocol_version": "mls11"}),
			"required caps not base64": claimBody(target, map[string]any{"required_capabilities": "!!"}),
			"required caps not caps":   claimBody(target, map[string]any{"required_capabilities": b64([]byte{0xff})}),
			"bad algorithm":            claimBody(map[string]map[string]string{alice.UserID: {alice.DeviceID: "a b"}}, nil),
			"not a user id":            claimBody(map[string]map[string]string{"alice": {alice.DeviceID: "mls"}}, nil),
			"empty device id":          claimBody(map[string]map[string]string{alice.UserID: {"": "mls"}}, nil),
			"negative timeout":         {"one_time_keys": target, "timeout": -1},
		} {
			res := bob.Do(t, http.MethodPost, keysClaimPath, client.WithJSON(body))
			if res.StatusCode != http.StatusBadRequest {
				t.Errorf("claim with %s: HTTP %d, want 400", name, res.StatusCode)
			}
		}

		// Bad claims from another server (signed as b), and an unsigned one.
		fedClaim := func(body map[string]any) *http.Response {
			return federationRequest(t, b, a, http.MethodPost, "/_matrix/federation/v1/user/keys/claim", body)
		}
		matchInvalidParam(t, fedClaim(map[string]any{"one_time_keys": map[string]map[string]string{alice.UserID: {alice.DeviceID: "a:b"}}}))
		matchInvalidParam(t, fedClaim(map[string]any{"one_time_keys": target, "mls": mlsClaim("MLS_999_NOPE")}))
		unsigned, err := insecureHTTPS().Post(a.FederationURL+"/_matrix/federation/v1/user/keys/claim", "application/json",
			strings.NewReader(`{"one_time_keys": {}}`))
		must.NotError(t, "unsigned federation request", err)
		unsigned.Body.Close() // nolint: errcheck
		must.Equal(t, "status of an unsigned federation claim", unsigned.StatusCode, http.StatusUnauthorized)
		// A good one is served, and the KeyPackage is gone afterwards.
		res := fedClaim(map[string]any{"one_time_keys": target, "mls": mlsClaim(suite1Name)})
		body := must.MatchResponse(t, res, match.HTTPResponse{StatusCode: http.StatusOK})
		if _, _, ok := claimedMLS(t, gjson.ParseBytes(body), alice.UserID, alice.DeviceID); !ok {
			t.Fatalf("federation claim got no KeyPackage: %s", body)
		}
		wantMLSCount(t, alice, 0)
	})
}

// federationRequest sends a request signed with from's signing key to to's
// federation listener.
func federationRequest(t *testing.T, from, to *harness.Server, method, path string, body any) *http.Response {
	t.Helper()
	keyID, key, err := config.LoadMatrixKey(string(from.Config.Global.PrivateKeyPath), os.ReadFile)
	must.NotError(t, "loading the signing key", err)
	req := fclient.NewFederationRequest(method, from.Name, to.Name, path)
	must.NotError(t, "request content", req.SetContent(body))
	must.NotError(t, "signing", req.Sign(from.Name, keyID, key))
	httpReq, err := req.HTTPRequest()
	must.NotError(t, "building the request", err)
	target, err := url.Parse(to.FederationURL)
	must.NotError(t, "federation URL", err)
	httpReq.URL.Scheme, httpReq.URL.Host = target.Scheme, target.Host
	res, err := insecureHTTPS().Do(httpReq)
	must.NotError(t, "federation request", err)
	t.Cleanup(func() { res.Body.Close() }) // nolint: errcheck
	return res
}

// insecureHTTPS is a client for the servers' TLS listeners, whose
// certificates come from a per-deployment authority.
func insecureHTTPS() *http.Client {
	return &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, // nolint: gosec
	}
}

// 64 clients claim at once from one device with 1,000 KeyPackages: each is
// handed out once, and then only the last-resort one.
func TestKeyServerConcurrentClaims(t *testing.T) {
	const packages, claimers = 1000, 64
	harness.ForEachDatabase(t, func(t *testing.T, db harness.DB) {
		hs := harness.Deploy(t, db, 1).Servers[0]
		alice := hs.MustRegisterUser(t, "alice")
		carol := hs.MustRegisterUser(t, "carol")
		for batch := range packages / 250 {
			keys := map[string]any{}
			for i := range 250 {
				keys[fmt.Sprintf("mls:k%04d", batch*250+i)] = mlsKey(keyPackage(alice, kpt.Options{}))
			}
			alice.MustDo(t, http.MethodPost, keysUploadPath, client.WithJSON(map[string]any{"one_time_keys": keys}))
		}
		alice.MustDo(t, http.MethodPost, keysUploadPath, client.WithJSON(map[string]any{
			"one_time_keys": map[string]any{"mls:last": mlsKey(keyPackage(alice, kpt.Options{LastResort: true}))},
		}))
		wantMLSCount(t, alice, packages)

		body, err := json.Marshal(claimBody(map[string]map[string]string{alice.UserID: {alice.DeviceID: "mls"}}, nil))
		must.NotError(t, "claim body", err)
		kpt.ClaimConcurrently(t, claimers, packages, func() (string, bool, error) {
			keyID, err := claimOnce(carol, body, alice)
			return keyID, keyID == "mls:last", err
		})
		keyID, _ := mustClaimMLS(t, carol, alice, nil)
		must.Equal(t, "key claimed after the others", keyID, "mls:last")
		wantMLSCount(t, alice, 0)
	})
}

// claimOnce claims a KeyPackage of target's device over c's connection,
// without failing the test from a goroutine.
func claimOnce(c *client.Client, body []byte, target *client.Client) (string, error) {
	req, err := http.NewRequest(http.MethodPost, c.BaseURL+"/_matrix/client/v3/keys/claim", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+c.AccessToken)
	res, err := c.HTTP.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close() // nolint: errcheck
	raw, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		return "", fmt.Errorf("claim: HTTP %d %s %v", res.StatusCode, raw, err)
	}
	keys := gjson.GetBytes(raw, "one_time_keys."+gjson.Escape(target.UserID)+"."+gjson.Escape(target.DeviceID)).Map()
	if len(keys) != 1 {
		return "", fmt.Errorf("claim: %d keys in %s", len(keys), raw)
	}
	for keyID := range keys {
		return keyID, nil
	}
	return "", nil
}

// KeyPackages are not handed out once expired, nor after their device is
// logged out; a claim from a server that does not answer ends with the
// claim's timeout and names the server in failures.
func TestKeyServerExpiryLogoutAndTimeout(t *testing.T) {
	harness.ForEachDatabase(t, func(t *testing.T, db harness.DB) {
		hs := harness.Deploy(t, db, 1).Servers[0]
		alice := hs.MustRegisterUser(t, "alice")
		carol := hs.MustRegisterUser(t, "carol")

		expiry := time.Now().Add(2 * time.Second)
		alice.MustDo(t, http.MethodPost, keysUploadPath, client.WithJSON(map[string]any{
			"one_time_keys": map[string]any{
				"mls:short": mlsKey(keyPackage(alice, kpt.Options{NotAfter: expiry})),
				"mls:lr":    mlsKey(keyPackage(alice, kpt.Options{NotAfter: expiry, LastResort: true})),
			},
		}))
		wantMLSCount(t, alice, 1)
		time.Sleep(time.Until(expiry.Truncate(time.Second).Add(1100 * time.Millisecond)))
		wantMLSCount(t, alice, 0)
		wantNoMLSClaimed(t, carol, alice, nil)

		alice2 := hs.Client().MustLogin(t, "alice", harness.Password)
		alice2.MustDo(t, http.MethodPost, keysUploadPath, client.WithJSON(map[string]any{
			"one_time_keys": map[string]any{"mls:a2": mlsKey(keyPackage(alice2, kpt.Options{LastResort: true}))},
		}))
		alice2.MustDo(t, http.MethodPost, []string{"_matrix", "client", "v3", "logout"}, client.WithJSON(map[string]any{}))
		wantNoMLSClaimed(t, carol, alice2, nil)

		// A "server" that accepts connections and never answers.
		silent, err := net.Listen("tcp", "127.0.0.1:0")
		must.NotError(t, "listening", err)
		var conns []net.Conn
		accepted := make(chan struct{})
		go func() {
			defer close(accepted)
			for {
				conn, err := silent.Accept()
				if err != nil {
					return
				}
				conns = append(conns, conn)
			}
		}()
		t.Cleanup(func() {
			silent.Close() // nolint: errcheck
			<-accepted
			for _, conn := range conns {
				conn.Close() // nolint: errcheck
			}
		})
		silentServer := silent.Addr().String()
		start := time.Now()
		res := mustClaim(t, carol, map[string]any{
			"one_time_keys": map[string]map[string]string{"@x:" + silentServer: {"DEV": "mls"}},
			"timeout":       1500,
		})
		if took := time.Since(start); took > 10*time.Second {
			t.Fatalf("the claim took %s despite a 1.5 s timeout", took)
		}
		must.MatchJSON(t, res, match.JSONKeyPresent("failures."+gjson.Escape(silentServer)))
	})
}
