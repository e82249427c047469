package group

import (
	"bytes"

	"golang.org/x/crypto/cryptobyte"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/schedule"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/tree"
)

// The states of both views are stored in the presentation language of
// RFC 9420 §2.1, behind a version number so that later versions can read
// older states:
//
//	struct {
//	    uint16 version = 1;
//	    GroupContext context;
//	    optional<Node> ratchet_tree<V>;
//	    opaque interim_transcript_hash<V>;
//	    opaque confirmation_tag<V>;
//	    StoredProposal proposals<V>;
//	} PublicGroupState;
//
//	struct { AuthenticatedContent content; bool required; } StoredProposal;
//
//	struct {
//	    uint16 version = 1;
//	    PublicGroupState public;
//	    uint8 status;                  // 0 active, 1 removed, 2 reinit
//	    uint32 leaf;
//	    opaque signature_priv<V>;
//	    optional<opaque private<V>>;   // tree.Private's encoding
//	    opaque init_secret<V>;         // then sender_data, exporter, external,
//	    ...                            // confirmation, membership, resumption,
//	    opaque epoch_authenticator<V>; // epoch_authenticator, all opaque<V>
//	    optional<SecretTreeState> secret_tree;
//	    PendingUpdate updates<V>;      // struct { opaque ref<V>; opaque leaf_priv<V>; }
//	    PastPSK resumption<V>;         // struct { uint64 epoch; opaque psk<V>; }
//	} GroupState;
//
// A removed member keeps its public state and identity only: keys and
// secrets are empty.

const stateVersion = 1

// MarshalBinary encodes the public group's state for LoadPublicGroup.
func (g *PublicGroup) MarshalBinary() ([]byte, error) {
	b := g.stateBuilder()
	g.marshalState(b)
	return b.Bytes()
}

// stateBuilder returns a builder with room for the state: the tree is
// most of it, and a builder grown from nothing to megabytes would be
// allocated again at every growth.
func (g *PublicGroup) stateBuilder() *cryptobyte.Builder {
	return cryptobyte.NewBuilder(make([]byte, 0, g.enc.update(g.tree)+512))
}

func (g *PublicGroup) marshalState(b *cryptobyte.Builder) {
	b.AddUint16(stateVersion)
	g.ctx.MarshalMLS(b)
	g.enc.add(b, g.tree)
	codec.AddOpaque(b, g.interim)
	codec.AddOpaque(b, g.confirmationTag)
	codec.AddVector(b, func(b *cryptobyte.Builder) {
		for _, p := range g.proposals {
			p.content.MarshalMLS(b)
			codec.AddBool(b, p.Required)
		}
	})
}

// LoadPublicGroup restores a public group from MarshalBinary's encoding.
// The state is trusted: its tree is checked for shape, unique keys and its
// hash, not for signatures.
func LoadPublicGroup(data []byte, cfg *Config) (*PublicGroup, error) {
	d := codec.NewDecoder(bytes.Clone(data))
	g, err := loadPublic(d, cfg.orDefault())
	if err != nil {
		return nil, err
	}
	if err := d.Finish(); err != nil {
		return nil, wrap(ErrMalformed, err)
	}
	return g, nil
}

// stateStruct is a decodable closure, for reading nested parts of a state
// with the Decoder's sticky error.
type stateStruct func(d *codec.Decoder)

func (f stateStruct) UnmarshalMLS(d *codec.Decoder) { f(d) }

type storedProposal struct {
	content  mls.AuthenticatedContent
	required bool
}

// loadPublic reads a PublicGroupState.
func loadPublic(d *codec.Decoder, cfg *Config) (*PublicGroup, error) {
	if v := d.Uint16(); d.Err() == nil && v != stateVersion {
		return nil, ruled(ErrMalformed, "group state version %d", v)
	}
	g := &PublicGroup{cfg: cfg, enc: newTreeEncoder()}
	var nodes mls.RatchetTree
	var stored []storedProposal
	d.Value(&g.ctx)
	d.Value(&nodes)
	g.interim = d.Opaque()
	g.confirmationTag = d.Opaque()
	d.Vector(func(d *codec.Decoder) {
		for !d.Empty() {
			var p storedProposal
			d.Value(&p.content)
			p.required = d.Bool()
			stored = append(stored, p)
		}
	})
	if err := d.Err(); err != nil {
		return nil, wrap(ErrMalformed, err)
	}
	var err error
	if g.suite, err = lookupSuite(&g.ctx); err != nil {
		return nil, err
	}
	if g.ext, err = parseContextExtensions(g.ctx.Extensions); err != nil {
		return nil, err
	}
	if g.tree, err = tree.New(g.suite, nodes); err != nil {
		return nil, treeRule(err, ErrTree)
	}
	if !bytes.Equal(g.tree.TreeHash(), g.ctx.TreeHash) {
		return nil, ruled(ErrTreeHash, "stored tree and group context disagree")
	}
	for i := range stored {
		ac := &stored[i].content
		if ac.Content.ContentType != mls.ContentProposal {
			return nil, ruled(ErrMalformed, "a stored %v among the proposals", ac.Content.ContentType)
		}
		g.proposals = append(g.proposals, &Proposal{
			Ref:      g.suite.MakeProposalRef(codec.Marshal(ac)),
			Sender:   ac.Content.Sender,
			Proposal: ac.Content.Proposal,
			Required: stored[i].required,
			content:  ac,
		})
	}
	return g, nil
}

