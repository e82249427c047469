package schedule

import (
	"fmt"
	"math"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/cipher"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
)

// PSK is a pre-shared key with the identifier it is proposed under.
type PSK struct {
	ID     mls.PreSharedKeyID
	Secret []byte
}

// PSKSecret combines psks, in the order the commit lists them, into the
// psk_secret of the key schedule (RFC 9420 §8.4). With no PSKs it returns
// nil, which Derive and Join read as the all-zero vector. It fails when
// there are more than 65535 PSKs (PSKLabel counts them in a uint16).
func PSKSecret(s *cipher.Suite, psks []PSK) ([]byte, error) {
	if len(psks) == 0 {
		return nil, nil
	}
	if len(psks) > math.MaxUint16 {
		return nil, fmt.Errorf("mls schedule: %d PSKs, at most %d fit a PSKLabel", len(psks), math.MaxUint16)
	}
	zero := make([]byte, s.HashLen())
	secret := zero
	for i := range psks {
		label := mls.PSKLabel{ID: psks[i].ID, Index: uint16(i), Count: uint16(len(psks))}
		encoded, err := encodePSKLabel(&label)
		if err != nil {
			return nil, err
		}
		extracted := s.Extract(zero, psks[i].Secret)
		input := expandNh(s, extracted, "derived psk", encoded)
		secret = s.Extract(input, secret)
		clear(extracted)
		clear(input)
	}
	return secret, nil
}

// encodePSKLabel encodes l, failing on a PreSharedKeyID of an unknown type
// rather than panicking.
func encodePSKLabel(l *mls.PSKLabel) ([]byte, error) {
	if t := l.ID.Type; t != mls.PSKExternal && t != mls.PSKResumption {
		return nil, fmt.Errorf("mls schedule: PSK %d has unknown type %v", l.Index, t)
	}
	return codec.Marshal(l), nil
}
