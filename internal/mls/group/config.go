package group

import (
	"bytes"
	"time"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/schedule"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/tree"
)

// Config holds the application's choices where RFC 9420 leaves them open.
// The zero Config is usable; a nil *Config means the zero Config.
type Config struct {
	// Now is the time key_package leaves' lifetimes must contain (§7.3).
	// Nil means time.Now; a function returning the zero time disables the
	// check.
	Now func() time.Time
	// MaxLifetime, when not zero, is the longest lifetime accepted for a
	// key_package leaf (the application's limit of §7.2).
	MaxLifetime time.Duration
	// ClientID names the client a credential belongs to, for the rules
	// "several Adds of the same client" and "Add of a client already in
	// the group" (§12.2) and for the Remove of an external commit, which
	// must remove the joiner's own old leaf (§12.4.3.2). Nil compares
	// signature keys for the first two and whole credentials for the last.
	ClientID func(*mls.Credential) string
	// PSK returns the secret of a pre-shared key a commit or Welcome names
	// (RFC 9420 §8.4): external PSKs, and resumption PSKs of other groups.
	// A member finds its own group's resumption PSKs itself. Nil knows
	// none.
	PSK func(id *mls.PreSharedKeyID) ([]byte, bool)
	// Limits bound how far out of order a member accepts PrivateMessages
	// (§9.2); zero means schedule.DefaultLimits.
	Limits schedule.Limits
	// ResumptionEpochs is how many past epochs' resumption PSKs a member
	// keeps (§8.6); zero means 8.
	ResumptionEpochs int
}

func (c *Config) orDefault() *Config {
	if c == nil {
		return &Config{}
	}
	return c
}

// now returns the time lifetimes are checked against, zero for none.
func (c *Config) now() time.Time {
	if c.Now == nil {
		return time.Now()
	}
	return c.Now()
}

func (c *Config) limits() schedule.Limits {
	if c.Limits == (schedule.Limits{}) {
		return schedule.DefaultLimits()
	}
	return c.Limits
}

func (c *Config) resumptionEpochs() int {
	if c.ResumptionEpochs <= 0 {
		return 8
	}
	return c.ResumptionEpochs
}

func (c *Config) psk(id *mls.PreSharedKeyID) ([]byte, bool) {
	if c.PSK == nil {
		return nil, false
	}
	return c.PSK(id)
}

// sameClient reports whether two leaves are the same client for the Remove
// of an external commit.
func (c *Config) sameClient(a, b *mls.LeafNode) bool {
	if c.ClientID != nil {
		return c.ClientID(&a.Credential) == c.ClientID(&b.Credential)
	}
	return bytes.Equal(codec.Marshal(&a.Credential), codec.Marshal(&b.Credential))
}

// params returns the leaf validation parameters of a group context.
func (c *Config) params(ctx *mls.GroupContext, required *mls.RequiredCapabilities) *tree.Params {
	return &tree.Params{GroupID: ctx.GroupID, Required: required, Now: c.now(), MaxLifetime: c.MaxLifetime}
}
