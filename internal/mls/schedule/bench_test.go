package schedule_test

import (
	"fmt"
	"testing"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/schedule"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/treemath"
)

// BenchmarkDeriveEpoch measures one epoch of the key schedule (cs1): the
// joiner, welcome and epoch secrets and the nine secrets derived from it.
func BenchmarkDeriveEpoch(b *testing.B) {
	s := suite(b, 1)
	ctx := &mls.GroupContext{
		Version: mls.MLS10, CipherSuite: 1, GroupID: make([]byte, 32), Epoch: 7,
		TreeHash: make([]byte, 32), ConfirmedTranscriptHash: make([]byte, 32),
	}
	initSecret, commitSecret := make([]byte, 32), make([]byte, 32)
	b.ReportAllocs()
	for b.Loop() {
		schedule.Derive(s, initSecret, commitSecret, nil, ctx)
	}
}

// BenchmarkSecretTreeFirstKey measures what a member pays the first time it
// hears from a sender in an epoch (cs1): a new secret tree and that
// sender's first key, for groups of 10 to 10,000 members. The cost grows
// with log2 of the tree size, never with the number of members.
func BenchmarkSecretTreeFirstKey(b *testing.B) {
	s := suite(b, 1)
	secret := make([]byte, 32)
	for _, members := range []uint32{10, 100, 1000, 10000} {
		leaves := treemath.LeafCountFor(members)
		b.Run(fmt.Sprintf("members=%d", members), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				tree, err := schedule.NewSecretTree(s, secret, leaves, schedule.DefaultLimits())
				if err != nil {
					b.Fatal(err)
				}
				if _, err := tree.Key(members-1, schedule.ApplicationRatchet, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSecretTreeNext measures the steady state of a sender's ratchet
// (cs1): the key and nonce of the next generation and the ratchet step.
func BenchmarkSecretTreeNext(b *testing.B) {
	s := suite(b, 1)
	tree, err := schedule.NewSecretTree(s, make([]byte, 32), treemath.LeafCountFor(10000), schedule.DefaultLimits())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tree.Next(9999, schedule.ApplicationRatchet); err != nil {
			b.Fatal(err)
		}
	}
}
