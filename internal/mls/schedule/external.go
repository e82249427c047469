package schedule

import (
	"fmt"

	"github.com/matrix-org/dendrite/msc4244/internal/mls/cipher"
)

// externalInitLabel is the HPKE exporter context of an external init
// (RFC 9420 §8.3).
var externalInitLabel = []byte("MLS 1.0 external init secret")

// ExternalKeyPair derives the group's external key pair from the epoch's
// external secret, KEM.DeriveKeyPair(external_secret) (RFC 9420 §8.3). The
// public key goes into the GroupInfo's external_pub extension.
func ExternalKeyPair(s *cipher.Suite, externalSecret []byte) (priv, pub []byte, err error) {
	priv, pub, err = s.DeriveHPKEKeyPair(externalSecret)
	if err != nil {
		return nil, nil, fmt.Errorf("mls schedule: external key pair: %w", err)
	}
	return priv, pub, nil
}

// ExternalInit is the external joiner's side of RFC 9420 §8.3: it
// encapsulates to the group's external_pub and returns the kem_output to
// send in an ExternalInit proposal and the init secret that the joiner's
// key schedule starts from.
func ExternalInit(s *cipher.Suite, externalPub []byte) (kemOutput, initSecret []byte, err error) {
	kemOutput, initSecret, err = s.HPKEExportSend(externalPub, nil, externalInitLabel, s.HashLen())
	if err != nil {
		return nil, nil, fmt.Errorf("mls schedule: external init: %w", err)
	}
	return kemOutput, initSecret, nil
}

// ExternalInitSecret is the group's side of RFC 9420 §8.3: the init secret
// of an external commit, from the kem_output of its ExternalInit proposal
// and the private key of the previous epoch's external key pair. It fails
// with an error wrapping cipher.ErrDecrypt or cipher.ErrInvalidKey when
// kemOutput does not decapsulate.
func ExternalInitSecret(s *cipher.Suite, externalPriv, kemOutput []byte) ([]byte, error) {
	secret, err := s.HPKEExportReceive(externalPriv, kemOutput, nil, externalInitLabel, s.HashLen())
	if err != nil {
		return nil, fmt.Errorf("mls schedule: external init: %w", err)
	}
	return secret, nil
}
