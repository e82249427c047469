package group

import (
	"bytes"
	"errors"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/framing"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/schedule"
)

// PublicCommit is a validated commit and the epoch it creates, as a
// non-member computes it. Nothing changes until the group merges it.
type PublicCommit struct {
	from *PublicGroup
	next *PublicGroup

	content *framing.Authenticated
	list    *proposalList
	applied *applied
	// provisional is the group context path secrets are encrypted under
	// (RFC 9420 §12.4.2): the new epoch's, with the old transcript hash.
	provisional mls.GroupContext
	committer   LeafIndex
}

// StageCommit validates a commit sent as a PublicMessage in this epoch
// (RFC 9420 §12.4.2) as a non-member can: framing, sender, signature and
// membership tag presence; the proposal list (§12.2, or §12.4.3.2 for an
// external commit), proposals by reference resolved among those recorded
// in this epoch; that each proposal and the path are valid against the tree
// as it evolves (leaf nodes §7.3, unique keys, parent hashes §7.9.2); and
// that a member's commit covers every proposal marked with Require. It
// returns the epoch the commit creates; the group is not changed.
func (g *PublicGroup) StageCommit(m *mls.PublicMessage) (*PublicCommit, error) {
	if m.Content.ContentType != mls.ContentCommit {
		return nil, ruled(ErrMalformed, "a %v where a commit is expected", m.Content.ContentType)
	}
	ac, err := g.verifyPublic(m, nil)
	if err != nil {
		return nil, err
	}
	return g.stageCommit(ac)
}

// stageCommit validates and applies an authenticated commit.
func (g *PublicGroup) stageCommit(ac *framing.Authenticated) (*PublicCommit, error) {
	commit := ac.Content.Commit
	sender := ac.Content.Sender
	if sender.Type != mls.SenderMember && sender.Type != mls.SenderNewMemberCommit {
		return nil, ruled(ErrSenderType, "a %v sent a commit", sender.Type)
	}
	if len(ac.Auth.ConfirmationTag) != g.suite.HashLen() {
		return nil, ruled(ErrConfirmationTag, "%d octets, not %d", len(ac.Auth.ConfirmationTag), g.suite.HashLen())
	}
	list, err := g.resolve(commit, sender)
	if err != nil {
		return nil, err
	}
	pl, err := sortProposals(list, sender)
	if err != nil {
		return nil, err
	}
	if pl.pathRequired && commit.Path == nil {
		return nil, ruled(ErrPathRequired, "%d proposals", len(list))
	}
	// An external commit cannot cover required proposals: it carries none
	// by reference and removes no leaf but the joiner's own (§12.4.3.2).
	// Holding it to them would keep everyone out until a member commits;
	// Uncovered tells the caller what to propose again in the new epoch.
	if sender.Type != mls.SenderNewMemberCommit {
		if err := g.checkRequired(pl); err != nil {
			return nil, err
		}
	}
	a, err := g.apply(pl)
	if err != nil {
		return nil, err
	}
	c := &PublicCommit{from: g, content: ac, list: pl, applied: a, committer: LeafIndex(sender.Index)}
	if sender.Type == mls.SenderNewMemberCommit {
		c.committer = a.tree.FreeLeaf()
		if err := g.checkResync(a, &commit.Path.LeafNode); err != nil {
			return nil, err
		}
	}
	c.provisional = a.ctx
	c.provisional.Epoch = g.ctx.Epoch + 1
	if commit.Path != nil {
		old := a.tree.Leaf(c.committer)
		if err := a.tree.MergeUpdatePath(c.committer, commit.Path, a.added, a.params); err != nil {
			return nil, treeRule(err, ErrPath)
		}
		a.replaceLeaf(old, c.committer)
		if err := supportsContext(&commit.Path.LeafNode, a.ctx.Extensions); err != nil {
			return nil, err
		}
	}
	c.provisional.TreeHash = a.tree.TreeHash()
	c.next = g.successor(c.provisional, a, ac)
	return c, nil
}

// successor returns the group in the epoch a commit creates, whose
// provisional group context and applied proposals are given (RFC 9420
// §8.2): the new confirmed transcript hash covers the commit, the interim
// one its confirmation tag.
func (g *PublicGroup) successor(provisional mls.GroupContext, a *applied, ac *framing.Authenticated) *PublicGroup {
	ctx := provisional
	ctx.ConfirmedTranscriptHash = schedule.ConfirmedTranscriptHash(g.suite, g.interim, ac.Framed(), ac.Auth.Signature)
	var clients *clientCounts
	if g.clientsCache != nil && a.clients != nil {
		clients = g.clientsCache.with(a.clients.counts)
	}
	return &PublicGroup{
		clientsCache:    clients,
		cfg:             g.cfg,
		suite:           g.suite,
		ctx:             ctx,
		ext:             a.ext,
		tree:            a.tree,
		enc:             g.enc,
		interim:         schedule.InterimTranscriptHash(g.suite, ctx.ConfirmedTranscriptHash, ac.Auth.ConfirmationTag),
		confirmationTag: bytes.Clone(ac.Auth.ConfirmationTag),
	}
}

