package group

import (
	"bytes"
	"fmt"
	"iter"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/cipher"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/framing"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/schedule"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/tree"
)

// LeafIndex is a member's position in the ratchet tree.
type LeafIndex = tree.LeafIndex

// Member is an occupied leaf of the tree.
type Member struct {
	Leaf LeafIndex
	Node *mls.LeafNode
}

// PublicGroup is one epoch of a group as anyone who follows its handshake
// messages sees it, member or not: the ratchet tree, the GroupContext, the
// interim transcript hash and the proposals received in the epoch. It holds
// no secret.
type PublicGroup struct {
	cfg   *Config
	suite *cipher.Suite
	ctx   mls.GroupContext
	ext   *contextExtensions
	tree  *tree.Tree
	enc   *treeEncoder
	// interim is the interim transcript hash, confirmationTag the tag of
	// the commit that started the epoch (RFC 9420 §8.2).
	interim         []byte
	confirmationTag []byte
	// proposals are the valid proposals received in this epoch, in order.
	proposals []*Proposal
	// clientsCache counts the members by Config.ClientID, once needed.
	clientsCache *clientCounts
}

// NewPublicGroup starts following a group from a GroupInfo (RFC 9420
// §12.4.3.1), with the ratchet tree of its ratchet_tree extension or, when
// it has none, ratchetTree. It checks what a joiner checks: the cipher
// suite and version, the tree (shape, unmerged leaves, unique keys, every
// leaf valid, every parent hash valid), that its hash is the group
// context's, that every member supports the group context's extensions, and
// the GroupInfo's signature by its signer's leaf.
func NewPublicGroup(gi *mls.GroupInfo, ratchetTree mls.RatchetTree, cfg *Config) (*PublicGroup, error) {
	cfg = cfg.orDefault()
	gc := &gi.GroupContext
	suite, err := lookupSuite(gc)
	if err != nil {
		return nil, err
	}
	nodes, err := groupInfoTree(gi, ratchetTree)
	if err != nil {
		return nil, err
	}
	ext, err := parseContextExtensions(gc.Extensions)
	if err != nil {
		return nil, err
	}
	t, err := verifiedTree(suite, nodes, gi, ext)
	if err != nil {
		return nil, err
	}
	return &PublicGroup{
		cfg:             cfg,
		suite:           suite,
		ctx:             cloneContext(gc),
		ext:             ext,
		tree:            t,
		enc:             newTreeEncoder(),
		interim:         schedule.InterimTranscriptHash(suite, gc.ConfirmedTranscriptHash, gi.ConfirmationTag),
		confirmationTag: bytes.Clone(gi.ConfirmationTag),
	}, nil
}

// lookupSuite returns the cipher suite of a group context, checking its
// protocol version.
func lookupSuite(gc *mls.GroupContext) (*cipher.Suite, error) {
	if gc.Version != mls.MLS10 {
		return nil, ruled(ErrUnsupported, "protocol version %v", gc.Version)
	}
	suite, err := cipher.Lookup(cipher.SuiteID(gc.CipherSuite))
	if err != nil {
		return nil, wrap(ErrUnsupported, err)
	}
	return suite, nil
}

// groupInfoTree returns the ratchet tree of gi's extension, or supplied.
func groupInfoTree(gi *mls.GroupInfo, supplied mls.RatchetTree) (mls.RatchetTree, error) {
	var nodes mls.RatchetTree
	found, err := gi.Extensions.Decode(&nodes)
	switch {
	case err != nil:
		return nil, wrap(ErrMalformed, err)
	case found:
		return nodes, nil
	case supplied == nil:
		return nil, ruled(ErrNoTree, "the GroupInfo has no ratchet_tree extension and no tree was given")
	}
	return supplied, nil
}

