// Package devicekeys makes a device's Matrix identity keys (Ed25519 and
// Curve25519) and the signed device_keys object published through
// /keys/upload.
package devicekeys

import (
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/matrix-org/gomatrixserverlib"
)

// Algorithm is the encryption algorithm the device announces.
const Algorithm = "m.mls.10"

// Keys are a device's private identity keys. They are stored as they are
// (in the client's encrypted store).
type Keys struct {
	Ed25519Seed       []byte `json:"ed25519_seed"`
	Curve25519Private []byte `json:"curve25519_private"`
}

// Generate makes new identity keys.
func Generate() (*Keys, error) {
	seed := make([]byte, ed25519.SeedSize)
	if _, err := rand.Read(seed); err != nil {
		return nil, err
	}
	curve, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	return &Keys{Ed25519Seed: seed, Curve25519Private: curve.Bytes()}, nil
}

// Ed25519 returns the public signing key, unpadded base64 as Matrix
// publishes it.
func (k *Keys) Ed25519() (string, error) {
	if len(k.Ed25519Seed) != ed25519.SeedSize {
		return "", fmt.Errorf("devicekeys: Ed25519 seed of %d bytes, want %d", len(k.Ed25519Seed), ed25519.SeedSize)
	}
	pub := ed25519.NewKeyFromSeed(k.Ed25519Seed).Public().(ed25519.PublicKey)
	return base64.RawStdEncoding.EncodeToString(pub), nil
}

// Curve25519 returns the public key-agreement key, unpadded base64.
func (k *Keys) Curve25519() (string, error) {
	priv, err := ecdh.X25519().NewPrivateKey(k.Curve25519Private)
	if err != nil {
		return "", fmt.Errorf("devicekeys: Curve25519 key: %w", err)
	}
	return base64.RawStdEncoding.EncodeToString(priv.PublicKey().Bytes()), nil
}

// DeviceKeys returns the device_keys object of device deviceID of userID,
// signed with the Ed25519 key over its canonical JSON.
func (k *Keys) DeviceKeys(userID, deviceID string) (json.RawMessage, error) {
	ed, err := k.Ed25519()
	if err != nil {
		return nil, err
	}
	curve, err := k.Curve25519()
	if err != nil {
		return nil, err
	}
	unsigned, err := json.Marshal(map[string]any{
		"user_id":    userID,
		"device_id":  deviceID,
		"algorithms": []string{Algorithm},
		"keys": map[string]string{
			"ed25519:" + deviceID:    ed,
			"curve25519:" + deviceID: curve,
		},
	})
	if err != nil {
		return nil, err
	}
	keyID := gomatrixserverlib.KeyID("ed25519:" + deviceID)
	return gomatrixserverlib.SignJSON(userID, keyID, ed25519.NewKeyFromSeed(k.Ed25519Seed), unsigned)
}

// Verify checks the signature of userID's device deviceID over its
// device_keys object deviceKeys with the Ed25519 key the object names.
func Verify(deviceKeys json.RawMessage, userID, deviceID string) error {
	var dk struct {
		UserID   string            `json:"user_id"`
		DeviceID string            `json:"device_id"`
		Keys     map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(deviceKeys, &dk); err != nil {
		return fmt.Errorf("devicekeys: %w", err)
	}
	if dk.UserID != userID || dk.DeviceID != deviceID {
		return fmt.Errorf("devicekeys: keys of %s %s, want %s %s", dk.UserID, dk.DeviceID, userID, deviceID)
	}
	keyID := "ed25519:" + deviceID
	pub, err := base64.RawStdEncoding.DecodeString(dk.Keys[keyID])
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("devicekeys: no valid %s key", keyID)
	}
	return gomatrixserverlib.VerifyJSON(userID, gomatrixserverlib.KeyID(keyID), pub, deviceKeys)
}
