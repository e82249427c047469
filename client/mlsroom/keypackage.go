package mlsroom

import (
	"bytes"
	"encoding/hex"
	"fmt"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/group"
)

// KeyPackage is a KeyPackage the device made, with the private keys it
// needs to join from a Welcome for it.
type KeyPackage struct {
	// ID is the hex KeyPackageRef; the device uploads it as "mls:<ID>".
	ID string `json:"id"`
	// Message is the MLSMessage holding the KeyPackage, as uploaded.
	Message        []byte `json:"message"`
	InitPriv       []byte `json:"init_priv"`
	EncryptionPriv []byte `json:"encryption_priv"`
	LastResort     bool   `json:"last_resort,omitempty"`
}

// NewKeyPackage makes a KeyPackage of the device (a last-resort one when
// lastResort is set).
func (id *Identity) NewKeyPackage(lastResort bool) (*KeyPackage, error) {
	suite, err := id.suite()
	if err != nil {
		return nil, err
	}
	signer, err := suite.NewSigner(id.SignaturePriv)
	if err != nil {
		return nil, err
	}
	b, err := group.NewKeyPackage(suite, id.member().Credential, signer, group.KeyPackageOptions{LastResort: lastResort})
	if err != nil {
		return nil, err
	}
	ref, err := b.Ref()
	if err != nil {
		return nil, err
	}
	return &KeyPackage{
		ID:             hex.EncodeToString(ref),
		Message:        codec.Marshal(mls.NewKeyPackage(b.KeyPackage)),
		InitPriv:       b.InitPriv,
		EncryptionPriv: b.EncryptionPriv,
		LastResort:     lastResort,
	}, nil
}

func (k *KeyPackage) bundle() (*group.KeyPackageBundle, error) {
	kp, err := decodeKeyPackage(k.Message)
	if err != nil {
		return nil, err
	}
	return &group.KeyPackageBundle{KeyPackage: kp, InitPriv: k.InitPriv, EncryptionPriv: k.EncryptionPriv}, nil
}

// decodeKeyPackage reads an MLSMessage holding a KeyPackage.
func decodeKeyPackage(message []byte) (*mls.KeyPackage, error) {
	var m mls.MLSMessage
	if err := codec.Unmarshal(message, &m); err != nil {
		return nil, fmt.Errorf("mlsroom: not an MLSMessage: %w", err)
	}
	if m.WireFormat != mls.WireFormatKeyPackage {
		return nil, fmt.Errorf("mlsroom: a %v, not a KeyPackage", m.WireFormat)
	}
	return m.KeyPackage, nil
}

// ClaimedKeyPackage checks a KeyPackage claimed for device: it must decode
// and name that device. (Its signatures and lifetime are checked when a
// commit adds it.)
func ClaimedKeyPackage(message []byte, device Device) error {
	kp, err := decodeKeyPackage(message)
	if err != nil {
		return err
	}
	if !bytes.Equal(kp.LeafNode.Credential.Identity, device.credentialIdentity()) {
		return fmt.Errorf("mlsroom: the KeyPackage claimed for %s names %q", device, kp.LeafNode.Credential.Identity)
	}
	return nil
}
