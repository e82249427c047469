package validate

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/matrix-org/gomatrixserverlib"
)

func TestKeyID(t *testing.T) {
	for _, tc := range []struct {
		id, algorithm, keyID string
	}{
		{"signed_curve25519:AAAAAQ", "signed_curve25519", "AAAAAQ"},
		{"mls:kp-1", "mls", "kp-1"},
		{"m.x_y-z:a+b/c=", "m.x_y-z", "a+b/c="},
	} {
		algorithm, keyID, err := KeyID(tc.id)
		if err != nil || algorithm != tc.algorithm || keyID != tc.keyID {
			t.Errorf("KeyID(%q) = %q, %q, %v; want %q, %q", tc.id, algorithm, keyID, err, tc.algorithm, tc.keyID)
		}
	}
	for _, id := range []string{
		"", "mls", "signed_curve25519AAAA", ":AAAA", "mls:", "mls:a:b", "ml s:a", "mls:a b",
		"mls:a\x00", "mlś:a", "mls:" + strings.Repeat("a", 256), strings.Repeat("a", 129) + ":a",
	} {
		if _, _, err := KeyID(id); err == nil {
			t.Errorf("KeyID(%q) accepted", id)
		}
	}
}

func FuzzKeyID(f *testing.F) {
	f.Fuzz(func(t *testing.T, id string) {
		algorithm, keyID, err := KeyID(id)
		if err == nil && (algorithm+":"+keyID != id || strings.Count(id, ":") != 1 || keyID == "" || algorithm == "") {
			t.Fatalf("KeyID(%q) accepted it as %q, %q", id, algorithm, keyID)
		}
	})
}

const (
	user   = "@alice:test"
	device = "DEV1"
)

// signedDeviceKeys returns device keys of user's device, edited by edit
// before they are signed with the device's key.
func signedDeviceKeys(t testing.TB, edit func(map[string]any)) json.RawMessage {
	t.Helper()
	public, private, _ := ed25519.GenerateKey(nil)
	dk := map[string]any{
		"user_id":    user,
		"device_id":  device,
		"algorithms": []string{"m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"},
		"keys": map[string]string{
			"ed25519:" + device:    base64.RawStdEncoding.EncodeToString(public),
			"curve25519:" + device: base64.RawStdEncoding.EncodeToString(make([]byte, 32)),
		},
	}
	if edit != nil {
		edit(dk)
	}
	unsigned, _ := json.Marshal(dk)
	signed, err := gomatrixserverlib.SignJSON(user, gomatrixserverlib.KeyID("ed25519:"+device), private, unsigned)
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

func TestDeviceKeys(t *testing.T) {
	if err := DeviceKeys(signedDeviceKeys(t, nil), user, device); err != nil {
		t.Fatalf("valid device keys rejected: %v", err)
	}
	otherSigner := base64.RawStdEncoding.EncodeToString(make([]byte, 32))
	withCrossSigning := signedDeviceKeys(t, func(dk map[string]any) {
		dk["signatures"] = map[string]map[string]string{user: {"ed25519:" + otherSigner: base64.RawStdEncoding.EncodeToString(make([]byte, 64))}}
	})
	if err := DeviceKeys(withCrossSigning, user, device); err != nil {
		t.Fatalf("device keys with a cross-signing signature rejected: %v", err)
	}

	tampered := strings.Replace(string(signedDeviceKeys(t, nil)), "megolm", "mEgolm", 1)
	for name, raw := range map[string]json.RawMessage{
		"not an object":   json.RawMessage(`["x"]`),
		"wrong type":      signedDeviceKeys(t, func(dk map[string]any) { dk["algorithms"] = "x" }),
		"other user":      signedDeviceKeys(t, func(dk map[string]any) { dk["user_id"] = "@bob:test" }),
		"other device":    signedDeviceKeys(t, func(dk map[string]any) { dk["device_id"] = "DEV2" }),
		"no algorithms":   signedDeviceKeys(t, func(dk map[string]any) { dk["algorithms"] = []string{} }),
		"bad algorithm":   signedDeviceKeys(t, func(dk map[string]any) { dk["algorithms"] = []string{"a b"} }),
		"key of other id": signedDeviceKeys(t, func(dk map[string]any) { dk["keys"].(map[string]string)["curve25519:DEV2"] = "AAAA" }),
		"key no colon":    signedDeviceKeys(t, func(dk map[string]any) { dk["keys"].(map[string]string)["curve25519"] = "AAAA" }),
		"short key":       signedDeviceKeys(t, func(dk map[string]any) { dk["keys"].(map[string]string)["curve25519:"+device] = "AAAA" }),
		"padded key":      signedDeviceKeys(t, func(dk map[string]any) { dk["keys"].(map[string]string)["x:"+device] = "AA==" }),
		"no ed25519 key":  signedDeviceKeys(t, func(dk map[string]any) { delete(dk["keys"].(map[string]string), "ed25519:"+device) }),
		"bad other signature": signedDeviceKeys(t, func(dk map[string]any) {
			dk["signatures"] = map[string]map[string]string{"@bob:test": {"ed25519": "AAAA"}}
		}),
		"tampered":  json.RawMessage(tampered),
		"unsigned":  json.RawMessage(strings.Replace(string(signedDeviceKeys(t, nil)), `"signatures"`, `"signaturez"`, 1)),
		"wrong key": signedDeviceKeys(t, func(dk map[string]any) { dk["keys"].(map[string]string)["ed25519:"+device] = otherSigner }),
	} {
		if err := DeviceKeys(raw, user, device); err == nil {
			t.Errorf("%s: accepted %s", name, raw)
		}
	}
}

func FuzzDeviceKeys(f *testing.F) {
	f.Add([]byte(signedDeviceKeys(f, nil)))
	f.Fuzz(func(t *testing.T, raw []byte) {
		if DeviceKeys(raw, user, device) == nil && !json.Valid(raw) {
			t.Fatalf("accepted invalid JSON %q", raw)
		}
	})
}
