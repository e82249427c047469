package group

import (
	"bytes"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/cipher"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/framing"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/schedule"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/tree"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/treemath"
)

// CreateOptions shape a new group.
type CreateOptions struct {
	// Extensions are the group context extensions, such as
	// external_senders and required_capabilities.
	Extensions mls.Extensions
	// Leaf shapes the creator's leaf as KeyPackageOptions do; its
	// capabilities must list every non-default extension and meet
	// required_capabilities.
	Leaf   KeyPackageOptions
	Config *Config
}

// NewGroup creates a group of one member, the creator, in epoch 0
// (RFC 9420 §11).
func NewGroup(suite *cipher.Suite, groupID []byte, id Identity, opts CreateOptions) (*Group, error) {
	cfg := opts.Config.orDefault()
	signer, err := suite.NewSigner(id.SignaturePriv)
	if err != nil {
		return nil, err
	}
	// The creator's leaf is a KeyPackage's leaf it does not publish.
	bundle, err := NewKeyPackage(suite, id.Credential, signer, opts.Leaf)
	if err != nil {
		return nil, err
	}
	leaf := &bundle.KeyPackage.LeafNode
	ext, err := parseContextExtensions(opts.Extensions)
	if err != nil {
		return nil, err
	}
	if err := supportsContext(leaf, opts.Extensions); err != nil {
		return nil, err
	}
	if err := meetsRequired(leaf, ext.required); err != nil {
		return nil, err
	}
	t, err := tree.New(suite, mls.RatchetTree{{Leaf: leaf}})
	if err != nil {
		return nil, treeRule(err, ErrTree)
	}
	ctx := mls.GroupContext{
		Version:                 mls.MLS10,
		CipherSuite:             mls.CipherSuite(suite.ID()),
		GroupID:                 bytes.Clone(groupID),
		TreeHash:                t.TreeHash(),
		ConfirmedTranscriptHash: []byte{},
		Extensions:              opts.Extensions,
	}
	// A fresh random init secret makes the epoch secret fresh and random.
	epoch := schedule.Derive(suite, randomSecret(suite), nil, nil, &ctx)
	tag := schedule.ConfirmationTag(suite, epoch.ConfirmationKey, ctx.ConfirmedTranscriptHash)
	pub := &PublicGroup{
		cfg: cfg, suite: suite, ctx: ctx, ext: ext, tree: t, enc: newTreeEncoder(),
		interim:         schedule.InterimTranscriptHash(suite, ctx.ConfirmedTranscriptHash, tag),
		confirmationTag: tag,
	}
	priv, err := tree.NewPrivate(t, 0, bundle.EncryptionPriv)
	if err != nil {
		return nil, err
	}
	return newMember(pub, id.SignaturePriv, signer, priv, epoch)
}

// newMember assembles a member's group in its first epoch.
func newMember(pub *PublicGroup, sigPriv []byte, signer *cipher.Signer, priv *tree.Private, epoch *schedule.Epoch) (*Group, error) {
	st, err := schedule.NewSecretTree(pub.suite, epoch.EncryptionSecret, uint32(pub.tree.LeafCount()), pub.cfg.limits())
	if err != nil {
		return nil, err
	}
	return &Group{
		public:        pub,
		cfg:           pub.cfg,
		signaturePriv: sigPriv,
		signer:        signer,
		self:          priv.Leaf(),
		priv:          priv,
		secrets:       newEpochSecrets(epoch),
		secretTree:    st,
	}, nil
}

// JoinOptions shape joining from a Welcome.
type JoinOptions struct {
	// RatchetTree is the group's tree when the Welcome's GroupInfo does
	// not carry it (RFC 9420 §12.4.3.3).
	RatchetTree mls.RatchetTree
	Config      *Config
}

