// Package match describes what an HTTP response or a JSON document is
// expected to hold. Matchers return an error saying what differs; package
// must turns those errors into test failures.
//
// JSON paths use gjson syntax (https://github.com/tidwall/gjson): "a.b",
// "events.0.type", "rooms.join." + gjson.Escape(roomID).
package match

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"

	"github.com/tidwall/gjson"
)

// JSON checks one aspect of a JSON document.
type JSON func(doc gjson.Result) error

// JSONKeyEqual expects the value at path to equal want, compared as JSON
// (so 1 and 1.0 are equal, and maps compare by content).
func JSONKeyEqual(path string, want any) JSON {
	return func(doc gjson.Result) error {
		got := doc.Get(path)
		if !got.Exists() {
			return fmt.Errorf("key %q missing", path)
		}
		wantJSON, err := json.Marshal(want)
		if err != nil {
			return fmt.Errorf("key %q: cannot encode expected value: %w", path, err)
		}
		var gotValue, wantValue any
		if err = json.Unmarshal([]byte(got.Raw), &gotValue); err != nil {
			return fmt.Errorf("key %q: %w", path, err)
		}
		if err = json.Unmarshal(wantJSON, &wantValue); err != nil {
			return fmt.Errorf("key %q: %w", path, err)
		}
		if !reflect.DeepEqual(gotValue, wantValue) {
			return fmt.Errorf("key %q is %s, want %s", path, got.Raw, wantJSON)
		}
		return nil
	}
}

// JSONKeyPresent expects a value at path.
func JSONKeyPresent(path string) JSON {
	return func(doc gjson.Result) error {
		if !doc.Get(path).Exists() {
			return fmt.Errorf("key %q missing", path)
		}
		return nil
	}
}

// JSONKeyMissing expects no value at path.
func JSONKeyMissing(path string) JSON {
	return func(doc gjson.Result) error {
		if got := doc.Get(path); got.Exists() {
			return fmt.Errorf("key %q present (%s), want it missing", path, got.Raw)
		}
		return nil
	}
}

// JSONKeyType expects the value at path to have JSON type typ (gjson.JSON
// stands for both objects and arrays).
func JSONKeyType(path string, typ gjson.Type) JSON {
	return func(doc gjson.Result) error {
		got := doc.Get(path)
		if !got.Exists() {
			return fmt.Errorf("key %q missing", path)
		}
		if got.Type != typ {
			return fmt.Errorf("key %q is %s, want type %s", path, got.Raw, typ)
		}
		return nil
	}
}

// JSONArrayEach expects an array at path whose every element passes check.
func JSONArrayEach(path string, check func(elem gjson.Result) error) JSON {
	return func(doc gjson.Result) error {
		arr := doc.Get(path)
		if !arr.IsArray() {
			return fmt.Errorf("key %q is not an array: %s", path, arr.Raw)
		}
		for i, elem := range arr.Array() {
			if err := check(elem); err != nil {
				return fmt.Errorf("%s.%d: %w", path, i, err)
			}
		}
		return nil
	}
}

// JSONArrayAny expects an array at path with at least one element that
// passes all of checks.
func JSONArrayAny(path string, checks ...JSON) JSON {
	return func(doc gjson.Result) error {
		arr := doc.Get(path)
		if !arr.IsArray() {
			return fmt.Errorf("key %q is not an array: %s", path, arr.Raw)
		}
		for _, elem := range arr.Array() {
			if All(checks...)(elem) == nil {
				return nil
			}
		}
		return fmt.Errorf("no element of %q matches: %s", path, arr.Raw)
	}
}

// All combines checks into one that reports every failure.
func All(checks ...JSON) JSON {
	return func(doc gjson.Result) error {
		var errs []error
		for _, check := range checks {
			if err := check(doc); err != nil {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	}
}

// HTTPResponse describes an expected HTTP response. Zero fields are not
// checked.
type HTTPResponse struct {
	StatusCode int
	Headers    map[string]string
	JSON       []JSON
}

// Check compares a response, whose body has been read into body, with the
// expectation.
func (m HTTPResponse) Check(res *http.Response, body []byte) error {
	var errs []error
	if m.StatusCode != 0 && res.StatusCode != m.StatusCode {
		errs = append(errs, fmt.Errorf("status %d, want %d", res.StatusCode, m.StatusCode))
	}
	for name, want := range m.Headers {
		if got := res.Header.Get(name); got != want {
			errs = append(errs, fmt.Errorf("header %s is %q, want %q", name, got, want))
		}
	}
	if len(m.JSON) > 0 {
		if !gjson.ValidBytes(body) {
			errs = append(errs, errors.New("body is not JSON"))
		} else if err := All(m.JSON...)(gjson.ParseBytes(body)); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// MatrixError expects a Matrix error response: the HTTP status and the
// errcode of the body.
func MatrixError(status int, errcode string) HTTPResponse {
	return HTTPResponse{StatusCode: status, JSON: []JSON{JSONKeyEqual("errcode", errcode)}}
}
