package matrix

import (
	"context"
	"encoding/json"
	"net/http"
)

// KeyPackageAlgorithm is the one-time key algorithm of MLS KeyPackages
// (docs/keyserver.md).
const KeyPackageAlgorithm = "mls"

// OneTimeKey is the value of a one-time key: for "mls:" keys, Key is the
// unpadded base64 of an MLSMessage holding a KeyPackage. Fallback is set in
// claim answers for a last-resort KeyPackage.
type OneTimeKey struct {
	Key        string          `json:"key"`
	Fallback   bool            `json:"fallback,omitempty"`
	Signatures json.RawMessage `json:"signatures,omitempty"`
}

// UploadKeysRequest uploads device keys and one-time keys. Either may be
// empty.
type UploadKeysRequest struct {
	// DeviceKeys is the signed device_keys object.
	DeviceKeys json.RawMessage `json:"device_keys,omitempty"`
	// OneTimeKeys maps "<algorithm>:<key id>" to the key.
	OneTimeKeys map[string]OneTimeKey `json:"one_time_keys,omitempty"`
}

// UploadKeys uploads keys and returns the device's counts of unclaimed
// one-time keys by algorithm ("mls" among them).
func (c *Client) UploadKeys(ctx context.Context, r UploadKeysRequest) (map[string]int, error) {
	var res struct {
		Counts map[string]int `json:"one_time_key_counts"`
	}
	err := c.do(ctx, request{method: http.MethodPost, path: clientV3("keys", "upload"), body: r}, &res)
	return res.Counts, err
}

// MLSClaim is the "mls" object of a claim. Empty fields take the server's
// defaults (mls10, the profile's default suite, no required capabilities).
type MLSClaim struct {
	ProtocolVersion        string   `json:"protocol_version,omitempty"`
	AcceptableCipherSuites []string `json:"acceptable_ciphersuites,omitempty"`
	// RequiredCapabilities is the unpadded base64 of a RequiredCapabilities.
	RequiredCapabilities string `json:"required_capabilities,omitempty"`
}

// ClaimKeysRequest claims one one-time key per device.
type ClaimKeysRequest struct {
	// OneTimeKeys maps user ID to device ID to algorithm.
	OneTimeKeys map[string]map[string]string `json:"one_time_keys"`
	// TimeoutMS bounds the wait for other servers; 0 is the server's
	// default.
	TimeoutMS int       `json:"timeout,omitempty"`
	MLS       *MLSClaim `json:"mls,omitempty"`
}

// ClaimKeysResponse holds the claimed keys by user, device and
// "<algorithm>:<key id>", and the servers that failed.
type ClaimKeysResponse struct {
	OneTimeKeys map[string]map[string]map[string]OneTimeKey `json:"one_time_keys"`
	Failures    map[string]json.RawMessage                  `json:"failures"`
}

// ClaimKeys claims one-time keys.
func (c *Client) ClaimKeys(ctx context.Context, r ClaimKeysRequest) (*ClaimKeysResponse, error) {
	var res ClaimKeysResponse
	err := c.do(ctx, request{method: http.MethodPost, path: clientV3("keys", "claim"), body: r}, &res)
	return &res, err
}

// DeviceKeys are a device's published identity keys.
type DeviceKeys struct {
	UserID     string                       `json:"user_id"`
	DeviceID   string                       `json:"device_id"`
	Algorithms []string                     `json:"algorithms"`
	Keys       map[string]string            `json:"keys"`
	Signatures map[string]map[string]string `json:"signatures,omitempty"`
	Unsigned   json.RawMessage              `json:"unsigned,omitempty"`
}

// QueryKeysResponse holds the device keys of the users asked for, by user
// and device, as the server sent them (signatures cover the exact fields),
// and the servers that failed.
type QueryKeysResponse struct {
	DeviceKeys map[string]map[string]json.RawMessage `json:"device_keys"`
	Failures   map[string]json.RawMessage            `json:"failures"`
}

// QueryKeys fetches the device keys of every device of users.
func (c *Client) QueryKeys(ctx context.Context, users ...string) (*QueryKeysResponse, error) {
	want := make(map[string][]string, len(users))
	for _, u := range users {
		want[u] = []string{}
	}
	var res QueryKeysResponse
	err := c.do(ctx, request{method: http.MethodPost, path: clientV3("keys", "query"), body: map[string]any{"device_keys": want}}, &res)
	return &res, err
}
