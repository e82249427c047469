package group_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/cipher"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/group"
)

// TestProposalKinds commits every proposal type, by value and by
// reference, from members, an external sender and a new member, with the
// Delivery Service's view following: GroupContextExtensions, PreSharedKey,
// Add by a new member's own proposal, Remove, and ReInit, after which the
// group can no longer be used.
func TestProposalKinds(t *testing.T) {
	suite, _ := cipher.Lookup(cipher.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519)
	psk := []byte("shared")
	cfg := &group.Config{PSK: func(id *mls.PreSharedKeyID) ([]byte, bool) {
		return psk, id.Type == mls.PSKExternal && string(id.PSKID) == "psk"
	}}
	alice, bob, carol, dave := newClient(t, suite, "alice"), newClient(t, suite, "bob"), newClient(t, suite, "carol"), newClient(t, suite, "dave")
	dsSigner, senders := newDS(t, suite)
	ds := alice.create(t, suite, "!kinds:ds", group.CreateOptions{Extensions: mls.Extensions{senders}, Config: cfg})
	addAll(t, suite, ds, cfg, alice, nil, bob)

	// GroupContextExtensions by value: require basic credentials.
	required := &mls.RequiredCapabilities{CredentialTypes: []mls.CredentialType{mls.CredentialBasic}}
	exts := mls.Extensions{senders, mls.NewExtension(required)}
	commit(t, ds, alice, group.CommitOptions{GroupContextExtensions: exts}, bob)
	if ds.RequiredCapabilities() == nil || bob.g.Public().RequiredCapabilities() == nil {
		t.Fatal("required_capabilities not in force after the commit")
	}
	// ... and by reference, from Bob, dropping the requirement again.
	m, _, err := bob.g.Propose(mls.Proposal{Type: mls.ProposalGroupContextExtensions, GroupContextExtensions: &mls.GroupContextExtensions{Extensions: mls.Extensions{senders}}}, group.MessageOptions{})
	if err != nil {
		t.Fatal(err)
	}
	deliverProposal(t, ds, m, alice)
	commit(t, ds, alice, group.CommitOptions{}, bob)
	if ds.RequiredCapabilities() != nil {
		t.Fatal("required_capabilities still in force")
	}

	// PreSharedKey by reference.
	m, _, err = bob.g.Propose(mls.Proposal{Type: mls.ProposalPSK, PreSharedKey: &mls.PreSharedKey{PSK: bob.g.NewExternalPSKID([]byte("psk"))}}, group.MessageOptions{})
	if err != nil {
		t.Fatal(err)
	}
	deliverProposal(t, ds, m, alice)
	pc := commit(t, ds, alice, group.CommitOptions{}, bob)
	if got := pc.Public().Proposals(); len(got) != 1 || got[0].Proposal.Type != mls.ProposalPSK || got[0].Ref == nil {
		t.Fatalf("the commit covers %+v, not the PSK by reference", got)
	}

	// A new member asks to be added; a member commits its proposal.
	carolKP := carol.keyPackage(t, suite)
	np, err := group.NewMemberProposal(carol.signer, ds.Context(), carolKP.KeyPackage, nil)
	if err != nil {
		t.Fatal(err)
	}
	deliverProposal(t, ds, mls.NewPublicMessage(np), alice, bob)
	pc = commit(t, ds, bob, group.CommitOptions{}, alice)
	carol.join(t, pc.Welcome, carolKP, cfg)
	checkSameEpoch(t, alice, bob, carol)

	// An external sender's Add, and an external Remove, by reference.
	daveKP := dave.keyPackage(t, suite)
	for _, p := range []mls.Proposal{
		{Type: mls.ProposalAdd, Add: &mls.Add{KeyPackage: *daveKP.KeyPackage}},
		{Type: mls.ProposalRemove, Remove: &mls.Remove{Removed: uint32(carol.g.LeafIndex())}},
	} {
		ep, err := group.NewExternalProposal(dsSigner, ds.Context(), 0, &p, nil)
		if err != nil {
			t.Fatal(err)
		}
		deliverProposal(t, ds, mls.NewPublicMessage(ep), alice, bob, carol)
	}
	pc = commit(t, ds, alice, group.CommitOptions{}, bob)
	if len(pc.Public().Added()) != 1 || len(pc.Public().Removed()) != 1 {
		t.Fatalf("added %d and removed %d, want 1 and 1", len(pc.Public().Added()), len(pc.Public().Removed()))
	}
	dave.join(t, pc.Welcome, daveKP, cfg)
	checkSameEpoch(t, alice, bob, dave)

	// ReInit by reference: the group then refuses to be used.
	reinit := mls.Proposal{Type: mls.ProposalReInit, ReInit: &mls.ReInit{GroupID: []byte("!kinds2:ds"), Version: mls.MLS10, CipherSuite: 1, Extensions: mls.Extensions{}}}
	m, _, err = dave.g.Propose(reinit, group.MessageOptions{})
	if err != nil {
		t.Fatal(err)
	}
	deliverProposal(t, ds, m, alice, bob)
	commit(t, ds, bob, group.CommitOptions{}, alice, dave)
	for _, c := range []*client{alice, bob, dave} {
		if c.g.Active() {
			t.Fatalf("%s's group is still active after a ReInit", c.name)
		}
		if _, err := c.g.Encrypt([]byte("x"), nil, 0); !errors.Is(err, group.ErrReInitPending) {
			t.Fatalf("%s encrypts after a ReInit: %v", c.name, err)
		}
	}
	if !bytes.Equal(ds.TreeHash(), alice.g.Public().TreeHash()) {
		t.Fatal("the DS's view differs from the members'")
	}
}
