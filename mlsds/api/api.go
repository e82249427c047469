// Package api holds what other components need of the MLS Delivery Service
// (MSC4244): its interface, the to-device messages it receives and sends,
// the error codes of its rejections and the shapes of its HTTP answers.
// docs/mls-profile.md describes each of them.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/tidwall/gjson"
)

// UnstablePrefix prefixes the DS's endpoints.
const UnstablePrefix = "org.matrix.msc4244"

// EncryptionAlgorithm is the value of an MLS room's
// content.encryption_algorithm in its create event.
const EncryptionAlgorithm = "m.mls.10"

// Keys of the create event's content naming the encryption algorithm
// (MSC4245, stable and unstable).
const (
	CreateKeyEncryptionAlgorithm         = "encryption_algorithm"
	CreateKeyEncryptionAlgorithmUnstable = "org.matrix.msc4245.encryption_algorithm"
)

// EncryptionAlgorithmOf returns the encryption algorithm a create event's
// content names (MSC4245, stable key first), or "".
func EncryptionAlgorithmOf(createContent []byte) string {
	content := gjson.ParseBytes(createContent)
	for _, key := range []string{CreateKeyEncryptionAlgorithm, CreateKeyEncryptionAlgorithmUnstable} {
		if v := content.Get(gjson.Escape(key)); v.Exists() {
			return v.String()
		}
	}
	return ""
}

// AlgorithmPrefix starts every MLS algorithm name.
const AlgorithmPrefix = "m.mls."

// To-device event types.
const (
	// EventMessage is sent by a device to the DS.
	EventMessage = "m.mls.message"
	// The rest are sent by the DS to devices.
	EventCommit   = "m.mls.commit"
	EventWelcome  = "m.mls.welcome"
	EventProposal = "m.mls.proposal"
	EventAccepted = "m.mls.accepted"
	EventRejected = "m.mls.rejected"
)

// ErrCode is the errcode of an m.mls.rejected message.
type ErrCode string

// Error codes of m.mls.rejected.
const (
	ErrWrongEpoch      ErrCode = "M_MLS_WRONG_EPOCH"
	ErrInvalid         ErrCode = "M_MLS_INVALID"
	ErrForbidden       ErrCode = "M_MLS_FORBIDDEN"
	ErrUnknownGroup    ErrCode = "M_MLS_UNKNOWN_GROUP"
	ErrPendingRemovals ErrCode = "M_MLS_PENDING_REMOVALS"
	ErrBadRequest      ErrCode = "M_MLS_BAD_REQUEST"
	// ErrLimitExceeded refuses a proposal while the group holds as many
	// proposals as the DS keeps in one epoch; a commit makes room.
	ErrLimitExceeded ErrCode = "M_LIMIT_EXCEEDED"
)

// Device is a device of a user: the sender or a recipient of a to-device
// message. The DS itself is ServerDevice of its server.
type Device struct {
	UserID   string `json:"user_id"`
	DeviceID string `json:"device_id"`
}

// ServerDevice is the to-device identity of the server serverName
// (MSC4246): the user "@:<server>" and the device "".
func ServerDevice(serverName string) Device {
	return Device{UserID: "@:" + serverName}
}

func (d Device) String() string { return fmt.Sprintf("%s (device %q)", d.UserID, d.DeviceID) }

// MessageContent is the content of an m.mls.message. Byte fields are
// unpadded standard base64 in JSON; they are kept as strings here so that
// malformed base64 can be answered with M_MLS_BAD_REQUEST.
type MessageContent struct {
	RoomID     string      `json:"room_id"`
	Message    string      `json:"message"`
	CommitInfo *CommitInfo `json:"commit_info,omitempty"`
	// SenderDevice is set by the sender's homeserver when it relays the
	// message to a remote DS, since m.direct_to_device EDUs name only the
	// sending user (docs/mls-profile.md).
	SenderDevice *string `json:"sender_device,omitempty"`
}

// CommitInfo travels with a commit.
type CommitInfo struct {
	Welcome   string `json:"welcome,omitempty"`
	GroupInfo string `json:"group_info,omitempty"`
}

// CommitContent is the content of m.mls.commit. It carries the commit
// itself (Message), or, for a commit sent by reference, its digest
// (MessageSHA256): the device then reads the commit from the DS's log
// (GET .../mls/commits/{epoch}) and checks the digest.
type CommitContent struct {
	RoomID        string `json:"room_id"`
	Epoch         uint64 `json:"epoch"`
	Message       string `json:"message,omitempty"`
	MessageSHA256 string `json:"message_sha256,omitempty"`
	Sender        Device `json:"sender"`
}

// ByReference reports whether the content names its commit by digest
// instead of carrying it.
func (c *CommitContent) ByReference() bool { return c.Message == "" && c.MessageSHA256 != "" }

// WelcomeContent is the content of m.mls.welcome.
type WelcomeContent struct {
	RoomID  string `json:"room_id"`
	Epoch   uint64 `json:"epoch"`
	Welcome string `json:"welcome"`
}

