package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// lockPoll is how often Lock retries a held lock.
const lockPoll = 20 * time.Millisecond

// Lock takes the store's exclusive lock, waiting until it is free or ctx
// ends, and returns the function that releases it. The lock is an advisory
// flock on the folder's lock file: it serialises processes (and goroutines)
// that read, change and write records, and is released by the kernel when
// a process dies.
func (s *Store) Lock(ctx context.Context) (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Join(s.dir, lockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("store: lock: %w", err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil // nolint: errcheck
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close() // nolint: errcheck
			return nil, fmt.Errorf("store: lock: %w", err)
		}
		select {
		case <-ctx.Done():
			f.Close() // nolint: errcheck
			return nil, fmt.Errorf("store: waiting for the lock (another process uses this profile): %w", ctx.Err())
		case <-time.After(lockPoll):
		}
	}
}
