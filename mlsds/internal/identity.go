package internal

import (
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/matrix-org/dendrite/msc4244/internal/atomicfile"
	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/cipher"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
	"github.com/matrix-org/dendrite/msc4244/mlsds/api"
)

// IdentityFile is the name of the file, next to the server's Matrix signing
// key, that holds the DS's MLS signature keys.
const IdentityFile = "mls_ds_key.pem"

// pemType is the type of each PEM block of the identity file; its
// Cipher-Suite header names the suite the key is for, its bytes are the
// private key as the suite encodes it (an EdDSA seed, an ECDSA scalar).
const pemType = "MLS DS SIGNATURE KEY"

// supportedSuites are the cipher suites the DS has a signature key for and
// accepts groups in: every suite the MLS core implements (RFC 9420 §17.1),
// the profile's default, suite 1, first.
var supportedSuites = func() []mls.CipherSuite {
	var suites []mls.CipherSuite
	for _, id := range cipher.IDs() {
		if _, err := cipher.Lookup(id); err == nil {
			suites = append(suites, mls.CipherSuite(id))
		}
	}
	return suites
}()

// Identity is the DS's MLS identity: one signature key per supported cipher
// suite, with the BasicCredential "@:<server>" (MSC4246).
type Identity struct {
	serverName string
	keys       map[mls.CipherSuite]*suiteKey
}

// suiteKey is the DS's signature key in one suite.
type suiteKey struct {
	private []byte
	signer  *cipher.Signer
}

func newSuiteKey(suite mls.CipherSuite, private []byte) (*suiteKey, error) {
	cs, err := cipher.Lookup(cipher.SuiteID(suite))
	if err != nil {
		return nil, err
	}
	signer, err := cs.NewSigner(private)
	if err != nil {
		return nil, err
	}
	return &suiteKey{private: private, signer: signer}, nil
}

// IdentityPath returns the path of the identity file for a server whose
// Matrix signing key is at matrixKeyPath.
func IdentityPath(matrixKeyPath string) string {
	return filepath.Join(filepath.Dir(matrixKeyPath), IdentityFile)
}

// LoadOrCreateIdentity reads the identity file at path, creating it with new
// keys when it does not exist. A file without a key for some supported suite
// (one written when the DS supported fewer suites) gets one added, its other
// keys kept.
func LoadOrCreateIdentity(path, serverName string) (*Identity, error) {
	id := &Identity{serverName: serverName, keys: map[mls.CipherSuite]*suiteKey{}}
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("reading the DS identity: %w", err)
	}
	if err = id.parse(data); err != nil {
		return nil, fmt.Errorf("DS identity %s: %w", path, err)
	}
	if len(id.keys) == len(supportedSuites) {
		return id, nil
	}
	for _, suite := range supportedSuites {
		if _, ok := id.keys[suite]; ok {
			continue
		}
		cs, err := cipher.Lookup(cipher.SuiteID(suite))
		if err != nil {
			return nil, err
		}
		private, _, err := cs.GenerateSignatureKeyPair()
		if err != nil {
			return nil, err
		}
		if id.keys[suite], err = newSuiteKey(suite, private); err != nil {
			return nil, err
		}
	}
	if err = atomicfile.Write(path, id.encode(), 0o600); err != nil {
		return nil, fmt.Errorf("writing the DS identity: %w", err)
	}
	return id, nil
}

func (id *Identity) parse(data []byte) error {
	for len(data) > 0 {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil
		}
		if block.Type != pemType {
			return fmt.Errorf("unexpected PEM block %q", block.Type)
		}
		n, err := strconv.ParseUint(block.Headers["Cipher-Suite"], 10, 16)
		if err != nil {
			return fmt.Errorf("bad Cipher-Suite header %q", block.Headers["Cipher-Suite"])
		}
		suite := mls.CipherSuite(n)
		if _, ok := id.keys[suite]; ok {
			return fmt.Errorf("two keys for cipher suite %d", n)
		}
		if id.keys[suite], err = newSuiteKey(suite, block.Bytes); err != nil {
			return fmt.Errorf("unusable key for cipher suite %d: %w", n, err)
		}
	}
	return nil
}

func (id *Identity) encode() []byte {
	var out []byte
	for _, suite := range supportedSuites {
		out = append(out, pem.EncodeToMemory(&pem.Block{
			Type:    pemType,
			Headers: map[string]string{"Cipher-Suite": strconv.Itoa(int(suite))},
			Bytes:   id.keys[suite].private,
		})...)
	}
	return out
}

// Supports reports whether the DS accepts groups of the cipher suite.
func (id *Identity) Supports(suite mls.CipherSuite) bool {
	_, ok := id.keys[suite]
	return ok
}

// Credential is the DS's BasicCredential, identity "@:<server>".
func (id *Identity) Credential() mls.Credential {
	return mls.Credential{Type: mls.CredentialBasic, Identity: []byte(api.ServerDevice(id.serverName).UserID)}
}

// ExternalSender is the entry a group's external_senders extension must hold
// for the DS, in the given supported suite.
func (id *Identity) ExternalSender(suite mls.CipherSuite) mls.ExternalSender {
	return mls.ExternalSender{SignatureKey: id.keys[suite].signer.PublicKey(), Credential: id.Credential()}
}

// Info is the DS's description served at .../ds/{serverName}: its suites,
// and its external sender in each, encoded (external_sender: the default
// suite's).
func (id *Identity) Info() api.InfoResponse {
	info := api.InfoResponse{ServerName: id.serverName, ExternalSenders: map[string]string{}}
	for _, suite := range supportedSuites {
		info.CipherSuites = append(info.CipherSuites, uint16(suite))
		sender := id.ExternalSender(suite)
		info.ExternalSenders[strconv.Itoa(int(suite))] = encodeBase64(codec.Marshal(&sender))
	}
	info.ExternalSender = info.ExternalSenders[strconv.Itoa(int(supportedSuites[0]))]
	return info
}
