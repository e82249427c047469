// Package must turns expectations into immediate test failures: each
// function calls t.Fatalf when its expectation does not hold.
package must

import (
	"io"
	"net/http"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/matrix-org/dendrite/msc4244/test/match"
)

// MatchResponse checks res against want and returns the response body.
func MatchResponse(t testing.TB, res *http.Response, want match.HTTPResponse) []byte {
	t.Helper()
	body := ReadBody(t, res)
	if err := want.Check(res, body); err != nil {
		t.Fatalf("%s %s: %v\nbody: %s", res.Request.Method, res.Request.URL.Path, err, body)
	}
	return body
}

// MatchJSON checks doc against every matcher.
func MatchJSON(t testing.TB, doc gjson.Result, matchers ...match.JSON) {
	t.Helper()
	if err := match.All(matchers...)(doc); err != nil {
		t.Fatalf("%v\njson: %s", err, doc.Raw)
	}
}

// ParseJSON reads the body of res and parses it as JSON.
func ParseJSON(t testing.TB, res *http.Response) gjson.Result {
	t.Helper()
	body := ReadBody(t, res)
	if !gjson.ValidBytes(body) {
		t.Fatalf("%s %s: body is not JSON: %s", res.Request.Method, res.Request.URL.Path, body)
	}
	return gjson.ParseBytes(body)
}

// ReadBody reads and closes the body of res.
func ReadBody(t testing.TB, res *http.Response) []byte {
	t.Helper()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("reading response body: %v", err)
	}
	if err = res.Body.Close(); err != nil {
		t.Fatalf("closing response body: %v", err)
	}
	return body
}

// GetString returns the string at path in doc.
func GetString(t testing.TB, doc gjson.Result, path string) string {
	t.Helper()
	v := doc.Get(path)
	if v.Type != gjson.String {
		t.Fatalf("key %q is not a string: %s\njson: %s", path, v.Raw, doc.Raw)
	}
	return v.Str
}

// NotError fails the test when err is not nil.
func NotError(t testing.TB, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// Equal fails the test when got differs from want.
func Equal[T comparable](t testing.TB, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Fatalf("%s: got %v, want %v", what, got, want)
	}
}