// ProposalContent is the content of m.mls.proposal.
type ProposalContent struct {
	RoomID  string `json:"room_id"`
	Epoch   uint64 `json:"epoch"`
	Message string `json:"message"`
	Sender  Device `json:"sender"`
}

// AcceptedContent is the content of m.mls.accepted.
type AcceptedContent struct {
	RoomID        string `json:"room_id"`
	MessageSHA256 string `json:"message_sha256"`
	Epoch         uint64 `json:"epoch"`
}

// RejectedContent is the content of m.mls.rejected.
type RejectedContent struct {
	RoomID        string  `json:"room_id"`
	MessageSHA256 string  `json:"message_sha256"`
	ErrCode       ErrCode `json:"errcode"`
	Error         string  `json:"error"`
	// CurrentEpoch is absent when the DS has no group for the room.
	CurrentEpoch *uint64 `json:"current_epoch,omitempty"`
}

// LogKind is the kind of an entry of a room's log.
type LogKind string

// Kinds of log entries.
const (
	KindGenesis  LogKind = "genesis"
	KindCommit   LogKind = "commit"
	KindProposal LogKind = "proposal"
)

// LogEntry is one entry of a room's log as the recovery endpoints return it.
type LogEntry struct {
	Kind       LogKind `json:"kind"`
	Epoch      uint64  `json:"epoch"`
	Message    string  `json:"message"`
	Sender     Device  `json:"sender"`
	AcceptedTS int64   `json:"accepted_ts"`
}

// CommitsResponse answers GET .../rooms/{roomId}/mls/commits.
type CommitsResponse struct {
	Entries []LogEntry `json:"entries"`
	// NextEpoch is the from_epoch of the next page; absent on the last page.
	NextEpoch *uint64 `json:"next_epoch,omitempty"`
}

// GroupInfoResponse answers GET .../rooms/{roomId}/mls/group_info.
type GroupInfoResponse struct {
	Epoch     uint64 `json:"epoch"`
	GroupInfo string `json:"group_info"`
	// AuthEvents names the room's current state events that the AAD of a
	// join by the requesting user must name (event type to event ID): a
	// user who has not joined cannot read the room's state itself.
	AuthEvents map[string]string `json:"auth_events,omitempty"`
}

// InfoResponse answers GET .../ds/{serverName}: the DS's ciphersuites and
// its external sender in each, an encoded ExternalSender (RFC 9420
// §12.1.8.1).
type InfoResponse struct {
	ServerName   string   `json:"server_name"`
	CipherSuites []uint16 `json:"ciphersuites"`
	// ExternalSender is the external sender of the first suite.
	ExternalSender string `json:"external_sender"`
	// ExternalSenders has the external sender of every suite, by the
	// suite's number in decimal.
	ExternalSenders map[string]string `json:"external_senders,omitempty"`
}

// ExternalSenderFor returns the DS's external sender in suite, "" when it
// names none.
func (i *InfoResponse) ExternalSenderFor(suite uint16) string {
	if s, ok := i.ExternalSenders[strconv.Itoa(int(suite))]; ok {
		return s
	}
	if len(i.CipherSuites) > 0 && i.CipherSuites[0] == suite {
		return i.ExternalSender
	}
	return ""
}

// DeliveryServiceAPI is the Delivery Service of this homeserver.
type DeliveryServiceAPI interface {
	// Receive handles a to-device message addressed to the DS, sent by
	// sender. It validates it, stores it durably and fans it out, or
	// answers the sender with m.mls.rejected, before it returns. It returns
	// an error only when the message could not be handled (e.g. the database
	// failed), in which case the sender must retry.
	Receive(ctx context.Context, sender Device, eventType string, content json.RawMessage) error
	// Info describes the DS.
	Info() InfoResponse
	// Commits returns the room's log from fromEpoch on, for user.
	Commits(ctx context.Context, user, roomID string, fromEpoch uint64, limit int) (*CommitsResponse, error)
	// Commit returns the entry of the room's log that created epoch (the
	// genesis for 0), for user.
	Commit(ctx context.Context, user, roomID string, epoch uint64) (*LogEntry, error)
	// GroupInfo returns the room's latest GroupInfo, for user.
	GroupInfo(ctx context.Context, user, roomID string) (*GroupInfoResponse, error)
}

// Errors of Commits and GroupInfo.
var (
	// ErrNotAllowed: the user's membership in the room is neither join nor
	// invite.
	ErrNotAllowed = errors.New("only users whose membership in the room is join or invite may read its MLS log")
	// ErrNoGroup: the DS has no MLS group for the room.
	ErrNoGroup = errors.New("the Delivery Service has no MLS group for this room")
	// ErrNoCommit: the room's log has no commit creating the epoch asked
	// for (yet).
	ErrNoCommit = errors.New("the room's MLS log has no commit for this epoch")
)
