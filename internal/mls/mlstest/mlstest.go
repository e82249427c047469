// Package mlstest loads the IETF MLS working group's test vectors for tests.
//
// The vectors live outside the repository. They are found through the
// environment variable MLS_TEST_VECTORS, or at ../shared/mls-test-vectors
// relative to the repository root. When they are absent a test is skipped,
// unless MLS_REQUIRE_VECTORS=1 (set by CI), in which case it fails.
package mlstest

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Dir returns the vectors folder, or "" when it cannot be found.
func Dir() string {
	if dir := os.Getenv("MLS_TEST_VECTORS"); dir != "" {
		return dir
	}
	wd, err := os.Getwd()
	if err != nil {
		return ""
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			candidate := filepath.Join(dir, "..", "shared", "mls-test-vectors")
			if _, err := os.Stat(candidate); err == nil {
				return candidate
			}
			return ""
		}
		if filepath.Dir(dir) == dir {
			return ""
		}
	}
}

// Load decodes the JSON vector file name into v. It skips the test when the
// folder is missing, or fails it when MLS_REQUIRE_VECTORS=1.
func Load(t testing.TB, name string, v any) {
	t.Helper()
	dir := Dir()
	if dir == "" {
		if os.Getenv("MLS_REQUIRE_VECTORS") == "1" {
			t.Fatalf("MLS test vectors required but not found: set MLS_TEST_VECTORS")
		}
		t.Skipf("MLS test vectors not found: set MLS_TEST_VECTORS to run %s", name)
	}
	data, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatalf("reading vectors: %v", err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("decoding %s: %v", name, err)
	}
}

// Hex is a byte string that unmarshals from a lowercase hex JSON string.
type Hex []byte

// UnmarshalJSON implements json.Unmarshaler.
func (h *Hex) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return err
	}
	b, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return err
	}
	*h = b
	return nil
}

// MarshalJSON implements json.Marshaler.
func (h Hex) MarshalJSON() ([]byte, error) {
	return json.Marshal(hex.EncodeToString(h))
}
