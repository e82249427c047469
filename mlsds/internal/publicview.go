package internal

import (
	"errors"
	"fmt"
	"time"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/group"
	"github.com/matrix-org/dendrite/msc4244/internal/mlsidentity"
)

// PublicView is the GroupView of the MLS core: internal/mls/group's public
// group, which validates handshake messages as a non-member.
type PublicView struct {
	config *group.Config
}

// NewPublicView returns the view; leaf lifetimes are checked against now.
// Members are told apart by Matrix device, as clients do: the RFC 9420 §12.2
// rules on adding a client twice, and the removal of a joiner's old leaf by
// its external commit, compare the devices credentials name.
func NewPublicView(now func() time.Time) PublicView {
	return PublicView{config: &group.Config{Now: now, ClientID: clientID}}
}

// clientID names the device a credential names; a credential that names
// none is a client of its own.
func clientID(c *mls.Credential) string {
	if _, _, err := mlsidentity.Parse(c); err != nil {
		return "\x00" + string(c.Identity)
	}
	return string(c.Identity)
}

// Genesis implements GroupView: the checks a joiner makes of a GroupInfo
// (RFC 9420 §12.4.3.1), and that the group is new.
func (v PublicView) Genesis(gi *mls.GroupInfo) (PublicGroup, error) {
	// The confirmed transcript hash starts empty (RFC 9420 §8.2).
	if len(gi.GroupContext.ConfirmedTranscriptHash) != 0 {
		return nil, errors.New("a new group's confirmed transcript hash is empty")
	}
	g, err := group.NewPublicGroup(gi, nil, v.config)
	if err != nil {
		return nil, translate(err)
	}
	return &publicGroup{g: g}, nil
}

// Load implements GroupView.
func (v PublicView) Load(state []byte) (PublicGroup, error) {
	g, err := group.LoadPublicGroup(state, v.config)
	if err != nil {
		return nil, err
	}
	return &publicGroup{g: g}, nil
}

// publicGroup adapts *group.PublicGroup to PublicGroup.
type publicGroup struct {
	g *group.PublicGroup
}

func (p *publicGroup) Epoch() uint64 { return p.g.Epoch() }

func (p *publicGroup) Members() []Member {
	members := make([]Member, 0, p.g.MemberCount())
	for m := range p.g.Members() {
		members = append(members, member(m))
	}
	return members
}

func (p *publicGroup) Marshal() ([]byte, error) { return p.g.MarshalBinary() }

func (p *publicGroup) PendingProposals() int { return len(p.g.Proposals()) }

// ApplyCommit implements PublicGroup: the commit is staged (validated, the
// next epoch computed) and the GroupInfo checked against the next epoch.
func (p *publicGroup) ApplyCommit(commit *mls.PublicMessage, groupInfo *mls.GroupInfo) (*CommitResult, error) {
	if commit.Content.Sender.Type == mls.SenderExternal {
		return nil, ErrExternalSender
	}
	staged, err := p.g.StageCommit(commit)
	if err != nil {
		return nil, translate(err)
	}
	if err = staged.CheckGroupInfo(groupInfo); err != nil {
		return nil, translate(err)
	}
	res := &CommitResult{
		Group:     &publicGroup{g: staged.Group()},
		Committer: member(staged.Committer()),
	}
	for _, m := range staged.Added() {
		res.Added = append(res.Added, member(m))
	}
	for _, m := range staged.Removed() {
		res.Removed = append(res.Removed, member(m))
	}
	for _, prop := range staged.Uncovered() {
		if prop.Proposal.Type != mls.ProposalRemove {
			continue
		}
		leaf := group.LeafIndex(prop.Proposal.Remove.Removed)
		res.Uncovered = append(res.Uncovered, member(group.Member{Leaf: leaf, Node: p.g.Member(leaf)}))
	}
	return res, nil
}

// ApplyProposal implements PublicGroup: the proposal is validated and
// recorded in a copy of the group.
func (p *publicGroup) ApplyProposal(proposal *mls.PublicMessage) (*ProposalResult, error) {
	if proposal.Content.Sender.Type == mls.SenderExternal {
		return nil, ErrExternalSender
	}
	next := p.g.Clone()
	prop, err := next.ProcessProposal(proposal)
	if err != nil {
		return nil, translate(err)
	}
	res := &ProposalResult{Group: &publicGroup{g: next}}
	switch prop.Sender.Type {
	case mls.SenderMember:
		res.Sender = next.Member(group.LeafIndex(prop.Sender.Index)).Credential
	case mls.SenderNewMemberProposal:
		res.Sender = prop.Proposal.Add.KeyPackage.LeafNode.Credential
	default:
		return nil, fmt.Errorf("unexpected proposal sender %v", prop.Sender.Type)
	}
	return res, nil
}

func member(m group.Member) Member {
	return Member{Leaf: uint32(m.Leaf), Credential: m.Node.Credential}
}

// translate classifies the group package's rejections for the DS.
func translate(err error) error {
	switch {
	case errors.Is(err, group.ErrMalformed):
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	case errors.Is(err, group.ErrRequiredProposal):
		return fmt.Errorf("%w: %v", ErrMissingRequired, err)
	}
	return err
}
