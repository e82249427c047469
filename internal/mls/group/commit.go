package group

import (
	"bytes"
	"crypto/rand"
	"slices"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/cipher"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/framing"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/schedule"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/tree"
)

// CommitOptions say what a commit covers and how it is sent.
type CommitOptions struct {
	// Adds, Removes, PSKs, GroupContextExtensions and ReInit are proposals
	// carried by value, in this order after Proposals.
	Proposals              []mls.Proposal
	Adds                   []*mls.KeyPackage
	Removes                []LeafIndex
	PSKs                   []mls.PreSharedKeyID
	GroupContextExtensions mls.Extensions
	ReInit                 *mls.ReInit
	// References lists the received proposals to cover by reference. Nil
	// covers every proposal received in the epoch that fits a valid list
	// (RFC 9420 §12.4: a committer SHOULD): for each leaf a Remove rather
	// than Updates, the latest Update, never the member's own Update or its
	// removal, and a ReInit only when nothing else is pending.
	References [][]byte
	// NoReferences covers no received proposal.
	NoReferences bool
	// ForcePath adds an UpdatePath even when no proposal requires one.
	ForcePath bool
	MessageOptions
	GroupInfoOptions
}

// GroupInfoOptions shape the GroupInfo published for an epoch.
type GroupInfoOptions struct {
	// OmitRatchetTree leaves the ratchet_tree extension out: joiners then
	// need the tree from elsewhere (RFC 9420 §12.4.3.3).
	OmitRatchetTree bool
	// OmitExternalPub leaves the external_pub extension out, which
	// disables external joins from it (§12.4.3.2).
	OmitExternalPub bool
	// Extensions are added to the GroupInfo's own extensions.
	Extensions mls.Extensions
}

// PendingCommit is a commit the member created, not yet merged: send
// Message (and GroupInfo) to the Delivery Service and Welcome to the added
// members, then Merge the StagedCommit once the Delivery Service accepted
// the commit, or drop it when it refused it.
type PendingCommit struct {
	Message   *mls.MLSMessage
	Welcome   *mls.Welcome
	GroupInfo *mls.GroupInfo
	*StagedCommit
}

// Commit creates a commit of the proposals opts names (RFC 9420
// §12.4.1), with an UpdatePath when one is required or asked for, its
// Welcome for the added members and the GroupInfo of the new epoch. The
// group does not change until the commit is merged.
func (g *Group) Commit(opts CommitOptions) (*PendingCommit, error) {
	if err := g.checkActive(); err != nil {
		return nil, err
	}
	self := mls.Sender{Type: mls.SenderMember, Index: uint32(g.self)}
	list, err := g.commitList(self, &opts)
	if err != nil {
		return nil, err
	}
	pl, err := sortProposals(list, self)
	if err != nil {
		return nil, err
	}
	if err := g.public.checkRequired(pl); err != nil {
		return nil, err
	}
	a, err := g.public.apply(pl)
	if err != nil {
		return nil, err
	}
	pskSecret, err := g.pskSecret(pl.psks)
	if err != nil {
		return nil, err
	}
	c := &commitBuilder{
		public: g.public, sender: self, committer: g.self, list: pl, applied: a,
		signer: g.signer, initSecret: g.secrets.init, pskSecret: pskSecret,
		opts: &opts, member: g,
	}
	if pl.pathRequired || opts.ForcePath {
		c.leaf = *g.public.tree.Leaf(g.self)
		c.withPath = true
	}
	return c.build()
}

// commitList returns the proposals a commit covers: the received ones
// chosen by reference, then those opts carries by value.
func (g *Group) commitList(self mls.Sender, opts *CommitOptions) ([]committed, error) {
	var list []committed
	switch {
	case opts.NoReferences:
	case opts.References != nil:
		for _, ref := range opts.References {
			p := g.public.findProposal(ref)
			if p == nil {
				return nil, ruled(ErrUnknownProposal, "reference %x", ref)
			}
			list = append(list, committed{proposal: p.Proposal, sender: p.Sender, ref: p.Ref})
		}
	default:
		list = g.pendingProposals(self)
	}
	inline := slices.Clone(opts.Proposals)
	for _, kp := range opts.Adds {
		inline = append(inline, mls.Proposal{Type: mls.ProposalAdd, Add: &mls.Add{KeyPackage: *kp}})
	}
	for _, l := range opts.Removes {
		inline = append(inline, mls.Proposal{Type: mls.ProposalRemove, Remove: &mls.Remove{Removed: uint32(l)}})
	}
	for _, id := range opts.PSKs {
		inline = append(inline, mls.Proposal{Type: mls.ProposalPSK, PreSharedKey: &mls.PreSharedKey{PSK: id}})
	}
	if opts.GroupContextExtensions != nil {
		inline = append(inline, mls.Proposal{Type: mls.ProposalGroupContextExtensions, GroupContextExtensions: &mls.GroupContextExtensions{Extensions: opts.GroupContextExtensions}})
	}
	if opts.ReInit != nil {
		inline = append(inline, mls.Proposal{Type: mls.ProposalReInit, ReInit: opts.ReInit})
	}
	for i := range inline {
		list = append(list, committed{proposal: &inline[i], sender: self})
	}
	return list, nil
}

