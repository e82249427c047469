package group_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/cipher"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/framing"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/group"
)

// rulesFixture is a group of Alice, Bob and Carol followed by a public
// view, the Delivery Service's.
type rulesFixture struct {
	suite             *cipher.Suite
	ds                *group.PublicGroup
	alice, bob, carol *client
	dsSigner          *cipher.Signer
	dave              *client
	daveKP            *group.KeyPackageBundle
}

func newRulesFixture(t *testing.T) *rulesFixture {
	suite, _ := cipher.Lookup(cipher.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519)
	f := &rulesFixture{suite: suite}
	f.alice, f.bob, f.carol, f.dave = newClient(t, suite, "alice"), newClient(t, suite, "bob"), newClient(t, suite, "carol"), newClient(t, suite, "dave")
	var senders mls.Extension
	f.dsSigner, senders = newDS(t, suite)
	f.ds = f.alice.create(t, suite, "!rules:ds", group.CreateOptions{Extensions: mls.Extensions{senders}})
	addAll(t, suite, f.ds, nil, f.alice, nil, f.bob, f.carol)
	// A commit by Bob gives the tree non-blank parents, so parent hashes
	// are checked.
	commit(t, f.ds, f.bob, group.CommitOptions{}, f.alice, f.carol)
	f.daveKP = f.dave.keyPackage(t, suite)
	return f
}

// pending makes c create a commit and returns its PublicMessage and
// GroupInfo, without merging it.
func (f *rulesFixture) pending(t *testing.T, c *client, opts group.CommitOptions) (*mls.PublicMessage, *mls.GroupInfo) {
	t.Helper()
	pc, err := c.g.Commit(opts)
	if err != nil {
		t.Fatalf("%s commits: %v", c.name, err)
	}
	return roundTrip(t, pc.Message).PublicMessage, pc.GroupInfo
}

// forge changes a copy of a PublicMessage with change and signs it again
// with signer, as a sender that breaks a rule would, keeping its
// confirmation and membership tags (the public view checks only that a
// member's tag is there).
func (f *rulesFixture) forge(t *testing.T, m *mls.PublicMessage, signer *cipher.Signer, change func(c *mls.FramedContent)) *mls.PublicMessage {
	t.Helper()
	cp := roundTrip(t, mls.NewPublicMessage(m)).PublicMessage
	change(&cp.Content)
	ac, err := framing.Sign(signer, mls.WireFormatPublicMessage, &cp.Content, f.ds.Context())
	if err != nil {
		t.Fatal(err)
	}
	cp.Auth.Signature = ac.Auth.Signature
	if cp.Content.Sender.Type == mls.SenderMember && cp.MembershipTag == nil {
		cp.MembershipTag = make([]byte, f.suite.HashLen())
	}
	return cp
}

// resignLeaf signs a commit's path leaf again after it was changed.
func (f *rulesFixture) resignLeaf(t *testing.T, c *client, leaf *mls.LeafNode) {
	t.Helper()
	sig, err := c.signer.SignWithLabel("LeafNodeTBS", codec.Marshal(leaf.TBS(f.ds.GroupID(), uint32(c.g.LeafIndex()))))
	if err != nil {
		t.Fatal(err)
	}
	leaf.Signature = sig
}

// keyPackage returns Dave's KeyPackage changed by change and signed again
// by signer.
func (f *rulesFixture) keyPackage(t *testing.T, signer *cipher.Signer, change func(kp *mls.KeyPackage)) *mls.KeyPackage {
	t.Helper()
	var kp mls.KeyPackage
	if err := codec.Unmarshal(codec.Marshal(f.daveKP.KeyPackage), &kp); err != nil {
		t.Fatal(err)
	}
	change(&kp)
	kp.LeafNode.SignatureKey = signer.PublicKey()
	var err error
	if kp.LeafNode.Signature, err = signer.SignWithLabel("LeafNodeTBS", codec.Marshal(kp.LeafNode.TBS(nil, 0))); err != nil {
		t.Fatal(err)
	}
	if kp.Signature, err = signer.SignWithLabel("KeyPackageTBS", codec.Marshal(kp.TBS())); err != nil {
		t.Fatal(err)
	}
	return &kp
}

