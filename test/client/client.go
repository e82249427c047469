// Package client is a small Matrix client-server API client for tests. Every
// Must* method fails the test when the request fails or the server answers
// with an error; Do sends any request and leaves judging the answer to the
// caller (see packages must and match).
package client

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidwall/gjson"
)

// Client talks to one homeserver, as one device when logged in.
type Client struct {
	BaseURL     string // e.g. http://127.0.0.1:8008
	UserID      string
	DeviceID    string
	AccessToken string // sent as a bearer token when not empty
	HTTP        *http.Client
	// SyncToken is the next_batch of the last sync; the next sync
	// continues from it.
	SyncToken string

	txnCounter *atomic.Int64
}

// New returns a client without credentials for the server at baseURL.
func New(baseURL string) *Client {
	return &Client{
		BaseURL:    strings.TrimSuffix(baseURL, "/"),
		HTTP:       &http.Client{Timeout: 90 * time.Second},
		txnCounter: new(atomic.Int64),
	}
}

// withCredentials returns a new client for the same server, logged in as a
// device of userID.
func (c *Client) withCredentials(userID, deviceID, accessToken string) *Client {
	return &Client{
		BaseURL:     c.BaseURL,
		UserID:      userID,
		DeviceID:    deviceID,
		AccessToken: accessToken,
		HTTP:        c.HTTP,
		txnCounter:  new(atomic.Int64),
	}
}

// Option changes a request before it is sent.
type Option func(*http.Request) error

// WithJSON sends v encoded as JSON.
func WithJSON(v any) Option {
	return func(req *http.Request) error {
		body, err := json.Marshal(v)
		if err != nil {
			return err
		}
		return WithBody("application/json", body)(req)
	}
}

// WithBody sends body with the given content type.
func WithBody(contentType string, body []byte) Option {
	return func(req *http.Request) error {
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.ContentLength = int64(len(body))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		req.Header.Set("Content-Type", contentType)
		return nil
	}
}

// WithQuery adds a query parameter; it may be given several times.
func WithQuery(key, value string) Option {
	return func(req *http.Request) error {
		q := req.URL.Query()
		q.Add(key, value)
		req.URL.RawQuery = q.Encode()
		return nil
	}
}

// WithHeader sets a request header.
func WithHeader(key, value string) Option {
	return func(req *http.Request) error {
		req.Header.Set(key, value)
		return nil
	}
}

// Do sends a request to the path made of the escaped path segments, e.g.
// []string{"_matrix", "client", "v3", "rooms", roomID, "state"}. It fails the
// test only when no response arrives. The response body is read in full and
// can be read again through res.Body.
func (c *Client) Do(t testing.TB, method string, path []string, opts ...Option) *http.Response {
	t.Helper()
	res, err := c.TryDo(method, path, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TryDo is Do for callers that expect no answer at times (e.g. while the
// server is being killed): it returns an error instead of failing a test.
func (c *Client) TryDo(method string, path []string, opts ...Option) (*http.Response, error) {
	segments := make([]string, len(path))
	for i, s := range path {
		segments[i] = url.PathEscape(s)
	}
	req, err := http.NewRequest(method, c.BaseURL+"/"+strings.Join(segments, "/"), nil)
	if err != nil {
		return nil, fmt.Errorf("%s %v: %w", method, path, err)
	}
	if c.AccessToken != "" {
		req.Header.Set("Authorization", "Bearer "+c.AccessToken)
	}
	for _, opt := range opts {
		if err = opt(req); err != nil {
			return nil, fmt.Errorf("%s %s: %w", method, req.URL.Path, err)
		}
	}
	res, err := c.HTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, req.URL.Path, err)
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close() // nolint: errcheck
	if err != nil {
		return nil, fmt.Errorf("%s %s: reading body: %w", method, req.URL.Path, err)
	}
	res.Body = io.NopCloser(bytes.NewReader(body))
	return res, nil
}

// MustDo is Do that also fails the test unless the server answers 2xx with
// a JSON body, which it returns.
func (c *Client) MustDo(t testing.TB, method string, path []string, opts ...Option) gjson.Result {
	t.Helper()
	res := c.Do(t, method, path, opts...)
	body := readAll(t, res)
	if res.StatusCode < 200 || res.StatusCode > 299 {
		t.Fatalf("%s %s as %s: HTTP %d: %s", method, res.Request.URL.Path, c.who(), res.StatusCode, body)
	}
	if !gjson.ValidBytes(body) {
		t.Fatalf("%s %s as %s: body is not JSON: %s", method, res.Request.URL.Path, c.who(), body)
	}
	return gjson.ParseBytes(body)
}

// readAll returns the body of a response returned by Do.
func readAll(t testing.TB, res *http.Response) []byte {
	t.Helper()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("reading body: %v", err)
	}
	return body
}

func (c *Client) who() string {
	if c.UserID == "" {
		return "guest of " + c.BaseURL
	}
	return fmt.Sprintf("%s (device %s)", c.UserID, c.DeviceID)
}

// nextTxnID returns a transaction ID unique for this client, also across
// server restarts.
func (c *Client) nextTxnID() string {
	return fmt.Sprintf("t%d.%d", time.Now().UnixNano(), c.txnCounter.Add(1))
}

// clientPath prefixes segments with /_matrix/client/v3.
func clientPath(segments ...string) []string {
	return append([]string{"_matrix", "client", "v3"}, segments...)
}
