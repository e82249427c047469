package schedule

import (
	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/cipher"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
)

// ConfirmedTranscriptHash returns the confirmed transcript hash after the
// commit in ac, which must carry a commit and its signature:
// Hash(interim_transcript_hash || ConfirmedTranscriptHashInput)
// (RFC 9420 §8.2). interim is the interim transcript hash of the epoch the
// commit was sent in.
func ConfirmedTranscriptHash(s *cipher.Suite, interim []byte, ac *mls.AuthenticatedContent) []byte {
	return s.Hash(codec.MarshalTo(append([]byte(nil), interim...), ac.ConfirmedTranscriptHashInput()))
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
