package routing

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	synctypes "github.com/matrix-org/dendrite/syncapi/types"
	userapi "github.com/matrix-org/dendrite/userapi/api"

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

func TestWithField(t *testing.T) {
	for in, want := range map[string]string{
		`{"next_batch":"s1"}`:        `{"next_batch":"s1","device_unused_fallback_key_types":["mls"]}`,
		"{\"a\":{\"b\":1}}\n":        `{"a":{"b":1},"device_unused_fallback_key_types":["mls"]}`,
		`{}`:                         `{"device_unused_fallback_key_types":["mls"]}`,
		` { } `:                      ` { "device_unused_fallback_key_types":["mls"]}`,
		`["not an object"]`:          `["not an object"]`,
		`{"x":"}"}`:                  `{"x":"}","device_unused_fallback_key_types":["mls"]}`,
		`{"errcode":"M_UNKNOWN"}   `: `{"errcode":"M_UNKNOWN","device_unused_fallback_key_types":["mls"]}`,
	} {
		got := string(withField([]byte(in), fallbackKeyTypesField, []byte(`["mls"]`)))
		if got != want {
			t.Errorf("withField(%q) = %q, want %q", in, got, want)
		}
		if want != in && !json.Valid([]byte(got)) {
			t.Errorf("withField(%q) is not JSON", in)
		}
	}
}

// handler answers like the sync handler: on an incremental sync it asks for
// counts (here recorded directly), then writes JSON.
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

// countingUserAPI knows one access token, and counts keys as the keyserver's
// decorator does: one-time counts answered, KeyPackage counts recorded.
type countingUserAPI struct {
	userapi.UserInternalAPI
	counts api.KeyPackageCounts
}

func (u *countingUserAPI) QueryAccessToken(_ context.Context, req *userapi.QueryAccessTokenRequest, res *userapi.QueryAccessTokenResponse) error {
	if req.AccessToken == "token" {
		res.Device = &userapi.Device{UserID: "@alice:example.org", ID: "DEV"}
	}
	return nil
}

func (u *countingUserAPI) QueryOneTimeKeys(ctx context.Context, req *userapi.QueryOneTimeKeysRequest, res *userapi.QueryOneTimeKeysResponse) error {
	if req.UserID != "@alice:example.org" || req.DeviceID != "DEV" {
		return fmt.Errorf("counted keys of %s %s", req.UserID, req.DeviceID)
	}
	res.Count.KeyCount = map[string]int{api.Algorithm: u.counts.OneTime, "signed_curve25519": 2}
	internal.RecordCounts(ctx, u.counts)
	return nil
}

func TestSyncKeyCounts(t *testing.T) {
	lastResort := &api.KeyPackageCounts{LastResort: true}
	for _, tc := range []struct {
		path     string
		token    string
		recorded *api.KeyPackageCounts // counted by Dendrite (an incremental sync)
		stored   api.KeyPackageCounts  // what the keyserver holds
		status   int
		want     string
	}{
		{"/_matrix/client/v3/sync", "token", lastResort, *lastResort, 200, `{"next_batch":"s1","device_unused_fallback_key_types":["mls"]}`},
		{"/_matrix/client/r0/sync", "token", &api.KeyPackageCounts{OneTime: 3}, api.KeyPackageCounts{OneTime: 3}, 200, `{"next_batch":"s1"}`},
		// An initial sync: Dendrite counted nothing.
		{"/_matrix/client/v3/sync", "token", nil, api.KeyPackageCounts{OneTime: 3, LastResort: true}, 200,
			`{"next_batch":"s1","device_one_time_keys_count":{"mls":3,"signed_curve25519":2},"device_unused_fallback_key_types":["mls"]}`},
		{"/_matrix/client/v3/sync", "token", nil, api.KeyPackageCounts{}, 200,
			`{"next_batch":"s1","device_one_time_keys_count":{"mls":0,"signed_curve25519":2}}`},
		{"/_matrix/client/v3/sync", "unknown", nil, *lastResort, 200, `{"next_batch":"s1"}`},
		{"/_matrix/client/v3/sync", "token", lastResort, *lastResort, 500, `{"next_batch":"s1"}`},
		{"/_matrix/client/v3/syncx", "token", lastResort, *lastResort, 200, `{"next_batch":"s1"}`},
		{"/_matrix/client/v3/keys/upload", "token", nil, *lastResort, 200, `{"next_batch":"s1"}`},
	} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequestWithContext(context.Background(), http.MethodGet, tc.path, nil)
		req.Header.Set("Authorization", "Bearer "+tc.token)
		SyncKeyCounts(&countingUserAPI{counts: tc.stored})(handler(tc.recorded, tc.status)).ServeHTTP(rec, req)
		if rec.Code != tc.status || rec.Body.String() != tc.want || rec.Header().Get("Content-Type") != "application/json" {
			t.Errorf("%s %s %+v %d: got %d %s, want %s", tc.path, tc.token, tc.recorded, tc.status, rec.Code, rec.Body.String(), tc.want)
		}
	}
}
