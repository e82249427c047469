package group_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/cipher"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/group"
)

// reload stores c's group and loads it back, checking the encoding is
// canonical.
func reload(t *testing.T, c *client, cfg *group.Config) {
	t.Helper()
	data, err := c.g.MarshalBinary()
	if err != nil {
		t.Fatalf("%s: storing: %v", c.name, err)
	}
	g, err := group.LoadGroup(data, cfg)
	if err != nil {
		t.Fatalf("%s: loading: %v", c.name, err)
	}
	again, err := g.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, data) {
		t.Fatalf("%s: the state does not encode back to the same bytes", c.name)
	}
	c.g = g
}

func reloadPublic(t *testing.T, g *group.PublicGroup) *group.PublicGroup {
	t.Helper()
	data, err := g.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	out, err := group.LoadPublicGroup(data, nil)
	if err != nil {
		t.Fatalf("loading public state: %v", err)
	}
	again, _ := out.MarshalBinary()
	if !bytes.Equal(again, data) {
		t.Fatal("the public state does not encode back to the same bytes")
	}
	return out
}

// TestStateRoundTrip stores and reloads both views at every step of a
// group's life (pending proposals, an own pending Update, a half-used
// secret tree, kept resumption PSKs, removal) and checks the reloaded
// groups carry on exactly as the originals would.
func TestStateRoundTrip(t *testing.T) {
	suite, _ := cipher.Lookup(cipher.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519)
	alice, bob, carol := newClient(t, suite, "alice"), newClient(t, suite, "bob"), newClient(t, suite, "carol")
	ds := alice.create(t, suite, "!state:ds", group.CreateOptions{})
	reload(t, alice, nil)
	ds = reloadPublic(t, ds)
	addAll(t, suite, ds, nil, alice, nil, bob, carol)
	for _, c := range []*client{alice, bob, carol} {
		reload(t, c, nil)
	}
	ds = reloadPublic(t, ds)
	checkSameEpoch(t, alice, bob, carol)

	// Bob's pending Update, and the DS's requirement that the next commit
	// covers it, survive a reload on every side.
	m, p, err := bob.g.ProposeUpdate(group.MessageOptions{})
	if err != nil {
		t.Fatal(err)
	}
	deliverProposal(t, ds, m, alice, carol)
	ds.Require(p.Ref)
	for _, c := range []*client{alice, bob, carol} {
		reload(t, c, nil)
	}
	ds = reloadPublic(t, ds)
	if got := ds.Proposals(); len(got) != 1 || !got[0].Required || !bytes.Equal(got[0].Ref, p.Ref) {
		t.Fatalf("the DS's proposals after reload: %+v", got)
	}

	// Application messages half consumed across a reload.
	var msgs []*mls.MLSMessage
	for range 3 {
		m, err := alice.g.Encrypt([]byte("hello"), nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, roundTrip(t, m))
	}
	if _, err := bob.g.Process(msgs[2]); err != nil {
		t.Fatal(err)
	}
	reload(t, bob, nil)
	reload(t, alice, nil)
	for _, i := range []int{0, 1} {
		if _, err := bob.g.Process(msgs[i]); err != nil {
			t.Fatalf("message %d after reload: %v", i, err)
		}
	}
	if _, err := bob.g.Process(msgs[2]); !errors.Is(err, group.ErrGeneration) {
		t.Fatalf("a message consumed before the reload: %v", err)
	}

	// Alice commits Bob's Update (Bob needs his stored Update key) and
	// removes Carol, whose stored state then says she is out.
	pc := commit(t, ds, alice, group.CommitOptions{Removes: []group.LeafIndex{carol.g.LeafIndex()}}, bob)
	out, err := carol.g.Process(roundTrip(t, pc.Message))
	if err != nil || !out.Commit.SelfRemoved() {
		t.Fatalf("carol's removal: %v", err)
	}
	if err := carol.g.Merge(out.Commit); err != nil {
		t.Fatal(err)
	}
	reload(t, carol, nil)
	if _, err := carol.g.Encrypt([]byte("x"), nil, 0); !errors.Is(err, group.ErrRemoved) {
		t.Fatalf("removed carol after reload encrypts: %v", err)
	}
	reload(t, alice, nil)
	reload(t, bob, nil)
	ds = reloadPublic(t, ds)
	commit(t, ds, bob, group.CommitOptions{PSKs: []mls.PreSharedKeyID{bob.g.NewResumptionPSKID(bob.g.Epoch() - 1)}}, alice)
	checkSameEpoch(t, alice, bob)
}

// TestLoadRejects checks that damaged states are refused, not loaded.
func TestLoadRejects(t *testing.T) {
	suite, _ := cipher.Lookup(cipher.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519)
	alice := newClient(t, suite, "alice")
	g, err := group.NewGroup(suite, []byte("!load:ds"), alice.id, group.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	data, _ := g.MarshalBinary()
	pub, _ := g.Public().MarshalBinary()
	for i := range data {
		if _, err := group.LoadGroup(data[:i], nil); err == nil {
			t.Fatalf("a state cut at %d loads", i)
		}
	}
	if _, err := group.LoadGroup(append(bytes.Clone(data), 0), nil); !errors.Is(err, group.ErrMalformed) {
		t.Fatalf("trailing data: %v", err)
	}
	bad := bytes.Clone(data)
	bad[1] = 9
	if _, err := group.LoadGroup(bad, nil); !errors.Is(err, group.ErrMalformed) {
		t.Fatalf("another version: %v", err)
	}
	if _, err := group.LoadPublicGroup(data, nil); err == nil {
		t.Fatal("a member state loads as a public one")
	}
	// A tree hash that does not match the tree.
	bad = bytes.Clone(pub)
	i := bytes.Index(bad, g.Public().TreeHash())
	bad[i] ^= 1
	if _, err := group.LoadPublicGroup(bad, nil); !errors.Is(err, group.ErrTreeHash) {
		t.Fatalf("a damaged tree hash: %v", err)
	}
}
