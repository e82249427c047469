package framing_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/cipher"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/framing"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/mlstest"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/schedule"
)

type protectionCase struct {
	CipherSuite             uint16      `json:"cipher_suite"`
	GroupID                 mlstest.Hex `json:"group_id"`
	Epoch                   uint64      `json:"epoch"`
	TreeHash                mlstest.Hex `json:"tree_hash"`
	ConfirmedTranscriptHash mlstest.Hex `json:"confirmed_transcript_hash"`
	SignaturePriv           mlstest.Hex `json:"signature_priv"`
	SignaturePub            mlstest.Hex `json:"signature_pub"`
	EncryptionSecret        mlstest.Hex `json:"encryption_secret"`
	SenderDataSecret        mlstest.Hex `json:"sender_data_secret"`
	MembershipKey           mlstest.Hex `json:"membership_key"`
	Proposal                mlstest.Hex `json:"proposal"`
	ProposalPub             mlstest.Hex `json:"proposal_pub"`
	ProposalPriv            mlstest.Hex `json:"proposal_priv"`
	Commit                  mlstest.Hex `json:"commit"`
	CommitPub               mlstest.Hex `json:"commit_pub"`
	CommitPriv              mlstest.Hex `json:"commit_priv"`
	Application             mlstest.Hex `json:"application"`
	ApplicationPriv         mlstest.Hex `json:"application_priv"`
}

// group is one epoch of a two-member group as message-protection.json
// describes it; the sender is the member at leaf 1.
type group struct {
	suite            *cipher.Suite
	ctx              *mls.GroupContext
	signer           *cipher.Signer
	signaturePub     []byte
	encryptionSecret []byte
	senderDataSecret []byte
	membershipKey    []byte
}

const senderLeaf = 1

func newGroup(t testing.TB, c *protectionCase) *group {
	t.Helper()
	s, err := cipher.Lookup(cipher.SuiteID(c.CipherSuite))
	if err != nil {
		t.Fatal(err)
	}
	signer, err := s.NewSigner(c.SignaturePriv)
	if err != nil {
		t.Fatal(err)
	}
	return &group{
		suite: s,
		ctx: &mls.GroupContext{
			Version: mls.MLS10, CipherSuite: mls.CipherSuite(c.CipherSuite), GroupID: c.GroupID, Epoch: c.Epoch,
			TreeHash: c.TreeHash, ConfirmedTranscriptHash: c.ConfirmedTranscriptHash,
		},
		signer:           signer,
		signaturePub:     c.SignaturePub,
		encryptionSecret: c.EncryptionSecret,
		senderDataSecret: c.SenderDataSecret,
		membershipKey:    c.MembershipKey,
	}
}

// tree returns a fresh secret tree of the epoch.
func (g *group) tree(t testing.TB, limits schedule.Limits) *schedule.SecretTree {
	t.Helper()
	tree, err := schedule.NewSecretTree(g.suite, g.encryptionSecret, 2, limits)
	if err != nil {
		t.Fatal(err)
	}
	return tree
}

// keys knows the sender's signature key only.
func (g *group) keys(leaf uint32) ([]byte, error) {
	if leaf != senderLeaf {
		return nil, fmt.Errorf("leaf %d is blank", leaf)
	}
	return g.signaturePub, nil
}

// content frames c as sent by the sender in the group's epoch.
func (g *group) content(c mls.Content) *mls.FramedContent {
	return &mls.FramedContent{
		GroupID: g.ctx.GroupID, Epoch: g.ctx.Epoch,
		Sender:  mls.Sender{Type: mls.SenderMember, Index: senderLeaf},
		Content: c,
	}
}

