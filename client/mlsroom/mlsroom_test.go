package mlsroom

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/cipher"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/group"
)

const roomID = "!room:ds"

// ds is the Delivery Service's side in these tests: the public view of the
// group, which validates every commit as a non-member, as the real DS does.
type ds struct {
	t      testing.TB
	signer *cipher.Signer
	sender []byte // encoded ExternalSender
	view   *group.PublicGroup
}

func newDS(t testing.TB) *ds {
	suite, _ := cipher.Lookup(DefaultSuite)
	priv, pub, err := suite.GenerateSignatureKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := suite.NewSigner(priv)
	es := mls.ExternalSender{SignatureKey: pub, Credential: mls.Credential{Type: mls.CredentialBasic, Identity: []byte("@:ds")}}
	return &ds{t: t, signer: signer, sender: codec.Marshal(&es)}
}

func decode(t testing.TB, b []byte) *mls.MLSMessage {
	t.Helper()
	var m mls.MLSMessage
	if err := codec.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return &m
}

func (d *ds) genesis(groupInfo []byte) {
	gi := decode(d.t, groupInfo).GroupInfo
	view, err := group.NewPublicGroup(gi, nil, config)
	if err != nil {
		d.t.Fatalf("DS: genesis: %v", err)
	}
	d.view = view
}

// accept validates a pending commit as the DS does and returns an error
// when the DS would refuse it.
func (d *ds) accept(p *Pending) error {
	staged, err := d.view.StageCommit(decode(d.t, p.Message).PublicMessage)
	if err != nil {
		return err
	}
	if err = staged.CheckGroupInfo(decode(d.t, p.GroupInfo).GroupInfo); err != nil {
		return err
	}
	return d.view.Merge(staged)
}

func (d *ds) remove(dev Device) []byte {
	leaf, ok := findDevice(d.view, dev)
	if !ok {
		d.t.Fatalf("DS: %s not in the group", dev)
	}
	p := mls.Proposal{Type: mls.ProposalRemove, Remove: &mls.Remove{Removed: uint32(leaf)}}
	pm, err := group.NewExternalProposal(d.signer, d.view.Context(), 0, &p, nil)
	if err != nil {
		d.t.Fatal(err)
	}
	prop, err := d.view.ProcessProposal(pm)
	if err != nil {
		d.t.Fatal(err)
	}
	d.view.Require(prop.Ref)
	return codec.Marshal(mls.NewPublicMessage(pm))
}

type device struct {
	t     testing.TB
	id    *Identity
	state *State
	kps   []*KeyPackage
}

func newDevice(t testing.TB, user, dev string) *device {
	id, err := NewIdentity(Device{UserID: user, DeviceID: dev}, DefaultSuite)
	if err != nil {
		t.Fatal(err)
	}
	return &device{t: t, id: id, state: &State{}}
}

func (d *device) keyPackage() []byte {
	kp, err := d.id.NewKeyPackage(false)
	if err != nil {
		d.t.Fatal(err)
	}
	d.kps = append(d.kps, kp)
	return kp.Message
}

// roundTrip stores and reloads the state, as the client does between
// operations.
func (d *device) roundTrip() {
	var again State
	b := mustJSON(d.t, d.state)
	unmarshalJSON(d.t, b, &again)
	d.state = &again
}

func (d *device) handle(p *Pending, epoch uint64) *Change {
	d.t.Helper()
	c, err := d.state.HandleCommit(p.Message, epoch)
	if err != nil {
		d.t.Fatalf("%s handles the commit for epoch %d: %v", d.id.Device, epoch, err)
	}
	d.roundTrip()
	return c
}

func (d *device) send(text string) []byte {
	d.t.Helper()
	m, err := d.state.Encrypt([]byte(text))
	if err != nil {
		d.t.Fatalf("%s encrypts: %v", d.id.Device, err)
	}
	d.roundTrip()
	return m
}

