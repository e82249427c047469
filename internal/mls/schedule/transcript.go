package schedule

import (
	"golang.org/x/crypto/cryptobyte"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/cipher"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
)

// ConfirmedTranscriptHash returns the confirmed transcript hash after a
// commit: Hash(interim_transcript_hash || ConfirmedTranscriptHashInput)
// (RFC 9420 §8.2). interim is the interim transcript hash of the epoch the
// commit was sent in; framed is the encoding of the commit's wire format
// and FramedContent, which ConfirmedTranscriptHashInput starts with, and
// signature its signature. The encoding is passed in, and hashed in place,
// because its signature covers it too: a commit with a path to thousands
// of members is a megabyte.
func ConfirmedTranscriptHash(s *cipher.Suite, interim, framed, signature []byte) []byte {
	var sig cryptobyte.Builder
	codec.AddOpaque(&sig, signature)
	h := s.NewHash()
	h.Write(interim)
	h.Write(framed)
	h.Write(sig.BytesOrPanic())
	return h.Sum(nil)
}

// InterimTranscriptHash returns Hash(confirmed_transcript_hash ||
// InterimTranscriptHashInput) (RFC 9420 §8.2): the interim transcript hash
// of the epoch whose confirmed transcript hash and confirmation tag are
// given.
func InterimTranscriptHash(s *cipher.Suite, confirmed, confirmationTag []byte) []byte {
	input := mls.InterimTranscriptHashInput{ConfirmationTag: confirmationTag}
	return s.Hash(codec.MarshalTo(append([]byte(nil), confirmed...), &input))
}

// ConfirmationTag returns MAC(confirmation_key, confirmed_transcript_hash)
// (RFC 9420 §6.1): the tag that proves a commit's sender and its receivers
// reached the same epoch.
func ConfirmationTag(s *cipher.Suite, confirmationKey, confirmed []byte) []byte {
	return s.MAC(confirmationKey, confirmed)
}

// VerifyConfirmationTag reports, in constant time, whether tag is the
// confirmation tag of the epoch with confirmationKey and confirmed.
func VerifyConfirmationTag(s *cipher.Suite, confirmationKey, confirmed, tag []byte) bool {
	return s.VerifyMAC(confirmationKey, confirmed, tag)
}
