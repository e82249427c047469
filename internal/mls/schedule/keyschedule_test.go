package schedule_test

import (
	"bytes"
	"fmt"
	"testing"

	"golang.org/x/crypto/cryptobyte"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/cipher"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/mlstest"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/schedule"
)

// suite looks up the suite of a vector case.
func suite(t testing.TB, id uint16) *cipher.Suite {
	t.Helper()
	s, err := cipher.Lookup(cipher.SuiteID(id))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// equal reports a mismatch of a derived value against the vector.
func equal(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Errorf("%s:\n got %x\nwant %x", what, got, want)
	}
}

type keyScheduleCase struct {
	CipherSuite       uint16      `json:"cipher_suite"`
	GroupID           mlstest.Hex `json:"group_id"`
	InitialInitSecret mlstest.Hex `json:"initial_init_secret"`
	Epochs            []struct {
		TreeHash                mlstest.Hex `json:"tree_hash"`
		CommitSecret            mlstest.Hex `json:"commit_secret"`
		PSKSecret               mlstest.Hex `json:"psk_secret"`
		ConfirmedTranscriptHash mlstest.Hex `json:"confirmed_transcript_hash"`
		GroupContext            mlstest.Hex `json:"group_context"`
		JoinerSecret            mlstest.Hex `json:"joiner_secret"`
		WelcomeSecret           mlstest.Hex `json:"welcome_secret"`
		InitSecret              mlstest.Hex `json:"init_secret"`
		SenderDataSecret        mlstest.Hex `json:"sender_data_secret"`
		EncryptionSecret        mlstest.Hex `json:"encryption_secret"`
		ExporterSecret          mlstest.Hex `json:"exporter_secret"`
		EpochAuthenticator      mlstest.Hex `json:"epoch_authenticator"`
		ExternalSecret          mlstest.Hex `json:"external_secret"`
		ConfirmationKey         mlstest.Hex `json:"confirmation_key"`
		MembershipKey           mlstest.Hex `json:"membership_key"`
		ResumptionPSK           mlstest.Hex `json:"resumption_psk"`
		ExternalPub             mlstest.Hex `json:"external_pub"`
		Exporter                struct {
			// Label is used as the text it is, not hex-decoded.
			Label   string      `json:"label"`
			Context mlstest.Hex `json:"context"`
			Length  int         `json:"length"`
			Secret  mlstest.Hex `json:"secret"`
		} `json:"exporter"`
	} `json:"epochs"`
}

// TestKeyScheduleVectors runs every epoch of key-schedule.json: group
// context, every derived secret, the external key pair and the exporter,
// and that Join from the joiner secret agrees with Derive.
func TestKeyScheduleVectors(t *testing.T) {
	var cases []keyScheduleCase
	mlstest.Load(t, "key-schedule.json", &cases)
	epochs := 0
	for _, c := range cases {
		s := suite(t, c.CipherSuite)
		initSecret := []byte(c.InitialInitSecret)
		for n, v := range c.Epochs {
			at := fmt.Sprintf("suite %d epoch %d", c.CipherSuite, n)
			ctx := &mls.GroupContext{
				Version: mls.MLS10, CipherSuite: mls.CipherSuite(c.CipherSuite), GroupID: c.GroupID,
				Epoch: uint64(n), TreeHash: v.TreeHash, ConfirmedTranscriptHash: v.ConfirmedTranscriptHash,
			}
			equal(t, at+" group context", codec.Marshal(ctx), v.GroupContext)
			e := schedule.Derive(s, initSecret, v.CommitSecret, v.PSKSecret, ctx)
			for _, f := range []struct {
				name      string
				got, want []byte
			}{
				{"joiner_secret", e.JoinerSecret, v.JoinerSecret},
				{"welcome_secret", e.WelcomeSecret, v.WelcomeSecret},
				{"init_secret", e.InitSecret, v.InitSecret},
				{"sender_data_secret", e.SenderDataSecret, v.SenderDataSecret},
				{"encryption_secret", e.EncryptionSecret, v.EncryptionSecret},
				{"exporter_secret", e.ExporterSecret, v.ExporterSecret},
				{"epoch_authenticator", e.EpochAuthenticator, v.EpochAuthenticator},
				{"external_secret", e.ExternalSecret, v.ExternalSecret},
				{"confirmation_key", e.ConfirmationKey, v.ConfirmationKey},
				{"membership_key", e.MembershipKey, v.MembershipKey},
				{"resumption_psk", e.ResumptionPSK, v.ResumptionPSK},
				{"welcome_secret from joiner", schedule.WelcomeSecret(s, e.JoinerSecret, v.PSKSecret), v.WelcomeSecret},
			} {
				equal(t, at+" "+f.name, f.got, f.want)
			}
			joined := schedule.Join(s, e.JoinerSecret, v.PSKSecret, ctx)
			if fmt.Sprint(*joined) != fmt.Sprint(*e) {
				t.Errorf("%s: Join from the joiner secret differs from Derive", at)
			}
			_, pub, err := schedule.ExternalKeyPair(s, e.ExternalSecret)
			if err != nil {
				t.Fatalf("%s: %v", at, err)
			}
			equal(t, at+" external_pub", pub, v.ExternalPub)
			exported, err := schedule.Export(s, e.ExporterSecret, v.Exporter.Label, v.Exporter.Context, v.Exporter.Length)
			if err != nil {
				t.Fatalf("%s: %v", at, err)
			}
			equal(t, at+" exporter", exported, v.Exporter.Secret)
			initSecret = e.InitSecret
			epochs++
		}
	}
	if epochs != 35 {
		t.Errorf("checked %d epochs, want 35 (7 suites × 5)", epochs)
	}
}

