package group

import (
	"github.com/matrix-org/dendrite/msc4244/internal/mls"
)

// ExtensionLastResort is the last_resort KeyPackage extension
// (draft-ietf-mls-extensions): a KeyPackage a client lets be used more than
// once when it has no other.
const ExtensionLastResort mls.ExtensionType = 0x000a

// contextExtensions are the group context extensions this package acts on.
type contextExtensions struct {
	senders  mls.ExternalSenders
	required *mls.RequiredCapabilities
}

// parseContextExtensions checks a group context's extension list (no type
// twice, known types decode) and returns what it configures.
func parseContextExtensions(list mls.Extensions) (*contextExtensions, error) {
	if err := checkUniqueExtensions(list); err != nil {
		return nil, err
	}
	ce := new(contextExtensions)
	if _, err := list.Decode(&ce.senders); err != nil {
		return nil, ruled(ErrExtensions, "external_senders: %v", err)
	}
	var req mls.RequiredCapabilities
	found, err := list.Decode(&req)
	if err != nil {
		return nil, ruled(ErrExtensions, "required_capabilities: %v", err)
	}
	if found {
		ce.required = &req
	}
	return ce, nil
}

// checkUniqueExtensions checks that no extension type appears twice in a
// list (RFC 9420 §13.4).
func checkUniqueExtensions(list mls.Extensions) error {
	for i := range list {
		for j := range i {
			if list[i].Type == list[j].Type {
				return ruled(ErrExtensions, "extension %v appears twice", list[i].Type)
			}
		}
	}
	return nil
}

// supportsContext reports whether leaf's capabilities list every
// non-default extension of the group context (RFC 9420 §13.4): an
// extension in use by the group must be supported by all members.
func supportsContext(leaf *mls.LeafNode, list mls.Extensions) error {
	for i := range list {
		if typ := list[i].Type; !defaultExtension(typ) && !leaf.Capabilities.SupportsExtension(typ) {
			return ruled(ErrExtensions, "a leaf does not support the group context extension %v", typ)
		}
	}
	return nil
}

// defaultExtension reports whether t is an extension type every client
// supports without listing it (RFC 9420 §7.2).
func defaultExtension(t mls.ExtensionType) bool {
	return t >= mls.ExtensionApplicationID && t <= mls.ExtensionExternalSenders
}

// hasNonDefault reports whether a group context extension list holds an
// extension whose support each leaf must show.
func hasNonDefault(list mls.Extensions) bool {
	for i := range list {
		if !defaultExtension(list[i].Type) {
			return true
		}
	}
	return false
}
