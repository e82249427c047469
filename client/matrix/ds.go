package matrix

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/matrix-org/dendrite/msc4244/mlsds/api"
)

// dsPath is a client path below the DS's unstable prefix.
func dsPath(segments ...string) []string {
	return append([]string{"_matrix", "client", "unstable", api.UnstablePrefix}, segments...)
}

// DSInfo returns the description of the Delivery Service of serverName:
// its cipher suites and its ExternalSender.
func (c *Client) DSInfo(ctx context.Context, serverName string) (*api.InfoResponse, error) {
	var res api.InfoResponse
	err := c.do(ctx, request{method: http.MethodGet, path: dsPath("ds", serverName)}, &res)
	return &res, err
}

// MLSCommits returns a page of the room's DS log from fromEpoch on, at most
// limit entries (0: the server's default).
func (c *Client) MLSCommits(ctx context.Context, roomID string, fromEpoch uint64, limit int) (*api.CommitsResponse, error) {
	q := url.Values{"from_epoch": {strconv.FormatUint(fromEpoch, 10)}}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var res api.CommitsResponse
	err := c.do(ctx, request{method: http.MethodGet, path: dsPath("rooms", roomID, "mls", "commits"), query: q}, &res)
	return &res, err
}

// MLSCommit returns the entry of the room's DS log that created epoch (the
// genesis for 0): how a device reads a commit the DS sent by reference.
func (c *Client) MLSCommit(ctx context.Context, roomID string, epoch uint64) (*api.LogEntry, error) {
	var res api.LogEntry
	err := c.do(ctx, request{method: http.MethodGet, path: dsPath("rooms", roomID, "mls", "commits", strconv.FormatUint(epoch, 10))}, &res)
	return &res, err
}

// MLSGroupInfo returns the room's latest GroupInfo as the DS serves it.
func (c *Client) MLSGroupInfo(ctx context.Context, roomID string) (*api.GroupInfoResponse, error) {
	var res api.GroupInfoResponse
	err := c.do(ctx, request{method: http.MethodGet, path: dsPath("rooms", roomID, "mls", "group_info")}, &res)
	return &res, err
}

// SendToDS sends an m.mls.message to the Delivery Service of dsServer
// (MSC4246: the user "@:<server>", device "").
func (c *Client) SendToDS(ctx context.Context, dsServer, txnID string, content *api.MessageContent) error {
	ds := api.ServerDevice(dsServer)
	return c.SendToDevice(ctx, api.EventMessage, txnID, map[string]map[string]any{ds.UserID: {ds.DeviceID: content}})
}