// TestZeroSecrets checks that nil commit and PSK secrets are the all-zero
// vector of RFC 9420 §8.
func TestZeroSecrets(t *testing.T) {
	for _, id := range cipher.IDs() {
		s := suite(t, uint16(id))
		zero := make([]byte, s.HashLen())
		ctx := &mls.GroupContext{Version: mls.MLS10, CipherSuite: mls.CipherSuite(id), GroupID: []byte("g")}
		a := schedule.Derive(s, []byte("init"), nil, nil, ctx)
		b := schedule.Derive(s, []byte("init"), zero, zero, ctx)
		if fmt.Sprint(*a) != fmt.Sprint(*b) {
			t.Errorf("suite %d: nil secrets differ from zero vectors", id)
		}
	}
}

// TestExportLength checks that an exporter length the KDF cannot produce is
// an error, not a panic.
func TestExportLength(t *testing.T) {
	s := suite(t, 1)
	if _, err := schedule.Export(s, make([]byte, 32), "label", nil, 255*32+1); err == nil {
		t.Fatal("exporting 255·Nh+1 bytes succeeded")
	}
}

type pskCase struct {
	CipherSuite uint16 `json:"cipher_suite"`
	PSKs        []struct {
		PSKID    mlstest.Hex `json:"psk_id"`
		PSK      mlstest.Hex `json:"psk"`
		PSKNonce mlstest.Hex `json:"psk_nonce"`
	} `json:"psks"`
	PSKSecret mlstest.Hex `json:"psk_secret"`
}

// TestPSKSecretVectors computes psk_secret for every case of
// psk_secret.json (0 to 10 external PSKs, every suite).
func TestPSKSecretVectors(t *testing.T) {
	var cases []pskCase
	mlstest.Load(t, "psk_secret.json", &cases)
	for i, c := range cases {
		s := suite(t, c.CipherSuite)
		psks := make([]schedule.PSK, len(c.PSKs))
		for j, p := range c.PSKs {
			psks[j] = schedule.PSK{
				ID:     mls.PreSharedKeyID{Type: mls.PSKExternal, PSKID: p.PSKID, PSKNonce: p.PSKNonce},
				Secret: p.PSK,
			}
		}
		got, err := schedule.PSKSecret(s, psks)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if len(psks) == 0 {
			if got != nil {
				t.Errorf("case %d: no PSKs gave %x, want nil (the zero vector)", i, got)
			}
			got = make([]byte, s.HashLen())
		}
		equal(t, fmt.Sprintf("case %d (suite %d, %d PSKs)", i, c.CipherSuite, len(psks)), got, c.PSKSecret)
	}
	if len(cases) != 77 {
		t.Errorf("checked %d cases, want 77", len(cases))
	}
}

// TestPSKSecretUnknownType checks that a PSK id of no known type is an
// error rather than a panic.
func TestPSKSecretUnknownType(t *testing.T) {
	_, err := schedule.PSKSecret(suite(t, 1), []schedule.PSK{{ID: mls.PreSharedKeyID{Type: 7}}})
	if err == nil {
		t.Fatal("PSK of type 7 accepted")
	}
}

