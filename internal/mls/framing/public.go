package framing

import (
	"fmt"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/cipher"
)

// ProtectPublic frames signed content as a PublicMessage (RFC 9420 §6.2).
// ac must have been signed for wire format mls_public_message and, for a
// commit, carry its confirmation tag. For a member sender it adds the
// membership tag, a MAC under the epoch's membershipKey; ctx is the group
// context of the epoch.
func ProtectPublic(s *cipher.Suite, ac *mls.AuthenticatedContent, ctx *mls.GroupContext, membershipKey []byte) (*mls.PublicMessage, error) {
	if ac.Content.ContentType == mls.ContentApplication {
		return nil, ErrApplicationPublic
	}
	if err := checkProtectable(mls.WireFormatPublicMessage, ac); err != nil {
		return nil, err
	}
	m := &mls.PublicMessage{Content: ac.Content, Auth: ac.Auth}
	if ac.Content.Sender.Type == mls.SenderMember {
		tbm, err := encode(m.TBM(ctx))
		if err != nil {
			return nil, err
		}
		m.MembershipTag = s.MAC(membershipKey, tbm)
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
func UnprotectPublic(s *cipher.Suite, m *mls.PublicMessage, ctx *mls.GroupContext, membershipKey, signatureKey []byte) (*mls.AuthenticatedContent, error) {
	if err := checkPublic(s, m, ctx); err != nil {
		return nil, err
	}
	if m.Content.Sender.Type == mls.SenderMember {
		tbm, err := encode(m.TBM(ctx))
		if err != nil {
			return nil, err
		}
		if !s.VerifyMAC(membershipKey, tbm, m.MembershipTag) {
			return nil, fmt.Errorf("%w: from leaf %d", ErrBadMembershipTag, m.Content.Sender.Index)
		}
	}
	return verifyPublicSignature(s, m, ctx, signatureKey)
}

// VerifyPublic is UnprotectPublic for a party that is not a member, such as
// the Delivery Service: it has no membership key, so it checks that a
// member's message carries a membership tag of the right length but cannot
// check its value. Everything else is checked as by UnprotectPublic.
func VerifyPublic(s *cipher.Suite, m *mls.PublicMessage, ctx *mls.GroupContext, signatureKey []byte) (*mls.AuthenticatedContent, error) {
	if err := checkPublic(s, m, ctx); err != nil {
		return nil, err
	}
	return verifyPublicSignature(s, m, ctx, signatureKey)
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

// verifyPublicSignature checks m's signature and returns its authenticated
// content.
func verifyPublicSignature(s *cipher.Suite, m *mls.PublicMessage, ctx *mls.GroupContext, signatureKey []byte) (*mls.AuthenticatedContent, error) {
	ac := m.AuthenticatedContent()
	if err := VerifySignature(s, signatureKey, ac, ctx); err != nil {
		return nil, err
	}
	return ac, nil
}