// Join enters a group from a Welcome for the KeyPackage of bundle
// (RFC 9420 §12.4.3.1): it decrypts its GroupSecrets and GroupInfo, checks
// the GroupInfo's signature and the tree, finds its own leaf, derives the
// keys of its path from the path secret and the epoch's secrets from the
// joiner secret, and checks the confirmation tag.
func Join(w *mls.Welcome, bundle *KeyPackageBundle, id Identity, opts JoinOptions) (*Group, error) {
	cfg := opts.Config.orDefault()
	kp := bundle.KeyPackage
	if w.CipherSuite != kp.CipherSuite {
		return nil, ruled(ErrWelcome, "a Welcome of cipher suite %v for a KeyPackage of %v", w.CipherSuite, kp.CipherSuite)
	}
	suite, err := cipher.Lookup(cipher.SuiteID(kp.CipherSuite))
	if err != nil {
		return nil, wrap(ErrUnsupported, err)
	}
	signer, err := suite.NewSigner(id.SignaturePriv)
	if err != nil {
		return nil, err
	}
	gs, err := framing.DecryptGroupSecrets(suite, w, suite.MakeKeyPackageRef(codec.Marshal(kp)), bundle.InitPriv)
	if err != nil {
		return nil, wrap(ErrWelcome, err)
	}
	if err := checkWelcomePSKs(gs.PSKs); err != nil {
		return nil, err
	}
	pskSecret, err := pskSecret(suite, gs.PSKs, cfg.psk)
	if err != nil {
		return nil, err
	}
	gi, err := framing.DecryptGroupInfo(suite, schedule.WelcomeSecret(suite, gs.JoinerSecret, pskSecret), w.EncryptedGroupInfo)
	if err != nil {
		return nil, wrap(ErrWelcome, err)
	}
	if gi.GroupContext.CipherSuite != kp.CipherSuite {
		return nil, ruled(ErrWelcome, "the group's cipher suite is %v, the KeyPackage's %v", gi.GroupContext.CipherSuite, kp.CipherSuite)
	}
	pub, err := NewPublicGroup(gi, opts.RatchetTree, cfg)
	if err != nil {
		return nil, err
	}
	self, err := findLeaf(pub.tree, &kp.LeafNode)
	if err != nil {
		return nil, err
	}
	priv, err := tree.NewPrivate(pub.tree, self, bundle.EncryptionPriv)
	if err != nil {
		return nil, wrap(ErrWelcome, err)
	}
	if gs.PathSecret != nil {
		x := treemath.CommonAncestor(self.NodeIndex(), LeafIndex(gi.Signer).NodeIndex())
		if err := priv.ImportPathSecret(pub.tree, x, gs.PathSecret.PathSecret); err != nil {
			return nil, treeRule(err, ErrWelcome)
		}
	}
	epoch := schedule.Join(suite, gs.JoinerSecret, pskSecret, &pub.ctx)
	if !schedule.VerifyConfirmationTag(suite, epoch.ConfirmationKey, pub.ctx.ConfirmedTranscriptHash, gi.ConfirmationTag) {
		return nil, ruled(ErrConfirmationTag, "of the Welcome's GroupInfo")
	}
	if pub.ctx.Epoch != 1 && hasReInitOrBranch(gs.PSKs) {
		return nil, ruled(ErrWelcome, "a reinit or branch PSK in epoch %d, not 1", pub.ctx.Epoch)
	}
	return newMember(pub, id.SignaturePriv, signer, priv, epoch)
}

// checkWelcomePSKs checks that a Welcome names at most one resumption PSK
// of usage reinit or branch (RFC 9420 §12.4.3.1).
func checkWelcomePSKs(ids []mls.PreSharedKeyID) error {
	n := 0
	for i := range ids {
		if ids[i].Type == mls.PSKResumption && ids[i].Usage != mls.ResumptionApplication {
			n++
		}
	}
	if n > 1 {
		return ruled(ErrWelcome, "%d reinit or branch PSKs", n)
	}
	return nil
}

func hasReInitOrBranch(ids []mls.PreSharedKeyID) bool {
	for i := range ids {
		if ids[i].Type == mls.PSKResumption && ids[i].Usage != mls.ResumptionApplication {
			return true
		}
	}
	return false
}

// findLeaf returns the leaf of t identical to leaf (RFC 9420 §12.4.3.1).
func findLeaf(t *tree.Tree, leaf *mls.LeafNode) (LeafIndex, error) {
	x, ok := t.FindEncryptionKey(leaf.EncryptionKey)
	if ok {
		if l, isLeaf := x.LeafIndex(); isLeaf && sameLeaf(t.Leaf(l), leaf) {
			return l, nil
		}
	}
	return 0, ruled(ErrWelcome, "the tree has no leaf of this KeyPackage")
}

