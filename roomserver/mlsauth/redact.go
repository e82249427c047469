package mlsauth

import (
	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

// Redaction returns the room version's redaction algorithm: base's, except
// that an m.room.member event keeps content.mls_commit, so that a redacted
// membership that needed a commit still passes the rule. Every server must
// redact alike: the redacted form is what event IDs hash and signatures
// cover, so mls_commit is covered by both.
func Redaction(base func(eventJSON []byte) ([]byte, error)) func(eventJSON []byte) ([]byte, error) {
	return func(eventJSON []byte) ([]byte, error) {
		redacted, err := base(eventJSON)
		if err != nil {
			return nil, err
		}
		if gjson.GetBytes(eventJSON, "type").Str != spec.MRoomMember {
			return redacted, nil
		}
		commit := gjson.GetBytes(eventJSON, "content."+ContentKeyCommit)
		if !commit.Exists() {
			return redacted, nil
		}
		if redacted, err = sjson.SetRawBytes(redacted, "content."+ContentKeyCommit, []byte(commit.Raw)); err != nil {
			return nil, err
		}
		return gomatrixserverlib.CanonicalJSON(redacted)
	}
}
