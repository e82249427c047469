package matrix

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// SyncRequest is one /sync call.
type SyncRequest struct {
	// Since is the next_batch of the previous sync; empty for the first.
	Since string
	// Timeout is how long the server may wait for news.
	Timeout time.Duration
	// Filter is a filter ID or inline JSON filter; empty for none.
	Filter    string
	FullState bool
}

// SyncResponse is the part of a /sync answer the MLS client reads.
type SyncResponse struct {
	NextBatch string `json:"next_batch"`
	ToDevice  struct {
		Events []Event `json:"events"`
	} `json:"to_device"`
	Rooms struct {
		Join   map[string]JoinedRoom  `json:"join"`
		Invite map[string]InvitedRoom `json:"invite"`
		Leave  map[string]JoinedRoom  `json:"leave"`
	} `json:"rooms"`
	DeviceLists struct {
		Changed []string `json:"changed"`
		Left    []string `json:"left"`
	} `json:"device_lists"`
	// DeviceOneTimeKeysCount counts unclaimed one-time keys by algorithm
	// ("mls": one-time KeyPackages). Dendrite sends it in incremental
	// syncs only.
	DeviceOneTimeKeysCount map[string]int `json:"device_one_time_keys_count"`
	// DeviceUnusedFallbackKeyTypes lists "mls" while the device has an
	// unexpired last-resort KeyPackage.
	DeviceUnusedFallbackKeyTypes []string `json:"device_unused_fallback_key_types"`
}

// JoinedRoom is a room in the join (or leave) section of a sync.
type JoinedRoom struct {
	State struct {
		Events []Event `json:"events"`
	} `json:"state"`
	Timeline struct {
		Events    []Event `json:"events"`
		Limited   bool    `json:"limited"`
		PrevBatch string  `json:"prev_batch"`
	} `json:"timeline"`
}

// InvitedRoom is a room in the invite section of a sync: stripped state.
type InvitedRoom struct {
	InviteState struct {
		Events []Event `json:"events"`
	} `json:"invite_state"`
}

// Sync calls /sync once.
func (c *Client) Sync(ctx context.Context, r SyncRequest) (*SyncResponse, error) {
	q := url.Values{"timeout": {strconv.FormatInt(r.Timeout.Milliseconds(), 10)}}
	if r.Since != "" {
		q.Set("since", r.Since)
	}
	if r.Filter != "" {
		q.Set("filter", r.Filter)
	}
	if r.FullState {
		q.Set("full_state", "true")
	}
	var res SyncResponse
	err := c.do(ctx, request{method: http.MethodGet, path: clientV3("sync"), query: q}, &res)
	return &res, err
}
