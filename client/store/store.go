// Package store keeps the MLS client's state on disk, encrypted at rest.
//
// A store is a folder. store.json says how the key is derived: from a
// passphrase with Argon2id (salt and cost in the file), or from a key file
// of 32 random bytes. Each record is a JSON value in its own file, sealed
// with XChaCha20-Poly1305 under a key derived from that key; the file name
// is an HMAC of the record's name, so names (room IDs) do not show, and the
// name is authenticated with the content, so records cannot be swapped.
// A wrong key, a changed byte or a truncated file gives an error, never
// wrong data. Writes replace a file atomically (write, fsync, rename, fsync
// the folder), so a crash leaves either the old or the new record.
//
// Not protected: an attacker who can write the folder can put back an older
// copy of a record (rollback), or delete records.
package store

import (
	"bytes"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/matrix-org/dendrite/msc4244/internal/atomicfile"
)

const (
	headerFile = "store.json"
	lockFile   = "lock"
	recordExt  = ".enc"
	format     = 1
	// checkText is sealed in the header, to tell a wrong key from damage.
	checkText = "mlsclient store"
)

// magic starts every record file.
var magic = []byte("MLSS\x01")

// ErrWrongKey is returned by Open when the passphrase or key file does not
// open the store.
var ErrWrongKey = errors.New("store: wrong passphrase or key file (or store.json was changed)")

// ErrCorrupt is wrapped by errors of records that fail authentication.
var ErrCorrupt = errors.New("store: record damaged or tampered with")

// Store is an open store. Its methods may be called concurrently; across
// processes, callers serialise read-modify-write sequences with Lock.
type Store struct {
	dir     string
	aead    cipherAEAD
	nameKey []byte
}

type cipherAEAD interface {
	Seal(dst, nonce, plaintext, additionalData []byte) []byte
	Open(dst, nonce, ciphertext, additionalData []byte) ([]byte, error)
	NonceSize() int
}

// Exists reports whether dir holds a store.
func Exists(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, headerFile))
	return err == nil
}

// Create makes a new store in dir (created with mode 0700 when missing),
// keyed by key. It refuses a folder that already holds a store.
func Create(dir string, key Key) (*Store, error) {
	if Exists(dir) {
		return nil, fmt.Errorf("store: %s already holds a store", dir)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	h := header{Format: format, Salt: make([]byte, 16)}
	if _, err := rand.Read(h.Salt); err != nil {
		return nil, err
	}
	key.describe(&h)
	s, err := open(dir, key, &h)
	if err != nil {
		return nil, err
	}
	h.Check = s.seal("check", []byte(checkText))
	encoded, err := json.MarshalIndent(&h, "", "  ")
	if err != nil {
		return nil, err
	}
	if err = atomicfile.Write(filepath.Join(dir, headerFile), encoded, 0o600); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	return s, nil
}

// Open opens the store in dir with key.
func Open(dir string, key Key) (*Store, error) {
	encoded, err := os.ReadFile(filepath.Join(dir, headerFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("store: no store in %s", dir)
	}
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	var h header
	if err = json.Unmarshal(encoded, &h); err != nil {
		return nil, fmt.Errorf("store: %s: %w", headerFile, err)
	}
	if h.Format != format {
		return nil, fmt.Errorf("store: %s has format %d, this client reads %d", headerFile, h.Format, format)
	}
	if err = key.matches(&h); err != nil {
		return nil, err
	}
	s, err := open(dir, key, &h)
	if err != nil {
		return nil, err
	}
	if check, err := s.open("check", h.Check); err != nil || string(check) != checkText {
		return nil, ErrWrongKey
	}
	return s, nil
}

func open(dir string, key Key, h *header) (*Store, error) {
	master, err := key.derive(h)
	if err != nil {
		return nil, err
	}
	encKey, err := hkdf.Key(sha256.New, master, h.Salt, "mlsclient store: records", chacha20poly1305.KeySize)
	if err != nil {
		return nil, err
	}
	nameKey, err := hkdf.Key(sha256.New, master, h.Salt, "mlsclient store: names", 32)
	if err != nil {
		return nil, err
	}
	aead, err := chacha20poly1305.NewX(encKey)
	if err != nil {
		return nil, err
	}
	return &Store{dir: dir, aead: aead, nameKey: nameKey}, nil
}

// Dir is the store's folder.
func (s *Store) Dir() string { return s.dir }

// Get decodes the record name into v. It reports false (and leaves v
// alone) when there is no such record.
func (s *Store) Get(name string, v any) (bool, error) {
	sealed, err := os.ReadFile(s.path(name))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("store: %w", err)
	}
	plain, err := s.open(name, sealed)
	if err != nil {
		return false, fmt.Errorf("%w: %q", ErrCorrupt, name)
	}
	if err = json.Unmarshal(plain, v); err != nil {
		return false, fmt.Errorf("store: record %q: %w", name, err)
	}
	return true, nil
}

// Put stores v, encoded as JSON, as the record name, replacing it
// atomically.
func (s *Store) Put(name string, v any) error {
	plain, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("store: record %q: %w", name, err)
	}
	if err = atomicfile.Write(s.path(name), s.seal(name, plain), 0o600); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}

// Delete removes the record name; a missing record is no error.
func (s *Store) Delete(name string) error {
	err := os.Remove(s.path(name))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}

// path is the file of the record name.
func (s *Store) path(name string) string {
	mac := hmac.New(sha256.New, s.nameKey)
	mac.Write([]byte(name))
	return filepath.Join(s.dir, hex.EncodeToString(mac.Sum(nil)[:20])+recordExt)
}

// additionalData binds a sealed record to its name.
func additionalData(name string) []byte {
	return append(bytes.Clone(magic), name...)
}

func (s *Store) seal(name string, plain []byte) []byte {
	nonce := make([]byte, s.aead.NonceSize())
	_, _ = rand.Read(nonce) // never fails (crypto/rand.Read)
	out := append(bytes.Clone(magic), nonce...)
	return s.aead.Seal(out, nonce, plain, additionalData(name))
}

func (s *Store) open(name string, sealed []byte) ([]byte, error) {
	n := len(magic) + s.aead.NonceSize()
	if len(sealed) < n || !bytes.Equal(sealed[:len(magic)], magic) {
		return nil, ErrCorrupt
	}
	return s.aead.Open(nil, sealed[len(magic):n], sealed[n:], additionalData(name))
}
