package divert

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/matrix-org/dendrite/setup/jetstream"
	"github.com/matrix-org/dendrite/syncapi/types"
	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/nats-io/nats.go"
	"github.com/tidwall/gjson"

	"github.com/matrix-org/dendrite/msc4244/mlsds/api"
)

const topic = "OutputSendToDeviceEvent"

// published records what reaches the real JetStream.
type published struct {
	nats.JetStreamContext
	msgs []*nats.Msg
}

func (p *published) PublishMsg(m *nats.Msg, _ ...nats.PubOpt) (*nats.PubAck, error) {
	p.msgs = append(p.msgs, m)
	return &nats.PubAck{}, nil
}

// receiver records what reaches the DS.
type receiver struct {
	api.DeliveryServiceAPI
	senders []api.Device
	fail    error
}

func (r *receiver) Receive(_ context.Context, sender api.Device, eventType string, content json.RawMessage) error {
	if eventType != api.EventMessage || !json.Valid(content) {
		return errors.New("unexpected message")
	}
	r.senders = append(r.senders, sender)
	return r.fail
}

func isLocal(name spec.ServerName) bool { return name == "ds.example" }

// toDevice builds the JetStream message SyncAPIProducer.SendToDevice
// publishes for one recipient device.
func toDevice(t *testing.T, sender, userID, deviceID, content string) *nats.Msg {
	t.Helper()
	data, err := json.Marshal(&types.OutputSendToDeviceEvent{
		UserID: userID, DeviceID: deviceID,
		SendToDeviceEvent: gomatrixserverlib.SendToDeviceEvent{Sender: sender, Type: api.EventMessage, Content: json.RawMessage(content)},
	})
	if err != nil {
		t.Fatal(err)
	}
	m := nats.NewMsg(topic)
	m.Data = data
	m.Header.Set(jetstream.UserID, userID)
	return m
}

func TestClientMessages(t *testing.T) {
	out, ds := &published{}, &receiver{}
	js := ForClient(context.Background(), out, topic, isLocal, ds, "ALICE")
	publish := func(m *nats.Msg) {
		t.Helper()
		if _, err := js.PublishMsg(m); err != nil {
			t.Fatal(err)
		}
	}

	publish(&nats.Msg{Subject: "OtherTopic", Header: nats.Header{jetstream.UserID: {"@:ds.example"}}})
	publish(toDevice(t, "@alice:ds.example", "@bob:ds.example", "BOB", `{}`))
	if len(out.msgs) != 2 || len(ds.senders) != 0 {
		t.Fatalf("ordinary messages: %d published, %d to the DS", len(out.msgs), len(ds.senders))
	}

	publish(toDevice(t, "@alice:ds.example", "@:ds.example", "", `{"room_id":"!r:ds.example"}`))
	if len(out.msgs) != 2 || len(ds.senders) != 1 || ds.senders[0] != (api.Device{UserID: "@alice:ds.example", DeviceID: "ALICE"}) {
		t.Fatalf("message to the DS: %d published, senders %v", len(out.msgs), ds.senders)
	}

	publish(toDevice(t, "@alice:ds.example", "@:ds.example", "OTHER", `{}`))
	if len(out.msgs) != 2 || len(ds.senders) != 1 {
		t.Fatalf("message to another device of the server user: %d published, %d to the DS", len(out.msgs), len(ds.senders))
	}

	// To a remote DS: published, with the sender's device stamped over
	// whatever the client claimed.
	publish(toDevice(t, "@alice:ds.example", "@:remote.example", "", `{"room_id":"!r:remote.example","sender_device":"FORGED"}`))
	if len(out.msgs) != 3 {
		t.Fatalf("message to a remote DS was not published")
	}
	var ote types.OutputSendToDeviceEvent
	if err := json.Unmarshal(out.msgs[2].Data, &ote); err != nil {
		t.Fatal(err)
	}
	content := gjson.ParseBytes(ote.Content)
	if content.Get("sender_device").Str != "ALICE" || content.Get("room_id").Str != "!r:remote.example" || ote.UserID != "@:remote.example" {
		t.Fatalf("relayed message: %s", out.msgs[2].Data)
	}
	if js.Failed() {
		t.Fatal("Failed() after successful messages")
	}
}

func TestFederationMessages(t *testing.T) {
	out, ds := &published{}, &receiver{}
	js := ForFederation(context.Background(), out, topic, isLocal, ds)
	if _, err := js.PublishMsg(toDevice(t, "@bob:remote.example", "@:ds.example", "", `{"sender_device":"BOB"}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := js.PublishMsg(toDevice(t, "@bob:remote.example", "@:ds.example", "", `{"room_id":"!r:ds.example"}`)); err != nil {
		t.Fatal(err)
	}
	if len(out.msgs) != 0 || len(ds.senders) != 1 || ds.senders[0] != (api.Device{UserID: "@bob:remote.example", DeviceID: "BOB"}) {
		t.Fatalf("%d published, senders %v; want only the message with sender_device at the DS", len(out.msgs), ds.senders)
	}

	ds.fail = errors.New("database down")
	if _, err := js.PublishMsg(toDevice(t, "@bob:remote.example", "@:ds.example", "", `{"sender_device":"BOB"}`)); err == nil {
		t.Fatal("a DS failure was not reported")
	}
	if !js.Failed() {
		t.Fatal("Failed() is false after a DS failure")
	}
}

// FuzzStampDevice: any content either is refused or comes out as a JSON
// object whose sender_device is the device.
func FuzzStampDevice(f *testing.F) {
	f.Add([]byte(`{"room_id":"!r:x","sender_device":"FORGED"}`))
	f.Fuzz(func(t *testing.T, content []byte) {
		ote := &types.OutputSendToDeviceEvent{UserID: "@:remote.example", SendToDeviceEvent: gomatrixserverlib.SendToDeviceEvent{Content: content}}
		data, err := stampDevice(ote, "DEVICE")
		if err != nil {
			return
		}
		var out types.OutputSendToDeviceEvent
		if err = json.Unmarshal(data, &out); err != nil {
			t.Fatalf("stamped message is not JSON: %v", err)
		}
		// Both the first and the last of duplicated keys are checked:
		// readers differ in which they take.
		var last struct {
			SenderDevice string `json:"sender_device"`
		}
		if err = json.Unmarshal(out.Content, &last); err != nil || last.SenderDevice != "DEVICE" {
			t.Fatalf("sender_device (last) is %q in %s", last.SenderDevice, out.Content)
		}
		if got := gjson.GetBytes(out.Content, "sender_device"); got.Str != "DEVICE" {
			t.Fatalf("sender_device (first) is %s in %s", got.Raw, out.Content)
		}
	})
}
