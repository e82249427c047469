package routing

import (
	"container/list"
	"encoding/json"
	"strconv"
	"sync"

	"golang.org/x/sync/singleflight"
)

// commitCacheBytes bounds the memory of the commit cache.
const commitCacheBytes = 32 << 20

// commitCache keeps log entries that devices read one at a time (the
// commits the DS sends by reference), encoded, by room and epoch. A logged
// entry never changes, so it can be kept for as long as there is room: the
// devices of this server reading one commit cause one request to the room's
// DS and one encoding of the entry. Concurrent misses for the same entry
// share one request.
type commitCache struct {
	flight singleflight.Group

	mu      sync.Mutex
	size    int
	order   *list.List // of *cachedCommit, most recently used first
	entries map[string]*list.Element
}

type cachedCommit struct {
	key  string
	body json.RawMessage
}

func newCommitCache() *commitCache {
	return &commitCache{order: list.New(), entries: map[string]*list.Element{}}
}

// commitKey names the entry of roomID that created epoch.
func commitKey(roomID string, epoch uint64) string {
	return strconv.FormatUint(epoch, 10) + " " + roomID
}

func (c *commitCache) get(key string) (json.RawMessage, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[key]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(el)
	return el.Value.(*cachedCommit).body, true
}

// add keeps body under key, forgetting the least recently used entries
// beyond commitCacheBytes. An entry larger than a quarter of the cache is
// not kept.
func (c *commitCache) add(key string, body json.RawMessage) {
	if len(body) > commitCacheBytes/4 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[key]; ok {
		return
	}
	c.entries[key] = c.order.PushFront(&cachedCommit{key: key, body: body})
	c.size += len(body)
	for c.size > commitCacheBytes {
		oldest := c.order.Remove(c.order.Back()).(*cachedCommit)
		delete(c.entries, oldest.key)
		c.size -= len(oldest.body)
	}
}

// load returns the entry under key, from the cache or from fetch, whose
// answer is kept. Concurrent loads of one key share one fetch.
func (c *commitCache) load(key string, fetch func() (json.RawMessage, error)) (json.RawMessage, error) {
	if body, ok := c.get(key); ok {
		return body, nil
	}
	v, err, _ := c.flight.Do(key, func() (any, error) {
		// A fetch that ended since the look-up above has filled the cache.
		if body, ok := c.get(key); ok {
			return body, nil
		}
		body, err := fetch()
		if err == nil {
			c.add(key, body)
		}
		return body, err
	})
	if err != nil {
		return nil, err
	}
	return v.(json.RawMessage), nil
}
