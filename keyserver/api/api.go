// Package api holds the types the keyserver's storage, validation and HTTP
// layers exchange about MLS KeyPackages (MSC4244 §KeyPackages).
package api

import (
	"fmt"
	"slices"
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

// RFC 9420 §7.2 calls extension types 1..5 (application_id ..
// external_senders) and proposal types 1..7 (add .. group_context_extensions)
// "default": every client supports them and MUST NOT list them in its
// capabilities. Credential types have no defaults.
const (
	maxDefaultExtensionType = 0x0005
	maxDefaultProposalType  = 0x0007
)

// IsDefaultExtension reports whether extension type t is a default one.
func IsDefaultExtension(t uint16) bool { return t >= 1 && t <= maxDefaultExtensionType }

// IsDefaultProposal reports whether proposal type t is a default one.
func IsDefaultProposal(t uint16) bool { return t >= 1 && t <= maxDefaultProposalType }

// Supports reports whether a leaf with capabilities c meets required
// (a required_capabilities extension, RFC 9420 §11.1): every required type
// is listed in c or is a default one.
func (c Capabilities) Supports(required Capabilities) bool {
	return supportsAll(c.Extensions, required.Extensions, IsDefaultExtension) &&
		supportsAll(c.Proposals, required.Proposals, IsDefaultProposal) &&
		supportsAll(c.Credentials, required.Credentials, func(uint16) bool { return false })
}

func supportsAll(listed, required []uint16, isDefault func(uint16) bool) bool {
	for _, t := range required {
		if !isDefault(t) && !slices.Contains(listed, t) {
			return false
		}
	}
	return true
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
