package internal

import (
	"context"
	"sync"

	"github.com/matrix-org/dendrite/msc4244/keyserver/api"
)

// CountsRecorder carries the KeyPackage counts of a device out of a /sync
// request: Dendrite's sync handler asks the user API for one-time key
// counts with the request's context, the user API decorator counts the
// device's KeyPackages and records them here, and the /sync middleware
// reports the last-resort one as a fallback key.
type CountsRecorder struct {
	mu     sync.Mutex
	counts *api.KeyPackageCounts
}

type countsRecorderKey struct{}

// WithCountsRecorder returns a context carrying a new CountsRecorder.
func WithCountsRecorder(ctx context.Context) (context.Context, *CountsRecorder) {
	r := &CountsRecorder{}
	return context.WithValue(ctx, countsRecorderKey{}, r), r
}

// RecordCounts records counts in ctx's CountsRecorder, if it has one.
func RecordCounts(ctx context.Context, counts api.KeyPackageCounts) {
	if r, ok := ctx.Value(countsRecorderKey{}).(*CountsRecorder); ok {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.counts = &counts
	}
}

// Counts returns the recorded counts; ok is false when none were recorded.
func (r *CountsRecorder) Counts() (counts api.KeyPackageCounts, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.counts == nil {
		return counts, false
	}
	return *r.counts, true
}
