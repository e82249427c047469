package validate

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/matrix-org/gomatrixserverlib"
)

// deviceKeys is the shape of a device_keys object (client-server API
// "DeviceKeys"). Decoding it rejects wrong JSON types.
type deviceKeys struct {
	UserID     string                       `json:"user_id"`
	DeviceID   string                       `json:"device_id"`
	Algorithms []string                     `json:"algorithms"`
	Keys       map[string]string            `json:"keys"`
	Signatures map[string]map[string]string `json:"signatures"`
}

// keySizes are the decoded sizes of the public keys whose algorithm fixes
// one; keys of other algorithms need only be unpadded base64.
var keySizes = map[string]int{"ed25519": ed25519.PublicKeySize, "curve25519": 32}

// DeviceKeys checks the device_keys a device uploads for itself: the user
// and device ids are the caller's, algorithms and keys are well formed, the
// keys include the device's ed25519 key, and the object carries a valid
// signature by that key over its canonical JSON. Other signatures (such as
// a cross-signing one) must be well formed.
func DeviceKeys(raw json.RawMessage, userID, deviceID string) error {
	if !bytes.HasPrefix(bytes.TrimSpace(raw), []byte("{")) {
		return fmt.Errorf("device_keys is not a JSON object")
	}
	var dk deviceKeys
	if err := json.Unmarshal(raw, &dk); err != nil {
		return fmt.Errorf("device_keys: %w", err)
	}
	if dk.UserID != userID {
		return fmt.Errorf("device_keys.user_id %q is not the caller %q", dk.UserID, userID)
	}
	if dk.DeviceID != deviceID {
		return fmt.Errorf("device_keys.device_id %q is not the caller's device %q", dk.DeviceID, deviceID)
	}
	if len(dk.Algorithms) == 0 {
		return fmt.Errorf("device_keys.algorithms is empty")
	}
	for _, algorithm := range dk.Algorithms {
		if err := Algorithm(algorithm); err != nil {
			return fmt.Errorf("device_keys.algorithms: %w", err)
		}
	}
	signingKeyID := "ed25519:" + deviceID
	for keyID, key := range dk.Keys {
		algorithm, owner, _ := strings.Cut(keyID, ":")
		if err := Algorithm(algorithm); err != nil {
			return fmt.Errorf("device_keys.keys %q: %w", keyID, err)
		}
		if owner != deviceID {
			return fmt.Errorf("device_keys.keys %q is not <algorithm>:%s", keyID, deviceID)
		}
		if err := unpaddedBase64(key, keySizes[algorithm]); err != nil {
			return fmt.Errorf("device_keys.keys %q: %w", keyID, err)
		}
	}
	signingKey, ok := dk.Keys[signingKeyID]
	if !ok {
		return fmt.Errorf("device_keys.keys has no %s key", signingKeyID)
	}
	for signer, signatures := range dk.Signatures {
		for keyID, signature := range signatures {
			if _, _, err := KeyID(keyID); err != nil && (signer != userID || keyID != signingKeyID) {
				return fmt.Errorf("device_keys.signatures[%q]: %w", signer, err)
			}
			if err := unpaddedBase64(signature, 0); err != nil {
				return fmt.Errorf("device_keys.signatures[%q][%q]: %w", signer, keyID, err)
			}
		}
	}
	publicKey, _ := base64.RawStdEncoding.DecodeString(signingKey)
	if err := gomatrixserverlib.VerifyJSON(userID, gomatrixserverlib.KeyID(signingKeyID), publicKey, raw); err != nil {
		return fmt.Errorf("device_keys signature by %s: %w", signingKeyID, err)
	}
	return nil
}

// unpaddedBase64 checks that s is unpadded standard base64 and, when size
// is not 0, that it decodes to size bytes.
func unpaddedBase64(s string, size int) error {
	decoded, err := base64.RawStdEncoding.Strict().DecodeString(s)
	switch {
	case err != nil || s == "":
		return fmt.Errorf("not unpadded base64")
	case size != 0 && len(decoded) != size:
		return fmt.Errorf("decodes to %d bytes, want %d", len(decoded), size)
	}
	return nil
}
