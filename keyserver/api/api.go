// Package api holds the types the keyserver's storage, validation and HTTP
// layers exchange about MLS KeyPackages (MSC4244 §KeyPackages).
package api

import (
	"fmt"
	"time"
)

// Algorithm is the one-time key algorithm under which KeyPackages are
// uploaded and claimed: key ids are "mls:<key_id>".
const Algorithm = "mls"

// Capabilities is the part of a KeyPackage leaf's capabilities (RFC 9420
// §7.2) that a claimer's required_capabilities (§11.1) is matched against.
type Capabilities struct {
	Extensions  []uint16
	Proposals   []uint16
	Credentials []uint16
}

// KeyPackage is a validated KeyPackage of one device, as stored.
type KeyPackage struct {
	UserID   string
	DeviceID string
	// KeyID is the part after "mls:" of the uploaded key id.
	KeyID        string
	Ciphersuite  uint16
	Capabilities Capabilities
	// LastResort is set when the KeyPackage carries the last_resort
	// extension: it is handed out only when no one-time KeyPackage matches,
	// and is not removed when claimed.
	LastResort bool
	// NotAfter is the end of the leaf's lifetime; the KeyPackage is never
	// handed out after it.
	NotAfter time.Time
	// Data is the KeyPackage exactly as uploaded.
	Data []byte
}

// ClaimedKeyPackage is what a claim hands out.
type ClaimedKeyPackage struct {
	KeyID      string
	Data       []byte
	LastResort bool
}

// KeyPackageCounts describes the unexpired KeyPackages of one device.
type KeyPackageCounts struct {
	// OneTime counts the unclaimed KeyPackages without last_resort.
	OneTime int
	// LastResort is set when at least one last-resort KeyPackage exists.
	LastResort bool
}

// KeyIDConflictError reports an upload of a key id that the device already
// has with different content.
type KeyIDConflictError struct {
	KeyID string
}

func (e *KeyIDConflictError) Error() string {
	return fmt.Sprintf("key id %s:%s already exists with different content", Algorithm, e.KeyID)
}
