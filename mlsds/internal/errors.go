package internal

import (
	"fmt"

	"github.com/matrix-org/dendrite/msc4244/mlsds/api"
)

// rejection is a message the DS refuses: the sending device is answered
// with m.mls.rejected. Errors that are not rejections are failures of the
// DS itself, after which the sender must retry.
type rejection struct {
	code   api.ErrCode
	reason string
}

func (r *rejection) Error() string { return fmt.Sprintf("%s: %s", r.code, r.reason) }

func reject(code api.ErrCode, format string, args ...any) *rejection {
	return &rejection{code: code, reason: fmt.Sprintf(format, args...)}
}

// errUnknownGroup is the rejection of a message for a room the DS has no
// group for.
func errUnknownGroup(roomID string) *rejection {
	return reject(api.ErrUnknownGroup, "this server has no MLS group for room %q", roomID)
}
