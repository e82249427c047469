// Package mlsroom is the MLS side of the client: a device's MLS identity
// and KeyPackages, and for each room the device's member view of the
// room's group, kept as bytes the client stores (State). It speaks no HTTP:
// the client moves its messages to and from the Delivery Service.
//
// The profile (docs/mls-profile.md) fixes: group ID = room ID, cipher suite
// 1 by default, BasicCredential "<user_id>|<device_id>", the DS in the
// external_senders extension, handshake messages as PublicMessages so the
// DS can validate them.
package mlsroom

import (
	"errors"
	"fmt"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/cipher"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/group"
	"github.com/matrix-org/dendrite/msc4244/internal/mlsidentity"
)

// DefaultSuite is the profile's default cipher suite.
const DefaultSuite = cipher.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519

// Device names a Matrix device.
type Device struct {
	UserID   string `json:"user_id"`
	DeviceID string `json:"device_id"`
}

func (d Device) String() string { return d.UserID + "/" + d.DeviceID }

// credentialIdentity is the BasicCredential identity of a device.
func (d Device) credentialIdentity() []byte { return mlsidentity.Encode(d.UserID, d.DeviceID) }

// DeviceOf returns the device a credential names.
func DeviceOf(c *mls.Credential) (Device, error) {
	user, device, err := mlsidentity.Parse(c)
	if err != nil {
		return Device{}, fmt.Errorf("mlsroom: %w", err)
	}
	return Device{UserID: user, DeviceID: device}, nil
}

// Identity is a device's MLS identity: its signature key for one cipher
// suite. It is stored as it is, in the encrypted profile.
type Identity struct {
	Device
	Suite         cipher.SuiteID `json:"suite"`
	SignaturePriv []byte         `json:"signature_priv"`
}

// NewIdentity makes a new signature key for device in suite.
func NewIdentity(device Device, suite cipher.SuiteID) (*Identity, error) {
	s, err := cipher.Lookup(suite)
	if err != nil {
		return nil, err
	}
	priv, _, err := s.GenerateSignatureKeyPair()
	if err != nil {
		return nil, err
	}
	return &Identity{Device: device, Suite: suite, SignaturePriv: priv}, nil
}

func (id *Identity) suite() (*cipher.Suite, error) { return cipher.Lookup(id.Suite) }

func (id *Identity) member() group.Identity {
	return group.Identity{
		Credential:    mlsidentity.Credential(id.UserID, id.DeviceID),
		SignaturePriv: id.SignaturePriv,
	}
}

// config is the group configuration of every room: members are told apart
// by device (the §12.2 rules on duplicate clients, the external commit's
// removal of the joiner's old leaf).
var config = &group.Config{
	ClientID: func(c *mls.Credential) string {
		d, err := DeviceOf(c)
		if err != nil {
			return "\x00" + string(c.Identity) // never equal to a device
		}
		return d.String()
	},
}

// ErrNotMember: the device is not (or no longer) in the room's group.
var ErrNotMember = errors.New("this device is not in the room's MLS group")
