package devicekeys

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/matrix-org/dendrite/msc4244/keyserver/validate"
)

func TestDeviceKeysAreSignedAndPassTheServersChecks(t *testing.T) {
	k, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	dk, err := k.DeviceKeys("@alice:hs", "DEV")
	if err != nil {
		t.Fatal(err)
	}
	if err = Verify(dk, "@alice:hs", "DEV"); err != nil {
		t.Fatalf("own signature: %v", err)
	}
	if err = validate.DeviceKeys(dk, "@alice:hs", "DEV"); err != nil {
		t.Fatalf("the keyserver refuses our device keys: %v", err)
	}
	if err = Verify(dk, "@alice:hs", "OTHER"); err == nil {
		t.Fatal("keys of DEV verified as keys of OTHER")
	}

	// Any change of a signed field breaks the signature.
	var obj map[string]any
	if err = json.Unmarshal(dk, &obj); err != nil {
		t.Fatal(err)
	}
	obj["algorithms"] = []string{"m.olm.v1.curve25519-aes-sha2"}
	tampered, _ := json.Marshal(obj)
	if err = Verify(tampered, "@alice:hs", "DEV"); err == nil {
		t.Fatal("tampered device keys verified")
	}

	// The keys survive a JSON round trip (the store keeps them so).
	stored, _ := json.Marshal(k)
	var again Keys
	if err = json.Unmarshal(stored, &again); err != nil {
		t.Fatal(err)
	}
	a, _ := k.Ed25519()
	b, _ := again.Ed25519()
	if a != b || !strings.Contains(string(dk), a) {
		t.Fatalf("Ed25519 key %q after a round trip, %q before; device keys %s", b, a, dk)
	}
}

func TestBrokenKeysGiveErrors(t *testing.T) {
	broken := &Keys{Ed25519Seed: []byte{1, 2}, Curve25519Private: make([]byte, 3)}
	if _, err := broken.DeviceKeys("@a:hs", "D"); err == nil {
		t.Fatal("device keys from a 2-byte seed")
	}
	if err := Verify(json.RawMessage(`{"user_id":"@a:hs","device_id":"D","keys":{}}`), "@a:hs", "D"); err == nil {
		t.Fatal("verified without a key")
	}
	if err := Verify(json.RawMessage(`[`), "@a:hs", "D"); err == nil {
		t.Fatal("verified malformed JSON")
	}
}
