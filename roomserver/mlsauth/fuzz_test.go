package mlsauth_test

import (
	"bytes"
	"testing"

	"github.com/matrix-org/dendrite/msc4244/roomserver/mlsauth"
)

// An accepted AAD is exactly the canonical encoding of what was decoded.
func FuzzParseAAD(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := mlsauth.ParseAAD(data)
		if err != nil {
			return
		}
		if !bytes.Equal(a.Marshal(), data) {
			t.Fatalf("ParseAAD accepted %q, which is not the canonical %q", data, a.Marshal())
		}
	})
}

// DecodeCommit never panics and accepts only commits of the room whose AAD
// parses.
func FuzzDecodeCommit(f *testing.F) {
	f.Fuzz(func(t *testing.T, value string) {
		c, err := mlsauth.DecodeCommit(value, "!r:b")
		if err == nil && (c.AAD == nil || c.AAD.AuthEvents == nil) {
			t.Fatalf("DecodeCommit(%q) accepted a commit without a complete AAD", value)
		}
	})
}