func inline(ps ...mls.Proposal) []mls.ProposalOrRef {
	out := make([]mls.ProposalOrRef, len(ps))
	for i, p := range ps {
		out[i] = mls.ProposalOrRef{Type: mls.ProposalOrRefProposal, Proposal: p}
	}
	return out
}

func removeOf(l group.LeafIndex) mls.Proposal {
	return mls.Proposal{Type: mls.ProposalRemove, Remove: &mls.Remove{Removed: uint32(l)}}
}

func addOf(kp *mls.KeyPackage) mls.Proposal {
	return mls.Proposal{Type: mls.ProposalAdd, Add: &mls.Add{KeyPackage: *kp}}
}

func pskOf(id []byte, nonce []byte) mls.Proposal {
	return mls.Proposal{Type: mls.ProposalPSK, PreSharedKey: &mls.PreSharedKey{PSK: mls.PreSharedKeyID{Type: mls.PSKExternal, PSKID: id, PSKNonce: nonce}}}
}

// TestRulesReject feeds the public view hand-crafted bad commits,
// proposals and GroupInfos and checks that each is rejected with the rule
// it breaks, leaving the view as it was.
func TestRulesReject(t *testing.T) {
	f := newRulesFixture(t)
	alice, bob := f.alice, f.bob
	nh := f.suite.HashLen()
	full, fullGI := f.pending(t, alice, group.CommitOptions{ForcePath: true})
	removeBob, _ := f.pending(t, alice, group.CommitOptions{Removes: []group.LeafIndex{bob.g.LeafIndex()}})
	addDave, _ := f.pending(t, alice, group.CommitOptions{Adds: []*mls.KeyPackage{f.daveKP.KeyPackage}})
	treeHash := f.ds.TreeHash()

	commits := []struct {
		name string
		m    *mls.PublicMessage
		want error
	}{
		{"forged signature", func() *mls.PublicMessage {
			m := roundTrip(t, mls.NewPublicMessage(full)).PublicMessage
			m.Auth.Signature[0] ^= 1
			return m
		}(), group.ErrSignature},
		{"signed by another member", f.forge(t, full, bob.signer, func(*mls.FramedContent) {}), group.ErrSignature},
		{"wrong epoch", f.forge(t, full, alice.signer, func(c *mls.FramedContent) { c.Epoch++ }), group.ErrWrongEpoch},
		{"wrong group", f.forge(t, full, alice.signer, func(c *mls.FramedContent) { c.GroupID = []byte("!other:ds") }), group.ErrWrongGroup},
		{"unknown sender", f.forge(t, full, alice.signer, func(c *mls.FramedContent) { c.Sender.Index = 9 }), group.ErrUnknownSender},
		{"external sender commits", f.forge(t, full, f.dsSigner, func(c *mls.FramedContent) {
			c.Sender = mls.Sender{Type: mls.SenderExternal}
		}), group.ErrSenderType},
		{"missing membership tag", func() *mls.PublicMessage {
			m := roundTrip(t, mls.NewPublicMessage(full)).PublicMessage
			m.MembershipTag = nil
			return m
		}(), group.ErrMembershipTag},
		{"missing path for a Remove", f.forge(t, removeBob, alice.signer, func(c *mls.FramedContent) { c.Commit.Path = nil }), group.ErrPathRequired},
		{"missing path for an empty commit", f.forge(t, full, alice.signer, func(c *mls.FramedContent) { c.Commit.Path = nil }), group.ErrPathRequired},
		{"remove of a blank leaf", f.forge(t, full, alice.signer, func(c *mls.FramedContent) { c.Commit.Proposals = inline(removeOf(7)) }), group.ErrRemoveBlank},
		{"remove of a leaf outside the tree", f.forge(t, full, alice.signer, func(c *mls.FramedContent) { c.Commit.Proposals = inline(removeOf(1000)) }), group.ErrRemoveBlank},
		{"bad parent hash", f.forge(t, full, alice.signer, func(c *mls.FramedContent) {
			leaf := &c.Commit.Path.LeafNode
			leaf.ParentHash = bytes.Repeat([]byte{7}, nh)
			f.resignLeaf(t, alice, leaf)
		}), group.ErrParentHash},
		{"path leaf with a bad signature", f.forge(t, full, alice.signer, func(c *mls.FramedContent) {
			c.Commit.Path.LeafNode.Signature[3] ^= 1
		}), group.ErrLeafNode},
		{"path repeats a key of the tree", f.forge(t, full, alice.signer, func(c *mls.FramedContent) {
			c.Commit.Path.Nodes[0].EncryptionKey = bob.g.Public().Member(bob.g.LeafIndex()).EncryptionKey
		}), group.ErrDuplicateKey},
		{"path of the wrong length", f.forge(t, full, alice.signer, func(c *mls.FramedContent) {
			c.Commit.Path.Nodes = c.Commit.Path.Nodes[:len(c.Commit.Path.Nodes)-1]
		}), group.ErrPath},
		{"Add duplicating an encryption key", f.forge(t, addDave, alice.signer, func(c *mls.FramedContent) {
			c.Commit.Proposals = inline(addOf(f.keyPackage(t, f.dave.signer, func(kp *mls.KeyPackage) {
				kp.LeafNode.EncryptionKey = bob.g.Public().Member(bob.g.LeafIndex()).EncryptionKey
			})))
		}), group.ErrDuplicateKey},
		{"Add of a member", f.forge(t, addDave, alice.signer, func(c *mls.FramedContent) {
			c.Commit.Proposals = inline(addOf(f.keyPackage(t, bob.signer, func(*mls.KeyPackage) {})))
		}), group.ErrAlreadyMember},
		{"Add of one client twice", f.forge(t, addDave, alice.signer, func(c *mls.FramedContent) {
			c.Commit.Proposals = inline(addOf(f.daveKP.KeyPackage), addOf(f.daveKP.KeyPackage))
		}), group.ErrDuplicateAdd},
		{"Add with a forged KeyPackage", f.forge(t, addDave, alice.signer, func(c *mls.FramedContent) {
			c.Commit.Proposals[0].Proposal.Add.KeyPackage.Signature[0] ^= 1
		}), group.ErrKeyPackage},
		{"Add of another cipher suite", f.forge(t, addDave, alice.signer, func(c *mls.FramedContent) {
			c.Commit.Proposals[0].Proposal.Add.KeyPackage.CipherSuite = 2
		}), group.ErrKeyPackage},
		{"committer removes itself", f.forge(t, full, alice.signer, func(c *mls.FramedContent) {
			c.Commit.Proposals = inline(removeOf(alice.g.LeafIndex()))
		}), group.ErrCommitterRemoved},
		{"committer commits its own Update", f.forge(t, full, alice.signer, func(c *mls.FramedContent) {
			c.Commit.Proposals = inline(mls.Proposal{Type: mls.ProposalUpdate, Update: &mls.Update{LeafNode: c.Commit.Path.LeafNode}})
		}), group.ErrCommitterUpdate},
		{"one leaf removed twice", f.forge(t, full, alice.signer, func(c *mls.FramedContent) {
			c.Commit.Proposals = inline(removeOf(bob.g.LeafIndex()), removeOf(bob.g.LeafIndex()))
		}), group.ErrSameLeaf},
		{"one PSK twice", f.forge(t, addDave, alice.signer, func(c *mls.FramedContent) {
			nonce := make([]byte, nh)
			c.Commit.Proposals = inline(pskOf([]byte("x"), nonce), pskOf([]byte("x"), nonce))
		}), group.ErrDuplicatePSK},
		{"PSK with a short nonce", f.forge(t, addDave, alice.signer, func(c *mls.FramedContent) {
			c.Commit.Proposals = inline(pskOf([]byte("x"), []byte{1}))
		}), group.ErrPSK},
		{"two GroupContextExtensions", f.forge(t, full, alice.signer, func(c *mls.FramedContent) {
			gce := mls.Proposal{Type: mls.ProposalGroupContextExtensions, GroupContextExtensions: &mls.GroupContextExtensions{Extensions: f.ds.Context().Extensions}}
			c.Commit.Proposals = inline(gce, gce)
		}), group.ErrSeveralGCE},
		{"GroupContextExtensions nobody supports", f.forge(t, full, alice.signer, func(c *mls.FramedContent) {
			c.Commit.Proposals = inline(mls.Proposal{Type: mls.ProposalGroupContextExtensions, GroupContextExtensions: &mls.GroupContextExtensions{
				Extensions: mls.Extensions{{Type: 0xff00, Data: []byte{}}},
			}})
		}), group.ErrExtensions},
		{"ReInit with another proposal", f.forge(t, addDave, alice.signer, func(c *mls.FramedContent) {
			reinit := mls.Proposal{Type: mls.ProposalReInit, ReInit: &mls.ReInit{GroupID: []byte("new"), Version: mls.MLS10, CipherSuite: 1}}
			c.Commit.Proposals = append(c.Commit.Proposals, inline(reinit)...)
		}), group.ErrReInitNotAlone},
		{"ExternalInit in a member's commit", f.forge(t, full, alice.signer, func(c *mls.FramedContent) {
			c.Commit.Proposals = inline(mls.Proposal{Type: mls.ProposalExternalInit, ExternalInit: &mls.ExternalInit{KEMOutput: []byte{1}}})
		}), group.ErrExternalInit},
		{"unknown proposal reference", f.forge(t, full, alice.signer, func(c *mls.FramedContent) {
			c.Commit.Proposals = []mls.ProposalOrRef{{Type: mls.ProposalOrRefReference, Reference: make([]byte, nh)}}
		}), group.ErrUnknownProposal},
		{"external commit without ExternalInit", f.forge(t, full, f.dave.signer, func(c *mls.FramedContent) {
			c.Sender = mls.Sender{Type: mls.SenderNewMemberCommit}
			c.Commit.Path.LeafNode.SignatureKey = f.dave.signer.PublicKey()
		}), group.ErrExternalCommit},
		{"external commit by reference", f.forge(t, full, f.dave.signer, func(c *mls.FramedContent) {
			c.Sender = mls.Sender{Type: mls.SenderNewMemberCommit}
			c.Commit.Path.LeafNode.SignatureKey = f.dave.signer.PublicKey()
			c.Commit.Proposals = []mls.ProposalOrRef{{Type: mls.ProposalOrRefReference, Reference: make([]byte, nh)}}
		}), group.ErrExternalCommit},
	}
	for _, tc := range commits {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.ds.StageCommit(tc.m)
			expectRule(t, err, tc.want)
			if !bytes.Equal(f.ds.TreeHash(), treeHash) {
				t.Fatal("a rejected commit changed the group")
			}
		})
	}

	t.Run("GroupInfo", func(t *testing.T) {
		staged, err := f.ds.StageCommit(full)
		if err != nil {
			t.Fatal(err)
		}
		otherPC, err := alice.g.Commit(group.CommitOptions{ForcePath: true})
		if err != nil {
			t.Fatal(err)
		}
		expectRule(t, staged.CheckGroupInfo(otherPC.GroupInfo), group.ErrGroupInfoMismatch)
		gi := *fullGI
		gi.Signer = uint32(bob.g.LeafIndex())
		expectRule(t, staged.CheckGroupInfo(&gi), group.ErrGroupInfoMismatch)
		gi = *fullGI
		gi.Signature = bytes.Clone(gi.Signature)
		gi.Signature[0] ^= 1
		expectRule(t, staged.CheckGroupInfo(&gi), group.ErrGroupInfoSignature)
		gi = *fullGI
		gi.GroupContext.Epoch++
		if err := framing.SignGroupInfo(alice.signer, &gi); err != nil {
			t.Fatal(err)
		}
		expectRule(t, staged.CheckGroupInfo(&gi), group.ErrGroupInfoMismatch)
		if err := staged.CheckGroupInfo(fullGI); err != nil {
			t.Fatalf("the committer's GroupInfo: %v", err)
		}
	})

	t.Run("proposals", func(t *testing.T) {
		m, _, err := bob.g.Propose(removeOf(f.carol.g.LeafIndex()), group.MessageOptions{})
		if err != nil {
			t.Fatal(err)
		}
		valid := roundTrip(t, m).PublicMessage
		cases := []struct {
			name string
			m    *mls.PublicMessage
			want error
		}{
			{"remove of a blank leaf", f.forge(t, valid, bob.signer, func(c *mls.FramedContent) { c.Proposal = ptr(removeOf(5)) }), group.ErrRemoveBlank},
			{"forged signature", f.forge(t, valid, alice.signer, func(*mls.FramedContent) {}), group.ErrSignature},
			{"wrong epoch", f.forge(t, valid, bob.signer, func(c *mls.FramedContent) { c.Epoch-- }), group.ErrWrongEpoch},
			{"unknown external sender", f.forge(t, valid, f.dsSigner, func(c *mls.FramedContent) {
				c.Sender = mls.Sender{Type: mls.SenderExternal, Index: 3}
			}), group.ErrUnknownSender},
			{"external Update", f.forge(t, valid, f.dsSigner, func(c *mls.FramedContent) {
				c.Sender = mls.Sender{Type: mls.SenderExternal}
				c.Proposal = &mls.Proposal{Type: mls.ProposalUpdate, Update: &mls.Update{LeafNode: *bob.g.Public().Member(bob.g.LeafIndex())}}
			}), group.ErrExternalProposal},
			{"new member proposing a Remove", f.forge(t, valid, f.dave.signer, func(c *mls.FramedContent) {
				c.Sender = mls.Sender{Type: mls.SenderNewMemberProposal}
			}), group.ErrSenderType},
			{"Update with a key_package leaf", f.forge(t, valid, bob.signer, func(c *mls.FramedContent) {
				c.Proposal = &mls.Proposal{Type: mls.ProposalUpdate, Update: &mls.Update{LeafNode: f.daveKP.KeyPackage.LeafNode}}
			}), group.ErrLeafNode},
		}
		for _, tc := range cases {
			_, err := f.ds.ProcessProposal(tc.m)
			if RuleName(err) != tc.want.(*group.Rule).Name {
				t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
			}
		}
		if len(f.ds.Proposals()) != 0 {
			t.Fatalf("rejected proposals were recorded: %d", len(f.ds.Proposals()))
		}
		if _, err := f.ds.ProcessProposal(valid); err != nil {
			t.Fatalf("a valid proposal: %v", err)
		}
	})

	// The view still accepts a valid commit after all this.
	staged, err := f.ds.StageCommit(full)
	if err != nil {
		t.Fatalf("a valid commit after the rejections: %v", err)
	}
	if err := f.ds.Merge(staged); err != nil {
		t.Fatal(err)
	}
}

func ptr[T any](v T) *T { return &v }

// RuleName returns the name of the rule err broke, or "".
func RuleName(err error) string {
	if r := group.RuleOf(err); r != nil {
		return r.Name
	}
	return ""
}

// expectRule checks that err breaks exactly want: RuleOf names it.
func expectRule(t *testing.T, err, want error) {
	t.Helper()
	if err == nil {
		t.Fatalf("accepted, want %v", want)
	}
	if !errors.Is(err, want) || group.RuleOf(err) != want {
		t.Fatalf("got %v (rule %q), want %v", err, RuleName(err), want)
	}
}
