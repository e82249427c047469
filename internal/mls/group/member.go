package group

import (
	"bytes"
	"errors"
	"slices"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/cipher"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/framing"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/schedule"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/tree"
)

// Identity is a client's credential and signature private key, in the
// form package cipher reads (RFC 9420 §5.1.2).
type Identity struct {
	Credential    mls.Credential
	SignaturePriv []byte
}

// Group is a member's view of a group: the public view of the epoch plus
// the member's private keys and the epoch's secrets (RFC 9420 §8, §9).
type Group struct {
	public *PublicGroup
	cfg    *Config

	signaturePriv []byte
	signer        *cipher.Signer
	// self is the member's leaf; priv holds the HPKE private keys of it and
	// of the nodes above it that the member knows (nil once removed).
	self       LeafIndex
	priv       *tree.Private
	secrets    epochSecrets
	secretTree *schedule.SecretTree
	// updates are the member's own Update proposals of this epoch, with the
	// private key of the leaf each proposes.
	updates []pendingUpdate
	// resumption holds the resumption PSKs of past epochs, oldest first.
	resumption []resumptionPSK
	// status tells whether the member can still use the group.
	status status
}

// epochSecrets are the secrets of the key schedule a member keeps for the
// epoch (RFC 9420 §8); the encryption secret lives on in the secret tree.
type epochSecrets struct {
	init, senderData, exporter, external, confirmation, membership, resumption, authenticator []byte
}

func newEpochSecrets(e *schedule.Epoch) epochSecrets {
	return epochSecrets{
		init:          e.InitSecret,
		senderData:    e.SenderDataSecret,
		exporter:      e.ExporterSecret,
		external:      e.ExternalSecret,
		confirmation:  e.ConfirmationKey,
		membership:    e.MembershipKey,
		resumption:    e.ResumptionPSK,
		authenticator: e.EpochAuthenticator,
	}
}

type pendingUpdate struct {
	ref, leafPriv []byte
}

type resumptionPSK struct {
	epoch  uint64
	secret []byte
}

// status is whether a member can still use its group.
type status uint8

const (
	active status = iota
	// removed: a commit removed the member.
	removed
	// reinit: a commit covered a ReInit; the group waits to be replaced.
	reinit
)

// Public returns the public view of the group's current epoch. It must
// not be changed by the caller: use the Group's methods.
func (g *Group) Public() *PublicGroup { return g.public }

// Epoch returns the current epoch.
func (g *Group) Epoch() uint64 { return g.public.ctx.Epoch }

// GroupID returns the group's id.
func (g *Group) GroupID() []byte { return g.public.ctx.GroupID }

// LeafIndex returns the member's own leaf.
func (g *Group) LeafIndex() LeafIndex { return g.self }

// EpochAuthenticator returns the epoch's epoch_authenticator (RFC 9420
// §8.7), which members can compare to detect a forked view of the group.
func (g *Group) EpochAuthenticator() []byte { return g.secrets.authenticator }

// Active reports whether the member can still send in the group: it was
// not removed and no ReInit was committed.
func (g *Group) Active() bool { return g.status == active }

// Export is the MLS-Exporter of the current epoch (RFC 9420 §8.5).
func (g *Group) Export(label string, context []byte, length int) ([]byte, error) {
	return schedule.Export(g.public.suite, g.secrets.exporter, label, context, length)
}

// checkActive refuses to send in a group the member cannot use.
func (g *Group) checkActive() error {
	switch g.status {
	case removed:
		return ruled(ErrRemoved, "leaf %d was removed", g.self)
	case reinit:
		return ruled(ErrReInitPending, "the group awaits its replacement")
	}
	return nil
}

// Processed is what a received message brought: exactly one of
// Application, Proposal and Commit is set.
type Processed struct {
	Sender            mls.Sender
	AuthenticatedData []byte
	// Application is the plaintext of an application message.
	Application []byte
	// Proposal is a proposal, now recorded for commits to reference.
	Proposal *Proposal
	// Commit is a validated commit; Merge it to enter its epoch.
	Commit *StagedCommit
}

