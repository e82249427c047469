package framing_test

import (
	"crypto/rand"
	"errors"
	"fmt"
	"testing"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/cipher"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/framing"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/schedule"
)

// randomGroup returns an epoch of a two-member group of suite id with
// random secrets and signature key.
func randomGroup(t testing.TB, id cipher.SuiteID) *group {
	t.Helper()
	s, err := cipher.Lookup(id)
	if err != nil {
		t.Fatal(err)
	}
	priv, pub, err := s.GenerateSignatureKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	secret := func() []byte { return []byte(rand.Text() + rand.Text())[:s.HashLen()] }
	return newGroup(t, &protectionCase{
		CipherSuite: uint16(id), GroupID: []byte("group"), Epoch: 42,
		TreeHash: secret(), ConfirmedTranscriptHash: secret(),
		SignaturePriv: priv, SignaturePub: pub,
		EncryptionSecret: secret(), SenderDataSecret: secret(), MembershipKey: secret(),
	})
}

func application(data string) mls.Content {
	return mls.Content{ContentType: mls.ContentApplication, ApplicationData: []byte(data)}
}

func removeProposal() mls.Content {
	return mls.Content{ContentType: mls.ContentProposal, Proposal: &mls.Proposal{Type: mls.ProposalRemove, Remove: &mls.Remove{Removed: 0}}}
}

// wantErr fails unless err wraps target.
func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: %v, want %v", what, err, target)
	}
}

// TestPublicMessageRejections checks that a PublicMessage with a bad
// membership tag, a bad signature, or for another group or epoch is
// rejected with its named error, for every suite, and that the non-member
// check accepts what the member check accepts, without the tag's value.
func TestPublicMessageRejections(t *testing.T) {
	for _, id := range cipher.IDs() {
		g := randomGroup(t, id)
		at := fmt.Sprintf("suite %d", id)
		protect := func() *mls.PublicMessage {
			m, err := framing.ProtectPublic(g.suite, g.sign(t, mls.WireFormatPublicMessage, removeProposal(), nil), g.membershipKey)
			if err != nil {
				t.Fatal(err)
			}
			return m
		}
		unprotect := func(m *mls.PublicMessage) error {
			_, err := framing.UnprotectPublic(g.suite, m, g.ctx, g.membershipKey, g.signaturePub)
			return err
		}
		if err := unprotect(protect()); err != nil {
			t.Fatalf("%s: %v", at, err)
		}
		if _, err := framing.VerifyPublic(g.suite, protect(), g.ctx, g.signaturePub); err != nil {
			t.Fatalf("%s: non-member check: %v", at, err)
		}

		m := protect()
		m.MembershipTag[0] ^= 1
		wantErr(t, at+" flipped membership tag", unprotect(m), framing.ErrBadMembershipTag)
		if _, err := framing.VerifyPublic(g.suite, m, g.ctx, g.signaturePub); err != nil {
			t.Errorf("%s: non-member check of a message whose tag it cannot verify: %v", at, err)
		}
		m.MembershipTag = nil
		wantErr(t, at+" missing membership tag", unprotect(m), framing.ErrBadMembershipTag)
		_, err := framing.VerifyPublic(g.suite, m, g.ctx, g.signaturePub)
		wantErr(t, at+" missing membership tag, non-member", err, framing.ErrBadMembershipTag)

		_, err = framing.UnprotectPublic(g.suite, protect(), g.ctx, []byte("another epoch's key"), g.signaturePub)
		wantErr(t, at+" wrong membership key", err, framing.ErrBadMembershipTag)

		m = protect()
		m.Auth.Signature[len(m.Auth.Signature)/2] ^= 1
		_, err = framing.VerifyPublic(g.suite, m, g.ctx, g.signaturePub)
		wantErr(t, at+" flipped signature", err, framing.ErrBadSignature)

		other := randomGroup(t, id)
		_, err = framing.UnprotectPublic(g.suite, protect(), g.ctx, g.membershipKey, other.signaturePub)
		wantErr(t, at+" another member's key", err, framing.ErrBadSignature)

		// Content changed after signing, tag recomputed: only the signature
		// catches it.
		m = protect()
		m.Content.AuthenticatedData = []byte("injected")
		m.MembershipTag = g.suite.MAC(g.membershipKey, codec.Marshal(m.TBM(g.ctx)))
		wantErr(t, at+" content changed after signing", unprotect(m), framing.ErrBadSignature)

		m = protect()
		m.Content.Epoch++
		wantErr(t, at+" next epoch", unprotect(m), framing.ErrWrongEpoch)
		m = protect()
		m.Content.GroupID = []byte("other")
		wantErr(t, at+" other group", unprotect(m), framing.ErrWrongGroup)

		m = protect()
		m.Content.Content = application("hello")
		wantErr(t, at+" application data", unprotect(m), framing.ErrApplicationPublic)
	}
}

