package routing

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"

	"github.com/matrix-org/dendrite/clientapi/auth"
	userapi "github.com/matrix-org/dendrite/userapi/api"
	"github.com/matrix-org/util"

	"github.com/matrix-org/dendrite/msc4244/keyserver/api"
	"github.com/matrix-org/dendrite/msc4244/keyserver/internal"
)

// syncPath is the path of /sync on the Client router, as Dendrite serves it.
var syncPath = regexp.MustCompile(`^/_matrix/client/(r0|v3)/sync$`)

// Fields of the /sync answer the middleware adds.
const (
	fallbackKeyTypesField = `"device_unused_fallback_key_types"`
	keyCountsField        = `"device_one_time_keys_count"`
)

// SyncKeyCounts returns middleware for the Client router that completes a
// successful /sync with the device's key counts. userAPI must be the
// keyserver's UserAPI decorator, which counts KeyPackages as "mls" and
// records the counts in the request's context (internal.CountsRecorder).
//
//   - device_unused_fallback_key_types: ["mls"] when the device has a
//     last-resort KeyPackage, reported like an unused fallback key. Dendrite
//     has no fallback keys, so the field is otherwise absent, as it was.
//   - device_one_time_keys_count when Dendrite did not count keys: it does
//     only on incremental syncs (its device list stream's CompleteSync does
//     not), so without this an initial sync would not tell a new device
//     that the server holds no KeyPackages for it.
func SyncKeyCounts(userAPI userapi.UserInternalAPI) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if !syncPath.MatchString(req.URL.Path) {
				next.ServeHTTP(w, req)
				return
			}
			ctx, recorder := internal.WithCountsRecorder(req.Context())
			buffered := &bufferedResponse{header: w.Header(), status: http.StatusOK}
			next.ServeHTTP(buffered, req.WithContext(ctx))
			body := buffered.body.Bytes()
			if buffered.status == http.StatusOK {
				body = withCounts(ctx, userAPI, req, recorder, body)
				w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			}
			w.WriteHeader(buffered.status)
			_, _ = w.Write(body)
		})
	}
}

// withCounts adds the fields of SyncKeyCounts to a /sync answer. Failing to
// count leaves the answer as Dendrite wrote it, with a log line.
func withCounts(ctx context.Context, userAPI userapi.UserInternalAPI, req *http.Request, recorder *internal.CountsRecorder, body []byte) []byte {
	if _, counted := recorder.Counts(); !counted {
		counts, err := keyCounts(ctx, userAPI, req)
		if err != nil {
			util.GetLogger(ctx).WithError(err).Warn("keyserver: counting keys for an initial /sync")
			return body
		}
		body = withField(body, keyCountsField, counts)
	}
	if counts, ok := recorder.Counts(); ok && counts.LastResort {
		body = withField(body, fallbackKeyTypesField, []byte(`["`+api.Algorithm+`"]`))
	}
	return body
}

// keyCounts returns the encoded one-time key counts of the device whose
// access token req carries, as Dendrite's incremental syncs report them.
func keyCounts(ctx context.Context, userAPI userapi.UserInternalAPI, req *http.Request) ([]byte, error) {
	token, err := auth.ExtractAccessToken(req)
	if err != nil {
		return nil, err
	}
	var device userapi.QueryAccessTokenResponse
	if err = userAPI.QueryAccessToken(ctx, &userapi.QueryAccessTokenRequest{AccessToken: token}, &device); err != nil {
		return nil, err
	}
	if device.Device == nil {
		return nil, fmt.Errorf("the access token names no device")
	}
	var res userapi.QueryOneTimeKeysResponse
	err = userAPI.QueryOneTimeKeys(ctx, &userapi.QueryOneTimeKeysRequest{UserID: device.Device.UserID, DeviceID: device.Device.ID}, &res)
	if err == nil && res.Error != nil {
		err = res.Error
	}
	if err != nil {
		return nil, err
	}
	return json.Marshal(res.Count.KeyCount)
}

// withField adds "field": value to a JSON object that does not have the
// field (body unchanged if it is not an object).
func withField(body []byte, field string, value []byte) []byte {
	trimmed := bytes.TrimRight(body, " \t\r\n")
	if !bytes.HasSuffix(trimmed, []byte("}")) {
		return body
	}
	out := bytes.Clone(trimmed[:len(trimmed)-1])
	if !bytes.HasSuffix(bytes.TrimRight(out, " \t\r\n"), []byte("{")) {
		out = append(out, ',')
	}
	out = append(out, field...)
	out = append(out, ':')
	out = append(out, value...)
	return append(out, '}')
}

// bufferedResponse holds a response until the middleware has seen it.
type bufferedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header         { return b.header }
func (b *bufferedResponse) WriteHeader(status int)      { b.status = status }
func (b *bufferedResponse) Write(p []byte) (int, error) { return b.body.Write(p) }
