package routing

import (
	"bytes"
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
)

// Concurrent loads of one entry share one fetch, and later loads are
// answered from the cache; a failed fetch is not kept.
func TestCommitCacheLoad(t *testing.T) {
	c := newCommitCache()
	var fetches atomic.Int32
	release := make(chan struct{})
	fetch := func() (json.RawMessage, error) {
		fetches.Add(1)
		<-release
		return json.RawMessage(`{"epoch":2}`), nil
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if body, err := c.load(commitKey("!r:x", 2), fetch); err != nil || string(body) != `{"epoch":2}` {
				t.Errorf("load: %s, %v", body, err)
			}
		})
	}
	close(release)
	wg.Wait()
	if _, err := c.load(commitKey("!r:x", 2), fetch); err != nil || fetches.Load() != 1 {
		t.Fatalf("%d fetches for one entry (%v), want 1", fetches.Load(), err)
	}

	failing := errors.New("the DS did not answer")
	if _, err := c.load(commitKey("!r:x", 3), func() (json.RawMessage, error) { return nil, failing }); !errors.Is(err, failing) {
		t.Fatalf("failed fetch: %v", err)
	}
	if _, ok := c.get(commitKey("!r:x", 3)); ok {
		t.Fatal("a failed fetch was kept")
	}
}

// The cache forgets the least recently used entries beyond its size, and
// does not keep entries larger than a quarter of it.
func TestCommitCacheEviction(t *testing.T) {
	c := newCommitCache()
	entry := bytes.Repeat([]byte{'x'}, commitCacheBytes/4)
	for epoch := range uint64(4) {
		c.add(commitKey("!r:x", epoch), entry)
	}
	c.get(commitKey("!r:x", 0)) // epoch 0 is now the most recently used
	c.add(commitKey("!r:x", 4), entry)
	for epoch, want := range []bool{true, false, true, true, true} {
		if _, ok := c.get(commitKey("!r:x", uint64(epoch))); ok != want {
			t.Errorf("epoch %d kept: %v, want %v", epoch, ok, want)
		}
	}
	c.add(commitKey("!r:x", 5), append(entry, 'x'))
	if _, ok := c.get(commitKey("!r:x", 5)); ok {
		t.Error("an entry larger than a quarter of the cache was kept")
	}
}