// TestPublicMessageSenders checks the signature context of non-member
// senders: no membership tag, the group context covered for a
// new_member_commit only.
func TestPublicMessageSenders(t *testing.T) {
	g := randomGroup(t, 1)
	for _, sender := range []mls.Sender{
		{Type: mls.SenderExternal, Index: 0},
		{Type: mls.SenderNewMemberProposal},
		{Type: mls.SenderNewMemberCommit},
	} {
		content := g.content(removeProposal())
		content.Sender = sender
		ac, err := framing.Sign(g.signer, mls.WireFormatPublicMessage, content, g.ctx)
		if err != nil {
			t.Fatal(err)
		}
		m, err := framing.ProtectPublic(g.suite, ac, nil)
		if err != nil {
			t.Fatal(err)
		}
		if m.MembershipTag != nil {
			t.Errorf("%v sender: membership tag set", sender.Type)
		}
		m = decodePublic(t, codec.Marshal(mls.NewPublicMessage(m)))
		if _, err := framing.UnprotectPublic(g.suite, m, g.ctx, nil, g.signaturePub); err != nil {
			t.Errorf("%v sender: %v", sender.Type, err)
		}
		changed := *g.ctx
		changed.TreeHash = []byte("another tree")
		_, err = framing.VerifyPublic(g.suite, m, &changed, g.signaturePub)
		if covered := sender.Type == mls.SenderNewMemberCommit; covered != errors.Is(err, framing.ErrBadSignature) {
			t.Errorf("%v sender, another group context: %v; the context is covered: %v", sender.Type, err, covered)
		}
	}
	content := g.content(removeProposal())
	content.Sender = mls.Sender{Type: mls.SenderExternal}
	_, err := framing.Sign(g.signer, mls.WireFormatPrivateMessage, content, g.ctx)
	wantErr(t, "external sender in a private message", err, framing.ErrInvalidContent)
	_, err = framing.Sign(g.signer, mls.WireFormatPublicMessage, g.content(removeProposal()), nil)
	wantErr(t, "member content without group context", err, framing.ErrInvalidContent)
	_, err = framing.Sign(g.signer, mls.WireFormatWelcome, g.content(removeProposal()), g.ctx)
	wantErr(t, "content for a Welcome", err, framing.ErrInvalidContent)
	commit := g.sign(t, mls.WireFormatPublicMessage, mls.Content{ContentType: mls.ContentCommit, Commit: &mls.Commit{}}, nil)
	_, err = framing.ProtectPublic(g.suite, commit, g.membershipKey)
	wantErr(t, "commit without confirmation tag", err, framing.ErrInvalidContent)
	// Content is encoded once, when signed: content that does not encode
	// is refused there.
	bad := g.content(removeProposal())
	bad.Proposal = nil
	_, err = framing.Sign(g.signer, mls.WireFormatPublicMessage, bad, g.ctx)
	wantErr(t, "proposal content without proposal", err, framing.ErrInvalidContent)
}

func decodePublic(t *testing.T, data []byte) *mls.PublicMessage {
	t.Helper()
	var m mls.MLSMessage
	if err := codec.Unmarshal(data, &m); err != nil || m.PublicMessage == nil {
		t.Fatalf("decoding public message: %v", err)
	}
	return m.PublicMessage
}

