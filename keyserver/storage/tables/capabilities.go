package tables

import (
	"fmt"
	"slices"
	"strings"

	"github.com/matrix-org/dendrite/msc4244/keyserver/api"
)

// Capabilities are stored as one string so that matching a claimer's
// required_capabilities is a single LIKE on the row, in both databases.
//
// Each listed type is a fixed-width token: a comma, a kind letter ('c'
// credential, 'e' extension, 'p' proposal) and the type as five decimal
// digits, e.g. ",e00010". The tokens are sorted and deduplicated. A pattern
// made of the required tokens, sorted the same way and joined by '%',
// matches exactly when every required token is present: tokens can only
// begin at a comma, so a token never matches across a boundary, and sorted
// sets match as subsequences exactly when one contains the other.

// defaultExtensionTypes and defaultProposalTypes are the types RFC 9420
// §7.2 calls "default": every client supports them and MUST NOT list them in
// its capabilities, so a requirement for them is met by every leaf.
// Extensions 1..5 (application_id .. external_senders), proposals 1..7
// (add .. group_context_extensions). Credential types have no defaults.
const (
	maxDefaultExtensionType = 0x0005
	maxDefaultProposalType  = 0x0007
)

// EncodeCapabilities returns the stored form of a leaf's capabilities.
func EncodeCapabilities(c api.Capabilities) string {
	return strings.Join(tokens(c, false), "")
}

// CapabilitiesPattern returns the LIKE pattern matching every stored
// capabilities string that supports all of required, default types being
// supported by every leaf.
func CapabilitiesPattern(required api.Capabilities) string {
	return "%" + strings.Join(tokens(required, true), "%") + "%"
}

func tokens(c api.Capabilities, skipDefaults bool) []string {
	var out []string
	add := func(kind byte, types []uint16, maxDefault uint16) {
		for _, t := range types {
			if skipDefaults && t >= 1 && t <= maxDefault {
				continue
			}
			out = append(out, fmt.Sprintf(",%c%05d", kind, t))
		}
	}
	add('c', c.Credentials, 0)
	add('e', c.Extensions, maxDefaultExtensionType)
	add('p', c.Proposals, maxDefaultProposalType)
	slices.Sort(out)
	return slices.Compact(out)
}
