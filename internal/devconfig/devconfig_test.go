package devconfig

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/matrix-org/dendrite/setup/config"
)

func TestEnsureGeneratesThenReuses(t *testing.T) {
	dir := t.TempDir()
	opts := Options{Dir: dir, ServerName: "127.0.0.1:8448"}
	first, err := Ensure(opts)
	if err != nil {
		t.Fatal(err)
	}
	if !first.Created {
		t.Fatal("first Ensure did not report a new configuration")
	}
	key := readFile(t, filepath.Join(dir, KeyFile))
	cfgData := readFile(t, first.Path)

	opts.ServerName = "other.example" // ignored: the configuration exists
	second, err := Ensure(opts)
	if err != nil {
		t.Fatal(err)
	}
	if second.Created {
		t.Fatal("second Ensure reported a new configuration")
	}
	if !bytes.Equal(readFile(t, filepath.Join(dir, KeyFile)), key) || !bytes.Equal(readFile(t, first.Path), cfgData) {
		t.Fatal("second Ensure changed the key or the configuration")
	}
	if second.Config.Global.ServerName != "127.0.0.1:8448" {
		t.Fatalf("server name %q, want the first one", second.Config.Global.ServerName)
	}
	if s := second.Config.ClientAPI.RegistrationSharedSecret; s == "" || s != first.Config.ClientAPI.RegistrationSharedSecret {
		t.Fatalf("shared secret %q not kept", s)
	}
	if !second.Config.Global.PrivateKey.Equal(first.Config.Global.PrivateKey) || second.Config.Global.KeyID != first.Config.Global.KeyID {
		t.Fatal("signing key not kept")
	}
}

func TestEnsureKeepsAnExistingKey(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	orig, err := Ensure(Options{Dir: src, ServerName: "a.example"})
	if err != nil {
		t.Fatal(err)
	}
	if err = os.WriteFile(filepath.Join(dst, KeyFile), readFile(t, filepath.Join(src, KeyFile)), 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := Ensure(Options{Dir: dst, ServerName: "a.example"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Config.Global.KeyID != orig.Config.Global.KeyID || !res.Config.Global.PrivateKey.Equal(orig.Config.Global.PrivateKey) {
		t.Fatal("a key already in the data folder was not used")
	}
}

// The generated configuration passes Dendrite's verification (with
// --really-enable-open-registration) and keeps every file in the data folder.
func TestGeneratedSQLiteConfig(t *testing.T) {
	dir := t.TempDir()
	res, err := Ensure(Options{Dir: dir, ServerName: "127.0.0.1:8448"})
	if err != nil {
		t.Fatal(err)
	}
	cfg := res.Config
	cfg.ClientAPI.OpenRegistrationWithoutVerificationEnabled = true
	var errs config.ConfigErrors
	cfg.Verify(&errs)
	if len(errs) > 0 {
		t.Fatalf("Verify: %v", []string(errs))
	}
	if cfg.Global.DatabaseOptions.ConnectionString != "" {
		t.Fatalf("global database %q, want none with SQLite", cfg.Global.DatabaseOptions.ConnectionString)
	}
	paths := []string{
		string(cfg.RoomServer.Database.ConnectionString),
		string(cfg.UserAPI.AccountDatabase.ConnectionString),
		string(cfg.Global.JetStream.StoragePath),
		string(cfg.MediaAPI.BasePath),
		string(cfg.Global.PrivateKeyPath),
	}
	for _, p := range paths {
		if !strings.HasPrefix(strings.TrimPrefix(p, "file:"), dir+string(filepath.Separator)) {
			t.Errorf("%q is outside the data folder %s", p, dir)
		}
	}
	if cfg.ClientAPI.RegistrationDisabled || cfg.FederationAPI.DisableTLSValidation || len(cfg.FederationAPI.KeyPerspectives) > 0 {
		t.Error("want open registration, TLS validation and no key perspectives")
	}
	if cfg.Global.JetStream.InMemory {
		t.Error("JetStream must keep its data on disk, to survive restarts")
	}
}

func TestGeneratedPostgresConfig(t *testing.T) {
	const uri = "postgres://dendrite@127.0.0.1/dendrite?sslmode=disable"
	res, err := Ensure(Options{
		Dir:         t.TempDir(),
		ServerName:  "hs.example",
		DatabaseURI: uri,
		Customize:   func(cfg *config.Dendrite) { cfg.Global.DatabaseOptions.MaxOpenConnections = 7 },
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg := res.Config
	if cfg.Global.DatabaseOptions.ConnectionString != uri || cfg.Global.DatabaseOptions.MaxOpenConnections != 7 ||
		cfg.Global.DatabaseOptions.MaxIdleConnections != 7 {
		t.Fatalf("global database %+v", cfg.Global.DatabaseOptions)
	}
	if cfg.RoomServer.Database.ConnectionString != "" {
		t.Fatalf("roomserver has its own database %q, want the global one", cfg.RoomServer.Database.ConnectionString)
	}
}

func TestEnsureNeedsServerName(t *testing.T) {
	if _, err := Ensure(Options{Dir: t.TempDir()}); err == nil {
		t.Fatal("Ensure without a server name succeeded")
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