type transcriptCase struct {
	CipherSuite          uint16      `json:"cipher_suite"`
	ConfirmationKey      mlstest.Hex `json:"confirmation_key"`
	AuthenticatedContent mlstest.Hex `json:"authenticated_content"`
	InterimBefore        mlstest.Hex `json:"interim_transcript_hash_before"`
	ConfirmedAfter       mlstest.Hex `json:"confirmed_transcript_hash_after"`
	InterimAfter         mlstest.Hex `json:"interim_transcript_hash_after"`
}

// TestTranscriptHashVectors checks the confirmed and interim transcript
// hashes and the confirmation tag of transcript-hashes.json.
func TestTranscriptHashVectors(t *testing.T) {
	var cases []transcriptCase
	mlstest.Load(t, "transcript-hashes.json", &cases)
	for _, c := range cases {
		s := suite(t, c.CipherSuite)
		at := fmt.Sprintf("suite %d", c.CipherSuite)
		var ac mls.AuthenticatedContent
		if err := codec.Unmarshal(c.AuthenticatedContent, &ac); err != nil {
			t.Fatalf("%s: %v", at, err)
		}
		if ac.Content.ContentType != mls.ContentCommit {
			t.Fatalf("%s: content is a %v, want a commit", at, ac.Content.ContentType)
		}
		// The encoding of the wire format and FramedContent is the
		// AuthenticatedContent's without its authentication data.
		var auth cryptobyte.Builder
		ac.MarshalAuth(&auth)
		framed := c.AuthenticatedContent[:len(c.AuthenticatedContent)-len(auth.BytesOrPanic())]
		confirmed := schedule.ConfirmedTranscriptHash(s, c.InterimBefore, framed, ac.Auth.Signature)
		equal(t, at+" confirmed transcript hash", confirmed, c.ConfirmedAfter)
		equal(t, at+" confirmation tag", schedule.ConfirmationTag(s, c.ConfirmationKey, c.ConfirmedAfter), ac.Auth.ConfirmationTag)
		if !schedule.VerifyConfirmationTag(s, c.ConfirmationKey, c.ConfirmedAfter, ac.Auth.ConfirmationTag) {
			t.Errorf("%s: confirmation tag does not verify", at)
		}
		if schedule.VerifyConfirmationTag(s, c.ConfirmationKey, c.InterimBefore, ac.Auth.ConfirmationTag) {
			t.Errorf("%s: confirmation tag verifies over the wrong transcript hash", at)
		}
		equal(t, at+" interim transcript hash", schedule.InterimTranscriptHash(s, confirmed, ac.Auth.ConfirmationTag), c.InterimAfter)
	}
	if len(cases) != 7 {
		t.Errorf("checked %d cases, want 7", len(cases))
	}
}

// TestExternalInit checks that the joiner's and the group's sides of an
// external init agree on the init secret, for every suite, and that a
// corrupted kem_output does not give the same secret.
func TestExternalInit(t *testing.T) {
	for _, id := range cipher.IDs() {
		s := suite(t, uint16(id))
		externalSecret := bytes.Repeat([]byte{byte(id)}, s.HashLen())
		priv, pub, err := schedule.ExternalKeyPair(s, externalSecret)
		if err != nil {
			t.Fatalf("suite %d: %v", id, err)
		}
		kemOutput, joinerInit, err := schedule.ExternalInit(s, pub)
		if err != nil {
			t.Fatalf("suite %d: %v", id, err)
		}
		groupInit, err := schedule.ExternalInitSecret(s, priv, kemOutput)
		if err != nil {
			t.Fatalf("suite %d: %v", id, err)
		}
		if len(joinerInit) != s.HashLen() || !bytes.Equal(joinerInit, groupInit) {
			t.Errorf("suite %d: joiner init secret %x, group's %x", id, joinerInit, groupInit)
		}
		kemOutput[len(kemOutput)-1] ^= 1
		if other, err := schedule.ExternalInitSecret(s, priv, kemOutput); err == nil && bytes.Equal(other, groupInit) {
			t.Errorf("suite %d: corrupted kem_output gives the same init secret", id)
		}
		if _, _, err := schedule.ExternalInit(s, pub[:len(pub)-1]); err == nil {
			t.Errorf("suite %d: truncated external_pub accepted", id)
		}
	}
}
