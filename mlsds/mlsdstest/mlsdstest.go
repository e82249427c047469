// Package mlsdstest helps the Delivery Service's tests make messages the DS
// must refuse.
package mlsdstest

import (
	"bytes"
	"testing"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
)

// Tamper decodes a copy of an encoded MLSMessage, lets change alter it and
// returns it encoded again; message itself is left as it is. A message that
// does not decode fails the test.
func Tamper(t testing.TB, message []byte, change func(m *mls.MLSMessage)) []byte {
	t.Helper()
	var m mls.MLSMessage
	// Decoded values alias their input.
	if err := codec.Unmarshal(bytes.Clone(message), &m); err != nil {
		t.Fatalf("mlsdstest: the message to tamper with: %v", err)
	}
	change(&m)
	return codec.Marshal(&m)
}