// TestPrivateMessageRejections checks, for every suite, that a
// PrivateMessage sealed under other epoch keys, tampered with, replayed,
// too far ahead, badly signed or from an unknown leaf is rejected with its
// named error, and that a rejected message leaves the receiver's secret
// tree able to decrypt the genuine one.
func TestPrivateMessageRejections(t *testing.T) {
	for _, id := range cipher.IDs() {
		g := randomGroup(t, id)
		at := fmt.Sprintf("suite %d", id)
		sender := g.tree(t, schedule.DefaultLimits())
		protect := func(c mls.Content) *mls.PrivateMessage {
			m, err := framing.ProtectPrivate(g.suite, g.sign(t, mls.WireFormatPrivateMessage, c, nil), sender, g.senderDataSecret, 0)
			if err != nil {
				t.Fatal(err)
			}
			return m
		}
		receiver := g.tree(t, schedule.Limits{MaxForward: 5, MaxRetained: 5})
		unprotect := func(m *mls.PrivateMessage) error {
			_, err := framing.UnprotectPrivate(g.suite, m, g.ctx, receiver, g.senderDataSecret, g.keys)
			return err
		}
		tampered := func(m *mls.PrivateMessage, change func(m *mls.PrivateMessage)) *mls.PrivateMessage {
			c := *m
			c.Ciphertext = append([]byte(nil), m.Ciphertext...)
			c.EncryptedSenderData = append([]byte(nil), m.EncryptedSenderData...)
			change(&c)
			return &c
		}

		m0 := protect(application("zero"))
		for _, x := range []struct {
			what   string
			change func(m *mls.PrivateMessage)
		}{
			{"first ciphertext octet (the sender data sample)", func(m *mls.PrivateMessage) { m.Ciphertext[0] ^= 1 }},
			{"last ciphertext octet", func(m *mls.PrivateMessage) { m.Ciphertext[len(m.Ciphertext)-1] ^= 1 }},
			{"sender data", func(m *mls.PrivateMessage) { m.EncryptedSenderData[2] ^= 1 }},
			{"authenticated data", func(m *mls.PrivateMessage) { m.AuthenticatedData = []byte("x") }},
			{"content type", func(m *mls.PrivateMessage) { m.ContentType = mls.ContentProposal }},
			{"truncated ciphertext", func(m *mls.PrivateMessage) { m.Ciphertext = m.Ciphertext[:3] }},
		} {
			wantErr(t, at+" tampered "+x.what, unprotect(tampered(m0, x.change)), framing.ErrDecrypt)
		}
		other := randomGroup(t, id)
		_, err := framing.UnprotectPrivate(g.suite, m0, g.ctx, other.tree(t, schedule.DefaultLimits()), g.senderDataSecret, g.keys)
		wantErr(t, at+" another epoch's encryption secret", err, framing.ErrDecrypt)
		_, err = framing.UnprotectPrivate(g.suite, m0, g.ctx, receiver, other.senderDataSecret, g.keys)
		wantErr(t, at+" another epoch's sender data secret", err, framing.ErrDecrypt)
		_, err = framing.UnprotectPrivate(g.suite, m0, g.ctx, receiver, g.senderDataSecret, other.keys)
		wantErr(t, at+" another member's signature key", err, framing.ErrBadSignature)
		blank := fmt.Errorf("blank leaf")
		_, err = framing.UnprotectPrivate(g.suite, m0, g.ctx, receiver, g.senderDataSecret, func(uint32) ([]byte, error) { return nil, blank })
		wantErr(t, at+" unknown sender", err, blank)
		wrongEpoch := *g.ctx
		wrongEpoch.Epoch++
		_, err = framing.UnprotectPrivate(g.suite, m0, &wrongEpoch, receiver, g.senderDataSecret, g.keys)
		wantErr(t, at+" next epoch", err, framing.ErrWrongEpoch)

		// None of that used the key up; the genuine message decrypts once.
		if err := unprotect(m0); err != nil {
			t.Fatalf("%s: genuine message after rejections: %v", at, err)
		}
		wantErr(t, at+" replayed message", unprotect(m0), schedule.ErrGenerationUsed)

		// Generations 1..7 sent; 7 is 6 past the next expected (1).
		var sent []*mls.PrivateMessage
		for i := 1; i <= 7; i++ {
			sent = append(sent, protect(application(fmt.Sprint(i))))
		}
		wantErr(t, at+" generation 7 after 0", unprotect(sent[6]), schedule.ErrGenerationTooFar)
		for _, i := range []int{5, 6, 0, 2, 1, 3, 4} {
			if err := unprotect(sent[i]); err != nil {
				t.Errorf("%s: generation %d out of order: %v", at, i+1, err)
			}
		}
		wantErr(t, at+" replayed late message", unprotect(sent[2]), schedule.ErrGenerationUsed)

		// Handshake messages use their own ratchet.
		if err := unprotect(protect(removeProposal())); err != nil {
			t.Errorf("%s: proposal: %v", at, err)
		}
	}
}

