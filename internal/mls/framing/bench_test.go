package framing_test

import (
	"testing"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/framing"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/schedule"
)

// benchData is a typical chat message's size.
var benchData = make([]byte, 256)

// BenchmarkEncryptApplication measures sending an application message
// (cs1, 256 octets): signing, content and sender data encryption, one
// ratchet step.
func BenchmarkEncryptApplication(b *testing.B) {
	g := randomGroup(b, 1)
	tree := g.tree(b, schedule.DefaultLimits())
	content := g.content(mls.Content{ContentType: mls.ContentApplication, ApplicationData: benchData})
	b.ReportAllocs()
	for b.Loop() {
		ac, err := framing.Sign(g.signer, mls.WireFormatPrivateMessage, content, g.ctx)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := framing.ProtectPrivate(g.suite, ac, tree, g.senderDataSecret, 0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecryptApplication measures receiving an application message
// (cs1, 256 octets) in order: sender data and content decryption,
// signature verification, one ratchet step.
func BenchmarkDecryptApplication(b *testing.B) {
	g := randomGroup(b, 1)
	sender, receiver := g.tree(b, schedule.DefaultLimits()), g.tree(b, schedule.DefaultLimits())
	content := g.content(mls.Content{ContentType: mls.ContentApplication, ApplicationData: benchData})
	// Messages are made in batches outside the timer: each decrypts once.
	var batch []*mls.PrivateMessage
	b.ReportAllocs()
	for b.Loop() {
		if len(batch) == 0 {
			b.StopTimer()
			for range 1000 {
				ac, err := framing.Sign(g.signer, mls.WireFormatPrivateMessage, content, g.ctx)
				if err != nil {
					b.Fatal(err)
				}
				m, err := framing.ProtectPrivate(g.suite, ac, sender, g.senderDataSecret, 0)
				if err != nil {
					b.Fatal(err)
				}
				batch = append(batch, m)
			}
			b.StartTimer()
		}
		if _, err := framing.UnprotectPrivate(g.suite, batch[0], g.ctx, receiver, g.senderDataSecret, g.keys); err != nil {
			b.Fatal(err)
		}
		batch = batch[1:]
	}
}

// BenchmarkNewWelcome measures the Welcome of a commit adding 1,000 members
// (cs1) with a 256 KiB GroupInfo, about what a ratchet tree of 1,000
// members weighs: the GroupInfo is hashed into the HPKE context once, not
// once per recipient, and the seals are spread over the CPUs.
func BenchmarkNewWelcome(b *testing.B) {
	g := randomGroup(b, 1)
	gi := &mls.GroupInfo{
		GroupContext: *g.ctx, ConfirmationTag: g.membershipKey,
		Extensions: mls.Extensions{{Type: 0xff00, Data: make([]byte, 256<<10)}},
	}
	if err := framing.SignGroupInfo(g.signer, gi); err != nil {
		b.Fatal(err)
	}
	recipients := make([]framing.WelcomeRecipient, 1000)
	for i := range recipients {
		_, pub, err := g.suite.GenerateHPKEKeyPair()
		if err != nil {
			b.Fatal(err)
		}
		recipients[i] = framing.WelcomeRecipient{
			KeyPackageRef: g.suite.Hash(pub), InitKey: pub,
			Secrets: &mls.GroupSecrets{JoinerSecret: g.encryptionSecret},
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := framing.NewWelcome(g.suite, g.encryptionSecret, gi, recipients); err != nil {
			b.Fatal(err)
		}
	}
}
