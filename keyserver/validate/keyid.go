// Package validate checks the identifiers and device keys that clients and
// servers send to the key endpoints, before anything reaches storage.
// Stock Dendrite splits key ids without checking them (an id without a
// colon panics the whole server) and stores device keys unchecked.
package validate

import (
	"fmt"
	"strings"
)

// Limits on identifiers, far above what any client produces.
const (
	maxAlgorithmLength = 128
	maxKeyIDLength     = 255
)

// Algorithm checks a key algorithm name: 1 to 128 characters from
// [A-Za-z0-9._-], e.g. "signed_curve25519", "mls", "m.megolm.v1.aes-sha2".
func Algorithm(algorithm string) error {
	switch {
	case algorithm == "":
		return fmt.Errorf("empty algorithm")
	case len(algorithm) > maxAlgorithmLength:
		return fmt.Errorf("algorithm longer than %d characters", maxAlgorithmLength)
	case strings.IndexFunc(algorithm, notAlgorithmChar) >= 0:
		return fmt.Errorf("algorithm %q has characters outside [A-Za-z0-9._-]", algorithm)
	}
	return nil
}

// KeyID checks a one-time key id "<algorithm>:<key_id>" and splits it. The
// key id part is 1 to 255 characters from the unpadded and padded base64
// alphabets and "._-", so it never holds a second colon.
func KeyID(id string) (algorithm, keyID string, err error) {
	algorithm, keyID, found := strings.Cut(id, ":")
	if !found {
		return "", "", fmt.Errorf("key id %q is not <algorithm>:<key_id>", id)
	}
	if err = Algorithm(algorithm); err != nil {
		return "", "", fmt.Errorf("key id %q: %w", id, err)
	}
	switch {
	case keyID == "":
		return "", "", fmt.Errorf("key id %q has an empty key id part", id)
	case len(keyID) > maxKeyIDLength:
		return "", "", fmt.Errorf("key id %q: key id part longer than %d characters", id, maxKeyIDLength)
	case strings.IndexFunc(keyID, notKeyIDChar) >= 0:
		return "", "", fmt.Errorf("key id %q: key id part has characters outside [A-Za-z0-9+/=._-]", id)
	}
	return algorithm, keyID, nil
}

func isAlnum(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
}

func notAlgorithmChar(r rune) bool {
	return !isAlnum(r) && r != '.' && r != '_' && r != '-'
}

func notKeyIDChar(r rune) bool {
	return notAlgorithmChar(r) && r != '+' && r != '/' && r != '='
}
