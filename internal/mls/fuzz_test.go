package mls_test

import (
	"bytes"
	"testing"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
)

// decodeEncode decodes data into a new T and, when that succeeds, checks
// that encoding gives data back.
func decodeEncode[T any, P interface {
	*T
	wireValue
}](t *testing.T, data []byte) {
	v := P(new(T))
	if codec.Unmarshal(data, v) != nil {
		return
	}
	if re := codec.Marshal(v); !bytes.Equal(re, data) {
		t.Fatalf("decode→encode not identical:\n got %x\nwant %x", re, data)
	}
}

// The seed corpora are in testdata/fuzz/<name>; TestFuzzSeedCorpus checks
// and, with -update-fuzz-seeds, writes them.

func FuzzMLSMessage(f *testing.F) { f.Fuzz(decodeEncode[mls.MLSMessage]) }
func FuzzKeyPackage(f *testing.F) { f.Fuzz(decodeEncode[mls.KeyPackage]) }
func FuzzWelcome(f *testing.F)    { f.Fuzz(decodeEncode[mls.Welcome]) }
func FuzzGroupInfo(f *testing.F)  { f.Fuzz(decodeEncode[mls.GroupInfo]) }
func FuzzGroupSecrets(f *testing.F) {
	f.Fuzz(decodeEncode[mls.GroupSecrets])
}
func FuzzRatchetTree(f *testing.F) { f.Fuzz(decodeEncode[mls.RatchetTree]) }
func FuzzCommit(f *testing.F)      { f.Fuzz(decodeEncode[mls.Commit]) }
func FuzzProposal(f *testing.F)    { f.Fuzz(decodeEncode[mls.Proposal]) }
func FuzzLeafNode(f *testing.F)    { f.Fuzz(decodeEncode[mls.LeafNode]) }

// FuzzPrivateMessageContent takes the content type from the first octet
// and decodes the rest as a decrypted PrivateMessage plaintext.
func FuzzPrivateMessageContent(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		c := mls.PrivateMessageContent{Content: mls.Content{ContentType: mls.ContentType(data[0])}}
		if codec.Unmarshal(data[1:], &c) != nil {
			return
		}
		if re := codec.Marshal(&c); !bytes.Equal(re, data[1:]) {
			t.Fatalf("decode→encode not identical:\n got %x\nwant %x", re, data[1:])
		}
	})
}
