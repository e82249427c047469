package internal

import (
	"crypto/sha256"
	"encoding/base64"
	"strings"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mlsidentity"
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

// deviceOf returns the Matrix device an MLS credential names.
func deviceOf(cred mls.Credential) (api.Device, error) {
	user, device, err := mlsidentity.Parse(&cred)
	return api.Device{UserID: user, DeviceID: device}, err
}