// pendingProposals picks among the proposals received in the epoch a set
// a commit by self can cover (RFC 9420 §12.2): per leaf a Remove rather
// than Updates and the latest Update, not self's own Update nor its
// removal, one GroupContextExtensions (the latest), each PSK and client
// once, and a ReInit only alone.
func (g *Group) pendingProposals(self mls.Sender) []committed {
	var list []committed
	leafChange := map[LeafIndex]int{}
	gce, reinit := -1, -1
	var psks []*mls.PreSharedKeyID
	addKeys := map[string]bool{}
	for _, p := range g.public.proposals {
		c := committed{proposal: p.Proposal, sender: p.Sender, ref: p.Ref}
		switch p.Proposal.Type {
		case mls.ProposalUpdate, mls.ProposalRemove:
			l := LeafIndex(p.Sender.Index)
			if p.Proposal.Type == mls.ProposalRemove {
				l = LeafIndex(p.Proposal.Remove.Removed)
			}
			if l == LeafIndex(self.Index) {
				continue
			}
			if i, ok := leafChange[l]; ok {
				if list[i].proposal.Type == mls.ProposalUpdate {
					list[i] = c
				}
				continue
			}
			leafChange[l] = len(list)
		case mls.ProposalGroupContextExtensions:
			if gce >= 0 {
				list[gce] = c
				continue
			}
			gce = len(list)
		case mls.ProposalReInit:
			if reinit < 0 {
				reinit = len(list)
			}
			continue
		case mls.ProposalPSK:
			id := &p.Proposal.PreSharedKey.PSK
			if slices.ContainsFunc(psks, func(o *mls.PreSharedKeyID) bool { return samePSK(o, id) }) {
				continue
			}
			psks = append(psks, id)
		case mls.ProposalAdd:
			key := string(p.Proposal.Add.KeyPackage.LeafNode.SignatureKey)
			if addKeys[key] {
				continue
			}
			addKeys[key] = true
		}
		list = append(list, c)
	}
	if len(list) == 0 && reinit >= 0 {
		p := g.public.proposals[reinit]
		list = append(list, committed{proposal: p.Proposal, sender: p.Sender, ref: p.Ref})
	}
	return list
}

// commitBuilder creates a commit and the epoch it leads to, for a member
// or an external joiner (RFC 9420 §12.4.1).
type commitBuilder struct {
	public    *PublicGroup
	sender    mls.Sender
	committer LeafIndex
	list      *proposalList
	applied   *applied
	signer    *cipher.Signer
	// leaf is the template of the committer's new leaf when withPath.
	leaf       mls.LeafNode
	withPath   bool
	initSecret []byte
	pskSecret  []byte
	opts       *CommitOptions
	// member is the committing member, nil for an external joiner.
	member *Group
}

// build creates the commit message, the new epoch's secrets, GroupInfo
// and Welcome.
func (c *commitBuilder) build() (*PendingCommit, error) {
	pub, a, suite := c.public, c.applied, c.public.suite
	provisional := a.ctx
	provisional.Epoch = pub.ctx.Epoch + 1
	var path *tree.Path
	var commitSecret []byte
	if c.withPath {
		old := a.tree.Leaf(c.committer)
		var err error
		path, err = a.tree.CreateUpdatePath(c.committer, c.leaf, c.signer, &provisional, a.added)
		if err != nil {
			return nil, treeRule(err, ErrPath)
		}
		a.replaceLeaf(old, c.committer)
		commitSecret = path.CommitSecret
	}
	provisional.TreeHash = a.tree.TreeHash()

	commit := &mls.Commit{Proposals: make([]mls.ProposalOrRef, len(c.list.all))}
	for i, p := range c.list.all {
		if p.ref != nil {
			commit.Proposals[i] = mls.ProposalOrRef{Type: mls.ProposalOrRefReference, Reference: p.ref}
		} else {
			commit.Proposals[i] = mls.ProposalOrRef{Type: mls.ProposalOrRefProposal, Proposal: *p.proposal}
		}
	}
	if path != nil {
		commit.Path = path.UpdatePath
	}
	content := &mls.FramedContent{
		GroupID:           pub.ctx.GroupID,
		Epoch:             pub.ctx.Epoch,
		Sender:            c.sender,
		AuthenticatedData: c.opts.AuthenticatedData,
		Content:           mls.Content{ContentType: mls.ContentCommit, Commit: commit},
	}
	ac, err := framing.Sign(c.signer, c.opts.wireFormat(), content, &pub.ctx)
	if err != nil {
		return nil, err
	}
	ctx := provisional
	ctx.ConfirmedTranscriptHash = schedule.ConfirmedTranscriptHash(suite, pub.interim, ac.Framed(), ac.Auth.Signature)
	epoch := schedule.Derive(suite, c.initSecret, commitSecret, c.pskSecret, &ctx)
	ac.Auth.ConfirmationTag = schedule.ConfirmationTag(suite, epoch.ConfirmationKey, ctx.ConfirmedTranscriptHash)

	pc := &PublicCommit{from: pub, content: ac, list: c.list, applied: a, provisional: provisional, committer: c.committer}
	pc.next = pub.successor(provisional, a, ac)
	out := &PendingCommit{}
	if c.member != nil {
		if out.Message, err = c.member.protect(ac, c.opts.Padding); err != nil {
			return nil, err
		}
	} else {
		m, err := framing.ProtectPublic(suite, ac, nil)
		if err != nil {
			return nil, err
		}
		out.Message = mls.NewPublicMessage(m)
	}
	if out.GroupInfo, err = groupInfo(pc.next, c.committer, c.signer, epoch.ExternalSecret, &c.opts.GroupInfoOptions); err != nil {
		return nil, err
	}
	if len(a.added) > 0 {
		if out.Welcome, err = c.welcome(out.GroupInfo, epoch, path); err != nil {
			return nil, err
		}
	}
	priv := c.ownPrivate(path, pc)
	st, err := schedule.NewSecretTree(suite, epoch.EncryptionSecret, uint32(pc.next.tree.LeafCount()), c.config().limits())
	if err != nil {
		return nil, err
	}
	out.StagedCommit = &StagedCommit{from: c.member, public: pc, priv: priv, secrets: newEpochSecrets(epoch), secretTree: st}
	if c.list.reinit != nil {
		out.StagedCommit.status = reinit
	}
	return out, nil
}

