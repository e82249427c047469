package store

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"golang.org/x/crypto/argon2"
)

// header is store.json.
type header struct {
	Format int `json:"format"`
	// KDF is "argon2id" (a passphrase) or "keyfile".
	KDF    string        `json:"kdf"`
	Salt   []byte        `json:"salt"`
	Argon2 *Argon2Params `json:"argon2,omitempty"`
	// Check is checkText sealed as the record "check".
	Check []byte `json:"check"`
}

// Argon2Params are the Argon2id costs of a passphrase store.
type Argon2Params struct {
	Time      uint32 `json:"time"`
	MemoryKiB uint32 `json:"memory_kib"`
	Threads   uint8  `json:"threads"`
}

// DefaultArgon2 follows RFC 9106's second recommended option (64 MiB).
var DefaultArgon2 = Argon2Params{Time: 3, MemoryKiB: 64 * 1024, Threads: 4}

// Key is what unlocks a store: a passphrase or a key file.
type Key struct {
	passphrase []byte
	file       string
	argon2     Argon2Params
}

// Passphrase is a key derived from a passphrase with Argon2id at the
// default costs.
func Passphrase(p string) Key { return Key{passphrase: []byte(p), argon2: DefaultArgon2} }

// PassphraseWithCost is Passphrase with other Argon2id costs for new
// stores (tests use small ones); an existing store keeps its own.
func PassphraseWithCost(p string, cost Argon2Params) Key {
	return Key{passphrase: []byte(p), argon2: cost}
}

// KeyFile is a key read from the file at path, made by GenerateKeyFile.
func KeyFile(path string) Key { return Key{file: path} }

// keyFileSize is the size of a key file's key.
const keyFileSize = 32

// GenerateKeyFile writes a new random key to path (mode 0600). It refuses
// to overwrite a file.
func GenerateKeyFile(path string) error {
	key := make([]byte, keyFileSize)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("store: key file: %w", err)
	}
	_, err = f.WriteString(base64.StdEncoding.EncodeToString(key) + "\n")
	if err = errors.Join(err, f.Sync(), f.Close()); err != nil {
		return fmt.Errorf("store: key file: %w", err)
	}
	return nil
}

func (k Key) describe(h *header) {
	if k.file != "" {
		h.KDF = "keyfile"
		return
	}
	cost := k.argon2
	h.KDF, h.Argon2 = "argon2id", &cost
}

// matches checks that k is the kind of key the store was made with.
func (k Key) matches(h *header) error {
	switch {
	case h.KDF == "keyfile" && k.file == "":
		return fmt.Errorf("store: this store is opened with a key file, not a passphrase")
	case h.KDF == "argon2id" && k.file != "":
		return fmt.Errorf("store: this store is opened with a passphrase, not a key file")
	case h.KDF == "argon2id" && h.Argon2 == nil:
		return fmt.Errorf("store: %s lacks the Argon2id costs", headerFile)
	case h.KDF != "keyfile" && h.KDF != "argon2id":
		return fmt.Errorf("store: %s names an unknown key derivation %q", headerFile, h.KDF)
	}
	return nil
}

// derive returns the store's master key.
func (k Key) derive(h *header) ([]byte, error) {
	if h.KDF == "keyfile" {
		return readKeyFile(k.file)
	}
	if len(k.passphrase) == 0 {
		return nil, fmt.Errorf("store: empty passphrase")
	}
	c := h.Argon2
	if c.Time == 0 || c.MemoryKiB < 8*uint32(c.Threads) || c.Threads == 0 || c.MemoryKiB > 4<<20 {
		return nil, fmt.Errorf("store: unusable Argon2id costs in %s: %+v", headerFile, *c)
	}
	return argon2.IDKey(k.passphrase, h.Salt, c.Time, c.MemoryKiB, c.Threads, 32), nil
}

func readKeyFile(path string) ([]byte, error) {
	info, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("store: key file %s does not exist", path)
	}
	if err != nil {
		return nil, fmt.Errorf("store: key file: %w", err)
	}
	if info.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("store: key file %s is readable by others (mode %v); chmod 600 it", path, info.Mode().Perm())
	}
	text, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("store: key file: %w", err)
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(text)))
	if err != nil || len(key) != keyFileSize {
		return nil, fmt.Errorf("store: key file %s does not hold a base64 key of %d bytes", path, keyFileSize)
	}
	return key, nil
}
