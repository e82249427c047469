package internal

import (
	"context"
	"sync"
)

// maxIdleRooms bounds how many rooms nobody is using keep their state in
// memory; the database holds every room's state anyway.
const maxIdleRooms = 4096

// room is the DS's in-memory state of one MLS room. The database is the
// truth: group is a cache of the stored state, nil until loaded and after
// anything that may have made it stale.
type room struct {
	id string
	// validation serialises everything that reads or changes group: the
	// validation of a message and its append to the log.
	validation sync.Mutex
	// delivery orders fan-outs as their messages were accepted: it is
	// taken while validation is still held, and validation is released
	// before the fan-out starts, so the next message can be validated
	// meanwhile.
	delivery sync.Mutex

	group PublicGroup

	users int // guarded by roomCache.mu
}

// roomCache hands out one room value per room ID to everyone using it.
type roomCache struct {
	mu    sync.Mutex
	rooms map[string]*room
}

func newRoomCache() *roomCache { return &roomCache{rooms: map[string]*room{}} }

// acquire returns the room's value; the caller must release it.
func (c *roomCache) acquire(roomID string) *room {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.rooms[roomID]
	if !ok {
		c.evictIdle()
		r = &room{id: roomID}
		c.rooms[roomID] = r
	}
	r.users++
	return r
}

func (c *roomCache) release(r *room) {
	c.mu.Lock()
	r.users--
	c.mu.Unlock()
}

// evictIdle forgets rooms nobody uses while there are too many. Map
// iteration order makes the choice arbitrary.
func (c *roomCache) evictIdle() {
	excess := len(c.rooms) - maxIdleRooms
	for id, r := range c.rooms {
		if excess <= 0 {
			return
		}
		if r.users == 0 {
			delete(c.rooms, id)
			excess--
		}
	}
}

// lockRoom acquires the room and locks it for validation. The returned
// function unlocks and releases it.
func (ds *DeliveryService) lockRoom(roomID string) (*room, func()) {
	r := ds.rooms.acquire(roomID)
	r.validation.Lock()
	return r, func() {
		r.validation.Unlock()
		ds.rooms.release(r)
	}
}

// load makes sure r.group is the stored state of the room, and reports
// whether the room has a group. r.validation must be held.
func (ds *DeliveryService) load(ctx context.Context, r *room) (bool, error) {
	if r.group != nil {
		return true, nil
	}
	stored, err := ds.db.Room(ctx, r.id)
	if err != nil || stored == nil {
		return false, err
	}
	group, err := ds.view.Load(stored.GroupState)
	if err != nil {
		return false, err
	}
	r.group = group
	return true, nil
}
