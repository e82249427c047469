package framing

import (
	"crypto/rand"
	"fmt"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/cipher"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/schedule"
)

// SignatureKeyFunc returns the signature public key of the member at leaf,
// or an error when there is none (a blank leaf, a leaf outside the tree).
// A PrivateMessage names its sender only inside its encrypted sender data,
// so UnprotectPrivate asks for the key once it has decrypted it.
type SignatureKeyFunc func(leaf uint32) ([]byte, error)

// ProtectPrivate encrypts signed content as a PrivateMessage (RFC 9420
// §6.3). a must have been signed for wire format mls_private_message by a
// member and, for a commit, carry its confirmation tag. The content is
// encrypted with the next key of the sender's application or handshake
// ratchet in tree, which it uses up, followed by padding zero octets; the
// sender data is encrypted under the epoch's senderDataSecret.
func ProtectPrivate(s *cipher.Suite, a *Authenticated, tree *schedule.SecretTree, senderDataSecret []byte, padding int) (*mls.PrivateMessage, error) {
	ac := &a.AuthenticatedContent
	if err := checkProtectable(mls.WireFormatPrivateMessage, ac); err != nil {
		return nil, err
	}
	if ac.Content.Sender.Type != mls.SenderMember {
		return nil, fmt.Errorf("%w: a %v sender cannot send a private message", ErrInvalidContent, ac.Content.Sender.Type)
	}
	if padding < 0 {
		return nil, fmt.Errorf("%w: padding %d", ErrInvalidContent, padding)
	}
	m := &mls.PrivateMessage{
		GroupID:           ac.Content.GroupID,
		Epoch:             ac.Content.Epoch,
		ContentType:       ac.Content.ContentType,
		AuthenticatedData: ac.Content.AuthenticatedData,
	}
	plaintext, err := encode(&mls.PrivateMessageContent{Content: ac.Content.Content, Auth: ac.Auth, Padding: padding})
	if err != nil {
		return nil, err
	}
	aad, err := encode(m.ContentAAD())
	if err != nil {
		return nil, err
	}
	leaf := ac.Content.Sender.Index
	key, err := tree.Next(leaf, ratchetFor(m.ContentType))
	if err != nil {
		return nil, fmt.Errorf("mls framing: %w", err)
	}
	sd := mls.SenderData{LeafIndex: leaf, Generation: key.Generation}
	if _, err := rand.Read(sd.ReuseGuard[:]); err != nil {
		return nil, fmt.Errorf("mls framing: reuse guard: %w", err)
	}
	applyReuseGuard(key.Nonce, sd.ReuseGuard)
	m.Ciphertext, err = s.Seal(key.Key, key.Nonce, aad, plaintext)
	clear(key.Key)
	clear(key.Nonce)
	clear(plaintext)
	if err != nil {
		return nil, fmt.Errorf("mls framing: content encryption: %w", err)
	}
	sdKey, sdNonce := schedule.SenderDataKey(s, senderDataSecret, m.Ciphertext)
	m.EncryptedSenderData, err = s.Seal(sdKey, sdNonce, codec.Marshal(m.SenderDataAAD()), codec.Marshal(&sd))
	if err != nil {
		return nil, fmt.Errorf("mls framing: sender data encryption: %w", err)
	}
	return m, nil
}

// UnprotectPrivate decrypts and authenticates a PrivateMessage (RFC 9420
// §6.3) for the group and epoch of ctx: it decrypts the sender data with
// the epoch's senderDataSecret, the content with the sender's key from
// tree, asks signatureKey for the sender's signature key and verifies the
// signature. Only then does it use up the key in tree, so a message that
// fails any check leaves the tree as it was. The returned content has
// wire format mls_private_message; checking a commit's confirmation tag is
// the caller's job.
func UnprotectPrivate(s *cipher.Suite, m *mls.PrivateMessage, ctx *mls.GroupContext, tree *schedule.SecretTree, senderDataSecret []byte, signatureKey SignatureKeyFunc) (*Authenticated, error) {
	if err := checkEpoch(m.GroupID, m.Epoch, ctx); err != nil {
		return nil, err
	}
	sd, err := openSenderData(s, m, senderDataSecret)
	if err != nil {
		return nil, err
	}
	typ := ratchetFor(m.ContentType)
	key, err := tree.Key(sd.LeafIndex, typ, sd.Generation)
	if err != nil {
		return nil, fmt.Errorf("mls framing: %w", err)
	}
	aad, err := encode(m.ContentAAD())
	if err != nil {
		return nil, err
	}
	nonce := append([]byte(nil), key.Nonce...)
	applyReuseGuard(nonce, sd.ReuseGuard)
	plaintext, err := s.Open(key.Key, nonce, aad, m.Ciphertext)
	content := mls.PrivateMessageContent{Content: mls.Content{ContentType: m.ContentType}}
	if err := decodeDecrypted("content", plaintext, err, &content); err != nil {
		return nil, fmt.Errorf("%w (leaf %d, generation %d)", err, sd.LeafIndex, sd.Generation)
	}
	ac := &mls.AuthenticatedContent{
		WireFormat: mls.WireFormatPrivateMessage,
		Content: mls.FramedContent{
			GroupID:           m.GroupID,
			Epoch:             m.Epoch,
			Sender:            mls.Sender{Type: mls.SenderMember, Index: sd.LeafIndex},
			AuthenticatedData: m.AuthenticatedData,
			Content:           content.Content,
		},
		Auth: content.Auth,
	}
	pub, err := signatureKey(sd.LeafIndex)
	if err != nil {
		return nil, fmt.Errorf("mls framing: signature key of leaf %d: %w", sd.LeafIndex, err)
	}
	a, err := VerifySignature(s, pub, ac, ctx)
	if err != nil {
		return nil, err
	}
	if err := tree.Consume(sd.LeafIndex, typ, sd.Generation); err != nil {
		return nil, fmt.Errorf("mls framing: %w", err)
	}
	return a, nil
}

// openSenderData decrypts and decodes m's sender data (RFC 9420 §6.3.2).
func openSenderData(s *cipher.Suite, m *mls.PrivateMessage, senderDataSecret []byte) (*mls.SenderData, error) {
	aad, err := encode(m.SenderDataAAD())
	if err != nil {
		return nil, err
	}
	key, nonce := schedule.SenderDataKey(s, senderDataSecret, m.Ciphertext)
	plaintext, err := s.Open(key, nonce, aad, m.EncryptedSenderData)
	sd := new(mls.SenderData)
	if err := decodeDecrypted("sender data", plaintext, err, sd); err != nil {
		return nil, err
	}
	return sd, nil
}

// ratchetFor returns the ratchet that protects content of type t
// (RFC 9420 §6.3.1): application data uses the application ratchet,
// proposals and commits the handshake ratchet.
func ratchetFor(t mls.ContentType) schedule.RatchetType {
	if t == mls.ContentApplication {
		return schedule.ApplicationRatchet
	}
	return schedule.HandshakeRatchet
}

// applyReuseGuard XORs the reuse guard into the first octets of nonce
// (RFC 9420 §6.3.1).
func applyReuseGuard(nonce []byte, guard [4]byte) {
	for i, g := range guard {
		nonce[i] ^= g
	}
}
