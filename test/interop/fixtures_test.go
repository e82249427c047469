package interop

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/cipher"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/group"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/mlstest"
)

// history is what fixtures.mjs prints for one cipher suite: a ts-mls
// group's epoch-0 GroupInfo, then its handshake messages step by step,
// with the state ts-mls reached after each.
type history struct {
	Suite       cipher.SuiteID `json:"suite"`
	Name        string         `json:"name"`
	KeyPackages []mlstest.Hex  `json:"key_packages"`
	GroupInfo   mlstest.Hex    `json:"group_info"`
	Epoch       uint64         `json:"epoch"`
	TreeHash    mlstest.Hex    `json:"tree_hash"`
	Steps       []step         `json:"steps"`
	Application []mlstest.Hex  `json:"application"`
}

type step struct {
	Name      string        `json:"name"`
	Committer string        `json:"committer"`
	Proposals []mlstest.Hex `json:"proposals"`
	Commit    mlstest.Hex   `json:"commit"`
	Path      bool          `json:"path"`
	GroupInfo mlstest.Hex   `json:"group_info"`
	Welcome   mlstest.Hex   `json:"welcome"`
	// What ts-mls reached.
	Epoch                   uint64      `json:"epoch"`
	TreeHash                mlstest.Hex `json:"tree_hash"`
	ConfirmedTranscriptHash mlstest.Hex `json:"confirmed_transcript_hash"`
}

var (
	fixturesOnce sync.Once
	fixturesOut  []byte
)

// histories runs fixtures.mjs once per test process: ts-mls makes new
// groups, with new keys, on every run.
func histories(t *testing.T) []history {
	t.Helper()
	n := NodeRuntime(t)
	fixturesOnce.Do(func() { fixturesOut = n.Run(t, "fixtures.mjs") })
	if fixturesOut == nil {
		t.Fatal("fixtures.mjs failed in an earlier test")
	}
	var out struct {
		TSMLS  string    `json:"ts_mls"`
		Suites []history `json:"suites"`
	}
	if err := json.Unmarshal(fixturesOut, &out); err != nil {
		t.Fatalf("fixtures.mjs printed something else than its JSON: %v", err)
	}
	if out.TSMLS != TSMLSVersion || len(out.Suites) != 3 {
		t.Fatalf("fixtures.mjs: ts-mls %s, %d suites; want %s and suites 1, 2, 3", out.TSMLS, len(out.Suites), TSMLSVersion)
	}
	return out.Suites
}

// decodeMessage decodes an MLSMessage of the given wire format and checks
// that encoding it again gives the very same bytes.
func decodeMessage(t *testing.T, what string, data []byte, want mls.WireFormat) *mls.MLSMessage {
	t.Helper()
	var m mls.MLSMessage
	if err := codec.Unmarshal(data, &m); err != nil {
		t.Fatalf("%s: our decoder refuses ts-mls's message: %v\n%x", what, err, data)
	}
	if m.WireFormat != want {
		t.Fatalf("%s: a %v, want a %v", what, m.WireFormat, want)
	}
	if again := codec.Marshal(&m); !bytes.Equal(again, data) {
		t.Fatalf("%s: re-encoding differs from ts-mls's bytes\nts-mls: %x\nours:   %x", what, data, again)
	}
	return &m
}

