package internal

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/matrix-org/dendrite/msc4244/internal/atomicfile"
	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
	"github.com/matrix-org/dendrite/msc4244/mlsds/api"
)

// IdentityFile is the name of the file, next to the server's Matrix signing
// key, that holds the DS's MLS signature keys.
const IdentityFile = "mls_ds_key.pem"

// pemType is the type of each PEM block of the identity file; its
// Cipher-Suite header names the suite the key is for.
const pemType = "MLS DS SIGNATURE KEY"

// supportedSuites are the cipher suites the DS has a signature key for and
// accepts groups in. Suites 1 and 3 sign with Ed25519.
var supportedSuites = []mls.CipherSuite{mls.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519}

// Identity is the DS's MLS identity: one signature key per supported cipher
// suite, with the BasicCredential "@:<server>" (MSC4246).
type Identity struct {
	serverName string
	keys       map[mls.CipherSuite]ed25519.PrivateKey
}

// IdentityPath returns the path of the identity file for a server whose
// Matrix signing key is at matrixKeyPath.
func IdentityPath(matrixKeyPath string) string {
	return filepath.Join(filepath.Dir(matrixKeyPath), IdentityFile)
}

// LoadOrCreateIdentity reads the identity file at path, creating it with new
// keys when it does not exist. A file without a key for a supported suite
// gets one added.
func LoadOrCreateIdentity(path, serverName string) (*Identity, error) {
	id := &Identity{serverName: serverName, keys: map[mls.CipherSuite]ed25519.PrivateKey{}}
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
		seed := make([]byte, ed25519.SeedSize)
		if _, err = rand.Read(seed); err != nil {
			return nil, err
		}
		id.keys[suite] = ed25519.NewKeyFromSeed(seed)
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
		if !slices.Contains(supportedSuites, suite) || len(block.Bytes) != ed25519.SeedSize {
			return fmt.Errorf("unusable key for cipher suite %d", n)
		}
		id.keys[suite] = ed25519.NewKeyFromSeed(block.Bytes)
	}
	return nil
}

func (id *Identity) encode() []byte {
	var out []byte
	for _, suite := range supportedSuites {
		out = append(out, pem.EncodeToMemory(&pem.Block{
			Type:    pemType,
			Headers: map[string]string{"Cipher-Suite": strconv.Itoa(int(suite))},
			Bytes:   id.keys[suite].Seed(),
		})...)
	}
	return out
}

// Suites returns the cipher suites the DS supports, default first.
func (id *Identity) Suites() []mls.CipherSuite { return slices.Clone(supportedSuites) }

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
	return mls.ExternalSender{
		SignatureKey: id.keys[suite].Public().(ed25519.PublicKey),
		Credential:   id.Credential(),
	}
}

// Info is the DS's description served at .../ds/{serverName}: its suites
// and the external sender of the default suite, encoded.
func (id *Identity) Info() api.InfoResponse {
	info := api.InfoResponse{ServerName: id.serverName}
	for _, suite := range supportedSuites {
		info.CipherSuites = append(info.CipherSuites, uint16(suite))
	}
	sender := id.ExternalSender(supportedSuites[0])
	info.ExternalSender = encodeBase64(codec.Marshal(&sender))
	return info
}
