// Package divert takes to-device messages addressed to this server's
// Delivery Service ("@:<server>", device "", MSC4246) out of Dendrite's
// to-device path, which would store them in an inbox nobody reads, and
// hands them to the DS instead.
//
// Dendrite's client /sendToDevice and federation /send handlers publish
// every to-device message through a SyncAPIProducer, one JetStream message
// per recipient device. The routes of our clientapi and federationapi
// packages call those handlers with a copy of the producer whose JetStream
// is a JetStream of this package, made for the one request: messages for
// the DS are handled by the DS within the request, everything else is
// published as before.
package divert

import (
	"context"
	"encoding/json"
	"errors"
	"sync/atomic"

	"github.com/matrix-org/dendrite/setup/jetstream"
	"github.com/matrix-org/dendrite/syncapi/types"
	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/nats-io/nats.go"
	"github.com/sirupsen/logrus"

	"github.com/matrix-org/dendrite/msc4244/mlsds/api"
)

// senderDeviceKey is the content key naming the sending device of an
// m.mls.message relayed to a remote DS.
const senderDeviceKey = "sender_device"

// JetStream is the JetStream context of a producer during one request.
type JetStream struct {
	nats.JetStreamContext
	ctx     context.Context
	topic   string
	isLocal func(spec.ServerName) bool
	ds      api.DeliveryServiceAPI
	// device is the sending device when the request comes from a local
	// client; "" when it comes over federation.
	device string
	failed atomic.Bool
}

// ForClient returns the JetStream for a /sendToDevice request of a local
// client's device. Messages to this server's DS go to ds as sent by that
// device; messages to another server's DS get the device in their
// sender_device, since the m.direct_to_device EDU that carries them names
// only the sending user.
func ForClient(ctx context.Context, js nats.JetStreamContext, topic string, isLocal func(spec.ServerName) bool, ds api.DeliveryServiceAPI, device string) *JetStream {
	return &JetStream{JetStreamContext: js, ctx: ctx, topic: topic, isLocal: isLocal, ds: ds, device: device}
}

// ForFederation returns the JetStream for a federation /send request.
// Messages to this server's DS go to ds as sent by the device their
// sender_device names, which the sending server vouches for.
func ForFederation(ctx context.Context, js nats.JetStreamContext, topic string, isLocal func(spec.ServerName) bool, ds api.DeliveryServiceAPI) *JetStream {
	return &JetStream{JetStreamContext: js, ctx: ctx, topic: topic, isLocal: isLocal, ds: ds}
}

// Failed reports whether the DS failed to handle a message of the request
// (not: refused it), so that the sender must send it again. Dendrite's
// federation /send handler drops the error of a to-device EDU, so its
// caller asks this instead.
func (j *JetStream) Failed() bool { return j.failed.Load() }

// PublishMsg publishes m, unless it is a to-device message for a server:
// the DS handles those addressed to this server, and those addressed to
// another server are published with their sender device.
func (j *JetStream) PublishMsg(m *nats.Msg, opts ...nats.PubOpt) (*nats.PubAck, error) {
	if m.Subject != j.topic {
		return j.JetStreamContext.PublishMsg(m, opts...)
	}
	localpart, domain, err := gomatrixserverlib.SplitID('@', m.Header.Get(jetstream.UserID))
	if err != nil || localpart != "" {
		return j.JetStreamContext.PublishMsg(m, opts...)
	}
	var ote types.OutputSendToDeviceEvent
	if err = json.Unmarshal(m.Data, &ote); err != nil {
		return nil, err
	}
	if !j.isLocal(domain) {
		if j.device != "" && ote.DeviceID == "" {
			if m.Data, err = stampDevice(&ote, j.device); err != nil {
				return nil, err
			}
		}
		return j.JetStreamContext.PublishMsg(m, opts...)
	}
	if err = j.receive(&ote); err != nil {
		j.failed.Store(true)
		return nil, err
	}
	return &nats.PubAck{Stream: "mlsds"}, nil
}

// receive hands a message addressed to this server to its DS; messages to
// a device of "@:<server>" other than "" have no recipient and are dropped.
func (j *JetStream) receive(ote *types.OutputSendToDeviceEvent) error {
	log := logrus.WithFields(logrus.Fields{"sender": ote.Sender, "type": ote.Type, "device_id": ote.DeviceID})
	if ote.DeviceID != "" {
		log.Debug("divert: dropping a to-device message for a device of the server user other than \"\"")
		return nil
	}
	sender := api.Device{UserID: ote.Sender, DeviceID: j.device}
	if j.device == "" {
		var content struct {
			SenderDevice *string `json:"sender_device"`
		}
		if err := json.Unmarshal(ote.Content, &content); err != nil || content.SenderDevice == nil {
			log.Warn("divert: dropping a federated message to the DS without sender_device")
			return nil
		}
		sender.DeviceID = *content.SenderDevice
	}
	return j.ds.Receive(j.ctx, sender, ote.Type, ote.Content)
}

// stampDevice sets the content's sender_device to device, replacing what
// the client may have put there, and returns the re-encoded message. The
// content is decoded and encoded again, so that a duplicated key cannot make
// the receiving server read another value than the one set here.
func stampDevice(ote *types.OutputSendToDeviceEvent, device string) ([]byte, error) {
	var content map[string]json.RawMessage
	if err := json.Unmarshal(ote.Content, &content); err != nil || content == nil {
		return nil, errors.New("divert: to-device content is not a JSON object")
	}
	var err error
	if content[senderDeviceKey], err = json.Marshal(device); err != nil {
		return nil, err
	}
	if ote.Content, err = json.Marshal(content); err != nil {
		return nil, err
	}
	return json.Marshal(ote)
}