// TestTSMLSWireFormat decodes every message ts-mls made (KeyPackages,
// GroupInfos, proposals, commits, Welcomes, an application message) with
// our decoder, re-encodes it byte for byte, and checks its signatures with
// our cipher suites: KeyPackages and their leaves, GroupInfos, and every
// leaf of every ratchet tree.
func TestTSMLSWireFormat(t *testing.T) {
	for _, h := range histories(t) {
		t.Run(h.Suite.String(), func(t *testing.T) {
			suite, err := cipher.Lookup(h.Suite)
			if err != nil {
				t.Fatal(err)
			}
			for i, data := range h.KeyPackages {
				kp := decodeMessage(t, fmt.Sprintf("KeyPackage %d", i), data, mls.WireFormatKeyPackage).KeyPackage
				leaf := &kp.LeafNode
				verify(t, suite, fmt.Sprintf("KeyPackage %d's leaf", i), leaf.SignatureKey, "LeafNodeTBS", leaf.TBS(nil, 0), leaf.Signature)
				verify(t, suite, fmt.Sprintf("KeyPackage %d", i), leaf.SignatureKey, "KeyPackageTBS", kp.TBS(), kp.Signature)
			}
			checkGroupInfo(t, suite, "epoch 0", h.GroupInfo)
			for _, s := range h.Steps {
				for i, p := range s.Proposals {
					decodeMessage(t, fmt.Sprintf("%s: proposal %d", s.Name, i), p, mls.WireFormatPublicMessage)
				}
				commit := decodeMessage(t, s.Name+": commit", s.Commit, mls.WireFormatPublicMessage).PublicMessage
				if commit.Content.Commit == nil || (commit.Content.Commit.Path != nil) != s.Path {
					t.Fatalf("%s: not a commit, or path presence is not %v", s.Name, s.Path)
				}
				checkGroupInfo(t, suite, s.Name, s.GroupInfo)
				if s.Welcome != nil {
					decodeMessage(t, s.Name+": Welcome", s.Welcome, mls.WireFormatWelcome)
				}
			}
			for i, data := range h.Application {
				decodeMessage(t, fmt.Sprintf("application message %d", i), data, mls.WireFormatPrivateMessage)
			}
		})
	}
}

// checkGroupInfo decodes a GroupInfo and checks its signature, its
// ratchet tree's leaves and its RFC 9420 external_senders list.
func checkGroupInfo(t *testing.T, suite *cipher.Suite, what string, data []byte) {
	t.Helper()
	gi := decodeMessage(t, what+": GroupInfo", data, mls.WireFormatGroupInfo).GroupInfo
	var tree mls.RatchetTree
	if found, err := gi.Extensions.Decode(&tree); !found || err != nil {
		t.Fatalf("%s: GroupInfo without a decodable ratchet_tree extension (found %v): %v", what, found, err)
	}
	raw, _ := gi.Extensions.Find(mls.ExtensionRatchetTree)
	if again := codec.Marshal(tree); !bytes.Equal(again, raw) {
		t.Fatalf("%s: the ratchet tree re-encodes differently", what)
	}
	for i := range tree {
		leaf := tree[i].Leaf
		if leaf == nil {
			continue
		}
		var groupID []byte
		if leaf.Source != mls.LeafNodeSourceKeyPackage {
			groupID = gi.GroupContext.GroupID
		}
		verify(t, suite, fmt.Sprintf("%s: leaf %d", what, i/2), leaf.SignatureKey, "LeafNodeTBS", leaf.TBS(groupID, uint32(i/2)), leaf.Signature)
	}
	if int(2*gi.Signer) >= len(tree) || tree[2*gi.Signer].Leaf == nil {
		t.Fatalf("%s: GroupInfo signer %d is not a member", what, gi.Signer)
	}
	verify(t, suite, what+": GroupInfo", tree[2*gi.Signer].Leaf.SignatureKey, "GroupInfoTBS", gi.TBS(), gi.Signature)
	var senders mls.ExternalSenders
	if found, err := gi.GroupContext.Extensions.Decode(&senders); !found || err != nil || len(senders) != 1 {
		t.Fatalf("%s: external_senders is not the RFC 9420 list of one sender (found %v, %d senders): %v", what, found, len(senders), err)
	}
}

func verify(t *testing.T, suite *cipher.Suite, what string, pub []byte, label string, tbs codec.Marshaler, sig []byte) {
	t.Helper()
	if err := suite.VerifyWithLabel(pub, label, codec.Marshal(tbs), sig); err != nil {
		t.Fatalf("%s: our %s check refuses ts-mls's signature: %v", what, label, err)
	}
}

