package framing

import (
	"errors"
	"fmt"
	"runtime"
	"sync"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/cipher"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/schedule"
)

// ErrNotWelcomed means a Welcome has no entry for a key package.
var ErrNotWelcomed = errors.New("mls framing: welcome has no secrets for this key package")

// Labels of RFC 9420 §12.4.3.
const (
	welcomeLabel   = "Welcome"
	groupInfoLabel = "GroupInfoTBS"
)

// WelcomeRecipient is a new member a Welcome is for: the reference of the
// key package it was added with, that key package's init key, and the group
// secrets it gets (its path secret differs from other members').
type WelcomeRecipient struct {
	KeyPackageRef []byte
	InitKey       []byte
	Secrets       *mls.GroupSecrets
}

// NewWelcome builds the Welcome of a commit (RFC 9420 §12.4.3.1): the
// signed GroupInfo encrypted under the new epoch's welcomeSecret, and each
// recipient's GroupSecrets encrypted to its init key with
// EncryptWithLabel("Welcome", encrypted_group_info, ...). The HPKE context
// is set up once for all recipients, and large Welcomes are sealed on every
// CPU.
func NewWelcome(s *cipher.Suite, welcomeSecret []byte, gi *mls.GroupInfo, recipients []WelcomeRecipient) (*mls.Welcome, error) {
	encryptedGroupInfo, err := EncryptGroupInfo(s, welcomeSecret, gi)
	if err != nil {
		return nil, err
	}
	w := &mls.Welcome{
		CipherSuite:        mls.CipherSuite(s.ID()),
		Secrets:            make([]mls.EncryptedGroupSecrets, len(recipients)),
		EncryptedGroupInfo: encryptedGroupInfo,
	}
	sealer := s.NewLabeledSealer(welcomeLabel, encryptedGroupInfo)
	seal := func(i int) error {
		r := &recipients[i]
		plaintext, err := encode(r.Secrets)
		if err != nil {
			return fmt.Errorf("mls framing: welcome recipient %d: %w", i, err)
		}
		kemOutput, ciphertext, err := sealer.Seal(r.InitKey, plaintext)
		clear(plaintext)
		if err != nil {
			return fmt.Errorf("mls framing: welcome recipient %d: %w", i, err)
		}
		w.Secrets[i] = mls.EncryptedGroupSecrets{
			NewMember:             r.KeyPackageRef,
			EncryptedGroupSecrets: mls.HPKECiphertext{KEMOutput: kemOutput, Ciphertext: ciphertext},
		}
		return nil
	}
	if err := parallel(len(recipients), seal); err != nil {
		return nil, err
	}
	return w, nil
}

// parallelMin is the number of recipients from which sealing is spread
// over CPUs; below it the goroutines cost more than they save.
const parallelMin = 16

// parallel calls f(0), ..., f(n-1), on several goroutines when n is large,
// and returns the error of the lowest index that failed.
func parallel(n int, f func(i int) error) error {
	workers := min(runtime.GOMAXPROCS(0), n/parallelMin)
	if workers <= 1 {
		for i := range n {
			if err := f(i); err != nil {
				return err
			}
		}
		return nil
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				errs[i] = f(i)
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// EncryptGroupInfo encrypts a signed GroupInfo for a Welcome under the
// welcome secret of its epoch (RFC 9420 §12.4.3.1). The GroupInfo is
// encoded into a reused buffer: with the ratchet tree it is megabytes.
func EncryptGroupInfo(s *cipher.Suite, welcomeSecret []byte, gi *mls.GroupInfo) ([]byte, error) {
	key, nonce := schedule.WelcomeKey(s, welcomeSecret)
	var ciphertext []byte
	var sealErr error
	err := codec.Encode(gi, func(plaintext []byte) {
		ciphertext, sealErr = s.Seal(key, nonce, nil, plaintext)
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidContent, err)
	}
	if sealErr != nil {
		return nil, fmt.Errorf("mls framing: group info encryption: %w", sealErr)
	}
	return ciphertext, nil
}

// DecryptGroupInfo decrypts a Welcome's GroupInfo with the welcome secret
// (see schedule.WelcomeSecret). Its signature is not checked: that needs
// the signer's key from the ratchet tree (see VerifyGroupInfo).
func DecryptGroupInfo(s *cipher.Suite, welcomeSecret, encryptedGroupInfo []byte) (*mls.GroupInfo, error) {
	key, nonce := schedule.WelcomeKey(s, welcomeSecret)
	plaintext, err := s.Open(key, nonce, nil, encryptedGroupInfo)
	gi := new(mls.GroupInfo)
	if err := decodeDecrypted("group info", plaintext, err, gi); err != nil {
		return nil, err
	}
	return gi, nil
}

// DecryptGroupSecrets finds the entry of w for the key package whose
// reference is keyPackageRef and decrypts it with that key package's init
// private key (RFC 9420 §12.4.3.1). It fails with ErrNotWelcomed when there
// is no such entry.
func DecryptGroupSecrets(s *cipher.Suite, w *mls.Welcome, keyPackageRef, initPriv []byte) (*mls.GroupSecrets, error) {
	if uint16(w.CipherSuite) != uint16(s.ID()) {
		return nil, fmt.Errorf("%w: welcome of cipher suite %d decrypted with suite %d", ErrDecrypt, w.CipherSuite, s.ID())
	}
	entry := w.SecretsFor(keyPackageRef)
	if entry == nil {
		return nil, ErrNotWelcomed
	}
	ct := &entry.EncryptedGroupSecrets
	plaintext, err := s.DecryptWithLabel(initPriv, welcomeLabel, w.EncryptedGroupInfo, ct.KEMOutput, ct.Ciphertext)
	gs := new(mls.GroupSecrets)
	if err := decodeDecrypted("group secrets", plaintext, err, gs); err != nil {
		return nil, err
	}
	return gs, nil
}

// SignGroupInfo sets gi's signature: SignWithLabel over GroupInfoTBS
// (RFC 9420 §12.4.3) with the signer's key. The GroupInfoTBS is encoded
// in place in what is signed.
func SignGroupInfo(signer *cipher.Signer, gi *mls.GroupInfo) error {
	sig, err := signer.SignValueWithLabel(groupInfoLabel, gi.TBS())
	if err != nil {
		return fmt.Errorf("%w: signing group info: %w", ErrInvalidContent, err)
	}
	gi.Signature = sig
	return nil
}

// VerifyGroupInfo checks gi's signature with the signature key of the
// member at gi.Signer. It returns nil or an error wrapping ErrBadSignature.
func VerifyGroupInfo(s *cipher.Suite, signatureKey []byte, gi *mls.GroupInfo) error {
	if err := s.VerifyValueWithLabel(signatureKey, groupInfoLabel, gi.TBS(), gi.Signature); err != nil {
		return fmt.Errorf("%w: group info: %w", ErrBadSignature, err)
	}
	return nil
}
