package internal

import "github.com/matrix-org/dendrite/msc4244/mlsds/api"

// A to-device message carries one copy per recipient device through every
// server's sync API and federation queue, so a large commit sent to a
// large group is costly to deliver: an 83 KB commit to 1,000 devices on 3
// servers (~110 MB of base64) took 12–17 s to reach 95% of them, a 158 B
// proposal 0.6–0.9 s (docs/performance.md). Above these bounds the DS sends
// the commit by reference instead (docs/mls-profile.md, "Messages from the
// DS"): its digest, and each device reads it from the log through its own
// server, which caches it.
const (
	// maxInlineCommit keeps every copy of a commit small enough that
	// several share one m.direct_to_device EDU and one /sync answer, far
	// below the 64 KiB Matrix allows a PDU.
	maxInlineCommit = 16 << 10
	// maxInlineFanOut bounds the bytes of all copies of a commit together:
	// from the measurements above, delivering 2 MiB more costs ~0.3 s, which
	// keeps a fan-out to 1,000 devices within a second.
	maxInlineFanOut = 2 << 20
)

// byReference reports whether a commit of size bytes goes to recipients
// devices by reference.
func byReference(size, recipients int) bool {
	return size > maxInlineCommit || size*recipients > maxInlineFanOut
}

// commitNotice is the m.mls.commit of an accepted commit (message) that
// created epoch, for recipients devices.
func commitNotice(roomID string, epoch uint64, message []byte, sender api.Device, recipients int) api.CommitContent {
	c := api.CommitContent{RoomID: roomID, Epoch: epoch, Sender: sender}
	if byReference(len(message), recipients) {
		c.MessageSHA256 = digest(message)
	} else {
		c.Message = encodeBase64(message)
	}
	return c
}
