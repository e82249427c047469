package mls_test

import (
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/mlstest"
)

var updateFuzzSeeds = flag.Bool("update-fuzz-seeds", false, "rewrite testdata/fuzz from the test vectors")

// seedDecoders decodes and re-encodes one input of each fuzz target,
// returning an error unless both succeed and agree.
var seedDecoders = map[string]func(data []byte) error{
	"FuzzMLSMessage":   seedCheck[mls.MLSMessage],
	"FuzzKeyPackage":   seedCheck[mls.KeyPackage],
	"FuzzWelcome":      seedCheck[mls.Welcome],
	"FuzzGroupInfo":    seedCheck[mls.GroupInfo],
	"FuzzGroupSecrets": seedCheck[mls.GroupSecrets],
	"FuzzRatchetTree":  seedCheck[mls.RatchetTree],
	"FuzzCommit":       seedCheck[mls.Commit],
	"FuzzProposal":     seedCheck[mls.Proposal],
	"FuzzLeafNode":     seedCheck[mls.LeafNode],
	"FuzzPrivateMessageContent": func(data []byte) error {
		if len(data) == 0 {
			return fmt.Errorf("empty input")
		}
		c := mls.PrivateMessageContent{Content: mls.Content{ContentType: mls.ContentType(data[0])}}
		return checkReencode(data[1:], &c)
	},
}

func seedCheck[T any, P interface {
	*T
	wireValue
}](data []byte) error {
	return checkReencode(data, P(new(T)))
}

func checkReencode(data []byte, v wireValue) error {
	if err := codec.Unmarshal(data, v); err != nil {
		return err
	}
	if re := codec.Marshal(v); string(re) != string(data) {
		return fmt.Errorf("re-encoding differs")
	}
	return nil
}

// fuzzSeeds picks a few small valid inputs per fuzz target from
// messages.json, plus built private message plaintexts.
func fuzzSeeds(t *testing.T) map[string][][]byte {
	var cases []messagesCase
	mlstest.Load(t, "messages.json", &cases)
	seeds := map[string][][]byte{}
	add := func(target string, data ...[]byte) { seeds[target] = append(seeds[target], data...) }
	c := cases[0]
	add("FuzzMLSMessage", c.Welcome, c.GroupInfo, c.KeyPackage, c.PublicMessageApplication,
		c.PublicMessageProposal, c.PublicMessageCommit, c.PrivateMessage)
	for i, body := range [][]byte{c.Add, c.Update, c.Remove, c.PreSharedKey, c.ReInit, c.ExternalInit, c.GroupContextExtensions} {
		add("FuzzProposal", append([]byte{0, byte(i + 1)}, body...))
	}
	for _, c := range cases[:3] {
		const header = 4 // MLSMessage version and wire format
		add("FuzzKeyPackage", c.KeyPackage[header:])
		add("FuzzWelcome", c.Welcome[header:])
		add("FuzzGroupInfo", c.GroupInfo[header:])
		add("FuzzGroupSecrets", c.GroupSecrets)
		add("FuzzRatchetTree", c.RatchetTree)
		add("FuzzCommit", c.Commit)
		add("FuzzLeafNode", c.Update)
	}
	for _, content := range []mls.PrivateMessageContent{
		{Content: mls.Content{ContentType: mls.ContentApplication, ApplicationData: []byte("hi")}, Auth: mls.FramedContentAuthData{Signature: testKey}, Padding: 3},
		{Content: mls.Content{ContentType: mls.ContentProposal, Proposal: &mls.Proposal{Type: mls.ProposalRemove, Remove: &mls.Remove{Removed: 1}}}, Auth: mls.FramedContentAuthData{Signature: testKey}},
		{Content: mls.Content{ContentType: mls.ContentCommit, Commit: &mls.Commit{}}, Auth: mls.FramedContentAuthData{Signature: testKey, ConfirmationTag: testKey}, Padding: 1},
	} {
		add("FuzzPrivateMessageContent", append([]byte{byte(content.ContentType)}, codec.Marshal(&content)...))
	}
	return seeds
}

const corpusHeader = "go test fuzz v1\n"

// encodeCorpusFile renders data in the format of Go's fuzzing corpus.
func encodeCorpusFile(data []byte) []byte {
	return []byte(corpusHeader + "[]byte(" + strconv.Quote(string(data)) + ")\n")
}

// decodeCorpusFile reads a corpus file holding one []byte.
func decodeCorpusFile(file []byte) ([]byte, error) {
	body, ok := strings.CutPrefix(string(file), corpusHeader)
	if !ok {
		return nil, fmt.Errorf("missing %q header", strings.TrimSpace(corpusHeader))
	}
	body, ok = strings.CutPrefix(strings.TrimSpace(body), "[]byte(")
	if !ok || !strings.HasSuffix(body, ")") {
		return nil, fmt.Errorf("not a single []byte value")
	}
	s, err := strconv.Unquote(strings.TrimSuffix(body, ")"))
	return []byte(s), err
}

// TestFuzzSeedCorpus checks that every fuzz target has a seed corpus and
// that each seed is a valid input that re-encodes identically, so that the
// fuzzers start from inputs that reach deep into the decoders. With
// -update-fuzz-seeds it first rewrites the corpora from the vectors.
func TestFuzzSeedCorpus(t *testing.T) {
	if *updateFuzzSeeds {
		for target, inputs := range fuzzSeeds(t) {
			dir := filepath.Join("testdata", "fuzz", target)
			if err := os.RemoveAll(dir); err != nil {
				t.Fatal(err)
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			for _, data := range inputs {
				sum := sha256.Sum256(data)
				name := filepath.Join(dir, "seed-"+hex.EncodeToString(sum[:8]))
				if err := os.WriteFile(name, encodeCorpusFile(data), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	for target, check := range seedDecoders {
		dir := filepath.Join("testdata", "fuzz", target)
		entries, err := os.ReadDir(dir)
		if err != nil || len(entries) == 0 {
			t.Errorf("%s: no seed corpus in %s (%v)", target, dir, err)
			continue
		}
		for _, e := range entries {
			file, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			data, err := decodeCorpusFile(file)
			if err == nil {
				err = check(data)
			}
			if err != nil && strings.HasPrefix(e.Name(), "seed-") {
				t.Errorf("%s/%s: %v", target, e.Name(), err)
			}
		}
	}
}
