package internal

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
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
	for _, suite := range first.Suites() {
		if !bytes.Equal(first.ExternalSender(suite).SignatureKey, again.ExternalSender(suite).SignatureKey) {
			t.Fatalf("suite %d: the key changed between starts", suite)
		}
	}

	res := again.Info()
	if res.ServerName != "ds.example" || len(res.CipherSuites) == 0 || res.CipherSuites[0] != 1 {
		t.Fatalf("Info: %+v", res)
	}
	data, err := decodeBase64(res.ExternalSender)
	if err != nil {
		t.Fatal(err)
	}
	var sender mls.ExternalSender
	if err = codec.Unmarshal(data, &sender); err != nil {
		t.Fatalf("external_sender does not decode: %v", err)
	}
	if sender.Credential.Type != mls.CredentialBasic || string(sender.Credential.Identity) != "@:ds.example" ||
		!bytes.Equal(sender.SignatureKey, again.ExternalSender(1).SignatureKey) {
		t.Fatalf("external_sender: %+v", sender)
	}
}

func TestIdentityRefusesBadFiles(t *testing.T) {
	for name, content := range map[string]string{
		"other PEM type": "-----BEGIN MATRIX PRIVATE KEY-----\nAAAA\n-----END MATRIX PRIVATE KEY-----\n",
		"bad suite":      "-----BEGIN MLS DS SIGNATURE KEY-----\nCipher-Suite: x\n\nAAAA\n-----END MLS DS SIGNATURE KEY-----\n",
		"short key":      "-----BEGIN MLS DS SIGNATURE KEY-----\nCipher-Suite: 1\n\nAAAA\n-----END MLS DS SIGNATURE KEY-----\n",
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

func TestDeviceOf(t *testing.T) {
	basic := func(id string) mls.Credential { return mls.Credential{Type: mls.CredentialBasic, Identity: []byte(id)} }
	d, err := deviceOf(basic("@alice:example.org|DEV|ICE"))
	if err != nil || d.UserID != "@alice:example.org" || d.DeviceID != "DEV|ICE" {
		t.Fatalf("deviceOf: %v, %v", d, err)
	}
	for _, cred := range []mls.Credential{
		basic("@alice:example.org"),
		basic("alice|DEVICE"),
		basic("@:example.org|"),
		{Type: mls.CredentialX509, Certificates: [][]byte{{1}}},
	} {
		if d, err := deviceOf(cred); err == nil {
			t.Errorf("deviceOf(%q) = %v, want an error", cred.Identity, d)
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