// ExternalJoinOptions shape an external commit.
type ExternalJoinOptions struct {
	// RatchetTree is the group's tree when the GroupInfo does not carry it.
	RatchetTree mls.RatchetTree
	// Resync removes the joiner's own old leaf (RFC 9420 §12.4.3.2).
	Resync *LeafIndex
	// PSKs are injected with PreSharedKey proposals.
	PSKs []mls.PreSharedKeyID
	// Leaf shapes the joiner's leaf (capabilities, extensions).
	Leaf KeyPackageOptions
	// AuthenticatedData is sent with the commit.
	AuthenticatedData []byte
	GroupInfoOptions
	Config *Config
}

// JoinExternal joins a group by external commit from its GroupInfo, which
// must carry external_pub (RFC 9420 §12.4.3.2). It returns the group as
// the joiner will be in it and the commit to send; the group may be used
// only once the Delivery Service accepted the commit.
func JoinExternal(gi *mls.GroupInfo, id Identity, opts ExternalJoinOptions) (*Group, *PendingCommit, error) {
	cfg := opts.Config.orDefault()
	pub, err := NewPublicGroup(gi, opts.RatchetTree, cfg)
	if err != nil {
		return nil, nil, err
	}
	var ep mls.ExternalPub
	if found, err := gi.Extensions.Decode(&ep); err != nil || !found {
		return nil, nil, ruled(ErrExternalPub, "%v", err)
	}
	suite := pub.suite
	signer, err := suite.NewSigner(id.SignaturePriv)
	if err != nil {
		return nil, nil, err
	}
	kemOutput, initSecret, err := schedule.ExternalInit(suite, ep.ExternalPub)
	if err != nil {
		return nil, nil, wrap(ErrExternalPub, err)
	}
	sender := mls.Sender{Type: mls.SenderNewMemberCommit}
	props := []mls.Proposal{{Type: mls.ProposalExternalInit, ExternalInit: &mls.ExternalInit{KEMOutput: kemOutput}}}
	if opts.Resync != nil {
		props = append(props, mls.Proposal{Type: mls.ProposalRemove, Remove: &mls.Remove{Removed: uint32(*opts.Resync)}})
	}
	for _, id := range opts.PSKs {
		props = append(props, mls.Proposal{Type: mls.ProposalPSK, PreSharedKey: &mls.PreSharedKey{PSK: id}})
	}
	list := make([]committed, len(props))
	for i := range props {
		list[i] = committed{proposal: &props[i], sender: sender}
	}
	pl, err := sortProposals(list, sender)
	if err != nil {
		return nil, nil, err
	}
	a, err := pub.apply(pl)
	if err != nil {
		return nil, nil, err
	}
	pskSecret, err := pskSecret(suite, pl.psks, cfg.psk)
	if err != nil {
		return nil, nil, err
	}
	c := &commitBuilder{
		public: pub, sender: sender, committer: a.tree.FreeLeaf(), list: pl, applied: a,
		signer: signer, withPath: true, initSecret: initSecret, pskSecret: pskSecret,
		opts: &CommitOptions{MessageOptions: MessageOptions{AuthenticatedData: opts.AuthenticatedData}, GroupInfoOptions: opts.GroupInfoOptions},
		leaf: mls.LeafNode{
			SignatureKey: signer.PublicKey(),
			Credential:   id.Credential,
			Capabilities: keyPackageCapabilities(suite, id.Credential.Type, opts.Leaf),
			Extensions:   opts.Leaf.LeafExtensions,
		},
	}
	if opts.Resync != nil {
		if err := pub.checkResync(a, &c.leaf); err != nil {
			return nil, nil, err
		}
	}
	pc, err := c.build()
	if err != nil {
		return nil, nil, err
	}
	g := &Group{
		public:        pc.public.next,
		cfg:           cfg,
		signaturePriv: id.SignaturePriv,
		signer:        signer,
		self:          pc.public.committer,
		priv:          pc.priv,
		secrets:       pc.secrets,
		secretTree:    pc.secretTree,
	}
	return g, pc, nil
}
