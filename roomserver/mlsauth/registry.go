package mlsauth

import (
	"runtime"
	"sync"
	"weak"
)

// registry knows the facts of every auth-relevant event of the room version
// that is alive in this process, by event ID. An event is alive while any
// parsed copy of it is referenced: by an auth event provider, a cache, a
// request being handled. gomatrixserverlib checks an event against a
// provider holding its auth events, so when the rule runs the facts of
// those auth events are here, whichever path loaded them (the database, a
// federation response, a cache), without a database read inside the auth
// check.
//
// Every copy of an event shares one Facts value, which lives as long as the
// longest-lived copy; its entry goes when the last copy is collected.
type registry struct {
	mu     sync.Mutex
	events map[string]weak.Pointer[Facts]
}

var registered = &registry{events: map[string]weak.Pointer[Facts]{}}

// add returns the shared facts of f's event: the ones already registered
// when a copy of the event is alive, else f.
func (r *registry) add(f *Facts) *Facts {
	r.mu.Lock()
	defer r.mu.Unlock()
	if live := r.events[f.EventID].Value(); live != nil {
		return live
	}
	r.events[f.EventID] = weak.Make(f)
	runtime.AddCleanup(f, r.forget, f.EventID)
	return f
}

// forget drops the entry of eventID once its facts are collected (a newer
// copy may have registered meanwhile).
func (r *registry) forget(eventID string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.events[eventID].Value() == nil {
		delete(r.events, eventID)
	}
}

// lookup implements Lookup.
func (r *registry) lookup(eventID string) *Facts {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.events[eventID].Value()
}