// TestTSMLSPublicView follows each ts-mls group with our public view, as
// the Delivery Service does: from the epoch-0 GroupInfo, every proposal
// and commit must validate, every published GroupInfo must match the epoch
// the commit creates, and after each commit our epoch, tree hash and
// confirmed transcript hash must be ts-mls's.
func TestTSMLSPublicView(t *testing.T) {
	for _, h := range histories(t) {
		t.Run(h.Suite.String(), func(t *testing.T) {
			gi := decodeMessage(t, "epoch 0 GroupInfo", h.GroupInfo, mls.WireFormatGroupInfo).GroupInfo
			g, err := group.NewPublicGroup(gi, nil, nil)
			if err != nil {
				t.Fatalf("our public view refuses ts-mls's epoch-0 GroupInfo: %v", err)
			}
			compare(t, "epoch 0", g, tsView{Epoch: h.Epoch, TreeHash: h.TreeHash})
			for _, s := range h.Steps {
				for i, p := range s.Proposals {
					m := decodeMessage(t, s.Name, p, mls.WireFormatPublicMessage)
					if _, err = g.ProcessProposal(m.PublicMessage); err != nil {
						t.Fatalf("%s: proposal %d refused: %v\n%s", s.Name, i, err, describe(g))
					}
				}
				m := decodeMessage(t, s.Name, s.Commit, mls.WireFormatPublicMessage)
				c, err := g.StageCommit(m.PublicMessage)
				if err != nil {
					t.Fatalf("%s: commit refused: %v (rule %v)\n%s", s.Name, err, group.RuleOf(err), describe(g))
				}
				if (len(c.Added()) > 0) != (s.Welcome != nil) {
					t.Fatalf("%s: the commit adds %d members, ts-mls's Welcome present: %v", s.Name, len(c.Added()), s.Welcome != nil)
				}
				next := decodeMessage(t, s.Name, s.GroupInfo, mls.WireFormatGroupInfo).GroupInfo
				if err = c.CheckGroupInfo(next); err != nil {
					t.Fatalf("%s: the committer's GroupInfo does not match the epoch: %v\n%s", s.Name, err, describe(c.Group()))
				}
				if err = g.Merge(c); err != nil {
					t.Fatal(err)
				}
				want := tsView{Epoch: s.Epoch, TreeHash: s.TreeHash, ConfirmedTranscriptHash: s.ConfirmedTranscriptHash}
				compare(t, s.Name, g, want)
				// A joiner's view from the published GroupInfo agrees.
				joiner, err := group.NewPublicGroup(next, nil, nil)
				if err != nil {
					t.Fatalf("%s: our public view refuses the GroupInfo as a joiner: %v", s.Name, err)
				}
				compare(t, s.Name+" (joiner)", joiner, want)
			}
		})
	}
}

// tsView is what ts-mls reached after a step.
type tsView struct {
	Epoch                   uint64
	TreeHash                []byte
	ConfirmedTranscriptHash []byte
}

func compare(t *testing.T, what string, g *group.PublicGroup, want tsView) {
	t.Helper()
	ctx := g.Context()
	if ctx.Epoch != want.Epoch || !bytes.Equal(g.TreeHash(), want.TreeHash) ||
		(want.ConfirmedTranscriptHash != nil && !bytes.Equal(ctx.ConfirmedTranscriptHash, want.ConfirmedTranscriptHash)) {
		t.Fatalf("%s: our view and ts-mls's differ\nours:   %s\nts-mls: epoch %d, tree hash %x, confirmed transcript hash %x",
			what, describe(g), want.Epoch, want.TreeHash, want.ConfirmedTranscriptHash)
	}
}

// describe shows our public view: epoch, hashes and members.
func describe(g *group.PublicGroup) string {
	var members []string
	for m := range g.Members() {
		members = append(members, fmt.Sprintf("%d=%s", m.Leaf, m.Node.Credential.Identity))
	}
	ctx := g.Context()
	return fmt.Sprintf("epoch %d, tree hash %s, confirmed transcript hash %s, members [%s]",
		ctx.Epoch, hex.EncodeToString(g.TreeHash()), hex.EncodeToString(ctx.ConfirmedTranscriptHash), strings.Join(members, " "))
}
