// Package keypackage checks the KeyPackages devices upload (RFC 9420 §10.1)
// against this profile (docs/keyserver.md) before the keyserver stores them.
package keypackage

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
	"github.com/matrix-org/dendrite/msc4244/internal/mlsidentity"

	"github.com/matrix-org/dendrite/msc4244/keyserver/api"
)

// Limits of this profile.
const (
	// MaxSize bounds an encoded KeyPackage. Classical suites need well
	// under 1 KiB; the margin leaves room for post-quantum keys.
	MaxSize = 64 << 10
	// MaxLifetime bounds not_after - not_before: RFC 9420 §7.2 has each
	// application fix a maximum. It covers common client defaults (about
	// three months) with room to spare.
	MaxLifetime = 100 * 24 * time.Hour
	// ClockSkew is how far in the future not_before may be, for clients
	// whose clock runs ahead of the server's.
	ClockSkew = 5 * time.Minute
)

// LastResortExtension is the KeyPackage extension type last_resort
// (0x000A, draft-ietf-mls-extensions): the KeyPackage may be used more than
// once, when no other is left.
const LastResortExtension mls.ExtensionType = 0x000a

// Parse decodes an uploaded KeyPackage and checks it for the device
// deviceID of userID at time now. data is an MLSMessage (RFC 9420 §6) whose
// wire_format is mls_key_package. The checks, in order:
//   - protocol version mls10, in the message and the KeyPackage;
//   - a cipher suite this server supports;
//   - leaf_node_source key_package, and a lifetime that holds now (with
//     ClockSkew for not_before) and spans at most MaxLifetime;
//   - a BasicCredential whose identity is "<userID>|<deviceID>";
//   - capabilities that list mls10, the KeyPackage's suite and the basic
//     credential type, and every non-default extension the leaf carries
//     (RFC 9420 §7.2);
//   - init_key different from the leaf's encryption_key (§10.1);
//   - init_key, encryption_key and signature_key are keys of the suite;
//   - valid signatures: the leaf's over LeafNodeTBS (§7.2) and the
//     KeyPackage's over KeyPackageTBS (§10), both by the leaf's signature
//     key.
//
// The error says which check failed.
func Parse(data []byte, userID, deviceID string, now time.Time) (*api.KeyPackage, error) {
	if len(data) > MaxSize {
		return nil, fmt.Errorf("KeyPackage is %d bytes, more than %d", len(data), MaxSize)
	}
	var msg mls.MLSMessage
	if err := codec.Unmarshal(data, &msg); err != nil {
		return nil, fmt.Errorf("not an MLSMessage: %w", err)
	}
	if msg.WireFormat != mls.WireFormatKeyPackage {
		return nil, fmt.Errorf("MLSMessage has wire_format %v, not mls_key_package", msg.WireFormat)
	}
	kp := msg.KeyPackage
	leaf := &kp.LeafNode
	if kp.Version != mls.MLS10 {
		return nil, fmt.Errorf("KeyPackage version is %v, not mls10", kp.Version)
	}
	suite, err := lookupSuite(kp.CipherSuite)
	if err != nil {
		return nil, err
	}
	if leaf.Source != mls.LeafNodeSourceKeyPackage {
		return nil, fmt.Errorf("leaf_node_source is %v, not key_package", leaf.Source)
	}
	if err = checkLifetime(leaf.Lifetime, now); err != nil {
		return nil, err
	}
	if err = checkCredential(leaf.Credential, userID, deviceID); err != nil {
		return nil, err
	}
	if err = checkCapabilities(leaf, kp.CipherSuite); err != nil {
		return nil, err
	}
	if bytes.Equal(kp.InitKey, leaf.EncryptionKey) {
		return nil, errors.New("init_key equals the leaf's encryption_key")
	}
	if err = checkKeys(suite, kp); err != nil {
		return nil, err
	}
	return &api.KeyPackage{
		UserID:      userID,
		DeviceID:    deviceID,
		Ciphersuite: uint16(kp.CipherSuite),
		Capabilities: api.Capabilities{
			Extensions:  uint16s(leaf.Capabilities.Extensions),
			Proposals:   uint16s(leaf.Capabilities.Proposals),
			Credentials: uint16s(leaf.Capabilities.Credentials),
		},
		LastResort: kp.Extensions.Has(LastResortExtension),
		NotAfter:   time.Unix(int64(leaf.Lifetime.NotAfter), 0),
		Data:       data,
	}, nil
}

func checkLifetime(l mls.Lifetime, now time.Time) error {
	switch {
	case l.NotAfter > math.MaxInt64 || l.NotBefore > l.NotAfter:
		return fmt.Errorf("lifetime %d..%d is not a time range", l.NotBefore, l.NotAfter)
	case l.NotAfter-l.NotBefore > uint64(MaxLifetime/time.Second):
		return fmt.Errorf("lifetime %d..%d is longer than %v", l.NotBefore, l.NotAfter, MaxLifetime)
	case time.Unix(int64(l.NotBefore), 0).After(now.Add(ClockSkew)):
		return fmt.Errorf("lifetime starts at %d, in the future", l.NotBefore)
	case time.Unix(int64(l.NotAfter), 0).Before(now):
		return fmt.Errorf("lifetime ended at %d", l.NotAfter)
	}
	return nil
}

func checkCredential(c mls.Credential, userID, deviceID string) error {
	if c.Type != mls.CredentialBasic {
		return fmt.Errorf("credential type is %v, not basic", c.Type)
	}
	if want := mlsidentity.Encode(userID, deviceID); !bytes.Equal(c.Identity, want) {
		return fmt.Errorf("credential identity %q is not the uploading device %q", c.Identity, want)
	}
	return nil
}

func checkCapabilities(leaf *mls.LeafNode, suite mls.CipherSuite) error {
	caps := &leaf.Capabilities
	switch {
	case !caps.SupportsVersion(mls.MLS10):
		return errors.New("capabilities do not list version mls10")
	case !caps.SupportsCipherSuite(suite):
		return fmt.Errorf("capabilities do not list the KeyPackage's cipher suite %v", suite)
	case !caps.SupportsCredential(mls.CredentialBasic):
		return errors.New("capabilities do not list the basic credential type")
	}
	for _, ext := range leaf.Extensions {
		if !api.IsDefaultExtension(uint16(ext.Type)) && !caps.SupportsExtension(ext.Type) {
			return fmt.Errorf("leaf extension %v is not listed in its capabilities", ext.Type)
		}
	}
	return nil
}

func uint16s[T ~uint16](in []T) []uint16 {
	out := make([]uint16, len(in))
	for i, v := range in {
		out[i] = uint16(v)
	}
	return out
}

// ParseRequiredCapabilities decodes the data of a required_capabilities
// extension (RFC 9420 §11.1).
func ParseRequiredCapabilities(data []byte) (api.Capabilities, error) {
	var r mls.RequiredCapabilities
	if err := codec.Unmarshal(data, &r); err != nil {
		return api.Capabilities{}, err
	}
	return api.Capabilities{
		Extensions:  uint16s(r.ExtensionTypes),
		Proposals:   uint16s(r.ProposalTypes),
		Credentials: uint16s(r.CredentialTypes),
	}, nil
}
