package group_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/group"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/mlstest"
)

// passiveCase is one case of the passive-client vector files.
type passiveCase struct {
	CipherSuite  uint16 `json:"cipher_suite"`
	ExternalPSKs []struct {
		PSKID mlstest.Hex `json:"psk_id"`
		PSK   mlstest.Hex `json:"psk"`
	} `json:"external_psks"`
	KeyPackage                mlstest.Hex `json:"key_package"`
	SignaturePriv             mlstest.Hex `json:"signature_priv"`
	EncryptionPriv            mlstest.Hex `json:"encryption_priv"`
	InitPriv                  mlstest.Hex `json:"init_priv"`
	Welcome                   mlstest.Hex `json:"welcome"`
	RatchetTree               mlstest.Hex `json:"ratchet_tree"`
	InitialEpochAuthenticator mlstest.Hex `json:"initial_epoch_authenticator"`
	Epochs                    []struct {
		Proposals          []mlstest.Hex `json:"proposals"`
		Commit             mlstest.Hex   `json:"commit"`
		EpochAuthenticator mlstest.Hex   `json:"epoch_authenticator"`
	} `json:"epochs"`
}

func TestPassiveClientWelcome(t *testing.T) { runPassive(t, "passive-client-welcome.json", 56) }
func TestPassiveClientHandlingCommit(t *testing.T) {
	runPassive(t, "passive-client-handling-commit.json", 91)
}
func TestPassiveClientRandom(t *testing.T) { runPassive(t, "passive-client-random.json", 1) }

func runPassive(t *testing.T, file string, want int) {
	var cases []passiveCase
	mlstest.Load(t, file, &cases)
	if len(cases) != want {
		t.Fatalf("%s has %d cases, want %d", file, len(cases), want)
	}
	for i := range cases {
		c := &cases[i]
		t.Run(fmt.Sprintf("%d/suite%d", i, c.CipherSuite), func(t *testing.T) { c.run(t) })
	}
}

// vectorConfig accepts the vectors' leaf lifetimes whatever the date and
// knows their external PSKs.
func (c *passiveCase) config() *group.Config {
	return &group.Config{
		Now: func() time.Time { return time.Time{} },
		PSK: func(id *mls.PreSharedKeyID) ([]byte, bool) {
			for _, p := range c.ExternalPSKs {
				if id.Type == mls.PSKExternal && bytes.Equal(id.PSKID, p.PSKID) {
					return p.PSK, true
				}
			}
			return nil, false
		},
	}
}

func decode(t *testing.T, data []byte) *mls.MLSMessage {
	t.Helper()
	var m mls.MLSMessage
	if err := codec.Unmarshal(data, &m); err != nil {
		t.Fatalf("decoding MLSMessage: %v", err)
	}
	return &m
}

func (c *passiveCase) run(t *testing.T) {
	kp := decode(t, c.KeyPackage).KeyPackage
	w := decode(t, c.Welcome).Welcome
	var tree mls.RatchetTree
	if len(c.RatchetTree) > 0 {
		if err := codec.Unmarshal(c.RatchetTree, &tree); err != nil {
			t.Fatalf("ratchet_tree: %v", err)
		}
	}
	cfg := c.config()
	bundle := &group.KeyPackageBundle{KeyPackage: kp, InitPriv: c.InitPriv, EncryptionPriv: c.EncryptionPriv}
	g, err := group.Join(w, bundle, group.Identity{Credential: kp.LeafNode.Credential, SignaturePriv: c.SignaturePriv}, group.JoinOptions{RatchetTree: tree, Config: cfg})
	if err != nil {
		t.Fatalf("join: %v", err)
	}
	if !bytes.Equal(g.EpochAuthenticator(), c.InitialEpochAuthenticator) {
		t.Fatalf("initial epoch authenticator %x, want %x", g.EpochAuthenticator(), c.InitialEpochAuthenticator)
	}
	// The public view starts from a GroupInfo of the joined epoch and follows
	// the same messages.
	gi, err := g.GroupInfo(group.GroupInfoOptions{})
	if err != nil {
		t.Fatalf("group info: %v", err)
	}
	pub, err := group.NewPublicGroup(gi, nil, cfg)
	if err != nil {
		t.Fatalf("public view: %v", err)
	}
	for n, e := range c.Epochs {
		for _, p := range e.Proposals {
			m := decode(t, p)
			if _, err := g.Process(m); err != nil {
				t.Fatalf("epoch %d: proposal: %v", n, err)
			}
			if m.WireFormat == mls.WireFormatPublicMessage {
				if _, err := pub.ProcessProposal(m.PublicMessage); err != nil {
					t.Fatalf("epoch %d: public view: proposal: %v", n, err)
				}
			}
		}
		m := decode(t, e.Commit)
		out, err := g.Process(m)
		if err != nil {
			t.Fatalf("epoch %d: commit: %v", n, err)
		}
		if out.Commit == nil {
			t.Fatalf("epoch %d: the commit message holds a %v", n, m.ContentType())
		}
		if err := g.Merge(out.Commit); err != nil {
			t.Fatalf("epoch %d: merge: %v", n, err)
		}
		if !bytes.Equal(g.EpochAuthenticator(), e.EpochAuthenticator) {
			t.Fatalf("epoch %d: epoch authenticator %x, want %x", n, g.EpochAuthenticator(), e.EpochAuthenticator)
		}
		if m.WireFormat != mls.WireFormatPublicMessage {
			continue
		}
		staged, err := pub.StageCommit(m.PublicMessage)
		if err != nil {
			t.Fatalf("epoch %d: public view: commit: %v", n, err)
		}
		if err := pub.Merge(staged); err != nil {
			t.Fatalf("epoch %d: public view: merge: %v", n, err)
		}
		if !bytes.Equal(codec.Marshal(pub.Context()), codec.Marshal(g.Public().Context())) {
			t.Fatalf("epoch %d: public view's group context differs from the member's", n)
		}
		if !bytes.Equal(pub.TreeHash(), g.Public().Tree().TreeHash()) {
			t.Fatalf("epoch %d: public view's tree hash differs from the member's tree", n)
		}
	}
}