// verifiedTree builds the tree of a group a client joins or starts
// following from gi and makes the checks of RFC 9420 §12.4.3.1, in this
// order: the tree hash, the tree (leaves and parent hashes), that every
// member supports the group context's extensions, the GroupInfo's
// signature. All but the leaf signatures run while those are verified on
// other goroutines.
func verifiedTree(suite *cipher.Suite, nodes mls.RatchetTree, gi *mls.GroupInfo, ext *contextExtensions) (*tree.Tree, error) {
	gc := &gi.GroupContext
	t, err := tree.New(suite, nodes)
	if err != nil {
		return nil, treeRule(err, ErrTree)
	}
	var hashErr, laterErr error
	err = t.VerifyWith(&tree.Params{GroupID: gc.GroupID, Required: ext.required}, func() error {
		if !bytes.Equal(t.TreeHash(), gc.TreeHash) {
			hashErr = ruled(ErrTreeHash, "the tree hashes to %x, the group context says %x", t.TreeHash(), gc.TreeHash)
			return hashErr
		}
		if laterErr = supportedByAll(t, gc.Extensions); laterErr == nil {
			laterErr = verifyGroupInfo(suite, t, gi)
		}
		return nil
	})
	switch {
	case hashErr != nil:
		return nil, hashErr
	case err != nil:
		return nil, treeRule(err, ErrTree)
	case laterErr != nil:
		return nil, laterErr
	}
	return t, nil
}

// supportedByAll checks that every member supports the group context
// extensions list (RFC 9420 §12.4.3.1).
func supportedByAll(t *tree.Tree, list mls.Extensions) error {
	if !hasNonDefault(list) {
		return nil
	}
	for l, leaf := range t.Members() {
		if err := supportsContext(leaf, list); err != nil {
			return fmt.Errorf("%w (leaf %d)", err, l)
		}
	}
	return nil
}

// verifyGroupInfo checks gi's signature with the key of its signer's leaf
// in t.
func verifyGroupInfo(suite *cipher.Suite, t *tree.Tree, gi *mls.GroupInfo) error {
	signer := t.Leaf(LeafIndex(gi.Signer))
	if signer == nil {
		return ruled(ErrGroupInfoSignature, "signer %d is not a member", gi.Signer)
	}
	if err := framing.VerifyGroupInfo(suite, signer.SignatureKey, gi); err != nil {
		return wrap(ErrGroupInfoSignature, err)
	}
	return nil
}

// cloneContext returns a copy of gc whose slices do not alias it.
func cloneContext(gc *mls.GroupContext) mls.GroupContext {
	c := *gc
	c.GroupID = bytes.Clone(gc.GroupID)
	c.TreeHash = bytes.Clone(gc.TreeHash)
	c.ConfirmedTranscriptHash = bytes.Clone(gc.ConfirmedTranscriptHash)
	c.Extensions = cloneExtensions(gc.Extensions)
	return c
}

func cloneExtensions(list mls.Extensions) mls.Extensions {
	if list == nil {
		return nil
	}
	out := make(mls.Extensions, len(list))
	for i, e := range list {
		out[i] = mls.Extension{Type: e.Type, Data: bytes.Clone(e.Data)}
	}
	return out
}

// Suite returns the group's cipher suite.
func (g *PublicGroup) Suite() *cipher.Suite { return g.suite }

// Context returns the group context of the epoch. It must not be modified.
func (g *PublicGroup) Context() *mls.GroupContext { return &g.ctx }

// GroupID returns the group's id.
func (g *PublicGroup) GroupID() []byte { return g.ctx.GroupID }

// Epoch returns the current epoch.
func (g *PublicGroup) Epoch() uint64 { return g.ctx.Epoch }

// TreeHash returns the tree hash of the epoch's ratchet tree.
func (g *PublicGroup) TreeHash() []byte { return g.ctx.TreeHash }

// InterimTranscriptHash returns the epoch's interim transcript hash.
func (g *PublicGroup) InterimTranscriptHash() []byte { return g.interim }

// ConfirmationTag returns the confirmation tag of the commit that started
// the epoch (or of the group's creation), which GroupInfos carry.
func (g *PublicGroup) ConfirmationTag() []byte { return g.confirmationTag }

// ExternalSenders returns the group's external_senders extension.
func (g *PublicGroup) ExternalSenders() mls.ExternalSenders { return g.ext.senders }

// RequiredCapabilities returns the group's required_capabilities
// extension, or nil.
func (g *PublicGroup) RequiredCapabilities() *mls.RequiredCapabilities { return g.ext.required }

// RatchetTree returns the ratchet tree as the ratchet_tree extension
// carries it.
func (g *PublicGroup) RatchetTree() mls.RatchetTree { return g.tree.RatchetTree() }

// Tree returns the ratchet tree. It must not be modified.
func (g *PublicGroup) Tree() *tree.Tree { return g.tree }

// MemberCount returns the number of members.
func (g *PublicGroup) MemberCount() int { return g.tree.MemberCount() }

