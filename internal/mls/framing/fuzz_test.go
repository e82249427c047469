package framing_test

import (
	"bytes"
	"testing"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/cipher"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/framing"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/schedule"
)

// fixedGroup is a cs1 group epoch with constant secrets, so that fuzz
// inputs mean the same on every run.
func fixedGroup(t testing.TB) *group {
	t.Helper()
	s, err := cipher.Lookup(1)
	if err != nil {
		t.Fatal(err)
	}
	priv := bytes.Repeat([]byte{1}, 32)
	pub, err := s.SignaturePublicKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	secret := func(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }
	return newGroup(t, &protectionCase{
		CipherSuite: 1, GroupID: []byte("group"), Epoch: 42, TreeHash: secret(2), ConfirmedTranscriptHash: secret(3),
		SignaturePriv: priv, SignaturePub: pub,
		EncryptionSecret: secret(4), SenderDataSecret: secret(5), MembershipKey: secret(6),
	})
}

// fuzzSeeds returns encoded messages of the fixed group: a public proposal
// and commit, a private proposal and application message.
func fuzzSeeds(t testing.TB) [][]byte {
	g := fixedGroup(t)
	commit := mls.Content{ContentType: mls.ContentCommit, Commit: &mls.Commit{}}
	var seeds [][]byte
	for _, c := range []mls.Content{removeProposal(), commit} {
		m, err := framing.ProtectPublic(g.suite, g.sign(t, mls.WireFormatPublicMessage, c, bytes.Repeat([]byte{7}, 32)), g.membershipKey)
		if err != nil {
			t.Fatal(err)
		}
		seeds = append(seeds, codec.Marshal(mls.NewPublicMessage(m)))
	}
	for _, c := range []mls.Content{removeProposal(), application("hello")} {
		m, err := framing.ProtectPrivate(g.suite, g.sign(t, mls.WireFormatPrivateMessage, c, nil), g.tree(t, schedule.DefaultLimits()), g.senderDataSecret, 3)
		if err != nil {
			t.Fatal(err)
		}
		seeds = append(seeds, codec.Marshal(mls.NewPrivateMessage(m)))
	}
	return seeds
}

// TestFuzzSeedsUnprotect checks that the fuzz seeds are valid messages, so
// that the fuzzer starts from inputs that pass every check.
func TestFuzzSeedsUnprotect(t *testing.T) {
	g := fixedGroup(t)
	for i, seed := range fuzzSeeds(t) {
		var err error
		if i < 2 {
			_, err = g.unprotectPublic(seed)
		} else {
			_, err = g.unprotectPrivate(seed, g.tree(t, schedule.DefaultLimits()))
		}
		if err != nil {
			t.Errorf("seed %d: %v", i, err)
		}
	}
}

// FuzzUnprotect feeds arbitrary MLSMessages to the member's and the
// non-member's checks: they must fail with an error, never panic, and
// whatever they accept must be signed by the group's member.
func FuzzUnprotect(f *testing.F) {
	for _, seed := range fuzzSeeds(f) {
		f.Add(seed)
	}
	g := fixedGroup(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		var m mls.MLSMessage
		if codec.Unmarshal(data, &m) != nil {
			return
		}
		var acs []*framing.Authenticated
		switch {
		case m.PublicMessage != nil:
			if ac, err := framing.UnprotectPublic(g.suite, m.PublicMessage, g.ctx, g.membershipKey, g.signaturePub); err == nil {
				acs = append(acs, ac)
			}
			if ac, err := framing.VerifyPublic(g.suite, m.PublicMessage, g.ctx, g.signaturePub); err == nil {
				acs = append(acs, ac)
			}
		case m.PrivateMessage != nil:
			if ac, err := framing.UnprotectPrivate(g.suite, m.PrivateMessage, g.ctx, g.tree(t, schedule.DefaultLimits()), g.senderDataSecret, g.keys); err == nil {
				acs = append(acs, ac)
			}
		}
		for _, ac := range acs {
			if _, err := framing.VerifySignature(g.suite, g.signaturePub, &ac.AuthenticatedContent, g.ctx); err != nil {
				t.Fatalf("accepted content whose signature does not verify: %v", err)
			}
		}
	})
}
