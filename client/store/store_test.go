package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// cheap keeps Argon2id fast in tests; the costs are stored in the header,
// so reopening uses them too.
var cheap = Argon2Params{Time: 1, MemoryKiB: 64, Threads: 1}

type record struct {
	Token string `json:"token"`
	Epoch uint64 `json:"epoch"`
}

func newStore(t *testing.T) (*Store, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "profile")
	s, err := Create(dir, PassphraseWithCost("correct horse", cheap))
	if err != nil {
		t.Fatal(err)
	}
	return s, dir
}

func TestRoundTripAcrossReopen(t *testing.T) {
	s, dir := newStore(t)
	var missing record
	if found, err := s.Get("room/!a:hs", &missing); found || err != nil {
		t.Fatalf("Get of a missing record: %v, %v", found, err)
	}
	want := record{Token: "s72_1", Epoch: 9}
	if err := s.Put("room/!a:hs", want); err != nil {
		t.Fatal(err)
	}
	if err := s.Put("room/!a:hs", record{Token: "s73", Epoch: 10}); err != nil {
		t.Fatal(err)
	}
	want = record{Token: "s73", Epoch: 10}

	again, err := Open(dir, Passphrase("correct horse"))
	if err != nil {
		t.Fatal(err)
	}
	var got record
	if found, err := again.Get("room/!a:hs", &got); !found || err != nil || got != want {
		t.Fatalf("after reopening: %+v, %v, %v; want %+v", got, found, err, want)
	}

	// Neither names nor contents show on disk.
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		raw, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		for _, secret := range []string{"!a:hs", "s73", "room"} {
			if strings.Contains(e.Name(), secret) || strings.Contains(string(raw), secret) {
				t.Fatalf("%q shows in %s", secret, e.Name())
			}
		}
		if e.Name() != headerFile && !strings.HasSuffix(e.Name(), recordExt) {
			t.Fatalf("stray file %s (a temporary file left behind?)", e.Name())
		}
	}

	if err = again.Delete("room/!a:hs"); err != nil {
		t.Fatal(err)
	}
	if found, err := again.Get("room/!a:hs", &got); found || err != nil {
		t.Fatalf("Get after Delete: %v, %v", found, err)
	}
	if err = again.Delete("room/!a:hs"); err != nil {
		t.Fatalf("deleting twice: %v", err)
	}
}

func TestWrongKeysAreRefused(t *testing.T) {
	_, dir := newStore(t)
	if _, err := Open(dir, Passphrase("wrong horse")); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("wrong passphrase: %v", err)
	}
	if _, err := Open(dir, Passphrase("")); err == nil {
		t.Fatal("empty passphrase opened the store")
	}
	keyFile := filepath.Join(t.TempDir(), "key")
	if err := GenerateKeyFile(keyFile); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, KeyFile(keyFile)); err == nil || !strings.Contains(err.Error(), "passphrase") {
		t.Fatalf("key file for a passphrase store: %v", err)
	}
	if _, err := Create(dir, Passphrase("x")); err == nil {
		t.Fatal("Create over an existing store succeeded")
	}
	if _, err := Open(t.TempDir(), Passphrase("x")); err == nil || !strings.Contains(err.Error(), "no store") {
		t.Fatalf("opening an empty folder: %v", err)
	}

	// Changing the salt in the header changes the key: refused as a
	// wrong key, not read as garbage.
	path := filepath.Join(dir, headerFile)
	h, _ := os.ReadFile(path)
	changed := strings.Replace(string(h), `"salt": "`, `"salt": "AAAA`, 1)
	if err := os.WriteFile(path, []byte(changed), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, Passphrase("correct horse")); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("changed salt: %v", err)
	}
}

