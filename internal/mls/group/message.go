package group

import (
	"errors"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/framing"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/schedule"
)

// unprotectPrivate decrypts and authenticates a PrivateMessage of the
// current epoch (RFC 9420 §6.3).
func (g *Group) unprotectPrivate(m *mls.PrivateMessage) (*framing.Authenticated, error) {
	if err := g.public.checkEpoch(m.GroupID, m.Epoch); err != nil {
		return nil, err
	}
	if g.secretTree == nil {
		return nil, ruled(ErrRemoved, "no keys left to decrypt with")
	}
	t := g.public.tree
	ac, err := framing.UnprotectPrivate(g.public.suite, m, &g.public.ctx, g.secretTree, g.secrets.senderData, func(leaf uint32) ([]byte, error) {
		node := t.Leaf(LeafIndex(leaf))
		if node == nil {
			return nil, ruled(ErrUnknownSender, "leaf %d is blank or outside the tree", leaf)
		}
		return node.SignatureKey, nil
	})
	switch {
	case err == nil:
		return ac, nil
	case RuleOf(err) != nil:
		return nil, err
	case errors.Is(err, schedule.ErrGenerationUsed), errors.Is(err, schedule.ErrGenerationTooFar), errors.Is(err, schedule.ErrUnknownLeaf):
		return nil, wrap(ErrGeneration, err)
	}
	return nil, framingRule(err)
}

// MessageOptions shape a handshake message the member sends.
type MessageOptions struct {
	// Private sends it as a PrivateMessage; by default it is a
	// PublicMessage, which the Delivery Service can validate.
	Private bool
	// AuthenticatedData is sent in the clear and authenticated.
	AuthenticatedData []byte
	// Padding is the number of zero octets a PrivateMessage is padded with.
	Padding int
}

// wireFormat returns the wire format the options ask for.
func (o *MessageOptions) wireFormat() mls.WireFormat {
	if o.Private {
		return mls.WireFormatPrivateMessage
	}
	return mls.WireFormatPublicMessage
}

// content frames body as the member's content in the current epoch.
func (g *Group) content(body mls.Content, aad []byte) *mls.FramedContent {
	return &mls.FramedContent{
		GroupID:           g.public.ctx.GroupID,
		Epoch:             g.public.ctx.Epoch,
		Sender:            mls.Sender{Type: mls.SenderMember, Index: uint32(g.self)},
		AuthenticatedData: aad,
		Content:           body,
	}
}

// protect turns signed content into a message in the wire format it was
// signed for: a PublicMessage with the membership tag, or a PrivateMessage
// sealed with the next key of the member's ratchet.
func (g *Group) protect(ac *framing.Authenticated, padding int) (*mls.MLSMessage, error) {
	s := g.public.suite
	if ac.WireFormat == mls.WireFormatPrivateMessage {
		pm, err := framing.ProtectPrivate(s, ac, g.secretTree, g.secrets.senderData, padding)
		if err != nil {
			return nil, err
		}
		return mls.NewPrivateMessage(pm), nil
	}
	pm, err := framing.ProtectPublic(s, ac, g.secrets.membership)
	if err != nil {
		return nil, err
	}
	return mls.NewPublicMessage(pm), nil
}

// Encrypt protects application data as a PrivateMessage of the current
// epoch (RFC 9420 §6.3, §15). aad is sent in the clear and authenticated.
func (g *Group) Encrypt(plaintext, aad []byte, padding int) (*mls.MLSMessage, error) {
	if err := g.checkActive(); err != nil {
		return nil, err
	}
	body := mls.Content{ContentType: mls.ContentApplication, ApplicationData: plaintext}
	ac, err := framing.Sign(g.signer, mls.WireFormatPrivateMessage, g.content(body, aad), &g.public.ctx)
	if err != nil {
		return nil, err
	}
	return g.protect(ac, padding)
}