// MarshalBinary encodes the member's state for LoadGroup. The state holds
// the member's private keys and the epoch's secrets: store it encrypted.
func (g *Group) MarshalBinary() ([]byte, error) {
	b := g.public.stateBuilder()
	b.AddUint16(stateVersion)
	g.public.marshalState(b)
	b.AddUint8(uint8(g.status))
	b.AddUint32(uint32(g.self))
	codec.AddOpaque(b, g.signaturePriv)
	codec.AddOptional(b, g.priv != nil, func(b *cryptobyte.Builder) { codec.AddVector(b, g.priv.MarshalMLS) })
	for _, s := range g.secrets.list() {
		codec.AddOpaque(b, *s)
	}
	codec.AddOptional(b, g.secretTree != nil, func(b *cryptobyte.Builder) { g.secretTree.MarshalMLS(b) })
	codec.AddVector(b, func(b *cryptobyte.Builder) {
		for _, u := range g.updates {
			codec.AddOpaque(b, u.ref)
			codec.AddOpaque(b, u.leafPriv)
		}
	})
	codec.AddVector(b, func(b *cryptobyte.Builder) {
		for _, r := range g.resumption {
			b.AddUint64(r.epoch)
			codec.AddOpaque(b, r.secret)
		}
	})
	return b.Bytes()
}

// list returns the secrets in their stored order.
func (s *epochSecrets) list() []*[]byte {
	return []*[]byte{&s.init, &s.senderData, &s.exporter, &s.external, &s.confirmation, &s.membership, &s.resumption, &s.authenticator}
}

// LoadGroup restores a member's group from MarshalBinary's encoding.
func LoadGroup(data []byte, cfg *Config) (*Group, error) {
	cfg = cfg.orDefault()
	d := codec.NewDecoder(bytes.Clone(data))
	if v := d.Uint16(); d.Err() == nil && v != stateVersion {
		return nil, ruled(ErrMalformed, "member state version %d", v)
	}
	pub, err := loadPublic(d, cfg)
	if err != nil {
		return nil, err
	}
	g := &Group{public: pub, cfg: cfg, status: status(d.Uint8()), self: LeafIndex(d.Uint32())}
	g.signaturePriv = d.Opaque()
	var private []byte
	if d.Optional() {
		private = d.Opaque()
	}
	for _, s := range g.secrets.list() {
		*s = d.Opaque()
	}
	if d.Optional() {
		g.secretTree = new(schedule.SecretTree)
		d.Value(g.secretTree)
	}
	d.Vector(func(d *codec.Decoder) {
		for !d.Empty() {
			g.updates = append(g.updates, pendingUpdate{ref: d.Opaque(), leafPriv: d.Opaque()})
		}
	})
	d.Vector(func(d *codec.Decoder) {
		for !d.Empty() {
			g.resumption = append(g.resumption, resumptionPSK{epoch: d.Uint64(), secret: d.Opaque()})
		}
	})
	if err := d.Finish(); err != nil {
		return nil, wrap(ErrMalformed, err)
	}
	if g.status > reinit {
		return nil, ruled(ErrMalformed, "member status %d", g.status)
	}
	if g.signer, err = pub.suite.NewSigner(g.signaturePriv); err != nil {
		return nil, wrap(ErrMalformed, err)
	}
	if g.status == removed {
		return g, nil
	}
	if private == nil || g.secretTree == nil {
		return nil, ruled(ErrMalformed, "an active member without private keys or secret tree")
	}
	if g.priv, err = tree.UnmarshalPrivate(pub.suite, private); err != nil {
		return nil, wrap(ErrMalformed, err)
	}
	if g.priv.Leaf() != g.self {
		return nil, ruled(ErrMalformed, "private keys of leaf %d for the member at %d", g.priv.Leaf(), g.self)
	}
	return g, nil
}
