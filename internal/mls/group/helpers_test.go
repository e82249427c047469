package group_test

import (
	"bytes"
	"testing"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/cipher"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/group"
)

// client is a test participant: an identity and, once in a group, its
// member view.
type client struct {
	name   string
	id     group.Identity
	signer *cipher.Signer
	g      *group.Group
}

func newClient(t testing.TB, suite *cipher.Suite, name string) *client {
	t.Helper()
	priv, _, err := suite.GenerateSignatureKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	signer, err := suite.NewSigner(priv)
	if err != nil {
		t.Fatal(err)
	}
	cred := mls.Credential{Type: mls.CredentialBasic, Identity: []byte(name)}
	return &client{name: name, id: group.Identity{Credential: cred, SignaturePriv: priv}, signer: signer}
}

func (c *client) keyPackage(t testing.TB, suite *cipher.Suite) *group.KeyPackageBundle {
	t.Helper()
	b, err := group.NewKeyPackage(suite, c.id.Credential, c.signer, group.KeyPackageOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// create makes c create the group id and returns the Delivery Service's
// public view of it, started from c's GroupInfo.
func (c *client) create(t testing.TB, suite *cipher.Suite, id string, opts group.CreateOptions) *group.PublicGroup {
	t.Helper()
	var err error
	if c.g, err = group.NewGroup(suite, []byte(id), c.id, opts); err != nil {
		t.Fatalf("%s creates %s: %v", c.name, id, err)
	}
	gi, err := c.g.GroupInfo(group.GroupInfoOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ds, err := group.NewPublicGroup(gi, nil, nil)
	if err != nil {
		t.Fatalf("DS genesis: %v", err)
	}
	return ds
}

// newDS returns a Delivery Service's signature key and the
// external_senders extension naming it.
func newDS(t testing.TB, suite *cipher.Suite) (*cipher.Signer, mls.Extension) {
	t.Helper()
	priv, pub, err := suite.GenerateSignatureKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	signer, err := suite.NewSigner(priv)
	if err != nil {
		t.Fatal(err)
	}
	senders := mls.ExternalSenders{{SignatureKey: pub, Credential: mls.Credential{Type: mls.CredentialBasic, Identity: []byte("@:ds")}}}
	return signer, mls.NewExtension(senders)
}

// addAll makes adder add joiners in one commit, which the members process,
// and the joiners join from its Welcome.
func addAll(t testing.TB, suite *cipher.Suite, ds *group.PublicGroup, cfg *group.Config, adder *client, members []*client, joiners ...*client) {
	t.Helper()
	bundles := make([]*group.KeyPackageBundle, len(joiners))
	kps := make([]*mls.KeyPackage, len(joiners))
	for i, j := range joiners {
		bundles[i] = j.keyPackage(t, suite)
		kps[i] = bundles[i].KeyPackage
	}
	pc := commit(t, ds, adder, group.CommitOptions{Adds: kps}, members...)
	for i, j := range joiners {
		j.join(t, roundTrip(t, mls.NewWelcome(pc.Welcome)).Welcome, bundles[i], cfg)
	}
	checkSameEpoch(t, append(append([]*client{adder}, members...), joiners...)...)
}

// join makes c a member from a Welcome for bundle.
func (c *client) join(t testing.TB, w *mls.Welcome, bundle *group.KeyPackageBundle, cfg *group.Config) {
	t.Helper()
	g, err := group.Join(w, bundle, c.id, group.JoinOptions{Config: cfg})
	if err != nil {
		t.Fatalf("%s joins: %v", c.name, err)
	}
	c.g = g
}

// roundTrip encodes and decodes a message, as the network would.
func roundTrip(t testing.TB, m *mls.MLSMessage) *mls.MLSMessage {
	t.Helper()
	var out mls.MLSMessage
	if err := codec.Unmarshal(codec.Marshal(m), &out); err != nil {
		t.Fatalf("message does not decode: %v", err)
	}
	return &out
}

// commit makes c commit opts, checks the commit on the public view ds (the
// Delivery Service, when not nil) including its GroupInfo, merges it
// everywhere and makes every receiver process it.
func commit(t testing.TB, ds *group.PublicGroup, c *client, opts group.CommitOptions, receivers ...*client) *group.PendingCommit {
	t.Helper()
	pc, err := c.g.Commit(opts)
	if err != nil {
		t.Fatalf("%s commits: %v", c.name, err)
	}
	deliverCommit(t, ds, pc.Message, pc.GroupInfo, receivers...)
	if err := c.g.Merge(pc.StagedCommit); err != nil {
		t.Fatalf("%s merges its commit: %v", c.name, err)
	}
	checkSameEpoch(t, append([]*client{c}, receivers...)...)
	return pc
}

// deliverCommit makes ds accept a commit and each receiver process and
// merge it.
func deliverCommit(t testing.TB, ds *group.PublicGroup, m *mls.MLSMessage, gi *mls.GroupInfo, receivers ...*client) {
	t.Helper()
	m = roundTrip(t, m)
	if ds != nil {
		staged, err := ds.StageCommit(m.PublicMessage)
		if err != nil {
			t.Fatalf("DS: %v", err)
		}
		if err := staged.CheckGroupInfo(gi); err != nil {
			t.Fatalf("DS: GroupInfo: %v", err)
		}
		if err := ds.Merge(staged); err != nil {
			t.Fatalf("DS: merge: %v", err)
		}
	}
	for _, r := range receivers {
		out, err := r.g.Process(m)
		if err != nil {
			t.Fatalf("%s processes the commit: %v", r.name, err)
		}
		if err := r.g.Merge(out.Commit); err != nil {
			t.Fatalf("%s merges: %v", r.name, err)
		}
	}
}

// deliverProposal makes ds (when not nil) and each receiver process a
// proposal.
func deliverProposal(t testing.TB, ds *group.PublicGroup, m *mls.MLSMessage, receivers ...*client) {
	t.Helper()
	m = roundTrip(t, m)
	if ds != nil {
		if _, err := ds.ProcessProposal(m.PublicMessage); err != nil {
			t.Fatalf("DS: proposal: %v", err)
		}
	}
	for _, r := range receivers {
		if _, err := r.g.Process(m); err != nil {
			t.Fatalf("%s processes the proposal: %v", r.name, err)
		}
	}
}

// checkSameEpoch checks that every client is in the same epoch with the
// same epoch authenticator, tree hash and exporter output.
func checkSameEpoch(t testing.TB, clients ...*client) {
	t.Helper()
	first := clients[0].g
	want, _ := first.Export("test", nil, 32)
	for _, c := range clients[1:] {
		g := c.g
		got, _ := g.Export("test", nil, 32)
		switch {
		case g.Epoch() != first.Epoch():
			t.Fatalf("%s is in epoch %d, %s in %d", c.name, g.Epoch(), clients[0].name, first.Epoch())
		case !bytes.Equal(g.EpochAuthenticator(), first.EpochAuthenticator()):
			t.Fatalf("%s and %s disagree on the epoch authenticator of epoch %d", c.name, clients[0].name, g.Epoch())
		case !bytes.Equal(g.Public().TreeHash(), first.Public().TreeHash()):
			t.Fatalf("%s and %s disagree on the tree hash", c.name, clients[0].name)
		case !bytes.Equal(got, want):
			t.Fatalf("%s and %s export different secrets", c.name, clients[0].name)
		}
	}
}
