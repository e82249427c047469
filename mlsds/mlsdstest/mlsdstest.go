// Package mlsdstest helps the Delivery Service's tests make messages the DS
// must refuse.
package mlsdstest

import (
	"bytes"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
)

// Tamper decodes a copy of an encoded MLSMessage, lets change alter it and
// returns it encoded again; message itself is left as it is.
func Tamper(message []byte, change func(m *mls.MLSMessage)) ([]byte, error) {
	var m mls.MLSMessage
	// Decoded values alias their input.
	if err := codec.Unmarshal(bytes.Clone(message), &m); err != nil {
		return nil, err
	}
	change(&m)
	return codec.Marshal(&m), nil
}