// checkRequired checks that pl covers every required proposal.
func (g *PublicGroup) checkRequired(pl *proposalList) error {
	for _, p := range g.proposals {
		if p.Required && !pl.covers(p) {
			return ruled(ErrRequiredProposal, "%v proposal %x", p.Proposal.Type, p.Ref)
		}
	}
	return nil
}

// checkResync checks the Remove of an external commit: it must remove the
// joiner's own old leaf, which the new leaf must be able to replace as in
// an Update (RFC 9420 §12.4.3.2).
func (g *PublicGroup) checkResync(a *applied, leaf *mls.LeafNode) error {
	if len(a.removed) == 0 {
		return nil
	}
	if !g.cfg.sameClient(a.removed[0].Node, leaf) {
		return ruled(ErrExternalCommit, "the Remove of leaf %d is not of the joiner's own client", a.removed[0].Leaf)
	}
	return nil
}

// Group returns the group in the epoch the commit creates. It shares
// state with the commit: merge the commit or use this, not both.
func (c *PublicCommit) Group() *PublicGroup { return c.next }

// Committer returns the committer's leaf in the new epoch: its own or,
// for an external commit, the one it joined at.
func (c *PublicCommit) Committer() Member {
	return Member{Leaf: c.committer, Node: c.next.tree.Leaf(c.committer)}
}

// External reports whether the commit is an external commit: a new
// member joining.
func (c *PublicCommit) External() bool {
	return c.content.Content.Sender.Type == mls.SenderNewMemberCommit
}

// Added returns the members the commit's Add proposals added, who are
// sent a Welcome.
func (c *PublicCommit) Added() []Member {
	out := make([]Member, len(c.applied.added))
	for i, l := range c.applied.added {
		out[i] = Member{Leaf: l, Node: c.next.tree.Leaf(l)}
	}
	return out
}

// Removed returns the members the commit removed, as they were.
func (c *PublicCommit) Removed() []Member { return c.applied.removed }

// Uncovered returns the required proposals of the epoch the commit does
// not cover, which only an external commit may leave out; the epoch it
// creates holds none of them.
func (c *PublicCommit) Uncovered() []Proposal {
	var out []Proposal
	for _, p := range c.from.proposals {
		if p.Required && !c.list.covers(p) {
			out = append(out, *p)
		}
	}
	return out
}

// Proposals returns the commit's proposals in order, with their senders.
// Ref is nil for a proposal carried by value.
func (c *PublicCommit) Proposals() []Proposal {
	out := make([]Proposal, len(c.list.all))
	for i, p := range c.list.all {
		out[i] = Proposal{Ref: p.ref, Sender: p.sender, Proposal: p.proposal}
	}
	return out
}

// CheckGroupInfo checks the GroupInfo a committer publishes with its
// commit: its group context is the one the commit creates, its
// confirmation tag is the commit's, it is signed by the committer's new
// leaf, and a ratchet_tree extension, when present, is the new tree.
func (c *PublicCommit) CheckGroupInfo(gi *mls.GroupInfo) error {
	n := c.next
	if err := sameContext(&gi.GroupContext, &n.ctx); err != nil {
		return err
	}
	if !bytes.Equal(gi.ConfirmationTag, n.confirmationTag) {
		return ruled(ErrGroupInfoMismatch, "another confirmation tag")
	}
	if gi.Signer != uint32(c.committer) {
		return ruled(ErrGroupInfoMismatch, "signed by leaf %d, not the committer's %d", gi.Signer, c.committer)
	}
	if data, ok := gi.Extensions.Find(mls.ExtensionRatchetTree); ok {
		if !n.enc.equal(n.tree, data) {
			return ruled(ErrGroupInfoMismatch, "its ratchet_tree extension is not the new tree")
		}
	}
	return verifyGroupInfo(n.suite, n.tree, gi)
}

// sameContext checks that a GroupInfo's group context is want, naming the
// first field that differs.
func sameContext(got, want *mls.GroupContext) error {
	field := ""
	switch {
	case got.Version != want.Version, got.CipherSuite != want.CipherSuite:
		field = "version or cipher suite"
	case !bytes.Equal(got.GroupID, want.GroupID):
		field = "group id"
	case got.Epoch != want.Epoch:
		return ruled(ErrGroupInfoMismatch, "epoch %d, the commit creates %d", got.Epoch, want.Epoch)
	case !bytes.Equal(got.TreeHash, want.TreeHash):
		field = "tree hash"
	case !bytes.Equal(got.ConfirmedTranscriptHash, want.ConfirmedTranscriptHash):
		field = "confirmed transcript hash"
	case !bytes.Equal(codec.Marshal(got.Extensions), codec.Marshal(want.Extensions)):
		field = "extensions"
	default:
		return nil
	}
	return ruled(ErrGroupInfoMismatch, "another %s than the commit's", field)
}

// errStaleCommit refuses to merge a commit staged in another epoch.
var errStaleCommit = errors.New("mls group: the commit was not staged from this group's current epoch")

// Merge makes the epoch c creates the group's current one. c must have
// been staged by g in its current epoch.
func (g *PublicGroup) Merge(c *PublicCommit) error {
	if c.from != g || g.ctx.Epoch+1 != c.next.ctx.Epoch {
		return errStaleCommit
	}
	*g = *c.next
	return nil
}