// TestPrivateMessagePadding checks that padding hides the content length
// and is stripped: 1 octet of data (with a 1-octet length) and 100 octets
// of padding encrypt to as many octets as 100 octets of data (with a
// 2-octet length).
func TestPrivateMessagePadding(t *testing.T) {
	g := randomGroup(t, 1)
	sender, receiver := g.tree(t, schedule.DefaultLimits()), g.tree(t, schedule.DefaultLimits())
	short, err := framing.ProtectPrivate(g.suite, g.sign(t, mls.WireFormatPrivateMessage, application("a"), nil), sender, g.senderDataSecret, 100)
	if err != nil {
		t.Fatal(err)
	}
	long, err := framing.ProtectPrivate(g.suite, g.sign(t, mls.WireFormatPrivateMessage, application(string(make([]byte, 100))), nil), sender, g.senderDataSecret, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(short.Ciphertext) != len(long.Ciphertext) {
		t.Errorf("1 octet + 100 padding: %d octets of ciphertext, 100 octets: %d", len(short.Ciphertext), len(long.Ciphertext))
	}
	ac, err := framing.UnprotectPrivate(g.suite, short, g.ctx, receiver, g.senderDataSecret, g.keys)
	if err != nil {
		t.Fatal(err)
	}
	if string(ac.Content.ApplicationData) != "a" {
		t.Errorf("application data %q, want \"a\"", ac.Content.ApplicationData)
	}
	_, err = framing.ProtectPrivate(g.suite, g.sign(t, mls.WireFormatPrivateMessage, application("a"), nil), sender, g.senderDataSecret, -1)
	wantErr(t, "negative padding", err, framing.ErrInvalidContent)
}

// TestWelcomeRoundTrip builds a Welcome for many recipients (sealed in
// parallel) and opens each recipient's entry, for every suite.
func TestWelcomeRoundTrip(t *testing.T) {
	for _, id := range cipher.IDs() {
		g := randomGroup(t, id)
		s := g.suite
		at := fmt.Sprintf("suite %d", id)
		gi := &mls.GroupInfo{GroupContext: *g.ctx, ConfirmationTag: g.membershipKey, Signer: 3}
		if err := framing.SignGroupInfo(g.signer, gi); err != nil {
			t.Fatal(err)
		}
		const n = 40
		recipients := make([]framing.WelcomeRecipient, n)
		privs := make([][]byte, n)
		for i := range recipients {
			priv, pub, err := s.GenerateHPKEKeyPair()
			if err != nil {
				t.Fatal(err)
			}
			privs[i] = priv
			recipients[i] = framing.WelcomeRecipient{
				KeyPackageRef: []byte(fmt.Sprintf("ref %d", i)),
				InitKey:       pub,
				Secrets:       &mls.GroupSecrets{JoinerSecret: g.encryptionSecret, PathSecret: &mls.PathSecret{PathSecret: []byte{byte(i)}}},
			}
		}
		welcomeSecret := schedule.WelcomeSecret(s, g.encryptionSecret, nil)
		w, err := framing.NewWelcome(s, welcomeSecret, gi, recipients)
		if err != nil {
			t.Fatalf("%s: %v", at, err)
		}
		var decoded mls.MLSMessage
		if err := codec.Unmarshal(codec.Marshal(mls.NewWelcome(w)), &decoded); err != nil {
			t.Fatal(err)
		}
		w = decoded.Welcome
		for i, r := range recipients {
			gs, err := framing.DecryptGroupSecrets(s, w, r.KeyPackageRef, privs[i])
			if err != nil {
				t.Fatalf("%s recipient %d: %v", at, i, err)
			}
			if string(gs.PathSecret.PathSecret) != string([]byte{byte(i)}) {
				t.Errorf("%s recipient %d: got recipient %x's secrets", at, i, gs.PathSecret.PathSecret)
			}
		}
		got, err := framing.DecryptGroupInfo(s, welcomeSecret, w.EncryptedGroupInfo)
		if err != nil {
			t.Fatal(err)
		}
		if err := framing.VerifyGroupInfo(s, g.signaturePub, got); err != nil {
			t.Errorf("%s: %v", at, err)
		}
		// An entry moved to another recipient does not decrypt: the HPKE
		// context binds the encrypted group info, not the reference.
		w.EncryptedGroupInfo[0] ^= 1
		_, err = framing.DecryptGroupSecrets(s, w, recipients[0].KeyPackageRef, privs[0])
		wantErr(t, at+" group secrets with a tampered group info", err, framing.ErrDecrypt)

		recipients[n-1].InitKey = []byte("not a key")
		_, err = framing.NewWelcome(s, welcomeSecret, gi, recipients)
		if !errors.Is(err, cipher.ErrInvalidKey) {
			t.Errorf("%s: bad init key: %v, want cipher.ErrInvalidKey", at, err)
		}
	}
}
