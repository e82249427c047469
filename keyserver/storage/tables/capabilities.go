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

// EncodeCapabilities returns the stored form of a leaf's capabilities.
func EncodeCapabilities(c api.Capabilities) string {
	return strings.Join(tokens(c, false), "")
}

// CapabilitiesPattern returns the LIKE pattern matching every stored
// capabilities string that supports all of required (as
// api.Capabilities.Supports decides: default types need not be listed).
func CapabilitiesPattern(required api.Capabilities) string {
	return "%" + strings.Join(tokens(required, true), "%") + "%"
}

func tokens(c api.Capabilities, skipDefaults bool) []string {
	var out []string
	add := func(kind byte, types []uint16, isDefault func(uint16) bool) {
		for _, t := range types {
			if skipDefaults && isDefault(t) {
				continue
			}
			out = append(out, fmt.Sprintf(",%c%05d", kind, t))
		}
	}
	add('c', c.Credentials, func(uint16) bool { return false })
	add('e', c.Extensions, api.IsDefaultExtension)
	add('p', c.Proposals, api.IsDefaultProposal)
	slices.Sort(out)
	return slices.Compact(out)
}
