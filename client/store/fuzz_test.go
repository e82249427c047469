package store

import (
	"os"
	"testing"
)

// FuzzRecord writes any bytes as a record's file: Get must fail with
// ErrCorrupt (or find nothing) and never decode a value, unless the bytes
// are the record's own sealed content.
func FuzzRecord(f *testing.F) {
	dir := f.TempDir()
	s, err := Create(dir+"/p", PassphraseWithCost("x", cheap))
	if err != nil {
		f.Fatal(err)
	}
	if err = s.Put("r", record{Token: "t"}); err != nil {
		f.Fatal(err)
	}
	sealed, err := os.ReadFile(s.path("r"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sealed)
	f.Add(sealed[:len(sealed)-1])
	f.Add([]byte("MLSS\x01"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(s.path("f"), data, 0o600); err != nil {
			t.Fatal(err)
		}
		var got record
		found, err := s.Get("f", &got)
		if err == nil || found || got != (record{}) {
			t.Fatalf("Get of arbitrary bytes: %v %v %+v", found, err, got)
		}
	})
}
