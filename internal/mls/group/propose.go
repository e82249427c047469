package group

import (
	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/cipher"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/framing"
)

// Propose sends a proposal of the current epoch (RFC 9420 §12.1) and
// records it, so that the member's own commits can cover it by reference
// too. An Update proposal needs no content: ProposeUpdate makes it.
func (g *Group) Propose(p mls.Proposal, opts MessageOptions) (*mls.MLSMessage, *Proposal, error) {
	if err := g.checkActive(); err != nil {
		return nil, nil, err
	}
	if p.Type == mls.ProposalUpdate || p.Type == mls.ProposalExternalInit {
		return nil, nil, ruled(ErrSenderType, "a member proposes an Update with ProposeUpdate, and never an ExternalInit")
	}
	return g.propose(&p, opts)
}

// ProposeUpdate proposes replacing the member's leaf with one with a fresh
// encryption key (RFC 9420 §12.1.2).
func (g *Group) ProposeUpdate(opts MessageOptions) (*mls.MLSMessage, *Proposal, error) {
	if err := g.checkActive(); err != nil {
		return nil, nil, err
	}
	s := g.public.suite
	priv, pub, err := s.GenerateHPKEKeyPair()
	if err != nil {
		return nil, nil, err
	}
	self := g.self
	leaf := *g.public.tree.Leaf(self)
	leaf.EncryptionKey = pub
	leaf.Source = mls.LeafNodeSourceUpdate
	leaf.Lifetime = mls.Lifetime{}
	leaf.ParentHash = nil
	if leaf.Signature, err = g.signer.SignWithLabel(leafNodeTBSLabel, codec.Marshal(leaf.TBS(g.GroupID(), uint32(self)))); err != nil {
		return nil, nil, err
	}
	m, prop, err := g.propose(&mls.Proposal{Type: mls.ProposalUpdate, Update: &mls.Update{LeafNode: leaf}}, opts)
	if err != nil {
		return nil, nil, err
	}
	g.updates = append(g.updates, pendingUpdate{ref: prop.Ref, leafPriv: priv})
	return m, prop, nil
}

// propose signs, validates, records and protects a proposal.
func (g *Group) propose(p *mls.Proposal, opts MessageOptions) (*mls.MLSMessage, *Proposal, error) {
	body := mls.Content{ContentType: mls.ContentProposal, Proposal: p}
	ac, err := framing.Sign(g.signer, opts.wireFormat(), g.content(body, opts.AuthenticatedData), &g.public.ctx)
	if err != nil {
		return nil, nil, err
	}
	prop, err := g.public.checkProposal(ac)
	if err != nil {
		return nil, nil, err
	}
	m, err := g.protect(ac, opts.Padding)
	if err != nil {
		return nil, nil, err
	}
	g.public.AddProposal(prop)
	return m, prop, nil
}

// NewMemberProposal makes the Add proposal with which a client asks to be
// added to a group (RFC 9420 §12.1.8, sender new_member_proposal), signed
// with the key of its KeyPackage's leaf. gc is the group context of the
// epoch it proposes in, from a GroupInfo.
func NewMemberProposal(signer *cipher.Signer, gc *mls.GroupContext, kp *mls.KeyPackage, aad []byte) (*mls.PublicMessage, error) {
	content := &mls.FramedContent{
		GroupID:           gc.GroupID,
		Epoch:             gc.Epoch,
		Sender:            mls.Sender{Type: mls.SenderNewMemberProposal},
		AuthenticatedData: aad,
		Content:           mls.Content{ContentType: mls.ContentProposal, Proposal: &mls.Proposal{Type: mls.ProposalAdd, Add: &mls.Add{KeyPackage: *kp}}},
	}
	return signExternal(signer, gc, content)
}

// NewExternalProposal makes a proposal from an external sender (RFC 9420
// §12.1.8): the Delivery Service removing a member, say. senderIndex is
// the sender's position in the group's external_senders extension, signer
// its signature key, gc the group context of the epoch it proposes in.
// External proposals are always PublicMessages.
func NewExternalProposal(signer *cipher.Signer, gc *mls.GroupContext, senderIndex uint32, p *mls.Proposal, aad []byte) (*mls.PublicMessage, error) {
	if !externalProposalType(p.Type) {
		return nil, ruled(ErrExternalProposal, "an external sender cannot propose %v", p.Type)
	}
	content := &mls.FramedContent{
		GroupID:           gc.GroupID,
		Epoch:             gc.Epoch,
		Sender:            mls.Sender{Type: mls.SenderExternal, Index: senderIndex},
		AuthenticatedData: aad,
		Content:           mls.Content{ContentType: mls.ContentProposal, Proposal: p},
	}
	return signExternal(signer, gc, content)
}

// signExternal signs content from a sender outside the group as a
// PublicMessage, which carries no membership tag.
func signExternal(signer *cipher.Signer, gc *mls.GroupContext, content *mls.FramedContent) (*mls.PublicMessage, error) {
	suite, err := cipher.Lookup(cipher.SuiteID(gc.CipherSuite))
	if err != nil {
		return nil, err
	}
	ac, err := framing.Sign(signer, mls.WireFormatPublicMessage, content, gc)
	if err != nil {
		return nil, err
	}
	return framing.ProtectPublic(suite, ac, nil)
}