func TestKeyFile(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key")
	if err := GenerateKeyFile(keyFile); err != nil {
		t.Fatal(err)
	}
	if err := GenerateKeyFile(keyFile); err == nil {
		t.Fatal("a key file was overwritten")
	}
	s, err := Create(filepath.Join(dir, "p"), KeyFile(keyFile))
	if err != nil {
		t.Fatal(err)
	}
	if err = s.Put("account", record{Token: "t"}); err != nil {
		t.Fatal(err)
	}
	again, err := Open(filepath.Join(dir, "p"), KeyFile(keyFile))
	if err != nil {
		t.Fatal(err)
	}
	var got record
	if found, err := again.Get("account", &got); !found || err != nil || got.Token != "t" {
		t.Fatalf("%+v %v %v", got, found, err)
	}
	if _, err = Open(filepath.Join(dir, "p"), Passphrase("x")); err == nil {
		t.Fatal("passphrase for a key-file store")
	}

	other := filepath.Join(dir, "other")
	if err = GenerateKeyFile(other); err != nil {
		t.Fatal(err)
	}
	if _, err = Open(filepath.Join(dir, "p"), KeyFile(other)); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("another key file: %v", err)
	}
	if err = os.Chmod(keyFile, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err = Open(filepath.Join(dir, "p"), KeyFile(keyFile)); err == nil || !strings.Contains(err.Error(), "readable by others") {
		t.Fatalf("world-readable key file: %v", err)
	}
	if err = os.WriteFile(other, []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err = Open(filepath.Join(dir, "p"), KeyFile(other)); err == nil {
		t.Fatal("a key file without a key opened the store")
	}
	if _, err = Open(filepath.Join(dir, "p"), KeyFile(filepath.Join(dir, "absent"))); err == nil {
		t.Fatal("a missing key file opened the store")
	}
}

func TestTamperingIsDetected(t *testing.T) {
	s, _ := newStore(t)
	for _, name := range []string{"a", "b"} {
		if err := s.Put(name, record{Token: name}); err != nil {
			t.Fatal(err)
		}
	}
	pathA, pathB := s.path("a"), s.path("b")
	original, _ := os.ReadFile(pathA)

	cases := map[string]func() []byte{
		"a flipped bit in the ciphertext": func() []byte {
			b := append([]byte(nil), original...)
			b[len(b)-5] ^= 0x10
			return b
		},
		"a flipped bit in the nonce": func() []byte {
			b := append([]byte(nil), original...)
			b[len(magic)] ^= 1
			return b
		},
		"truncated":            func() []byte { return original[:len(original)-1] },
		"shorter than a nonce": func() []byte { return original[:10] },
		"empty":                func() []byte { return nil },
		"another record's file": func() []byte {
			b, _ := os.ReadFile(pathB)
			return b
		},
	}
	for name, damage := range cases {
		if err := os.WriteFile(pathA, damage(), 0o600); err != nil {
			t.Fatal(err)
		}
		var got record
		found, err := s.Get("a", &got)
		if !errors.Is(err, ErrCorrupt) || found || got != (record{}) {
			t.Errorf("%s: Get = %v, %v, %+v; want ErrCorrupt and nothing decoded", name, found, err, got)
		}
	}
}

func TestLockSerialisesHolders(t *testing.T) {
	s, dir := newStore(t)
	unlock, err := s.Lock(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// Another opening of the same store (as another process would) waits.
	other, err := Open(dir, Passphrase("correct horse"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err = other.Lock(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second Lock while held: %v", err)
	}
	got := make(chan error, 1)
	go func() {
		u, err := other.Lock(context.Background())
		if err == nil {
			u()
		}
		got <- err
	}()
	select {
	case err = <-got:
		t.Fatalf("second Lock returned (%v) while the first is held", err)
	case <-time.After(50 * time.Millisecond):
	}
	unlock()
	select {
	case err = <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("second Lock still waits after the first was released")
	}
}

func TestUnreadableHeader(t *testing.T) {
	_, dir := newStore(t)
	path := filepath.Join(dir, headerFile)
	for name, content := range map[string]string{
		"not JSON":        "{",
		"future format":   `{"format": 2}`,
		"unknown kdf":     `{"format": 1, "kdf": "md5"}`,
		"no argon2 costs": `{"format": 1, "kdf": "argon2id"}`,
		"huge memory":     `{"format": 1, "kdf": "argon2id", "argon2": {"time": 1, "memory_kib": 4294967295, "threads": 1}}`,
	} {
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(dir, Passphrase("correct horse")); err == nil {
			t.Errorf("%s: opened", name)
		}
	}
}