func (c *commitBuilder) config() *Config { return c.public.cfg }

// ownPrivate returns the committer's private keys in the new tree.
func (c *commitBuilder) ownPrivate(path *tree.Path, pc *PublicCommit) *tree.Private {
	if path != nil {
		return path.Private
	}
	priv := c.member.priv.Clone()
	priv.Prune(pc.next.tree)
	return priv
}

// welcome encrypts the new epoch's GroupInfo and each added member's
// GroupSecrets (RFC 9420 §12.4.3.1).
func (c *commitBuilder) welcome(gi *mls.GroupInfo, epoch *schedule.Epoch, path *tree.Path) (*mls.Welcome, error) {
	suite := c.public.suite
	recipients := make([]framing.WelcomeRecipient, len(c.applied.added))
	for i, l := range c.applied.added {
		kp := c.list.adds[i]
		secrets := &mls.GroupSecrets{JoinerSecret: epoch.JoinerSecret, PSKs: c.list.psks}
		if path != nil {
			secrets.PathSecret = &mls.PathSecret{PathSecret: path.PathSecret(l)}
		}
		recipients[i] = framing.WelcomeRecipient{
			KeyPackageRef: suite.MakeKeyPackageRef(codec.Marshal(kp)),
			InitKey:       kp.InitKey,
			Secrets:       secrets,
		}
	}
	return framing.NewWelcome(suite, epoch.WelcomeSecret, gi, recipients)
}

// groupInfo makes and signs the GroupInfo of group g's epoch by the
// member at signer (RFC 9420 §12.4.3), with the ratchet tree and the
// external public key derived from externalSecret unless opts omit them.
func groupInfo(g *PublicGroup, signer LeafIndex, key *cipher.Signer, externalSecret []byte, opts *GroupInfoOptions) (*mls.GroupInfo, error) {
	gi := &mls.GroupInfo{
		GroupContext:    g.ctx,
		ConfirmationTag: g.confirmationTag,
		Signer:          uint32(signer),
	}
	if !opts.OmitExternalPub {
		_, pub, err := schedule.ExternalKeyPair(g.suite, externalSecret)
		if err != nil {
			return nil, err
		}
		gi.Extensions = append(gi.Extensions, mls.NewExtension(&mls.ExternalPub{ExternalPub: pub}))
	}
	if !opts.OmitRatchetTree {
		gi.Extensions = append(gi.Extensions, mls.Extension{Type: mls.ExtensionRatchetTree, Data: g.enc.encode(g.tree)})
	}
	gi.Extensions = append(gi.Extensions, opts.Extensions...)
	if err := framing.SignGroupInfo(key, gi); err != nil {
		return nil, err
	}
	return gi, nil
}

// GroupInfo returns a signed GroupInfo of the current epoch, from which
// clients can join by external commit or start following the group.
func (g *Group) GroupInfo(opts GroupInfoOptions) (*mls.GroupInfo, error) {
	if err := g.checkActive(); err != nil {
		return nil, err
	}
	return groupInfo(g.public, g.self, g.signer, g.secrets.external, &opts)
}

// randomSecret returns a fresh secret of the suite's hash length.
func randomSecret(suite *cipher.Suite) []byte {
	s := make([]byte, suite.HashLen())
	rand.Read(s)
	return s
}

// sameLeaf reports whether two leaf nodes encode identically.
func sameLeaf(a, b *mls.LeafNode) bool {
	return bytes.Equal(codec.Marshal(a), codec.Marshal(b))
}
