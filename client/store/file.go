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

// writeFile replaces path with data durably: the data is written to a new
// file in the same folder and synced, renamed over path, and the folder is
// synced so that the rename survives a crash.
func writeFile(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return err
	}
	name := tmp.Name()
	_, err = tmp.Write(data)
	if err = errors.Join(err, tmp.Chmod(0o600), tmp.Sync(), tmp.Close()); err != nil {
		os.Remove(name) // nolint: errcheck
		return err
	}
	if err = os.Rename(name, path); err != nil {
		os.Remove(name) // nolint: errcheck
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}

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