// Members iterates over the members in leaf order.
func (g *PublicGroup) Members() iter.Seq[Member] {
	return func(yield func(Member) bool) {
		for l, leaf := range g.tree.Members() {
			if !yield(Member{Leaf: l, Node: leaf}) {
				return
			}
		}
	}
}

// Member returns the leaf node at l, or nil when l is blank.
func (g *PublicGroup) Member(l LeafIndex) *mls.LeafNode { return g.tree.Leaf(l) }

// Proposals returns the proposals received in this epoch, in order.
func (g *PublicGroup) Proposals() []*Proposal { return g.proposals }

// params returns the leaf validation parameters of the epoch.
func (g *PublicGroup) params() *tree.Params { return g.cfg.params(&g.ctx, g.ext.required) }

// signatureKey returns the key that signs content from its sender (RFC
// 9420 §6.1): a member's leaf's, an external sender's, or for a new member
// that of the leaf it brings. The content's group and epoch must have been
// checked.
func (g *PublicGroup) signatureKey(c *mls.FramedContent) ([]byte, error) {
	switch s := c.Sender; s.Type {
	case mls.SenderMember:
		leaf := g.tree.Leaf(LeafIndex(s.Index))
		if leaf == nil {
			return nil, ruled(ErrUnknownSender, "leaf %d is blank or outside the tree", s.Index)
		}
		return leaf.SignatureKey, nil
	case mls.SenderExternal:
		if c.ContentType != mls.ContentProposal {
			return nil, ruled(ErrSenderType, "an external sender sent a %v", c.ContentType)
		}
		if int64(s.Index) >= int64(len(g.ext.senders)) {
			return nil, ruled(ErrUnknownSender, "external sender %d of %d", s.Index, len(g.ext.senders))
		}
		return g.ext.senders[s.Index].SignatureKey, nil
	case mls.SenderNewMemberProposal:
		if c.ContentType != mls.ContentProposal || c.Proposal.Type != mls.ProposalAdd {
			return nil, ruled(ErrSenderType, "a new member may only propose to add itself")
		}
		return c.Proposal.Add.KeyPackage.LeafNode.SignatureKey, nil
	case mls.SenderNewMemberCommit:
		if c.ContentType != mls.ContentCommit {
			return nil, ruled(ErrSenderType, "a new_member_commit sender sent a %v", c.ContentType)
		}
		if c.Commit.Path == nil {
			return nil, ruled(ErrPathRequired, "an external commit has no path")
		}
		return c.Commit.Path.LeafNode.SignatureKey, nil
	}
	return nil, ruled(ErrSenderType, "sender type %v", c.Sender.Type)
}

// checkEpoch checks that content is for this group and epoch.
func (g *PublicGroup) checkEpoch(groupID []byte, epoch uint64) error {
	if !bytes.Equal(groupID, g.ctx.GroupID) {
		return ruled(ErrWrongGroup, "group %x, not %x", groupID, g.ctx.GroupID)
	}
	if epoch != g.ctx.Epoch {
		return ruled(ErrWrongEpoch, "epoch %d, the group is in %d", epoch, g.ctx.Epoch)
	}
	return nil
}

// verifyPublic authenticates a PublicMessage: group, epoch, sender,
// signature, and the membership tag of a member's message — its value when
// membershipKey is given (a member), its presence otherwise.
func (g *PublicGroup) verifyPublic(m *mls.PublicMessage, membershipKey []byte) (*framing.Authenticated, error) {
	if err := g.checkEpoch(m.Content.GroupID, m.Content.Epoch); err != nil {
		return nil, err
	}
	key, err := g.signatureKey(&m.Content)
	if err != nil {
		return nil, err
	}
	var ac *framing.Authenticated
	if membershipKey != nil {
		ac, err = framing.UnprotectPublic(g.suite, m, &g.ctx, membershipKey, key)
	} else {
		ac, err = framing.VerifyPublic(g.suite, m, &g.ctx, key)
	}
	if err != nil {
		return nil, framingRule(err)
	}
	return ac, nil
}

// Clone returns a copy of g that can evolve independently. It shares the
// immutable parts (tree nodes, received proposals).
func (g *PublicGroup) Clone() *PublicGroup {
	c := *g
	c.tree = g.tree.Clone()
	c.enc = newTreeEncoder()
	c.proposals = make([]*Proposal, len(g.proposals))
	for i, p := range g.proposals {
		cp := *p
		c.proposals[i] = &cp
	}
	return &c
}
