// Package mlsdstest makes the MLS messages the Delivery Service's tests
// send: a device's leaf and the epoch-0 GroupInfo of a group it creates.
package mlsdstest

import (
	"crypto/rand"
	"fmt"
	"time"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/cipher"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
)

// Suite is the cipher suite of the groups made here.
const Suite = mls.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519

// Device is an MLS client device: a signature key and a leaf whose
// BasicCredential names the Matrix device.
type Device struct {
	suite   *cipher.Suite
	sigPriv []byte
	Leaf    *mls.LeafNode
}

// NewDevice makes the device deviceID of userID with fresh keys.
func NewDevice(userID, deviceID string) (*Device, error) {
	suite, err := cipher.Lookup(cipher.SuiteID(Suite))
	if err != nil {
		return nil, err
	}
	sigPriv, sigPub, err := suite.GenerateSignatureKeyPair()
	if err != nil {
		return nil, err
	}
	_, encPub, err := suite.GenerateHPKEKeyPair()
	if err != nil {
		return nil, err
	}
	now := uint64(time.Now().Unix())
	leaf := &mls.LeafNode{
		EncryptionKey: encPub,
		SignatureKey:  sigPub,
		Credential:    mls.Credential{Type: mls.CredentialBasic, Identity: []byte(userID + "|" + deviceID)},
		Capabilities: mls.Capabilities{
			Versions:     []mls.ProtocolVersion{mls.MLS10},
			CipherSuites: []mls.CipherSuite{Suite},
			Credentials:  []mls.CredentialType{mls.CredentialBasic},
		},
		Source:   mls.LeafNodeSourceKeyPackage,
		Lifetime: mls.Lifetime{NotBefore: now - 3600, NotAfter: now + 30*24*3600},
	}
	if leaf.Signature, err = suite.SignWithLabel(sigPriv, "LeafNodeTBS", codec.Marshal(leaf.TBS(nil, 0))); err != nil {
		return nil, err
	}
	return &Device{suite: suite, sigPriv: sigPriv, Leaf: leaf}, nil
}

// Genesis returns the encoded MLSMessage of the epoch-0 GroupInfo, with the
// ratchet_tree extension, of a group roomID whose only member is d and whose
// external_senders extension lists externalSender (an encoded
// ExternalSender, as the DS serves it).
func (d *Device) Genesis(roomID string, externalSender []byte) ([]byte, error) {
	var sender mls.ExternalSender
	if err := codec.Unmarshal(externalSender, &sender); err != nil {
		return nil, fmt.Errorf("external sender: %w", err)
	}
	tag := make([]byte, d.suite.HashLen())
	if _, err := rand.Read(tag); err != nil {
		return nil, err
	}
	gi := &mls.GroupInfo{
		GroupContext: mls.GroupContext{
			Version:     mls.MLS10,
			CipherSuite: Suite,
			GroupID:     []byte(roomID),
			Epoch:       0,
			TreeHash: d.suite.Hash(codec.Marshal(&mls.TreeHashInput{
				NodeType: mls.NodeTypeLeaf,
				Leaf:     mls.LeafNodeHashInput{LeafIndex: 0, LeafNode: d.Leaf},
			})),
			Extensions: mls.Extensions{mls.NewExtension(mls.ExternalSenders{sender})},
		},
		Extensions: mls.Extensions{mls.NewExtension(mls.RatchetTree{{Leaf: d.Leaf}})},
		// The confirmation tag needs the epoch's secrets, which a
		// non-member cannot check.
		ConfirmationTag: tag,
	}
	var err error
	if gi.Signature, err = d.suite.SignWithLabel(d.sigPriv, "GroupInfoTBS", codec.Marshal(gi.TBS())); err != nil {
		return nil, err
	}
	return codec.Marshal(mls.NewGroupInfo(gi)), nil
}
