// Package devconfig writes a ready-to-run Dendrite configuration for a
// development or test homeserver: a signing key, SQLite files (or one
// Postgres database) and JetStream storage under one data folder, open
// registration with a random shared secret, and no outside key servers.
//
// It is used by cmd/devserver (`make run`) and by the test harness, so that
// both run the homeserver with the same settings. Files that already exist are
// reused, never overwritten.
package devconfig

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/matrix-org/dendrite/setup/config"
	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"gopkg.in/yaml.v2"

	"github.com/matrix-org/dendrite/msc4244/internal/atomicfile"
)

// File names inside the data folder.
const (
	ConfigFile = "dendrite.yaml"
	KeyFile    = "matrix_key.pem"
)

// Options describe the homeserver to configure.
type Options struct {
	// Dir is the data folder; it is created when missing. Paths written into
	// the configuration are absolute.
	Dir string
	// ServerName is the homeserver's name, e.g. "127.0.0.1:8448".
	ServerName spec.ServerName
	// DatabaseURI, when set, is a Postgres connection string used by every
	// component. When empty each component gets an SQLite file in Dir.
	DatabaseURI string
	// DisableTLSValidation sets federation_api.disable_tls_validation.
	DisableTLSValidation bool
	// Customize, when set, may change the configuration before it is first
	// written. It is not called when an existing configuration is reused.
	Customize func(*config.Dendrite)
}

// Result describes the configuration in the data folder.
type Result struct {
	// Path is the absolute path of the configuration file.
	Path string
	// Created tells whether this call wrote the configuration.
	Created bool
	// Config is the configuration as Dendrite loads it.
	Config *config.Dendrite
}

// Ensure writes a signing key and a configuration into o.Dir unless they are
// already there, and returns the configuration as Dendrite loads it.
func Ensure(o Options) (*Result, error) {
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, err
	}
	res := &Result{Path: filepath.Join(dir, ConfigFile)}
	if _, err = os.Stat(res.Path); errors.Is(err, os.ErrNotExist) {
		if err = create(dir, res.Path, o); err != nil {
			return nil, err
		}
		res.Created = true
	} else if err != nil {
		return nil, err
	}
	if res.Config, err = config.Load(res.Path); err != nil {
		return nil, fmt.Errorf("loading %s: %w", res.Path, err)
	}
	return res, nil
}

func create(dir, path string, o Options) error {
	if o.ServerName == "" {
		return errors.New("devconfig: a server name is required")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	keyPath := filepath.Join(dir, KeyFile)
	keyID, err := ensureSigningKey(keyPath)
	if err != nil {
		return err
	}
	secret, err := randomHex(32)
	if err != nil {
		return err
	}
	cfg := build(dir, secret, o)
	cfg.Global.PrivateKeyPath = config.Path(keyPath)
	cfg.Global.KeyID = keyID
	if o.Customize != nil {
		o.Customize(cfg)
	}
	// Dendrite's default keeps 2 idle connections: a burst (a fan-out to
	// hundreds of devices) then closes every other connection as it is
	// released and opens a new one, a Postgres backend started each time,
	// which took most of the CPU of such bursts. Set last, so that it follows
	// a max_open_conns that Customize chose.
	if o.DatabaseURI != "" {
		cfg.Global.DatabaseOptions.MaxIdleConnections = cfg.Global.DatabaseOptions.MaxOpenConnections
	}
	data, err := yaml.Marshal(cfg)
	if err != nil {
		return err
	}
	return atomicfile.Write(path, data, 0o600)
}

func build(dir, secret string, o Options) *config.Dendrite {
	cfg := &config.Dendrite{}
	cfg.Defaults(config.DefaultOpts{Generate: true, SingleDatabase: true})

	cfg.Global.ServerName = o.ServerName
	cfg.Global.TrustedIDServers = nil
	cfg.Global.JetStream.StoragePath = config.Path(filepath.Join(dir, "jetstream"))
	cfg.Global.JetStream.InMemory = false
	cfg.Logging = nil // Dendrite then logs to stdout/stderr only

	if o.DatabaseURI != "" {
		cfg.Global.DatabaseOptions.ConnectionString = config.DataSource(o.DatabaseURI)
	} else {
		for name, db := range componentDatabases(cfg) {
			db.ConnectionString = config.DataSource("file:" + filepath.Join(dir, "dendrite_"+name+".db"))
		}
	}

	cfg.ClientAPI.RegistrationDisabled = false
	cfg.ClientAPI.RegistrationSharedSecret = secret
	cfg.ClientAPI.RateLimiting.Enabled = false

	cfg.FederationAPI.KeyPerspectives = nil // fetch keys from each server itself
	cfg.FederationAPI.DisableTLSValidation = o.DisableTLSValidation

	cfg.MediaAPI.BasePath = config.Path(filepath.Join(dir, "media"))
	cfg.SyncAPI.Fulltext.IndexPath = config.Path(filepath.Join(dir, "searchindex"))
	return cfg
}

// componentDatabases lists the per-component database settings, by name.
func componentDatabases(cfg *config.Dendrite) map[string]*config.DatabaseOptions {
	return map[string]*config.DatabaseOptions{
		"federationapi": &cfg.FederationAPI.Database,
		"keyserver":     &cfg.KeyServer.Database,
		"mediaapi":      &cfg.MediaAPI.Database,
		"mscs":          &cfg.MSCs.Database,
		"relayapi":      &cfg.RelayAPI.Database,
		"roomserver":    &cfg.RoomServer.Database,
		"syncapi":       &cfg.SyncAPI.Database,
		"userapi":       &cfg.UserAPI.AccountDatabase,
	}
}

// ensureSigningKey writes a new ed25519 Matrix signing key in the PEM form
// Dendrite reads ("MATRIX PRIVATE KEY" with a Key-ID header) unless path
// already holds one, and returns the key's ID.
func ensureSigningKey(path string) (gomatrixserverlib.KeyID, error) {
	keyID, _, err := config.LoadMatrixKey(path, os.ReadFile)
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		return keyID, err
	}
	seed := make([]byte, ed25519.SeedSize)
	if _, err = rand.Read(seed); err != nil {
		return "", err
	}
	id, err := randomHex(4)
	if err != nil {
		return "", err
	}
	keyID = gomatrixserverlib.KeyID("ed25519:" + id)
	block := &pem.Block{
		Type:    "MATRIX PRIVATE KEY",
		Headers: map[string]string{"Key-ID": string(keyID)},
		Bytes:   seed,
	}
	return keyID, atomicfile.Write(path, pem.EncodeToMemory(block), 0o600)
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}
