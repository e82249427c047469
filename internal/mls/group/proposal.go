package group

import (
	"bytes"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/framing"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/tree"
)

// Proposal is a valid proposal received in the current epoch, which a
// commit can cover by reference (RFC 9420 §12.1).
type Proposal struct {
	// Ref is the ProposalRef commits name it by (§5.2).
	Ref []byte
	// Sender sent it: a member, an external sender or a new member.
	Sender   mls.Sender
	Proposal *mls.Proposal
	// Required marks a proposal the next commit must cover (see
	// PublicGroup.Require).
	Required bool

	content *mls.AuthenticatedContent
}

// externalProposalTypes may be sent by an external sender (RFC 9420
// §12.1.8).
func externalProposalType(t mls.ProposalType) bool {
	switch t {
	case mls.ProposalAdd, mls.ProposalRemove, mls.ProposalPSK, mls.ProposalReInit, mls.ProposalGroupContextExtensions:
		return true
	}
	return false
}

// ValidateProposal checks a proposal sent as a PublicMessage in this epoch
// (RFC 9420 §12.1): its framing and signature, that its sender may send it,
// and its validity against the current tree. It does not record it; see
// AddProposal.
func (g *PublicGroup) ValidateProposal(m *mls.PublicMessage) (*Proposal, error) {
	if m.Content.ContentType != mls.ContentProposal {
		return nil, ruled(ErrMalformed, "a %v where a proposal is expected", m.Content.ContentType)
	}
	ac, err := g.verifyPublic(m, nil)
	if err != nil {
		return nil, err
	}
	return g.checkProposal(ac)
}

// AddProposal records a validated proposal, so that commits of this epoch
// can cover it by reference. Recording a proposal twice has no effect.
func (g *PublicGroup) AddProposal(p *Proposal) {
	if g.findProposal(p.Ref) == nil {
		g.proposals = append(g.proposals, p)
	}
}

// ProcessProposal is ValidateProposal followed by AddProposal.
func (g *PublicGroup) ProcessProposal(m *mls.PublicMessage) (*Proposal, error) {
	p, err := g.ValidateProposal(m)
	if err != nil {
		return nil, err
	}
	g.AddProposal(p)
	return p, nil
}

// Require marks the recorded proposal ref as one the next commit must
// cover: the Delivery Service requires its own Remove proposals. A commit
// covers a required Remove when it removes the same leaf, by whatever
// proposal; any other required proposal must be covered by reference.
// StageCommit rejects a commit that does not with ErrRequiredProposal.
func (g *PublicGroup) Require(ref []byte) bool {
	p := g.findProposal(ref)
	if p == nil {
		return false
	}
	p.Required = true
	return true
}

// findProposal returns the recorded proposal with reference ref, or nil.
func (g *PublicGroup) findProposal(ref []byte) *Proposal {
	for _, p := range g.proposals {
		if bytes.Equal(p.Ref, ref) {
			return p
		}
	}
	return nil
}

// checkProposal checks an authenticated proposal: its sender may send its
// type, and it is valid on its own against the current tree.
func (g *PublicGroup) checkProposal(ac *framing.Authenticated) (*Proposal, error) {
	p := ac.Content.Proposal
	sender := ac.Content.Sender
	switch sender.Type {
	case mls.SenderExternal:
		if !externalProposalType(p.Type) {
			return nil, ruled(ErrExternalProposal, "an external sender proposed %v", p.Type)
		}
	case mls.SenderNewMemberProposal:
		// signatureKey allowed only an Add.
	case mls.SenderMember:
		if p.Type == mls.ProposalExternalInit {
			return nil, ruled(ErrExternalInit, "an ExternalInit proposal from leaf %d", sender.Index)
		}
	default:
		return nil, ruled(ErrSenderType, "a %v sent a proposal", sender.Type)
	}
	if err := g.validateProposal(g.tree, &g.ctx, g.params(), p, sender); err != nil {
		return nil, err
	}
	return &Proposal{
		Ref:      g.suite.MakeProposalRef(codec.Marshal(&ac.AuthenticatedContent)),
		Sender:   sender,
		Proposal: p,
		content:  &ac.AuthenticatedContent,
	}, nil
}

// validateProposal checks one proposal from sender against tree t and the
// group context ctx it is evaluated in (RFC 9420 §12.1). Proposals that
// depend on each other in a commit are checked in order by the caller,
// against the tree as the earlier ones left it.
func (g *PublicGroup) validateProposal(t *tree.Tree, ctx *mls.GroupContext, params *tree.Params, p *mls.Proposal, sender mls.Sender) error {
	switch p.Type {
	case mls.ProposalAdd:
		return g.validateKeyPackage(t, ctx, params, &p.Add.KeyPackage)
	case mls.ProposalUpdate:
		if sender.Type != mls.SenderMember {
			return ruled(ErrSenderType, "an Update from a %v sender", sender.Type)
		}
		leaf := &p.Update.LeafNode
		if err := t.ValidateLeaf(leaf, mls.LeafNodeSourceUpdate, LeafIndex(sender.Index), params); err != nil {
			return treeRule(err, ErrLeafNode)
		}
		return supportsContext(leaf, ctx.Extensions)
	case mls.ProposalRemove:
		if t.Leaf(LeafIndex(p.Remove.Removed)) == nil {
			return ruled(ErrRemoveBlank, "leaf %d", p.Remove.Removed)
		}
	case mls.ProposalPSK:
		return g.validatePSK(&p.PreSharedKey.PSK)
	case mls.ProposalReInit:
		if p.ReInit.Version < ctx.Version {
			return ruled(ErrReInit, "version %v is older than the group's %v", p.ReInit.Version, ctx.Version)
		}
	case mls.ProposalGroupContextExtensions:
		if _, err := parseContextExtensions(p.GroupContextExtensions.Extensions); err != nil {
			return err
		}
	}
	return nil
}

// validatePSK checks a PreSharedKey proposal (RFC 9420 §12.1.4).
func (g *PublicGroup) validatePSK(id *mls.PreSharedKeyID) error {
	if id.Type == mls.PSKResumption && id.Usage != mls.ResumptionApplication {
		return ruled(ErrPSK, "a resumption PSK of usage %v", id.Usage)
	}
	if len(id.PSKNonce) != g.suite.HashLen() {
		return ruled(ErrPSK, "a nonce of %d octets, not %d", len(id.PSKNonce), g.suite.HashLen())
	}
	return nil
}

// validateKeyPackage checks the KeyPackage of an Add (RFC 9420 §10.1)
// against tree t in group context ctx.
func (g *PublicGroup) validateKeyPackage(t *tree.Tree, ctx *mls.GroupContext, params *tree.Params, kp *mls.KeyPackage) error {
	if err := checkKeyPackage(g.suite, ctx, kp); err != nil {
		return err
	}
	leaf := &kp.LeafNode
	if err := t.ValidateLeaf(leaf, mls.LeafNodeSourceKeyPackage, 0, params); err != nil {
		return treeRule(err, ErrLeafNode)
	}
	return supportsContext(leaf, ctx.Extensions)
}
