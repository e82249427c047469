package internal

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/mlsds/api"
)

// encodeBase64 encodes b as Matrix does: standard alphabet, no padding.
func encodeBase64(b []byte) string { return base64.RawStdEncoding.EncodeToString(b) }

// decodeBase64 decodes standard base64, padded or not.
func decodeBase64(s string) ([]byte, error) {
	return base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
}

// digest is the message_sha256 of a message: unpadded base64 of its SHA-256.
func digest(message []byte) string {
	sum := sha256.Sum256(message)
	return encodeBase64(sum[:])
}

// errIdentity explains a credential that does not name a Matrix device.
var errIdentity = errors.New("the credential is not a BasicCredential whose identity is <user_id>|<device_id>")

// deviceOf returns the Matrix device an MLS credential names
// (docs/mls-profile.md: BasicCredential "<user_id>|<device_id>").
func deviceOf(cred mls.Credential) (api.Device, error) {
	if cred.Type != mls.CredentialBasic {
		return api.Device{}, errIdentity
	}
	user, device, ok := strings.Cut(string(cred.Identity), "|")
	if !ok || device == "" {
		return api.Device{}, errIdentity
	}
	id, err := spec.NewUserID(user, true)
	if err != nil {
		return api.Device{}, fmt.Errorf("%w: %q: %v", errIdentity, cred.Identity, err)
	}
	if id.Local() == "" {
		return api.Device{}, fmt.Errorf("%w: %q names a server, not a user", errIdentity, cred.Identity)
	}
	return api.Device{UserID: user, DeviceID: device}, nil
}
