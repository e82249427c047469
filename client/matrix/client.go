// Package matrix is the HTTP half of the MLS client: the Matrix
// client-server API calls the client needs, and the endpoints of the MLS
// Delivery Service (docs/mls-profile.md), as typed Go calls. It keeps no
// state but the credentials of one device.
package matrix

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Client talks to one homeserver, as one device once it has credentials.
// Its methods may be called concurrently.
type Client struct {
	// BaseURL is the homeserver's client-server API, e.g.
	// http://127.0.0.1:8008.
	BaseURL string
	// HTTP sends the requests. Its timeout must exceed the longest /sync
	// long poll; New sets 5 minutes.
	HTTP *http.Client
	// Credentials of the device; empty before Register or Login.
	Credentials
	// MaxRateLimitWait bounds how long a request waits in total after
	// answers of 429 M_LIMIT_EXCEEDED before the error is returned.
	MaxRateLimitWait time.Duration
}

// Credentials identify a logged-in device.
type Credentials struct {
	UserID      string `json:"user_id"`
	DeviceID    string `json:"device_id"`
	AccessToken string `json:"access_token"`
}

// New returns a client without credentials for the homeserver at baseURL.
func New(baseURL string) *Client {
	return &Client{
		BaseURL:          strings.TrimSuffix(baseURL, "/"),
		HTTP:             &http.Client{Timeout: 5 * time.Minute},
		MaxRateLimitWait: 30 * time.Second,
	}
}

// WithCredentials returns a copy of c that acts as the device creds.
func (c *Client) WithCredentials(creds Credentials) *Client {
	cp := *c
	cp.Credentials = creds
	return &cp
}

// Error is an error answer of the homeserver.
type Error struct {
	Method, Path string
	Status       int
	ErrCode      string // e.g. M_FORBIDDEN; empty when the body had none
	Message      string
	// Body is the whole answer, for callers that need more fields.
	Body []byte
}

func (e *Error) Error() string {
	if e.ErrCode == "" {
		return fmt.Sprintf("%s %s: HTTP %d: %.200s", e.Method, e.Path, e.Status, e.Body)
	}
	return fmt.Sprintf("%s %s: HTTP %d %s: %s", e.Method, e.Path, e.Status, e.ErrCode, e.Message)
}

// ErrCode returns the Matrix errcode of err, or "" when err is not an error
// answer of the homeserver.
func ErrCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.ErrCode
	}
	return ""
}

// ErrUnreachable is wrapped by every error of a request that got no answer:
// the homeserver is down or the network failed. Nothing is known about
// whether the server acted on it; requests with a transaction ID may be
// sent again as they are.
var ErrUnreachable = errors.New("homeserver unreachable")

// request is one API call.
type request struct {
	method string
	// path segments below the base URL, escaped when sent.
	path  []string
	query url.Values
	body  any // encoded as JSON when not nil
	// noAuth leaves the access token out.
	noAuth bool
}

// do sends req and decodes a 2xx answer into out (when not nil).
func (c *Client) do(ctx context.Context, req request, out any) error {
	var body []byte
	if req.body != nil {
		var err error
		if body, err = json.Marshal(req.body); err != nil {
			return fmt.Errorf("%s %s: encoding the request: %w", req.method, "/"+strings.Join(req.path, "/"), err)
		}
	}
	segments := make([]string, len(req.path))
	for i, s := range req.path {
		segments[i] = url.PathEscape(s)
	}
	path := "/" + strings.Join(segments, "/")
	target := c.BaseURL + path
	if len(req.query) > 0 {
		target += "?" + req.query.Encode()
	}
	var waited time.Duration
	for {
		status, answer, err := c.send(ctx, req, target, body)
		if err != nil {
			return fmt.Errorf("%s %s: %w: %w", req.method, path, ErrUnreachable, err)
		}
		if status >= 200 && status < 300 {
			if out == nil {
				return nil
			}
			if err = json.Unmarshal(answer, out); err != nil {
				return fmt.Errorf("%s %s: decoding the answer: %w", req.method, path, err)
			}
			return nil
		}
		e := &Error{Method: req.method, Path: path, Status: status, Body: answer}
		var fields struct {
			ErrCode      string `json:"errcode"`
			Error        string `json:"error"`
			RetryAfterMS int64  `json:"retry_after_ms"`
		}
		if json.Unmarshal(answer, &fields) == nil {
			e.ErrCode, e.Message = fields.ErrCode, fields.Error
		}
		if status != http.StatusTooManyRequests {
			return e
		}
		wait := max(time.Duration(fields.RetryAfterMS)*time.Millisecond, 100*time.Millisecond)
		if waited+wait > c.MaxRateLimitWait {
			return e
		}
		waited += wait
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s %s: %w", req.method, path, ctx.Err())
		case <-time.After(wait):
		}
	}
}

// send makes one HTTP exchange and returns the status and body.
func (c *Client) send(ctx context.Context, req request, target string, body []byte) (int, []byte, error) {
	var reader io.Reader
	if body != nil {
		reader = bytes.NewReader(body)
	}
	hr, err := http.NewRequestWithContext(ctx, req.method, target, reader)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	if !req.noAuth && c.AccessToken != "" {
		hr.Header.Set("Authorization", "Bearer "+c.AccessToken)
	}
	res, err := c.HTTP.Do(hr)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close() // nolint: errcheck
	answer, err := io.ReadAll(res.Body)
	if err != nil {
		return 0, nil, err
	}
	return res.StatusCode, answer, nil
}

// clientV3 is a path below /_matrix/client/v3.
func clientV3(segments ...string) []string {
	return append([]string{"_matrix", "client", "v3"}, segments...)
}
