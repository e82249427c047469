// Package schedule implements the secrets of RFC 9420 that hang off an
// epoch: the key schedule (§8) with its pre-shared keys (§8.4), external
// initialisation (§8.3) and exporter (§8.5), the transcript hashes and the
// confirmation tag (§8.2), and the secret tree (§9) that gives every member
// its handshake and application keys.
//
// Everything here is a pure function of its inputs except SecretTree,
// which deletes secrets as they are used up (forward secrecy, §9.2).
package schedule

import (
	"fmt"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/cipher"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
)

// Labels of the secrets derived from the epoch secret (RFC 9420 §8, table 4).
const (
	labelSenderData     = "sender data"
	labelEncryption     = "encryption"
	labelExporter       = "exporter"
	labelExternal       = "external"
	labelConfirm        = "confirm"
	labelMembership     = "membership"
	labelResumption     = "resumption"
	labelAuthentication = "authentication"
	labelInit           = "init"
)

// Epoch is what the key schedule derives for one epoch (RFC 9420 §8).
// The epoch secret itself is not kept: everything the protocol needs from
// it is here.
type Epoch struct {
	// JoinerSecret is what a Welcome gives new members.
	JoinerSecret []byte
	// WelcomeSecret encrypts the Welcome's GroupInfo (§12.4.3.1).
	WelcomeSecret []byte

	SenderDataSecret   []byte
	EncryptionSecret   []byte
	ExporterSecret     []byte
	ExternalSecret     []byte
	ConfirmationKey    []byte
	MembershipKey      []byte
	ResumptionPSK      []byte
	EpochAuthenticator []byte
	// InitSecret is the init_secret the next epoch starts from.
	InitSecret []byte
}

// Derive runs the key schedule of the epoch whose group context is ctx,
// from the previous epoch's init secret, the commit secret and the PSK
// secret (RFC 9420 §8). A nil commit or PSK secret stands for the all-zero
// vector the RFC writes as 0: a commit without path, a commit without PSKs.
func Derive(s *cipher.Suite, initSecret, commitSecret, pskSecret []byte, ctx *mls.GroupContext) *Epoch {
	gc := codec.Marshal(ctx)
	joiner := expandNh(s, s.Extract(initSecret, orZero(s, commitSecret)), "joiner", gc)
	return fromJoiner(s, joiner, pskSecret, gc)
}

// Join runs the key schedule from the joiner secret a Welcome carries
// (RFC 9420 §12.4.3.1): the part of §8 after joiner_secret. A nil PSK
// secret stands for the all-zero vector.
func Join(s *cipher.Suite, joinerSecret, pskSecret []byte, ctx *mls.GroupContext) *Epoch {
	return fromJoiner(s, joinerSecret, pskSecret, codec.Marshal(ctx))
}

// fromJoiner is the key schedule from joiner_secret on; gc is the encoded
// group context.
func fromJoiner(s *cipher.Suite, joiner, pskSecret, gc []byte) *Epoch {
	member := s.Extract(joiner, orZero(s, pskSecret))
	epochSecret := expandNh(s, member, "epoch", gc)
	e := &Epoch{
		JoinerSecret:       joiner,
		WelcomeSecret:      s.DeriveSecret(member, "welcome"),
		SenderDataSecret:   s.DeriveSecret(epochSecret, labelSenderData),
		EncryptionSecret:   s.DeriveSecret(epochSecret, labelEncryption),
		ExporterSecret:     s.DeriveSecret(epochSecret, labelExporter),
		ExternalSecret:     s.DeriveSecret(epochSecret, labelExternal),
		ConfirmationKey:    s.DeriveSecret(epochSecret, labelConfirm),
		MembershipKey:      s.DeriveSecret(epochSecret, labelMembership),
		ResumptionPSK:      s.DeriveSecret(epochSecret, labelResumption),
		EpochAuthenticator: s.DeriveSecret(epochSecret, labelAuthentication),
		InitSecret:         s.DeriveSecret(epochSecret, labelInit),
	}
	clear(member)
	clear(epochSecret)
	return e
}

// WelcomeSecret is the welcome_secret of the epoch entered with
// joinerSecret and pskSecret (nil for none): what a new member needs to
// decrypt the Welcome's GroupInfo before it knows the group context.
func WelcomeSecret(s *cipher.Suite, joinerSecret, pskSecret []byte) []byte {
	member := s.Extract(joinerSecret, orZero(s, pskSecret))
	defer clear(member)
	return s.DeriveSecret(member, "welcome")
}

// WelcomeKey derives the AEAD key and nonce that encrypt a Welcome's
// GroupInfo from the welcome secret (RFC 9420 §12.4.3.1).
func WelcomeKey(s *cipher.Suite, welcomeSecret []byte) (key, nonce []byte) {
	return expandWithLabel(s, welcomeSecret, "key", nil, s.AEADKeyLen()),
		expandWithLabel(s, welcomeSecret, "nonce", nil, s.AEADNonceLen())
}

// SenderDataKey derives the AEAD key and nonce that encrypt a
// PrivateMessage's sender data from the epoch's sender data secret and the
// message's ciphertext (RFC 9420 §6.3.2). Only the first KDF.Nh octets of
// the ciphertext, all of it when shorter, are used.
func SenderDataKey(s *cipher.Suite, senderDataSecret, ciphertext []byte) (key, nonce []byte) {
	sample := ciphertext[:min(len(ciphertext), s.HashLen())]
	return expandWithLabel(s, senderDataSecret, "key", sample, s.AEADKeyLen()),
		expandWithLabel(s, senderDataSecret, "nonce", sample, s.AEADNonceLen())
}

// Export is MLS-Exporter(label, context, length) (RFC 9420 §8.5): a secret
// for the application, from the epoch's exporter secret. It fails when
// length is more than the suite's KDF can produce.
func Export(s *cipher.Suite, exporterSecret []byte, label string, context []byte, length int) ([]byte, error) {
	secret := s.DeriveSecret(exporterSecret, label)
	defer clear(secret)
	out, err := s.ExpandWithLabel(secret, "exported", s.Hash(context), length)
	if err != nil {
		return nil, fmt.Errorf("mls schedule: exporter: %w", err)
	}
	return out, nil
}

// orZero returns secret, or the all-zero vector of the suite's hash length
// when secret is nil.
func orZero(s *cipher.Suite, secret []byte) []byte {
	if secret == nil {
		return make([]byte, s.HashLen())
	}
	return secret
}

// expandNh is ExpandWithLabel(secret, label, context, KDF.Nh).
func expandNh(s *cipher.Suite, secret []byte, label string, context []byte) []byte {
	return expandWithLabel(s, secret, label, context, s.HashLen())
}

// expandWithLabel is ExpandWithLabel for the lengths the key schedule and
// the secret tree use: the hash, AEAD key and AEAD nonce lengths, which
// every suite's KDF produces, so an error is a bug in this package.
func expandWithLabel(s *cipher.Suite, secret []byte, label string, context []byte, length int) []byte {
	out, err := s.ExpandWithLabel(secret, label, context, length)
	if err != nil {
		panic("mls schedule: " + err.Error())
	}
	return out
}
