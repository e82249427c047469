package internal

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/cipher"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
)

// GenesisView is the GroupView the DS uses until the MLS core's public
// group view (internal/mls/group) lands. It fully checks the epoch-0
// GroupInfo of a new one-member group, but it cannot apply commits or
// proposals: those are refused with errNoPublicView.
type GenesisView struct {
	// Now is the time leaf lifetimes are checked against.
	Now func() time.Time
}

// errNoPublicView refuses the messages GenesisView cannot validate.
var errNoPublicView = errors.New("this Delivery Service cannot validate commits and proposals yet: the MLS public group view is not built in")

// Genesis implements GroupView: the RFC 9420 checks a joiner makes of a
// GroupInfo (§12.4.3.1), for a tree that is the creator's leaf alone.
func (v GenesisView) Genesis(gi *mls.GroupInfo) (PublicGroup, error) {
	gc := &gi.GroupContext
	suite, err := cipher.Lookup(cipher.SuiteID(gc.CipherSuite))
	if err != nil {
		return nil, err
	}
	if gc.Version != mls.MLS10 {
		return nil, fmt.Errorf("unsupported protocol version %v", gc.Version)
	}
	var tree mls.RatchetTree
	found, err := gi.Extensions.Decode(&tree)
	if err != nil {
		return nil, fmt.Errorf("%w: ratchet_tree extension: %v", ErrMalformed, err)
	}
	if !found {
		return nil, errors.New("the GroupInfo has no ratchet_tree extension")
	}
	if len(tree) != 1 || tree[0].Leaf == nil {
		return nil, fmt.Errorf("the tree of a new group is the creator's leaf alone, not %d nodes", len(tree))
	}
	leaf := tree[0].Leaf
	if err = v.checkLeaf(suite, gc, leaf); err != nil {
		return nil, err
	}
	treeHash := suite.Hash(codec.Marshal(&mls.TreeHashInput{
		NodeType: mls.NodeTypeLeaf,
		Leaf:     mls.LeafNodeHashInput{LeafIndex: 0, LeafNode: leaf},
	}))
	if !bytes.Equal(treeHash, gc.TreeHash) {
		return nil, errors.New("the group context's tree hash is not the tree's")
	}
	// The confirmed transcript hash starts empty (RFC 9420 §8.2).
	if len(gc.ConfirmedTranscriptHash) != 0 {
		return nil, errors.New("a new group's confirmed transcript hash is empty")
	}
	if gi.Signer != 0 {
		return nil, fmt.Errorf("the GroupInfo is signed by leaf %d, which does not exist", gi.Signer)
	}
	if err = suite.VerifyWithLabel(leaf.SignatureKey, "GroupInfoTBS", codec.Marshal(gi.TBS()), gi.Signature); err != nil {
		return nil, fmt.Errorf("GroupInfo signature: %w", err)
	}
	return &genesisGroup{groupInfo: codec.Marshal(gi), member: Member{Leaf: 0, Credential: leaf.Credential}}, nil
}

// checkLeaf validates the creator's leaf (RFC 9420 §7.3).
func (v GenesisView) checkLeaf(suite *cipher.Suite, gc *mls.GroupContext, leaf *mls.LeafNode) error {
	caps := &leaf.Capabilities
	switch {
	case !caps.SupportsVersion(gc.Version):
		return errors.New("the leaf does not support the group's protocol version")
	case !caps.SupportsCipherSuite(gc.CipherSuite):
		return errors.New("the leaf does not support the group's cipher suite")
	case !caps.SupportsCredential(leaf.Credential.Type):
		return errors.New("the leaf does not support its own credential type")
	}
	if leaf.Source == mls.LeafNodeSourceKeyPackage {
		now := uint64(v.Now().Unix())
		if now < leaf.Lifetime.NotBefore || now > leaf.Lifetime.NotAfter {
			return errors.New("the leaf's lifetime does not include the present")
		}
	}
	tbs := codec.Marshal(leaf.TBS(gc.GroupID, 0))
	if err := suite.VerifyWithLabel(leaf.SignatureKey, "LeafNodeTBS", tbs, leaf.Signature); err != nil {
		return fmt.Errorf("leaf signature: %w", err)
	}
	return nil
}

// Load implements GroupView.
func (GenesisView) Load(state []byte) (PublicGroup, error) {
	var gi mls.GroupInfo
	if err := codec.Unmarshal(state, &gi); err != nil {
		return nil, err
	}
	var tree mls.RatchetTree
	if _, err := gi.Extensions.Decode(&tree); err != nil || len(tree) != 1 || tree[0].Leaf == nil {
		return nil, errors.New("mlsds: stored group state is not a one-member GroupInfo")
	}
	return &genesisGroup{groupInfo: state, member: Member{Leaf: 0, Credential: tree[0].Leaf.Credential}}, nil
}

// genesisGroup is a group at epoch 0, stored as its GroupInfo.
type genesisGroup struct {
	groupInfo []byte
	member    Member
}

func (g *genesisGroup) Epoch() uint64            { return 0 }
func (g *genesisGroup) Members() []Member        { return []Member{g.member} }
func (g *genesisGroup) Marshal() ([]byte, error) { return g.groupInfo, nil }

func (g *genesisGroup) ApplyCommit(*mls.PublicMessage, *mls.GroupInfo) (*CommitResult, error) {
	return nil, errNoPublicView
}

func (g *genesisGroup) ApplyProposal(*mls.PublicMessage) (*ProposalResult, error) {
	return nil, errNoPublicView
}
