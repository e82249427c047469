package keypackage_test

import (
	"strings"
	"testing"
	"time"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/cipher"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"

	"github.com/matrix-org/dendrite/msc4244/keyserver/keypackage"
	kpt "github.com/matrix-org/dendrite/msc4244/keyserver/keypackage/keypackagetest"
)

const (
	user   = "@alice:test"
	device = "DEV1"
)

func TestParseValid(t *testing.T) {
	now := time.Now()
	data := kpt.New(user, device, kpt.Options{
		Extensions:  []mls.ExtensionType{0xf001},
		Proposals:   []mls.ProposalType{0x0008},
		Credentials: []mls.CredentialType{mls.CredentialX509},
		NotAfter:    now.Add(48 * time.Hour),
	})
	kp, err := keypackage.Parse(data, user, device, now)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if kp.UserID != user || kp.DeviceID != device || kp.Ciphersuite != 1 || kp.LastResort ||
		kp.NotAfter.Unix() != now.Add(48*time.Hour).Unix() || string(kp.Data) != string(data) {
		t.Fatalf("Parse = %+v", kp)
	}
	if c := kp.Capabilities; len(c.Extensions) != 1 || c.Extensions[0] != 0xf001 || len(c.Proposals) != 1 ||
		c.Proposals[0] != 8 || len(c.Credentials) != 2 {
		t.Fatalf("capabilities = %+v", c)
	}

	lr, err := keypackage.Parse(kpt.New(user, device, kpt.Options{LastResort: true}), user, device, now)
	if err != nil || !lr.LastResort {
		t.Fatalf("last-resort KeyPackage: %+v, %v", lr, err)
	}
	for _, id := range cipher.IDs() {
		kp, err := keypackage.Parse(kpt.New(user, device, kpt.Options{Suite: mls.CipherSuite(id)}), user, device, now)
		if err != nil || kp.Ciphersuite != uint16(id) {
			t.Errorf("%v: Parse = %+v, %v", id, kp, err)
		}
		if got, ok := keypackage.CipherSuiteByName(id.String()); !ok || got != uint16(id) || keypackage.CipherSuiteName(got) != id.String() {
			t.Errorf("%v: by name %d, %v", id, got, ok)
		}
	}
}

func TestParseRejects(t *testing.T) {
	now := time.Now()
	bare := codec.Marshal(kpt.Build(user, device, kpt.Options{}))
	for name, tc := range map[string]struct {
		data []byte
		want string
	}{
		"empty":        {nil, "not an MLSMessage"},
		"truncated":    {kpt.New(user, device, kpt.Options{})[:40], "not an MLSMessage"},
		"trailing":     {append(kpt.New(user, device, kpt.Options{}), 0), "not an MLSMessage"},
		"bare":         {bare, "MLSMessage"},
		"too big":      {make([]byte, keypackage.MaxSize+1), "more than"},
		"other format": {codec.Marshal(mls.NewGroupInfo(&mls.GroupInfo{})), "not mls_key_package"},
		"version": {kpt.New(user, device, kpt.Options{Edit: func(kp *mls.KeyPackage) { kp.Version = 2 }}),
			"not mls10"},
		"unknown suite": {kpt.New(user, device, kpt.Options{Suite: 0x7a7a}), "not supported"},
		"source": {kpt.New(user, device, kpt.Options{Edit: func(kp *mls.KeyPackage) {
			kp.LeafNode.Source = mls.LeafNodeSourceUpdate
		}}), "not key_package"},
		"expired": {kpt.New(user, device, kpt.Options{NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-time.Hour)}),
			"lifetime ended"},
		"not yet valid": {kpt.New(user, device, kpt.Options{NotBefore: now.Add(time.Hour)}), "in the future"},
		"too long": {kpt.New(user, device, kpt.Options{NotAfter: now.Add(keypackage.MaxLifetime)}),
			"longer than"},
		"backwards": {kpt.New(user, device, kpt.Options{NotBefore: now, NotAfter: now.Add(-time.Second)}),
			"not a time range"},
		"other user":   {kpt.New("@bob:test", device, kpt.Options{}), "not the uploading device"},
		"other device": {kpt.New(user, "DEV2", kpt.Options{}), "not the uploading device"},
		"x509": {kpt.New(user, device, kpt.Options{Edit: func(kp *mls.KeyPackage) {
			kp.LeafNode.Credential = mls.Credential{Type: mls.CredentialX509, Certificates: [][]byte{{1}}}
		}}), "not basic"},
		"no mls10": {kpt.New(user, device, kpt.Options{Edit: func(kp *mls.KeyPackage) {
			kp.LeafNode.Capabilities.Versions = nil
		}}), "mls10"},
		"suite not listed": {kpt.New(user, device, kpt.Options{Edit: func(kp *mls.KeyPackage) {
			kp.LeafNode.Capabilities.CipherSuites = []mls.CipherSuite{3}
		}}), "cipher suite"},
		"basic not listed": {kpt.New(user, device, kpt.Options{Edit: func(kp *mls.KeyPackage) {
			kp.LeafNode.Capabilities.Credentials = nil
		}}), "basic credential"},
		"extension not listed": {kpt.New(user, device, kpt.Options{Edit: func(kp *mls.KeyPackage) {
			kp.LeafNode.Extensions = mls.Extensions{{Type: 0xf001}}
		}}), "not listed"},
		"init key reused": {kpt.New(user, device, kpt.Options{Edit: func(kp *mls.KeyPackage) {
			kp.InitKey = kp.LeafNode.EncryptionKey
		}}), "init_key equals"},
		"init key not a key": {kpt.New(user, device, kpt.Options{Edit: func(kp *mls.KeyPackage) {
			kp.InitKey = kp.InitKey[1:]
		}}), "init_key"},
		"encryption key not a key": {kpt.New(user, device, kpt.Options{Edit: func(kp *mls.KeyPackage) {
			kp.LeafNode.EncryptionKey = append(kp.LeafNode.EncryptionKey, 0)
		}}), "encryption_key"},
		"other suite's keys": {kpt.New(user, device, kpt.Options{Suite: 2, Edit: func(kp *mls.KeyPackage) {
			kp.CipherSuite = 1
			kp.LeafNode.Capabilities.CipherSuites = []mls.CipherSuite{1}
		}}), "key"},
		"leaf signature": {kpt.New(user, device, kpt.Options{BreakLeafSignature: true}), "leaf node signature"},
		"signature":      {kpt.New(user, device, kpt.Options{BreakSignature: true}), "KeyPackage signature"},
	} {
		_, err := keypackage.Parse(tc.data, user, device, now)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Parse = %v, want an error containing %q", name, err, tc.want)
		}
	}

	// A default extension need not be listed.
	ok := kpt.New(user, device, kpt.Options{Edit: func(kp *mls.KeyPackage) {
		kp.LeafNode.Extensions = mls.Extensions{{Type: mls.ExtensionApplicationID, Data: []byte{0}}}
	}})
	if _, err := keypackage.Parse(ok, user, device, now); err != nil {
		t.Errorf("leaf with application_id: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(kpt.New(user, device, kpt.Options{}))
	f.Add(kpt.New(user, device, kpt.Options{LastResort: true}))
	now := time.Now()
	f.Fuzz(func(t *testing.T, data []byte) {
		kp, err := keypackage.Parse(data, user, device, now)
		if err == nil && (kp.UserID != user || string(kp.Data) != string(data)) {
			t.Fatalf("Parse accepted %x as %+v", data, kp)
		}
	})
}
