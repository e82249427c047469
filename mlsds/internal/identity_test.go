package internal

import (
	"bytes"
	"crypto/ed25519"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/cipher"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
)

func TestIdentityPersists(t *testing.T) {
	path := IdentityPath(filepath.Join(t.TempDir(), "matrix_key.pem"))
	first, err := LoadOrCreateIdentity(path, "ds.example")
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatalf("the identity file was not written: %v", err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Fatalf("identity file mode %v, want 0600", info.Mode().Perm())
	}
	again, err := LoadOrCreateIdentity(path, "ds.example")
	if err != nil {
		t.Fatal(err)
	}
	for _, suite := range supportedSuites {
		if !bytes.Equal(first.ExternalSender(suite).SignatureKey, again.ExternalSender(suite).SignatureKey) {
			t.Fatalf("suite %d: the key changed between starts", suite)
		}
	}

	res := again.Info()
	if res.ServerName != "ds.example" || !slices.Equal(res.CipherSuites, []uint16{1, 2, 3, 4, 5, 6, 7}) || res.ExternalSender != res.ExternalSenders["1"] {
		t.Fatalf("Info: %+v", res)
	}
	for _, suite := range res.CipherSuites {
		data, err := decodeBase64(res.ExternalSenderFor(suite))
		if err != nil {
			t.Fatal(err)
		}
		var sender mls.ExternalSender
		if err = codec.Unmarshal(data, &sender); err != nil {
			t.Fatalf("suite %d: external_sender does not decode: %v", suite, err)
		}
		if sender.Credential.Type != mls.CredentialBasic || string(sender.Credential.Identity) != "@:ds.example" ||
			!bytes.Equal(sender.SignatureKey, again.ExternalSender(mls.CipherSuite(suite)).SignatureKey) {
			t.Fatalf("suite %d: external_sender: %+v", suite, sender)
		}
		cs, err := cipher.Lookup(cipher.SuiteID(suite))
		if err != nil {
			t.Fatal(err)
		}
		if err = cs.ValidateSignaturePublicKey(sender.SignatureKey); err != nil {
			t.Fatalf("suite %d: %v", suite, err)
		}
	}
}

// A file written when the DS had a key for suite 1 only keeps that key and
// gets one for every other suite.
func TestIdentityAddsSuites(t *testing.T) {
	path := filepath.Join(t.TempDir(), IdentityFile)
	seed := bytes.Repeat([]byte{7}, ed25519.SeedSize)
	old := pem.EncodeToMemory(&pem.Block{Type: pemType, Headers: map[string]string{"Cipher-Suite": "1"}, Bytes: seed})
	if err := os.WriteFile(path, old, 0o600); err != nil {
		t.Fatal(err)
	}
	id, err := LoadOrCreateIdentity(path, "ds.example")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(id.ExternalSender(1).SignatureKey, ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)) {
		t.Fatal("the suite 1 key changed")
	}
	for _, suite := range supportedSuites {
		if !id.Supports(suite) {
			t.Fatalf("no key for suite %d", suite)
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(data, old) || bytes.Count(data, []byte("BEGIN "+pemType)) != len(supportedSuites) {
		t.Fatalf("the rewritten file:\n%s", data)
	}
	again, err := LoadOrCreateIdentity(path, "ds.example")
	if err != nil {
		t.Fatal(err)
	}
	for _, suite := range supportedSuites {
		if !bytes.Equal(id.ExternalSender(suite).SignatureKey, again.ExternalSender(suite).SignatureKey) {
			t.Fatalf("suite %d: the key changed between starts", suite)
		}
	}
}

func TestIdentityRefusesBadFiles(t *testing.T) {
	for name, content := range map[string]string{
		"other PEM type":  "-----BEGIN MATRIX PRIVATE KEY-----\nAAAA\n-----END MATRIX PRIVATE KEY-----\n",
		"bad suite":       "-----BEGIN MLS DS SIGNATURE KEY-----\nCipher-Suite: x\n\nAAAA\n-----END MLS DS SIGNATURE KEY-----\n",
		"short key":       "-----BEGIN MLS DS SIGNATURE KEY-----\nCipher-Suite: 1\n\nAAAA\n-----END MLS DS SIGNATURE KEY-----\n",
		"unknown suite":   "-----BEGIN MLS DS SIGNATURE KEY-----\nCipher-Suite: 9\n\nAAAA\n-----END MLS DS SIGNATURE KEY-----\n",
		"short P-256 key": "-----BEGIN MLS DS SIGNATURE KEY-----\nCipher-Suite: 2\n\nAAAA\n-----END MLS DS SIGNATURE KEY-----\n",
	} {
		path := filepath.Join(t.TempDir(), IdentityFile)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadOrCreateIdentity(path, "ds.example"); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestBase64(t *testing.T) {
	for _, s := range []string{"aGVsbG8", "aGVsbG8="} {
		if b, err := decodeBase64(s); err != nil || string(b) != "hello" {
			t.Errorf("decodeBase64(%q) = %q, %v", s, b, err)
		}
	}
	if _, err := decodeBase64("a*b"); err == nil {
		t.Error("decodeBase64 accepted a non-base64 character")
	}
	if got := encodeBase64([]byte("hello")); got != "aGVsbG8" {
		t.Errorf("encodeBase64 = %q", got)
	}
}
