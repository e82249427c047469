package test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/matrix-org/dendrite/setup/config"

	"github.com/matrix-org/dendrite/msc4244/internal/devconfig"
	"github.com/matrix-org/dendrite/msc4244/test/harness"
)

// startupCase is a way to start the binary that must fail.
type startupCase struct {
	name string
	// args returns the command line; it may write files under dir.
	args func(t *testing.T, dir string) []string
	// want is a part of the expected error line.
	want string
}

// Startup with a broken configuration, an unreachable database or a busy
// port ends with exactly one error line on stderr and a non-zero exit
// status: no log noise, no panic trace.
func TestStartupFailureIsOneLine(t *testing.T) {
	binary := harness.Binary(t)
	harness.ForEachDatabase(t, func(t *testing.T, db harness.DB) {
		cases := []startupCase{
			{"missing config file", func(t *testing.T, dir string) []string {
				return []string{"--config", filepath.Join(dir, "absent.yaml")}
			}, "no such file or directory"},
			{"invalid YAML", func(t *testing.T, dir string) []string {
				path := filepath.Join(dir, "broken.yaml")
				writeFile(t, path, "global: [unclosed\n")
				return []string{"--config", path}
			}, "yaml"},
			{"config fails verification", func(t *testing.T, dir string) []string {
				return []string{"--config", baseConfig(t, db, dir, func(cfg *config.Dendrite) { cfg.Global.ServerName = "" })}
			}, "global.server_name"},
			{"missing signing key", func(t *testing.T, dir string) []string {
				path := baseConfig(t, db, dir, nil)
				if err := os.Remove(filepath.Join(dir, devconfig.KeyFile)); err != nil {
					t.Fatal(err)
				}
				return []string{"--config", path}
			}, "private_key"},
			{"unreachable Postgres", func(t *testing.T, dir string) []string {
				return []string{"--config", configWithDatabase(t, dir, "host=127.0.0.1 port=1 user=postgres dbname=none sslmode=disable")}
			}, "connection refused"},
			{"busy port", func(t *testing.T, dir string) []string {
				l, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { l.Close() }) // nolint: errcheck
				return []string{"--config", baseConfig(t, db, dir, nil), "--http-bind-address", l.Addr().String()}
			}, "address already in use"},
		}
		if db.IsPostgres() {
			cases = append(cases, startupCase{"missing Postgres database", func(t *testing.T, dir string) []string {
				return []string{"--config", configWithDatabase(t, dir, db.ConnectionString("h_absent_database"))}
			}, "does not exist"}, startupCase{"too many Postgres connections", func(t *testing.T, dir string) []string {
				return []string{"--config", baseConfig(t, db, dir, func(cfg *config.Dendrite) {
					cfg.Global.DatabaseOptions.MaxOpenConnections = 100000
				})}
			}, "max_open_conns"})
		} else {
			cases = append(cases, startupCase{"missing SQLite folder", func(t *testing.T, dir string) []string {
				return []string{"--config", baseConfig(t, db, dir, func(cfg *config.Dendrite) {
					cfg.RoomServer.Database.ConnectionString = config.DataSource("file:" + filepath.Join(dir, "absent", "rs.db"))
				})}
			}, "does not exist"})
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				dir := t.TempDir()
				// A case's own flags come last and so win.
				args := append([]string{"--really-enable-open-registration", "--http-bind-address", "127.0.0.1:0"}, c.args(t, dir)...)
				assertOneLineFailure(t, binary, args, c.want)
			})
		}
	})
}

// baseConfig writes a valid configuration on a new database of db into dir,
// changed by customize, and returns its path.
func baseConfig(t *testing.T, db harness.DB, dir string, customize func(*config.Dendrite)) string {
	t.Helper()
	return writeConfig(t, dir, db.NewDatabase(t), customize)
}

// configWithDatabase writes a configuration using the Postgres database uri.
func configWithDatabase(t *testing.T, dir, uri string) string {
	t.Helper()
	return writeConfig(t, dir, uri, nil)
}

func writeConfig(t *testing.T, dir, uri string, customize func(*config.Dendrite)) string {
	t.Helper()
	res, err := devconfig.Ensure(devconfig.Options{Dir: dir, ServerName: "127.0.0.1:1", DatabaseURI: uri, Customize: customize})
	if err != nil {
		t.Fatalf("writing config: %v", err)
	}
	return res.Path
}

func assertOneLineFailure(t *testing.T, binary string, args []string, want string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() <= 0 {
		t.Fatalf("want a non-zero exit status, got %v\nstdout: %s\nstderr: %s", err, &stdout, &stderr)
	}
	line := strings.TrimSuffix(stderr.String(), "\n")
	if stdout.Len() > 0 || line == "" || strings.Contains(line, "\n") {
		t.Fatalf("want exactly one line on stderr and nothing on stdout\nstdout: %s\nstderr: %s", &stdout, &stderr)
	}
	if !strings.HasPrefix(line, "dendrite: ") || !strings.Contains(line, want) {
		t.Fatalf("error line %q should start with \"dendrite: \" and mention %q", line, want)
	}
	for _, noise := range []string{"panic", "goroutine"} {
		if strings.Contains(line, noise) {
			t.Fatalf("error line %q mentions %q", line, noise)
		}
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
