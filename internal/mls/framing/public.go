package framing

import (
	"crypto/hmac"
	"fmt"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/cipher"
)

// ProtectPublic frames signed content as a PublicMessage (RFC 9420 §6.2).
// a must have been signed for wire format mls_public_message and, for a
// commit, carry its confirmation tag. For a member sender it adds the
// membership tag, a MAC under the epoch's membershipKey.
func ProtectPublic(s *cipher.Suite, a *Authenticated, membershipKey []byte) (*mls.PublicMessage, error) {
	if a.Content.ContentType == mls.ContentApplication {
		return nil, ErrApplicationPublic
	}
	if err := checkProtectable(mls.WireFormatPublicMessage, &a.AuthenticatedContent); err != nil {
		return nil, err
	}
	m := &mls.PublicMessage{Content: a.Content, Auth: a.Auth}
	if a.Content.Sender.Type == mls.SenderMember {
		m.MembershipTag = a.membershipTag(s, membershipKey)
	}
	return m, nil
}

// UnprotectPublic checks a PublicMessage as a member of the group (RFC 9420
// §6.2): it is for ctx's group and epoch, carries no application data, has
// a membership tag that verifies under the epoch's membershipKey when the
// sender is a member, and a signature that verifies with the sender's
// signatureKey, which the caller looked up for m.Content.Sender. It returns
// the authenticated content, sharing m's memory. Checking a commit's
// confirmation tag, which needs the next epoch's key, is the caller's job.
func UnprotectPublic(s *cipher.Suite, m *mls.PublicMessage, ctx *mls.GroupContext, membershipKey, signatureKey []byte) (*Authenticated, error) {
	if err := checkPublic(s, m, ctx); err != nil {
		return nil, err
	}
	a, err := newAuthenticated(m.AuthenticatedContent(), ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadSignature, err)
	}
	if m.Content.Sender.Type == mls.SenderMember && !hmac.Equal(a.membershipTag(s, membershipKey), m.MembershipTag) {
		return nil, fmt.Errorf("%w: from leaf %d", ErrBadMembershipTag, m.Content.Sender.Index)
	}
	return verifyAuthenticated(s, a, signatureKey)
}

// VerifyPublic is UnprotectPublic for a party that is not a member, such as
// the Delivery Service: it has no membership key, so it checks that a
// member's message carries a membership tag of the right length but cannot
// check its value. Everything else is checked as by UnprotectPublic.
func VerifyPublic(s *cipher.Suite, m *mls.PublicMessage, ctx *mls.GroupContext, signatureKey []byte) (*Authenticated, error) {
	if err := checkPublic(s, m, ctx); err != nil {
		return nil, err
	}
	return VerifySignature(s, signatureKey, m.AuthenticatedContent(), ctx)
}

// checkPublic makes the checks of a PublicMessage that need no key.
func checkPublic(s *cipher.Suite, m *mls.PublicMessage, ctx *mls.GroupContext) error {
	if err := checkEpoch(m.Content.GroupID, m.Content.Epoch, ctx); err != nil {
		return err
	}
	if m.Content.ContentType == mls.ContentApplication {
		return ErrApplicationPublic
	}
	if m.Content.Sender.Type == mls.SenderMember && len(m.MembershipTag) != s.HashLen() {
		return fmt.Errorf("%w: %d octets from leaf %d, want %d", ErrBadMembershipTag, len(m.MembershipTag), m.Content.Sender.Index, s.HashLen())
	}
	return nil
}