func (d *device) read(m []byte, from *device, want string) {
	d.t.Helper()
	out, err := d.state.Decrypt(m)
	if err != nil {
		d.t.Fatalf("%s decrypts: %v", d.id.Device, err)
	}
	if string(out.Plaintext) != want || out.Sender != from.id.Device {
		d.t.Fatalf("%s read %q from %s, want %q from %s", d.id.Device, out.Plaintext, out.Sender, want, from.id.Device)
	}
	d.roundTrip()
}

func sameMembers(t testing.TB, want []Device, devices ...*device) {
	t.Helper()
	slices.SortFunc(want, func(a, b Device) int { return bytes.Compare([]byte(a.String()), []byte(b.String())) })
	for _, d := range devices {
		got, err := d.state.Members()
		if err != nil {
			t.Fatal(err)
		}
		slices.SortFunc(got, func(a, b Device) int { return bytes.Compare([]byte(a.String()), []byte(b.String())) })
		if !slices.Equal(got, want) {
			t.Fatalf("%s sees members %v, want %v", d.id.Device, got, want)
		}
	}
}

// A whole conversation through the package's API, with the DS's public
// view validating every commit: genesis, an Add with Welcome, messages
// both ways, a late message of a past epoch, a commit race and the
// loser's retry, an external join, the DS's Remove, and a removed member.
func TestConversation(t *testing.T) {
	d := newDS(t)
	alice := newDevice(t, "@alice:a", "A1")
	bob := newDevice(t, "@bob:b", "B1")
	carol := newDevice(t, "@carol:c", "C1")

	state, gi, err := Create(alice.id, roomID, d.sender)
	if err != nil {
		t.Fatal(err)
	}
	alice.state = state
	d.genesis(gi)

	// Alice adds Bob: pending until the DS accepts, then merged.
	kp := bob.keyPackage()
	if err = ClaimedKeyPackage(kp, carol.id.Device); err == nil {
		t.Fatal("bob's KeyPackage passed as carol's")
	}
	p, err := alice.state.Commit(CommitRequest{Add: [][]byte{kp}, AAD: []byte(`{"m.mls.aad":{}}`)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err = alice.state.Commit(CommitRequest{}); !errors.Is(err, ErrPending) {
		t.Fatalf("second commit while one is pending: %v", err)
	}
	if alice.state.Epoch != 0 || p.Epoch != 1 || p.Welcome == nil || len(p.Added) != 1 || p.Added[0] != bob.id.Device {
		t.Fatalf("pending %+v at epoch %d", p, alice.state.Epoch)
	}
	if err = d.accept(p); err != nil {
		t.Fatalf("DS refuses the Add: %v", err)
	}
	if c := alice.handle(p, 1); !c.Own || alice.state.Epoch != 1 || alice.state.Pending != nil {
		t.Fatalf("alice's own commit: %+v", c)
	}
	if _, _, err = Join(bob.id, p.Welcome, nil); !errors.Is(err, ErrNoKeyPackage) {
		t.Fatalf("join without the KeyPackage: %v", err)
	}
	bob.state, _, err = Join(bob.id, p.Welcome, bob.kps)
	if err != nil {
		t.Fatal(err)
	}
	sameMembers(t, []Device{alice.id.Device, bob.id.Device}, alice, bob)

	// Messages both ways; a message is read once only.
	m := alice.send("hello bob")
	bob.read(m, alice, "hello bob")
	if _, err = bob.state.Decrypt(m); err == nil {
		t.Fatal("a message decrypted twice")
	}
	late := bob.send("sent in epoch 1")

	// A race for epoch 2: Bob adds Carol, Alice commits an empty commit;
	// the DS takes Bob's. Alice's is lost; she handles Bob's and retries.
	kp = carol.keyPackage()
	pb, err := bob.state.Commit(CommitRequest{Add: [][]byte{kp}})
	if err != nil {
		t.Fatal(err)
	}
	pa, err := alice.state.Commit(CommitRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if err = d.accept(pb); err != nil {
		t.Fatal(err)
	}
	if err = d.accept(pa); err == nil {
		t.Fatal("the DS accepted two commits for one epoch")
	}
	bob.handle(pb, 2)
	c := alice.handle(pb, 2)
	if c.Own || c.Lost == nil || !bytes.Equal(c.Lost.Message, pa.Message) || c.Committer != bob.id.Device || len(c.Added) != 1 || c.Added[0] != carol.id.Device {
		t.Fatalf("alice sees %+v", c)
	}
	carol.state, _, err = Join(carol.id, pb.Welcome, carol.kps)
	if err != nil {
		t.Fatal(err)
	}
	// The message of epoch 1 arrives after the commit: still readable.
	alice.read(late, bob, "sent in epoch 1")
	if _, err = carol.state.Decrypt(late); !errors.Is(err, ErrEpochGone) {
		t.Fatalf("carol decrypts a message from before she joined: %v", err)
	}
	pa, err = alice.state.Commit(CommitRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if err = d.accept(pa); err != nil {
		t.Fatal(err)
	}
	for _, dev := range []*device{alice, bob, carol} {
		dev.handle(pa, 3)
	}
	// A message of a future epoch waits.
	early := alice.send("epoch 3")
	if _, err = (&State{Epoch: 2, Group: []byte{1}}).Decrypt(early); !errors.Is(err, ErrFutureEpoch) {
		t.Fatalf("future epoch: %v", err)
	}
	carol.read(early, alice, "epoch 3")

	// Dave joins by external commit from the DS's GroupInfo.
	dave := newDevice(t, "@dave:c", "D1")
	dave.state, err = JoinExternal(dave.id, pa.GroupInfo, []byte(`{"m.mls.aad":{"action":"join"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if dave.state.Member() {
		t.Fatal("member before the DS accepted the external commit")
	}
	pd := dave.state.Pending
	if err = d.accept(pd); err != nil {
		t.Fatalf("DS refuses the external commit: %v", err)
	}
	for _, dev := range []*device{dave, alice, bob, carol} {
		dev.handle(pd, 4)
	}
	sameMembers(t, []Device{alice.id.Device, bob.id.Device, carol.id.Device, dave.id.Device}, alice, bob, carol, dave)
	dave.send("x") // dave is a full member
	bob.read(dave.send("hi all"), dave, "hi all")

	// Bob left: the DS proposes his removal; the next commit covers it.
	prop := d.remove(bob.id.Device)
	for _, dev := range []*device{alice, bob, carol, dave} {
		if err = dev.state.HandleProposal(prop); err != nil {
			t.Fatalf("%s: proposal: %v", dev.id.Device, err)
		}
		dev.roundTrip()
	}
	if n, _ := carol.state.PendingProposals(); n != 1 {
		t.Fatalf("carol has %d pending proposals", n)
	}
	pc, err := carol.state.Commit(CommitRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if err = d.accept(pc); err != nil {
		t.Fatal(err)
	}
	if c = bob.handle(pc, 5); !c.SelfRemoved || bob.state.Member() {
		t.Fatalf("bob after his removal: %+v", c)
	}
	if _, err = bob.state.Encrypt([]byte("x")); !errors.Is(err, ErrNotMember) {
		t.Fatalf("bob encrypts after removal: %v", err)
	}
	for _, dev := range []*device{alice, carol, dave} {
		dev.handle(pc, 5)
	}
	after := alice.send("bob cannot read this")
	if _, err = bob.state.Decrypt(after); err == nil {
		t.Fatal("a removed member decrypted a message")
	}
	dave.read(after, alice, "bob cannot read this")
	sameMembers(t, []Device{alice.id.Device, carol.id.Device, dave.id.Device}, alice, carol, dave)

	// Stale and early commits are told apart.
	if _, err = alice.state.HandleCommit(pc.Message, 5); !errors.Is(err, ErrStale) {
		t.Fatalf("a commit handled twice: %v", err)
	}
	if _, err = alice.state.HandleCommit(pc.Message, 9); !errors.Is(err, ErrGap) {
		t.Fatalf("a commit beyond a gap: %v", err)
	}
}

// A device that lost its state rejoins by external commit, replacing its
// old leaf; messages of earlier epochs are gone for it.
func TestResyncAfterLostState(t *testing.T) {
	d, alice, bob, p := twoMembers(t)
	old := alice.send("before the loss")

	// Bob loses everything but his identity (his profile's keys).
	bob.state = &State{}
	var err error
	bob.state, err = JoinExternal(bob.id, p.GroupInfo, nil)
	if err != nil {
		t.Fatal(err)
	}
	rp := bob.state.Pending
	if len(rp.Removed) != 1 || rp.Removed[0] != bob.id.Device {
		t.Fatalf("the resync removes %v, want bob's old leaf", rp.Removed)
	}
	if err = d.accept(rp); err != nil {
		t.Fatalf("DS refuses the resync: %v", err)
	}
	bob.handle(rp, 2)
	alice.handle(rp, 2)
	sameMembers(t, []Device{alice.id.Device, bob.id.Device}, alice, bob)
	if _, err = bob.state.Decrypt(old); !errors.Is(err, ErrEpochGone) {
		t.Fatalf("old message after the loss: %v", err)
	}
	bob.read(alice.send("after"), alice, "after")
}

func TestBadInput(t *testing.T) {
	alice := newDevice(t, "@alice:a", "A1")
	if _, _, err := Create(alice.id, roomID, []byte{1, 2}); err == nil {
		t.Fatal("a group with a malformed external sender")
	}
	bobKP := newDevice(t, "@bob:b", "B1").keyPackage()
	var s State
	for name, err := range map[string]error{
		"encrypt":  func() error { _, err := s.Encrypt([]byte("x")); return err }(),
		"commit":   func() error { _, err := s.Commit(CommitRequest{}); return err }(),
		"members":  func() error { _, err := s.Members(); return err }(),
		"proposal": s.HandleProposal([]byte{0}),
	} {
		if !errors.Is(err, ErrNotMember) {
			t.Errorf("%s without a group: %v", name, err)
		}
	}
	for _, junk := range [][]byte{nil, {0, 1}, alice.keyPackage()[:40], bobKP} {
		if _, err := s.Decrypt(junk); err == nil {
			t.Errorf("decrypted %x", junk)
		}
		if _, _, err := Join(alice.id, junk, nil); err == nil {
			t.Errorf("joined from %x", junk)
		}
		if _, err := JoinExternal(alice.id, junk, nil); err == nil {
			t.Errorf("external join from %x", junk)
		}
		if err := ClaimedKeyPackage(junk, alice.id.Device); err == nil {
			t.Errorf("KeyPackage %x accepted", junk)
		}
	}
	for _, identity := range []string{"no-bar", "alice|A1", ""} {
		if _, err := DeviceOf(&mls.Credential{Type: mls.CredentialBasic, Identity: []byte(identity)}); err == nil {
			t.Errorf("credential %q named a device", identity)
		}
	}
	if d, err := DeviceOf(&mls.Credential{Type: mls.CredentialBasic, Identity: []byte("@a:hs|D|X")}); err != nil || d.DeviceID != "D|X" {
		t.Errorf("device of a credential with two bars: %v %v", d, err)
	}
}

// twoMembers makes a group of alice and bob: alice creates it and adds bob
// with the commit p, which the DS accepted.
func twoMembers(t testing.TB) (*ds, *device, *device, *Pending) {
	d := newDS(t)
	alice := newDevice(t, "@alice:a", "A1")
	bob := newDevice(t, "@bob:b", "B1")
	state, gi, err := Create(alice.id, roomID, d.sender)
	if err != nil {
		t.Fatal(err)
	}
	alice.state = state
	d.genesis(gi)
	p, err := alice.state.Commit(CommitRequest{Add: [][]byte{bob.keyPackage()}})
	if err != nil {
		t.Fatal(err)
	}
	if err = d.accept(p); err != nil {
		t.Fatal(err)
	}
	alice.handle(p, 1)
	if bob.state, _, err = Join(bob.id, p.Welcome, bob.kps); err != nil {
		t.Fatal(err)
	}
	return d, alice, bob, p
}
