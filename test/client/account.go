package client

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"

	"github.com/tidwall/gjson"
)

// MustRegister registers localpart through /register with the m.login.dummy
// flow and returns a client logged in as the new user's first device.
func (c *Client) MustRegister(t testing.TB, localpart, password string) *Client {
	t.Helper()
	body := map[string]any{"username": localpart, "password": password}
	// The first request only opens a user-interactive auth session.
	res := c.Do(t, http.MethodPost, clientPath("register"), WithJSON(body))
	session := gjson.ParseBytes(readAll(t, res)).Get("session").Str
	if res.StatusCode != http.StatusUnauthorized || session == "" {
		t.Fatalf("register %s: expected a 401 with an auth session, got HTTP %d", localpart, res.StatusCode)
	}
	body["auth"] = map[string]any{"type": "m.login.dummy", "session": session}
	return c.credentialsFrom(t, c.MustDo(t, http.MethodPost, clientPath("register"), WithJSON(body)))
}

// MustRegisterWithSharedSecret registers localpart through the admin
// endpoint /_synapse/admin/v1/register, authenticated by an HMAC of the
// server's registration shared secret, and returns a logged-in client.
func (c *Client) MustRegisterWithSharedSecret(t testing.TB, secret, localpart, password string, admin bool) *Client {
	t.Helper()
	path := []string{"_synapse", "admin", "v1", "register"}
	nonce := c.MustDo(t, http.MethodGet, path).Get("nonce").Str
	role := "notadmin"
	if admin {
		role = "admin"
	}
	mac := hmac.New(sha1.New, []byte(secret))
	mac.Write([]byte(strings.Join([]string{nonce, localpart, password, role}, "\x00")))
	res := c.MustDo(t, http.MethodPost, path, WithJSON(map[string]any{
		"nonce":    nonce,
		"username": localpart,
		"password": password,
		"admin":    admin,
		"mac":      hex.EncodeToString(mac.Sum(nil)),
	}))
	return c.credentialsFrom(t, res)
}

// MustLogin logs user (a localpart or a full user ID) in with a password
// and returns a client for the new device.
func (c *Client) MustLogin(t testing.TB, user, password string) *Client {
	t.Helper()
	res := c.MustDo(t, http.MethodPost, clientPath("login"), WithJSON(map[string]any{
		"type":       "m.login.password",
		"identifier": map[string]any{"type": "m.id.user", "user": user},
		"password":   password,
	}))
	return c.credentialsFrom(t, res)
}

func (c *Client) credentialsFrom(t testing.TB, res gjson.Result) *Client {
	t.Helper()
	userID, deviceID, token := res.Get("user_id").Str, res.Get("device_id").Str, res.Get("access_token").Str
	if userID == "" || deviceID == "" || token == "" {
		t.Fatalf("response lacks user_id, device_id or access_token: %s", res.Raw)
	}
	return c.withCredentials(userID, deviceID, token)
}
