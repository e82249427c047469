package group

import (
	"maps"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
)

// clientCounts counts the members of a tree by Config.ClientID, for the
// rules against adding a client already in the group (RFC 9420 §12.2).
// Successive epochs share an immutable base and each holds only the
// changes since (folded into a new base once they outgrow a sixteenth of
// it), so following a commit costs O(changes), not O(members).
type clientCounts struct {
	base  map[string]int
	delta map[string]int
}

// count returns the number of members that are client id.
func (c *clientCounts) count(id string) int { return c.base[id] + c.delta[id] }

// with returns the counts after changes, leaving c as it is.
func (c *clientCounts) with(changes map[string]int) *clientCounts {
	next := &clientCounts{base: c.base, delta: maps.Clone(c.delta)}
	for id, d := range changes {
		if next.delta[id] += d; next.delta[id] == 0 {
			delete(next.delta, id)
		}
	}
	if len(next.delta) > 64+len(next.base)/16 {
		base := maps.Clone(next.base)
		for id, d := range next.delta {
			if base[id] += d; base[id] == 0 {
				delete(base, id)
			}
		}
		next.base, next.delta = base, map[string]int{}
	}
	return next
}

// clients returns the group's counts, counting the members on first use.
// It is nil when the application does not name clients.
func (g *PublicGroup) clients() *clientCounts {
	if g.cfg.ClientID == nil {
		return nil
	}
	if g.clientsCache == nil {
		base := make(map[string]int, g.tree.MemberCount())
		for _, leaf := range g.tree.Members() {
			base[g.cfg.ClientID(&leaf.Credential)]++
		}
		g.clientsCache = &clientCounts{base: base, delta: map[string]int{}}
	}
	return g.clientsCache
}

// clientChanges collects how a commit changes the client counts.
type clientChanges struct {
	id     func(*mls.Credential) string
	counts map[string]int
}

func (g *PublicGroup) clientChanges() *clientChanges {
	if g.cfg.ClientID == nil {
		return nil
	}
	return &clientChanges{id: g.cfg.ClientID, counts: map[string]int{}}
}

// replace records that leaf old (nil for none) was replaced by leaf new
// (nil for none).
func (c *clientChanges) replace(old, new *mls.LeafNode) {
	if c == nil {
		return
	}
	if old != nil {
		c.counts[c.id(&old.Credential)]--
	}
	if new != nil {
		c.counts[c.id(&new.Credential)]++
	}
}
