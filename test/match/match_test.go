package match

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/tidwall/gjson"
)

const doc = `{"room_id":"!r:127.0.0.1:8448","n":1,"obj":{"a":[1,2]},"events":[{"type":"m.a"},{"type":"m.b","x":true}]}`

func TestJSONMatchers(t *testing.T) {
	d := gjson.Parse(doc)
	pass := map[string]JSON{
		"equal string":       JSONKeyEqual("room_id", "!r:127.0.0.1:8448"),
		"equal number":       JSONKeyEqual("n", 1.0),
		"equal object":       JSONKeyEqual("obj", map[string]any{"a": []int{1, 2}}),
		"present":            JSONKeyPresent("obj.a.1"),
		"missing":            JSONKeyMissing("nope"),
		"type":               JSONKeyType("n", gjson.Number),
		"each":               JSONArrayEach("events", JSONKeyPresent("type")),
		"any":                JSONArrayAny("events", JSONKeyEqual("type", "m.b"), JSONKeyEqual("x", true)),
		"escaped room path":  JSONKeyPresent(gjson.Escape("room_id")),
		"all of two matches": All(JSONKeyPresent("n"), JSONKeyMissing("m")),
	}
	for name, m := range pass {
		if err := m(d); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	fail := map[string]JSON{
		"equal differs":  JSONKeyEqual("n", 2),
		"equal missing":  JSONKeyEqual("nope", 1),
		"present":        JSONKeyPresent("obj.b"),
		"missing":        JSONKeyMissing("n"),
		"type":           JSONKeyType("room_id", gjson.Number),
		"each":           JSONArrayEach("events", JSONKeyPresent("x")),
		"any":            JSONArrayAny("events", JSONKeyEqual("type", "m.a"), JSONKeyEqual("x", true)),
		"not an array":   JSONArrayAny("obj", JSONKeyPresent("a")),
		"one of all bad": All(JSONKeyPresent("n"), JSONKeyPresent("m")),
	}
	for name, m := range fail {
		if err := m(d); err == nil {
			t.Errorf("%s: matched, want an error", name)
		}
	}
}

func TestHTTPResponseCheck(t *testing.T) {
	res := &http.Response{
		StatusCode: 403,
		Header:     http.Header{"Content-Type": []string{"application/json"}},
		Body:       io.NopCloser(bytes.NewReader(nil)),
	}
	body := []byte(`{"errcode":"M_FORBIDDEN","error":"no"}`)
	if err := MatrixError(403, "M_FORBIDDEN").Check(res, body); err != nil {
		t.Errorf("MatrixError: %v", err)
	}
	want := HTTPResponse{StatusCode: 200, Headers: map[string]string{"Content-Type": "text/plain"}, JSON: []JSON{JSONKeyEqual("errcode", "M_UNKNOWN")}}
	err := want.Check(res, body)
	if err == nil {
		t.Fatal("mismatching response passed")
	}
	for _, part := range []string{"status 403, want 200", "Content-Type", "errcode"} {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("error %q does not mention %q", err, part)
		}
	}
	if err = (HTTPResponse{JSON: []JSON{JSONKeyPresent("a")}}).Check(res, []byte("<html>")); err == nil {
		t.Error("a non-JSON body passed a JSON expectation")
	}
}
