// Package mlsidentity is the profile's MLS credential of a Matrix device: a
// BasicCredential whose identity is "<user_id>|<device_id>"
// (docs/mls-profile.md §1). The keyserver checks it in uploaded
// KeyPackages, the Delivery Service maps group members to devices with it,
// and clients put it in their leaves.
package mlsidentity

import (
	"errors"
	"fmt"
	"strings"

	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
)

// separator ends the user ID. Matrix user IDs cannot contain it, so the
// first one in an identity is the separator and device IDs may hold more.
const separator = "|"

// ErrNotDevice explains a credential that does not name a Matrix device.
var ErrNotDevice = errors.New("the credential is not a BasicCredential whose identity is <user_id>|<device_id>")

// Encode returns the credential identity of a device.
func Encode(userID, deviceID string) []byte {
	return []byte(userID + separator + deviceID)
}

// Credential returns the BasicCredential of a device.
func Credential(userID, deviceID string) mls.Credential {
	return mls.Credential{Type: mls.CredentialBasic, Identity: Encode(userID, deviceID)}
}

// Parse returns the device a credential names. The user ID must be a
// valid Matrix user ID with a localpart (the server identity "@:<server>"
// is not a device) and the device ID must not be empty.
func Parse(c *mls.Credential) (userID, deviceID string, err error) {
	if c.Type != mls.CredentialBasic {
		return "", "", fmt.Errorf("%w: it is a %v", ErrNotDevice, c.Type)
	}
	user, device, ok := strings.Cut(string(c.Identity), separator)
	if !ok || device == "" {
		return "", "", fmt.Errorf("%w: %q", ErrNotDevice, c.Identity)
	}
	id, err := spec.NewUserID(user, true)
	if err != nil {
		return "", "", fmt.Errorf("%w: %q: %v", ErrNotDevice, c.Identity, err)
	}
	if id.Local() == "" {
		return "", "", fmt.Errorf("%w: %q names a server, not a user", ErrNotDevice, c.Identity)
	}
	return user, device, nil
}
