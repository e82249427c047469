// Package producers publishes what the Delivery Service sends.
package producers

import (
	"context"
	"encoding/json"

	"github.com/matrix-org/dendrite/setup/jetstream"
	"github.com/matrix-org/dendrite/syncapi/types"
	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/matrix-org/util"
	"github.com/nats-io/nats.go"

	"github.com/matrix-org/dendrite/msc4244/mlsds/api"
)

// maxEDUSize bounds the content of an m.direct_to_device EDU the DS sends:
// a fan-out to many devices of one server is split into EDUs of about this
// size, a hundred of which fit in one federation transaction.
const maxEDUSize = 64 * 1024

// EDUSender queues an EDU for other servers, durably and with retries;
// Dendrite's federationapi/queue.OutgoingQueues is one.
type EDUSender interface {
	SendEDU(e *gomatrixserverlib.EDU, origin spec.ServerName, destinations []spec.ServerName) error
}

// ToDevice sends the DS's to-device messages.
//
// Messages for this server's devices are published on Dendrite's
// send-to-device topic, one per device as Dendrite's own SyncAPIProducer
// does, for the sync API to deliver; they are published without waiting
// for each acknowledgement in turn, then all acknowledgements are awaited,
// so a fan-out is one pipelined burst.
//
// Messages for other servers' devices go in m.direct_to_device EDUs that
// each carry the message for many devices of one server, queued with
// Federation. (Published on the topic instead, Dendrite's federation API
// would relay them with one stored EDU per device: seconds for a fan-out
// to hundreds of devices.)
type ToDevice struct {
	JetStream nats.JetStreamContext
	// Topic is the prefixed send-to-device topic.
	Topic string
	// ServerName is this server's name.
	ServerName spec.ServerName
	// Federation queues EDUs; when nil, messages for other servers are
	// published on the topic too.
	Federation EDUSender
}

// SendToDevices implements the DS's ToDeviceSender.
func (p *ToDevice) SendToDevices(ctx context.Context, sender, eventType string, content json.RawMessage, devices []api.Device) error {
	remote := map[spec.ServerName][]api.Device{}
	pending := make([]nats.PubAckFuture, 0, len(devices))
	for _, d := range devices {
		if p.Federation != nil {
			if id, err := spec.NewUserID(d.UserID, true); err == nil && id.Domain() != p.ServerName {
				remote[id.Domain()] = append(remote[id.Domain()], d)
				continue
			}
		}
		f, err := p.publish(sender, eventType, content, d)
		if err != nil {
			return err
		}
		pending = append(pending, f)
	}
	for server, ds := range remote {
		if err := p.sendEDUs(sender, eventType, content, server, ds); err != nil {
			return err
		}
	}
	for _, f := range pending {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// publish publishes the message for one device on the send-to-device
// topic, as SyncAPIProducer.SendToDevice does.
func (p *ToDevice) publish(sender, eventType string, content json.RawMessage, d api.Device) (nats.PubAckFuture, error) {
	data, err := json.Marshal(&types.OutputSendToDeviceEvent{
		UserID:   d.UserID,
		DeviceID: d.DeviceID,
		SendToDeviceEvent: gomatrixserverlib.SendToDeviceEvent{
			Sender: sender, Type: eventType, Content: content,
		},
	})
	if err != nil {
		return nil, err
	}
	m := nats.NewMsg(p.Topic)
	m.Data = data
	// The headers SyncAPIProducer sets, which the consumers read.
	m.Header.Set("sender", sender)
	m.Header.Set(jetstream.UserID, d.UserID)
	return p.JetStream.PublishMsgAsync(m)
}

// sendEDUs queues the message for devices of server in as few EDUs as
// maxEDUSize allows.
func (p *ToDevice) sendEDUs(sender, eventType string, content json.RawMessage, server spec.ServerName, devices []api.Device) error {
	perEDU := max(1, maxEDUSize/(len(content)+64))
	for start := 0; start < len(devices); start += perEDU {
		msg := gomatrixserverlib.ToDeviceMessage{
			Sender:    sender,
			Type:      eventType,
			MessageID: util.RandomString(32),
			Messages:  map[string]map[string]json.RawMessage{},
		}
		for _, d := range devices[start:min(start+perEDU, len(devices))] {
			if msg.Messages[d.UserID] == nil {
				msg.Messages[d.UserID] = map[string]json.RawMessage{}
			}
			msg.Messages[d.UserID][d.DeviceID] = content
		}
		edu := &gomatrixserverlib.EDU{Type: spec.MDirectToDevice, Origin: string(p.ServerName)}
		var err error
		if edu.Content, err = json.Marshal(&msg); err != nil {
			return err
		}
		if err = p.Federation.SendEDU(edu, p.ServerName, []spec.ServerName{server}); err != nil {
			return err
		}
	}
	return nil
}
