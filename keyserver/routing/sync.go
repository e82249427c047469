package routing

import (
	"bytes"
	"net/http"
	"regexp"
	"strconv"

	"github.com/matrix-org/dendrite/msc4244/keyserver/api"
	"github.com/matrix-org/dendrite/msc4244/keyserver/internal"
)

// syncPath is the path of /sync on the Client router, as Dendrite serves it.
var syncPath = regexp.MustCompile(`^/_matrix/client/(r0|v3)/sync$`)

const fallbackKeyTypesField = `"device_unused_fallback_key_types"`

// SyncFallbackKeys is middleware for the Client router. On a successful
// /sync it adds device_unused_fallback_key_types: ["mls"] when the device
// has a last-resort KeyPackage, reported like an unused fallback key.
// Dendrite has no fallback keys, so the field is otherwise absent, as it
// was. The counts come from the user API decorator through the request
// context (see internal.CountsRecorder).
func SyncFallbackKeys(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if !syncPath.MatchString(req.URL.Path) {
			next.ServeHTTP(w, req)
			return
		}
		ctx, recorder := internal.WithCountsRecorder(req.Context())
		buffered := &bufferedResponse{header: w.Header(), status: http.StatusOK}
		next.ServeHTTP(buffered, req.WithContext(ctx))
		body := buffered.body.Bytes()
		if counts, ok := recorder.Counts(); ok && counts.LastResort && buffered.status == http.StatusOK {
			body = withFallbackKeyTypes(body)
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		}
		w.WriteHeader(buffered.status)
		_, _ = w.Write(body)
	})
}

// withFallbackKeyTypes adds the field to a JSON object (body unchanged if
// it is not one). Dendrite's sync response has no such field of its own
// (guarded by a test).
func withFallbackKeyTypes(body []byte) []byte {
	trimmed := bytes.TrimRight(body, " \t\r\n")
	if !bytes.HasSuffix(trimmed, []byte("}")) {
		return body
	}
	field := fallbackKeyTypesField + `:["` + api.Algorithm + `"]}`
	out := bytes.Clone(trimmed[:len(trimmed)-1])
	if !bytes.HasSuffix(bytes.TrimRight(out, " \t\r\n"), []byte("{")) {
		out = append(out, ',')
	}
	return append(out, field...)
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
