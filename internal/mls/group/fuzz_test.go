package group_test

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/cipher"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/group"
)

var updateFuzzSeeds = flag.Bool("update-fuzz-seeds", false, "rewrite testdata/fuzz and testdata/fuzz-group.bin from a fresh group")

// fuzzGroupFile holds the stored public state that FuzzPublicMessage feeds
// messages to; the seeds of FuzzPublicMessage are valid messages for it.
const fuzzGroupFile = "testdata/fuzz-group.bin"

// checkRule fails unless err is nil or names a rule.
func checkRule(t *testing.T, err error) {
	t.Helper()
	if err != nil && group.RuleOf(err) == nil {
		t.Fatalf("an error that names no rule: %v", err)
	}
}

// FuzzLoadGroup loads any member state: nothing may panic, errors name a
// rule, and what loads encodes back to the input.
func FuzzLoadGroup(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := group.LoadGroup(data, nil)
		checkRule(t, err)
		if err != nil {
			return
		}
		if again, err := g.MarshalBinary(); err != nil || !bytes.Equal(again, data) {
			t.Fatalf("a loaded state encodes to other bytes (%v)", err)
		}
	})
}

// FuzzLoadPublicGroup is FuzzLoadGroup for the public view's state.
func FuzzLoadPublicGroup(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := group.LoadPublicGroup(data, nil)
		checkRule(t, err)
		if err != nil {
			return
		}
		if again, err := g.MarshalBinary(); err != nil || !bytes.Equal(again, data) {
			t.Fatalf("a loaded state encodes to other bytes (%v)", err)
		}
	})
}

// FuzzPublicMessage feeds any MLSMessage to the public view of the group
// in testdata, as the Delivery Service would: proposals are validated,
// commits staged. Nothing may panic and every rejection names a rule.
func FuzzPublicMessage(f *testing.F) {
	state, err := os.ReadFile(fuzzGroupFile)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := group.LoadPublicGroup(state, nil)
		if err != nil {
			t.Fatal(err)
		}
		var m mls.MLSMessage
		if codec.Unmarshal(data, &m) != nil || m.WireFormat != mls.WireFormatPublicMessage {
			return
		}
		if m.ContentType() == mls.ContentProposal {
			_, err = g.ProcessProposal(m.PublicMessage)
		} else {
			_, err = g.StageCommit(m.PublicMessage)
		}
		checkRule(t, err)
	})
}

// writeSeed writes a seed of the fuzz target named target.
func writeSeed(t *testing.T, target, name string, data []byte) {
	dir := filepath.Join("testdata", "fuzz", target)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	seed := fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", data)
	if err := os.WriteFile(filepath.Join(dir, name), seed, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestFuzzSeeds checks that the seed messages of FuzzPublicMessage are
// valid for the stored group, and with -update-fuzz-seeds writes a new
// group and seeds: member and public states, a proposal, and commits with
// and without path, by reference, adding and removing.
func TestFuzzSeeds(t *testing.T) {
	if *updateFuzzSeeds {
		writeFuzzSeeds(t)
	}
	state, err := os.ReadFile(fuzzGroupFile)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzPublicMessage")
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) == 0 {
		t.Fatalf("no seeds in %s: %v", dir, err)
	}
	for _, e := range entries {
		data := readSeed(t, filepath.Join(dir, e.Name()))
		g, err := group.LoadPublicGroup(state, nil)
		if err != nil {
			t.Fatal(err)
		}
		m := decode(t, data)
		if m.ContentType() == mls.ContentProposal {
			_, err = g.ProcessProposal(m.PublicMessage)
		} else {
			_, err = g.StageCommit(m.PublicMessage)
		}
		if err != nil {
			t.Errorf("seed %s: %v", e.Name(), err)
		}
	}
}

// readSeed reads a one-value []byte seed file.
func readSeed(t *testing.T, path string) []byte {
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var data []byte
	lines := bytes.SplitN(raw, []byte("\n"), 3)
	if len(lines) < 2 {
		t.Fatalf("%s is not a seed", path)
	}
	if _, err := fmt.Sscanf(string(bytes.TrimSuffix(bytes.TrimPrefix(lines[1], []byte("[]byte(")), []byte(")"))), "%q", &data); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return data
}

func writeFuzzSeeds(t *testing.T) {
	suite, _ := cipher.Lookup(cipher.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519)
	alice, bob, carol, dave := newClient(t, suite, "alice"), newClient(t, suite, "bob"), newClient(t, suite, "carol"), newClient(t, suite, "dave")
	ds := alice.create(t, suite, "!fuzz:ds", group.CreateOptions{})
	addAll(t, suite, ds, nil, alice, nil, bob, carol)
	commit(t, ds, bob, group.CommitOptions{}, alice, carol)
	m, _, err := bob.g.ProposeUpdate(group.MessageOptions{})
	if err != nil {
		t.Fatal(err)
	}
	deliverProposal(t, ds, m, alice, carol)

	state, err := ds.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(fuzzGroupFile, state, 0o644); err != nil {
		t.Fatal(err)
	}
	writeSeed(t, "FuzzLoadPublicGroup", "three-members", state)
	for _, c := range []*client{alice, bob} {
		data, err := c.g.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		writeSeed(t, "FuzzLoadGroup", c.name, data)
	}
	daveKP := dave.keyPackage(t, suite)
	prop, _, err := carol.g.Propose(mls.Proposal{Type: mls.ProposalAdd, Add: &mls.Add{KeyPackage: *daveKP.KeyPackage}}, group.MessageOptions{})
	if err != nil {
		t.Fatal(err)
	}
	writeSeed(t, "FuzzPublicMessage", "proposal-add", codec.Marshal(prop))
	for name, opts := range map[string]group.CommitOptions{
		"commit-by-reference": {},
		"commit-empty":        {NoReferences: true},
		"commit-add":          {NoReferences: true, Adds: []*mls.KeyPackage{daveKP.KeyPackage}},
		"commit-remove":       {Removes: []group.LeafIndex{carol.g.LeafIndex()}},
	} {
		pc, err := alice.g.Commit(opts)
		if err != nil {
			t.Fatal(err)
		}
		writeSeed(t, "FuzzPublicMessage", name, codec.Marshal(pc.Message))
	}
}
