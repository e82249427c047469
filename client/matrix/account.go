package matrix

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// RegisterRequest registers an account with a password.
type RegisterRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
	// DeviceID, when set, names the new device; otherwise the server picks.
	DeviceID                 string `json:"device_id,omitempty"`
	InitialDeviceDisplayName string `json:"initial_device_display_name,omitempty"`
}

// Register creates an account through the m.login.dummy flow of
// user-interactive authentication and returns the first device's
// credentials. The client's own credentials are not changed.
func (c *Client) Register(ctx context.Context, r RegisterRequest) (Credentials, error) {
	body := map[string]any{
		"username": r.Username,
		"password": r.Password,
	}
	if r.DeviceID != "" {
		body["device_id"] = r.DeviceID
	}
	if r.InitialDeviceDisplayName != "" {
		body["initial_device_display_name"] = r.InitialDeviceDisplayName
	}
	req := request{method: http.MethodPost, path: clientV3("register"), body: body, noAuth: true}
	var creds Credentials
	// The first request opens a user-interactive auth session.
	err := c.do(ctx, req, &creds)
	var uia *Error
	if err == nil || !errors.As(err, &uia) || uia.Status != http.StatusUnauthorized {
		return creds, checkCredentials(creds, err)
	}
	var flows struct {
		Session string     `json:"session"`
		Flows   []authFlow `json:"flows"`
	}
	if json.Unmarshal(uia.Body, &flows) != nil || flows.Session == "" {
		return creds, err
	}
	if !hasDummyFlow(flows.Flows) {
		return creds, fmt.Errorf("register: the homeserver offers no m.login.dummy flow (%s)", uia.Body)
	}
	body["auth"] = map[string]any{"type": "m.login.dummy", "session": flows.Session}
	return creds, checkCredentials(creds, c.do(ctx, req, &creds))
}

// authFlow is a flow of user-interactive authentication.
type authFlow struct {
	Stages []string `json:"stages"`
}

func hasDummyFlow(flows []authFlow) bool {
	for _, f := range flows {
		if len(f.Stages) == 1 && f.Stages[0] == "m.login.dummy" {
			return true
		}
	}
	return false
}

// LoginRequest logs a user in with a password.
type LoginRequest struct {
	// User is a localpart or a full user ID.
	User     string
	Password string
	// DeviceID, when set, reuses or names the device.
	DeviceID                 string
	InitialDeviceDisplayName string
}

// Login logs in with a password and returns the device's credentials. The
// client's own credentials are not changed.
func (c *Client) Login(ctx context.Context, r LoginRequest) (Credentials, error) {
	body := map[string]any{
		"type":       "m.login.password",
		"identifier": map[string]any{"type": "m.id.user", "user": r.User},
		"password":   r.Password,
	}
	if r.DeviceID != "" {
		body["device_id"] = r.DeviceID
	}
	if r.InitialDeviceDisplayName != "" {
		body["initial_device_display_name"] = r.InitialDeviceDisplayName
	}
	var creds Credentials
	err := c.do(ctx, request{method: http.MethodPost, path: clientV3("login"), body: body, noAuth: true}, &creds)
	return creds, checkCredentials(creds, err)
}

func checkCredentials(creds Credentials, err error) error {
	if err == nil && (creds.UserID == "" || creds.DeviceID == "" || creds.AccessToken == "") {
		return fmt.Errorf("the homeserver's answer lacks user_id, device_id or access_token")
	}
	return err
}

// Logout invalidates the access token and deletes the device on the server
// (with its keys).
func (c *Client) Logout(ctx context.Context) error {
	return c.do(ctx, request{method: http.MethodPost, path: clientV3("logout"), body: struct{}{}}, nil)
}