// Process authenticates a PublicMessage or PrivateMessage for the current
// epoch and acts on its content (RFC 9420 §6, §12): it decrypts
// application data, records proposals, and validates commits into a
// StagedCommit without changing the epoch.
func (g *Group) Process(m *mls.MLSMessage) (*Processed, error) {
	if g.status == removed {
		return nil, ruled(ErrRemoved, "leaf %d was removed", g.self)
	}
	var ac *framing.Authenticated
	var err error
	switch m.WireFormat {
	case mls.WireFormatPublicMessage:
		ac, err = g.public.verifyPublic(m.PublicMessage, g.secrets.membership)
	case mls.WireFormatPrivateMessage:
		ac, err = g.unprotectPrivate(m.PrivateMessage)
	default:
		return nil, ruled(ErrMalformed, "a %v is not a group message", m.WireFormat)
	}
	if err != nil {
		return nil, err
	}
	out := &Processed{Sender: ac.Content.Sender, AuthenticatedData: ac.Content.AuthenticatedData}
	switch ac.Content.ContentType {
	case mls.ContentApplication:
		out.Application = ac.Content.ApplicationData
	case mls.ContentProposal:
		out.Proposal, err = g.public.checkProposal(ac)
		if err == nil {
			g.public.AddProposal(out.Proposal)
		}
	case mls.ContentCommit:
		out.Commit, err = g.stageReceived(ac)
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// errOwnCommit refuses to process the member's own commit: it merges the
// PendingCommit it created instead.
var errOwnCommit = errors.New("mls group: a member merges its own commit's PendingCommit rather than processing it")

// StagedCommit is a validated commit with the member's secrets of the
// epoch it creates. Nothing changes until the group merges it.
type StagedCommit struct {
	from   *Group
	public *PublicCommit

	priv       *tree.Private
	secrets    epochSecrets
	secretTree *schedule.SecretTree
	status     status
}

// Public returns the commit as the public view staged it: committer,
// proposals, added and removed members, and the new public group.
func (s *StagedCommit) Public() *PublicCommit { return s.public }

// SelfRemoved reports whether the commit removes this member.
func (s *StagedCommit) SelfRemoved() bool { return s.status == removed }

// EpochAuthenticator returns the epoch_authenticator of the new epoch
// (empty when the commit removes this member).
func (s *StagedCommit) EpochAuthenticator() []byte { return s.secrets.authenticator }

// stageReceived validates another member's commit and derives the new
// epoch's secrets (RFC 9420 §12.4.2).
func (g *Group) stageReceived(ac *framing.Authenticated) (*StagedCommit, error) {
	self := g.self
	if s := ac.Content.Sender; s.Type == mls.SenderMember && LeafIndex(s.Index) == self {
		return nil, errOwnCommit
	}
	pc, err := g.public.stageCommit(ac)
	if err != nil {
		return nil, err
	}
	a, next := pc.applied, pc.next
	if slices.ContainsFunc(a.removed, func(m Member) bool { return m.Leaf == self }) {
		return &StagedCommit{from: g, public: pc, status: removed}, nil
	}
	priv, err := g.privateAfter(pc)
	if err != nil {
		return nil, err
	}
	var commitSecret []byte
	if path := ac.Content.Commit.Path; path != nil {
		commitSecret, err = priv.DecryptUpdatePath(next.tree, pc.committer, path, a.added, &pc.provisional)
		if err != nil {
			return nil, treeRule(err, ErrPath)
		}
	}
	priv.Prune(next.tree)
	initSecret := g.secrets.init
	if ei := pc.list.externalInit; ei != nil {
		extPriv, _, err := schedule.ExternalKeyPair(g.public.suite, g.secrets.external)
		if err != nil {
			return nil, err
		}
		if initSecret, err = schedule.ExternalInitSecret(g.public.suite, extPriv, ei.KEMOutput); err != nil {
			return nil, ruled(ErrExternalCommit, "kem_output: %v", err)
		}
	}
	pskSecret, err := g.pskSecret(pc.list.psks)
	if err != nil {
		return nil, err
	}
	suite := g.public.suite
	epoch := schedule.Derive(suite, initSecret, commitSecret, pskSecret, &next.ctx)
	if !schedule.VerifyConfirmationTag(suite, epoch.ConfirmationKey, next.ctx.ConfirmedTranscriptHash, ac.Auth.ConfirmationTag) {
		return nil, ruled(ErrConfirmationTag, "commit from %v %d", ac.Content.Sender.Type, ac.Content.Sender.Index)
	}
	return g.staged(pc, priv, epoch)
}

// privateAfter returns a copy of the member's private keys for the tree a
// commit's proposals give: when the commit applies the member's own Update,
// the leaf key is the one the Update proposed.
func (g *Group) privateAfter(pc *PublicCommit) (*tree.Private, error) {
	self := g.self
	for _, u := range pc.list.updates {
		if LeafIndex(u.sender.Index) != self {
			continue
		}
		i := slices.IndexFunc(g.updates, func(p pendingUpdate) bool { return bytes.Equal(p.ref, u.ref) })
		if i < 0 {
			return nil, ruled(ErrPath, "the commit applies an Update of this member that it did not send")
		}
		priv, err := tree.NewPrivate(pc.next.tree, self, g.updates[i].leafPriv)
		if err != nil {
			return nil, treeRule(err, ErrPath)
		}
		return priv, nil
	}
	return g.priv.Clone(), nil
}

// staged builds the StagedCommit of an epoch whose key schedule ran.
func (g *Group) staged(pc *PublicCommit, priv *tree.Private, epoch *schedule.Epoch) (*StagedCommit, error) {
	st, err := schedule.NewSecretTree(g.public.suite, epoch.EncryptionSecret, uint32(pc.next.tree.LeafCount()), g.cfg.limits())
	if err != nil {
		return nil, err
	}
	s := &StagedCommit{from: g, public: pc, priv: priv, secrets: newEpochSecrets(epoch), secretTree: st}
	if pc.list.reinit != nil {
		s.status = reinit
	}
	return s, nil
}

// Merge makes the epoch of a staged commit current: the commit the member
// received, or its own PendingCommit once the Delivery Service accepted it
// (RFC 9420 §14). s must have been staged from the group's current epoch.
func (g *Group) Merge(s *StagedCommit) error {
	if s.from != g || g.public.ctx.Epoch+1 != s.public.next.ctx.Epoch {
		return errStaleCommit
	}
	g.keepResumption()
	*g.public = *s.public.next
	g.updates = nil
	g.status = s.status
	if s.status == removed {
		g.priv, g.secrets, g.secretTree = nil, epochSecrets{}, nil
		return nil
	}
	g.priv, g.secrets, g.secretTree = s.priv, s.secrets, s.secretTree
	return nil
}

// keepResumption files the current epoch's resumption PSK among the past
// ones, dropping the oldest beyond the configured number.
func (g *Group) keepResumption() {
	if g.secrets.resumption == nil {
		return
	}
	g.resumption = append(g.resumption, resumptionPSK{epoch: g.public.ctx.Epoch, secret: g.secrets.resumption})
	if extra := len(g.resumption) - g.cfg.resumptionEpochs(); extra > 0 {
		g.resumption = slices.Delete(g.resumption, 0, extra)
	}
}
