package routing

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	synctypes "github.com/matrix-org/dendrite/syncapi/types"

	"github.com/matrix-org/dendrite/msc4244/keyserver/api"
	"github.com/matrix-org/dendrite/msc4244/keyserver/internal"
)

// The middleware adds the field instead of merging into Dendrite's: this
// fails when Dendrite starts writing it itself.
func TestDendriteSyncHasNoFallbackKeyTypes(t *testing.T) {
	typ := reflect.TypeOf(synctypes.Response{})
	for i := range typ.NumField() {
		if strings.Split(typ.Field(i).Tag.Get("json"), ",")[0] == strings.Trim(fallbackKeyTypesField, `"`) {
			t.Fatalf("Dendrite's sync response has %s itself (field %s)", fallbackKeyTypesField, typ.Field(i).Name)
		}
	}
}

func TestWithFallbackKeyTypes(t *testing.T) {
	for in, want := range map[string]string{
		`{"next_batch":"s1"}`:        `{"next_batch":"s1","device_unused_fallback_key_types":["mls"]}`,
		"{\"a\":{\"b\":1}}\n":        `{"a":{"b":1},"device_unused_fallback_key_types":["mls"]}`,
		`{}`:                         `{"device_unused_fallback_key_types":["mls"]}`,
		` { } `:                      ` { "device_unused_fallback_key_types":["mls"]}`,
		`["not an object"]`:          `["not an object"]`,
		`{"x":"}"}`:                  `{"x":"}","device_unused_fallback_key_types":["mls"]}`,
		`{"errcode":"M_UNKNOWN"}   `: `{"errcode":"M_UNKNOWN","device_unused_fallback_key_types":["mls"]}`,
	} {
		got := string(withFallbackKeyTypes([]byte(in)))
		if got != want {
			t.Errorf("withFallbackKeyTypes(%q) = %q, want %q", in, got, want)
		}
		if want != in && !json.Valid([]byte(got)) {
			t.Errorf("withFallbackKeyTypes(%q) is not JSON", in)
		}
	}
}

// handler answers like the sync handler: it asks for counts (here recorded
// directly), then writes JSON.
func handler(counts *api.KeyPackageCounts, status int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if counts != nil {
			internal.RecordCounts(req.Context(), *counts)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(`{"next_batch":"s1"}`))
	})
}

func TestSyncFallbackKeys(t *testing.T) {
	for _, tc := range []struct {
		path   string
		counts *api.KeyPackageCounts
		status int
		added  bool
	}{
		{"/_matrix/client/v3/sync", &api.KeyPackageCounts{LastResort: true}, 200, true},
		{"/_matrix/client/r0/sync", &api.KeyPackageCounts{OneTime: 3, LastResort: true}, 200, true},
		{"/_matrix/client/v3/sync", &api.KeyPackageCounts{OneTime: 3}, 200, false},
		{"/_matrix/client/v3/sync", nil, 200, false},
		{"/_matrix/client/v3/sync", &api.KeyPackageCounts{LastResort: true}, 500, false},
		{"/_matrix/client/v3/syncx", &api.KeyPackageCounts{LastResort: true}, 200, false},
		{"/_matrix/client/v3/keys/upload", &api.KeyPackageCounts{LastResort: true}, 200, false},
	} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequestWithContext(context.Background(), http.MethodGet, tc.path, nil)
		SyncFallbackKeys(handler(tc.counts, tc.status)).ServeHTTP(rec, req)
		body := rec.Body.String()
		if rec.Code != tc.status || strings.Contains(body, "device_unused_fallback_key_types") != tc.added ||
			rec.Header().Get("Content-Type") != "application/json" {
			t.Errorf("%s %+v %d: got %d %s", tc.path, tc.counts, tc.status, rec.Code, body)
		}
	}
}
