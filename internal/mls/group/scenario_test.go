package group_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/cipher"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/group"
)

// TestScenario runs a group's life on every cipher suite: creation with
// the Delivery Service as external sender, adds with Welcomes, commits
// both ways, proposals by reference, updates, PSKs, removal, an external
// join, the Delivery Service's own Remove, and application messages out of
// order. A public view (the Delivery Service's) follows every step.
func TestScenario(t *testing.T) {
	for _, id := range cipher.IDs() {
		t.Run(id.String(), func(t *testing.T) {
			suite, err := cipher.Lookup(id)
			if err != nil {
				t.Fatal(err)
			}
			scenario(t, suite)
		})
	}
}

func scenario(t *testing.T, suite *cipher.Suite) {
	psk := []byte("an external pre-shared key")
	cfg := &group.Config{PSK: func(id *mls.PreSharedKeyID) ([]byte, bool) {
		return psk, id.Type == mls.PSKExternal && bytes.Equal(id.PSKID, []byte("psk"))
	}}
	alice, bob, carol, dave := newClient(t, suite, "alice"), newClient(t, suite, "bob"), newClient(t, suite, "carol"), newClient(t, suite, "dave")
	dsSigner, senders := newDS(t, suite)

	// Genesis: Alice creates the group; the DS follows it from its GroupInfo.
	ds := alice.create(t, suite, "!room:ds", group.CreateOptions{Extensions: mls.Extensions{senders}, Config: cfg})

	// Alice adds Bob by value; Bob joins from the Welcome.
	bobKP := bob.keyPackage(t, suite)
	pc := commit(t, ds, alice, group.CommitOptions{Adds: []*mls.KeyPackage{bobKP.KeyPackage}})
	bob.join(t, roundTrip(t, mls.NewWelcome(pc.Welcome)).Welcome, bobKP, cfg)
	checkSameEpoch(t, alice, bob)

	// Bob commits an empty commit (a full path update), Alice follows.
	commit(t, ds, bob, group.CommitOptions{}, alice)

	// Bob proposes adding Carol; Alice commits it by reference, as a
	// PrivateMessage (the DS cannot follow that one, so it is given the
	// commit through a public copy below).
	carolKP := carol.keyPackage(t, suite)
	m, prop, err := bob.g.Propose(mls.Proposal{Type: mls.ProposalAdd, Add: &mls.Add{KeyPackage: *carolKP.KeyPackage}}, group.MessageOptions{})
	if err != nil {
		t.Fatal(err)
	}
	deliverProposal(t, ds, m, alice)
	pc = commit(t, ds, alice, group.CommitOptions{}, bob)
	if got := pc.Public().Proposals(); len(got) != 1 || !bytes.Equal(got[0].Ref, prop.Ref) {
		t.Fatalf("the commit covers %d proposals, not Bob's Add by reference", len(got))
	}
	if added := pc.Public().Added(); len(added) != 1 || !bytes.Equal(added[0].Node.Credential.Identity, []byte("carol")) {
		t.Fatalf("added %v, want carol", added)
	}
	carol.join(t, pc.Welcome, carolKP, cfg)
	checkSameEpoch(t, alice, bob, carol)

	// Bob proposes an Update of his leaf; Carol commits it together with an
	// external PSK, and a resumption PSK of an earlier epoch.
	m, _, err = bob.g.ProposeUpdate(group.MessageOptions{})
	if err != nil {
		t.Fatal(err)
	}
	deliverProposal(t, ds, m, alice, carol)
	commit(t, ds, carol, group.CommitOptions{PSKs: []mls.PreSharedKeyID{
		carol.g.NewExternalPSKID([]byte("psk")),
		carol.g.NewResumptionPSKID(carol.g.Epoch()),
	}}, alice, bob)

	epoch := alice.g.Epoch()

	// Alice removes Carol; Carol learns she was removed.
	pc, err = alice.g.Commit(group.CommitOptions{Removes: []group.LeafIndex{carol.g.LeafIndex()}})
	if err != nil {
		t.Fatal(err)
	}
	if alice.g.Epoch() != epoch {
		t.Fatal("creating a commit changed the epoch")
	}
	deliverCommit(t, ds, pc.Message, pc.GroupInfo, bob)
	if err := alice.g.Merge(pc.StagedCommit); err != nil {
		t.Fatal(err)
	}
	out, err := carol.g.Process(roundTrip(t, pc.Message))
	if err != nil {
		t.Fatalf("carol processes her removal: %v", err)
	}
	if !out.Commit.SelfRemoved() {
		t.Fatal("carol was not told she was removed")
	}
	if err := carol.g.Merge(out.Commit); err != nil {
		t.Fatal(err)
	}
	if _, err := carol.g.Encrypt([]byte("hi"), nil, 0); !errors.Is(err, group.ErrRemoved) {
		t.Fatalf("a removed member encrypts: %v", err)
	}
	checkSameEpoch(t, alice, bob)

	// Dave joins by external commit from the GroupInfo the DS holds.
	gi, err := alice.g.GroupInfo(group.GroupInfoOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dave.g, pc, err = group.JoinExternal(gi, dave.id, group.ExternalJoinOptions{Config: cfg})
	if err != nil {
		t.Fatalf("external join: %v", err)
	}
	deliverCommit(t, ds, pc.Message, pc.GroupInfo, alice, bob)
	checkSameEpoch(t, alice, bob, dave)

	// The DS proposes removing Bob; the DS requires it, so a commit that
	// leaves it out is refused; Dave's commit covers it.
	remove := mls.Proposal{Type: mls.ProposalRemove, Remove: &mls.Remove{Removed: uint32(bob.g.LeafIndex())}}
	dsProposal, err := group.NewExternalProposal(dsSigner, ds.Context(), 0, &remove, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := ds.ProcessProposal(dsProposal)
	if err != nil {
		t.Fatalf("DS's own proposal: %v", err)
	}
	ds.Require(p.Ref)
	deliverProposal(t, nil, mls.NewPublicMessage(dsProposal), alice, bob, dave)
	skip, err := alice.g.Commit(group.CommitOptions{NoReferences: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ds.StageCommit(roundTrip(t, skip.Message).PublicMessage); !errors.Is(err, group.ErrRequiredProposal) {
		t.Fatalf("DS accepts a commit without its Remove: %v", err)
	}
	// An external commit cannot cover it (no proposals by reference, no
	// Remove but of the joiner's own leaf) and is not held to it: the DS
	// learns what to propose again in the epoch it would create.
	gi, err = alice.g.GroupInfo(group.GroupInfoOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, erinPC, err := group.JoinExternal(gi, newClient(t, suite, "erin").id, group.ExternalJoinOptions{Config: cfg})
	if err != nil {
		t.Fatalf("erin's external join: %v", err)
	}
	staged, err := ds.StageCommit(roundTrip(t, erinPC.Message).PublicMessage)
	if err != nil {
		t.Fatalf("DS refuses an external commit that cannot cover its Remove: %v", err)
	}
	if u := staged.Uncovered(); len(u) != 1 || u[0].Proposal.Remove == nil || u[0].Proposal.Remove.Removed != uint32(bob.g.LeafIndex()) {
		t.Fatalf("uncovered %+v, want the DS's Remove of bob", u)
	}
	pc = commit(t, ds, dave, group.CommitOptions{}, alice)
	if removed := pc.Public().Removed(); len(removed) != 1 || removed[0].Leaf != bob.g.LeafIndex() {
		t.Fatalf("removed %v, want bob", removed)
	}

	// Application messages, delivered out of order, once each.
	var msgs []*mls.MLSMessage
	for i := range 5 {
		m, err := alice.g.Encrypt(fmt.Appendf(nil, "message %d", i), []byte("aad"), 16)
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, roundTrip(t, m))
	}
	for _, i := range []int{3, 0, 4, 2, 1} {
		out, err := dave.g.Process(msgs[i])
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if want := fmt.Sprintf("message %d", i); string(out.Application) != want || string(out.AuthenticatedData) != "aad" {
			t.Fatalf("message %d decrypts to %q", i, out.Application)
		}
	}
	if _, err := dave.g.Process(msgs[2]); !errors.Is(err, group.ErrGeneration) {
		t.Fatalf("a replayed message: %v", err)
	}
	if !bytes.Equal(ds.TreeHash(), alice.g.Public().TreeHash()) || ds.Epoch() != alice.g.Epoch() {
		t.Fatal("the DS's view differs from the members'")
	}

	// A commit sent as a PrivateMessage, which only members can follow.
	pc, err = alice.g.Commit(group.CommitOptions{ForcePath: true, MessageOptions: group.MessageOptions{Private: true}})
	if err != nil {
		t.Fatal(err)
	}
	if pc.Message.WireFormat != mls.WireFormatPrivateMessage {
		t.Fatalf("private commit sent as %v", pc.Message.WireFormat)
	}
	deliverCommit(t, nil, pc.Message, nil, dave)
	if err := alice.g.Merge(pc.StagedCommit); err != nil {
		t.Fatal(err)
	}
	checkSameEpoch(t, alice, dave)
}