// sign signs c for wire format wf; commits get confirmationTag.
func (g *group) sign(t testing.TB, wf mls.WireFormat, c mls.Content, confirmationTag []byte) *framing.Authenticated {
	t.Helper()
	ac, err := framing.Sign(g.signer, wf, g.content(c), g.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c.ContentType == mls.ContentCommit {
		ac.Auth.ConfirmationTag = confirmationTag
	}
	return ac
}

// unprotectPublic unprotects an encoded MLSMessage(PublicMessage).
func (g *group) unprotectPublic(data []byte) (*framing.Authenticated, error) {
	var m mls.MLSMessage
	if err := codec.Unmarshal(data, &m); err != nil {
		return nil, err
	}
	if m.PublicMessage == nil {
		return nil, fmt.Errorf("not a public message: %v", m.WireFormat)
	}
	return framing.UnprotectPublic(g.suite, m.PublicMessage, g.ctx, g.membershipKey, g.signaturePub)
}

// unprotectPrivate unprotects an encoded MLSMessage(PrivateMessage).
func (g *group) unprotectPrivate(data []byte, tree *schedule.SecretTree) (*framing.Authenticated, error) {
	var m mls.MLSMessage
	if err := codec.Unmarshal(data, &m); err != nil {
		return nil, err
	}
	if m.PrivateMessage == nil {
		return nil, fmt.Errorf("not a private message: %v", m.WireFormat)
	}
	return framing.UnprotectPrivate(g.suite, m.PrivateMessage, g.ctx, tree, g.senderDataSecret, g.keys)
}

// body encodes what content carries, to compare with the vector's raw
// proposal, commit or application data.
func body(ac *mls.AuthenticatedContent) []byte {
	switch ac.Content.ContentType {
	case mls.ContentProposal:
		return codec.Marshal(ac.Content.Proposal)
	case mls.ContentCommit:
		return codec.Marshal(ac.Content.Commit)
	}
	return ac.Content.ApplicationData
}

// TestMessageProtectionVectors runs message-protection.json for every
// suite: unprotecting the given public and private proposal, commit and
// application messages, protecting the raw values again and unprotecting
// the result, and refusing to protect application data as a PublicMessage.
func TestMessageProtectionVectors(t *testing.T) {
	var cases []protectionCase
	mlstest.Load(t, "message-protection.json", &cases)
	checked := 0
	for i := range cases {
		c := &cases[i]
		g := newGroup(t, c)
		var proposal mls.Proposal
		var commit mls.Commit
		if err := codec.Unmarshal(c.Proposal, &proposal); err != nil {
			t.Fatal(err)
		}
		if err := codec.Unmarshal(c.Commit, &commit); err != nil {
			t.Fatal(err)
		}
		contents := []struct {
			name     string
			content  mls.Content
			raw      []byte
			pub      []byte
			priv     []byte
			wantType mls.ContentType
		}{
			{"proposal", mls.Content{ContentType: mls.ContentProposal, Proposal: &proposal}, c.Proposal, c.ProposalPub, c.ProposalPriv, mls.ContentProposal},
			{"commit", mls.Content{ContentType: mls.ContentCommit, Commit: &commit}, c.Commit, c.CommitPub, c.CommitPriv, mls.ContentCommit},
			{"application", mls.Content{ContentType: mls.ContentApplication, ApplicationData: c.Application}, c.Application, nil, c.ApplicationPriv, mls.ContentApplication},
		}
		for _, x := range contents {
			at := fmt.Sprintf("suite %d %s", c.CipherSuite, x.name)
			check := func(what string, ac *framing.Authenticated, err error) {
				t.Helper()
				if err != nil {
					t.Errorf("%s %s: %v", at, what, err)
					return
				}
				if ac.Content.ContentType != x.wantType || !bytes.Equal(body(&ac.AuthenticatedContent), x.raw) {
					t.Errorf("%s %s: got %v %x, want %x", at, what, ac.Content.ContentType, body(&ac.AuthenticatedContent), x.raw)
				}
				if ac.Content.Sender != (mls.Sender{Type: mls.SenderMember, Index: senderLeaf}) {
					t.Errorf("%s %s: sender %+v", at, what, ac.Content.Sender)
				}
				checked++
			}
			var confirmationTag []byte
			if x.pub != nil {
				ac, err := g.unprotectPublic(x.pub)
				check("vector public message", ac, err)
				if ac != nil {
					confirmationTag = ac.Auth.ConfirmationTag
				}
				m, err := framing.ProtectPublic(g.suite, g.sign(t, mls.WireFormatPublicMessage, x.content, confirmationTag), g.membershipKey)
				if err != nil {
					t.Fatalf("%s: protecting as public message: %v", at, err)
				}
				ac, err = g.unprotectPublic(codec.Marshal(mls.NewPublicMessage(m)))
				check("protected public message", ac, err)
			} else {
				if _, err := framing.Sign(g.signer, mls.WireFormatPublicMessage, g.content(x.content), g.ctx); !errors.Is(err, framing.ErrApplicationPublic) {
					t.Errorf("%s: signing for a public message: %v, want ErrApplicationPublic", at, err)
				}
				ac := g.sign(t, mls.WireFormatPrivateMessage, x.content, nil)
				ac.WireFormat = mls.WireFormatPublicMessage
				if _, err := framing.ProtectPublic(g.suite, ac, g.membershipKey); !errors.Is(err, framing.ErrApplicationPublic) {
					t.Errorf("%s: protecting as public message: %v, want ErrApplicationPublic", at, err)
				}
			}

			ac, err := g.unprotectPrivate(x.priv, g.tree(t, schedule.DefaultLimits()))
			check("vector private message", ac, err)
			if x.wantType == mls.ContentCommit && ac != nil && confirmationTag != nil && !bytes.Equal(ac.Auth.ConfirmationTag, confirmationTag) {
				t.Errorf("%s: private and public commits carry different confirmation tags", at)
			}
			sender, receiver := g.tree(t, schedule.DefaultLimits()), g.tree(t, schedule.DefaultLimits())
			for padding := range 3 {
				m, err := framing.ProtectPrivate(g.suite, g.sign(t, mls.WireFormatPrivateMessage, x.content, confirmationTag), sender, g.senderDataSecret, padding*7)
				if err != nil {
					t.Fatalf("%s: protecting as private message: %v", at, err)
				}
				ac, err = g.unprotectPrivate(codec.Marshal(mls.NewPrivateMessage(m)), receiver)
				check(fmt.Sprintf("protected private message %d", padding), ac, err)
			}
		}
	}
	// Per suite: proposal and commit 2 public + 1 + 3 private each,
	// application 1 + 3 private.
	if want := 7 * (2*(2+1+3) + 1 + 3); checked != want {
		t.Errorf("%d checks passed, want %d", checked, want)
	}
}

type welcomeCase struct {
	CipherSuite uint16      `json:"cipher_suite"`
	InitPriv    mlstest.Hex `json:"init_priv"`
	SignerPub   mlstest.Hex `json:"signer_pub"`
	KeyPackage  mlstest.Hex `json:"key_package"`
	Welcome     mlstest.Hex `json:"welcome"`
}

// TestWelcomeVectors decrypts the Welcome of welcome.json for every suite:
// the group secrets with the key package's init key, the GroupInfo with the
// welcome secret, its signature with the signer's key and its confirmation
// tag with the joiner's key schedule.
func TestWelcomeVectors(t *testing.T) {
	var cases []welcomeCase
	mlstest.Load(t, "welcome.json", &cases)
	for _, c := range cases {
		at := fmt.Sprintf("suite %d", c.CipherSuite)
		s, err := cipher.Lookup(cipher.SuiteID(c.CipherSuite))
		if err != nil {
			t.Fatal(err)
		}
		var kp, w mls.MLSMessage
		if err := codec.Unmarshal(c.KeyPackage, &kp); err != nil || kp.KeyPackage == nil {
			t.Fatalf("%s: key package: %v", at, err)
		}
		if err := codec.Unmarshal(c.Welcome, &w); err != nil || w.Welcome == nil {
			t.Fatalf("%s: welcome: %v", at, err)
		}
		ref := s.MakeKeyPackageRef(codec.Marshal(kp.KeyPackage))
		gs, err := framing.DecryptGroupSecrets(s, w.Welcome, ref, c.InitPriv)
		if err != nil {
			t.Fatalf("%s: %v", at, err)
		}
		if len(gs.PSKs) != 0 {
			t.Fatalf("%s: %d PSKs, the vector has none", at, len(gs.PSKs))
		}
		gi, err := framing.DecryptGroupInfo(s, schedule.WelcomeSecret(s, gs.JoinerSecret, nil), w.Welcome.EncryptedGroupInfo)
		if err != nil {
			t.Fatalf("%s: %v", at, err)
		}
		if err := framing.VerifyGroupInfo(s, c.SignerPub, gi); err != nil {
			t.Errorf("%s: %v", at, err)
		}
		epoch := schedule.Join(s, gs.JoinerSecret, nil, &gi.GroupContext)
		if !schedule.VerifyConfirmationTag(s, epoch.ConfirmationKey, gi.GroupContext.ConfirmedTranscriptHash, gi.ConfirmationTag) {
			t.Errorf("%s: confirmation tag of the group info does not verify", at)
		}

		// Negative: another key package, another init key, a forged signature.
		if _, err := framing.DecryptGroupSecrets(s, w.Welcome, s.Hash(ref), c.InitPriv); !errors.Is(err, framing.ErrNotWelcomed) {
			t.Errorf("%s: unknown key package: %v, want ErrNotWelcomed", at, err)
		}
		otherPriv, _, err := s.GenerateHPKEKeyPair()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := framing.DecryptGroupSecrets(s, w.Welcome, ref, otherPriv); !errors.Is(err, framing.ErrDecrypt) {
			t.Errorf("%s: wrong init key: %v, want ErrDecrypt", at, err)
		}
		gi.Signature[len(gi.Signature)/2] ^= 1
		if err := framing.VerifyGroupInfo(s, c.SignerPub, gi); !errors.Is(err, framing.ErrBadSignature) {
			t.Errorf("%s: forged group info signature: %v, want ErrBadSignature", at, err)
		}
		if _, err := framing.DecryptGroupInfo(s, epoch.InitSecret, w.Welcome.EncryptedGroupInfo); !errors.Is(err, framing.ErrDecrypt) {
			t.Errorf("%s: group info under the wrong secret: %v, want ErrDecrypt", at, err)
		}
	}
	if len(cases) != 7 {
		t.Errorf("checked %d cases, want 7", len(cases))
	}
}
