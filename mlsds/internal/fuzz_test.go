package internal

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/matrix-org/dendrite/msc4244/client/mlsroom"
	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
	"github.com/matrix-org/dendrite/msc4244/mlsds/api"
)

// genesisSeed returns a valid genesis GroupInfo message for testRoom.
func genesisSeed(tb testing.TB) []byte {
	tb.Helper()
	id, err := mlsroom.NewIdentity(mlsroom.Device{UserID: "@alice:ds.example", DeviceID: "ALICE"}, mlsroom.DefaultSuite)
	if err != nil {
		tb.Fatal(err)
	}
	sender := &mls.ExternalSender{SignatureKey: make([]byte, 32), Credential: mls.Credential{Type: mls.CredentialBasic, Identity: []byte("@:ds.example")}}
	_, gi, err := mlsroom.Create(id, testRoom, codec.Marshal(sender))
	if err != nil {
		tb.Fatal(err)
	}
	return gi
}

// FuzzParseMessage feeds arbitrary m.mls.message contents to the parser:
// it never panics, and refuses with M_MLS_BAD_REQUEST only.
func FuzzParseMessage(f *testing.F) {
	gi := genesisSeed(f)
	for _, content := range []any{
		map[string]any{"room_id": testRoom, "message": encodeBase64(gi)},
		map[string]any{"room_id": testRoom, "message": encodeBase64(gi), "commit_info": map[string]any{"group_info": encodeBase64(gi), "welcome": "AAE"}},
		map[string]any{"room_id": testRoom, "message": "not*base64"},
	} {
		data, err := json.Marshal(content)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, content []byte) {
		in := &incoming{}
		err := in.parse(content)
		if err == nil {
			_, err = in.commitInfo()
		}
		var rej *rejection
		if err != nil && (!errors.As(err, &rej) || rej.code != api.ErrBadRequest) {
			t.Fatalf("parse error %v is not an M_MLS_BAD_REQUEST rejection", err)
		}
		if in.raw == nil && err == nil {
			t.Fatal("parsed without keeping the message bytes")
		}
	})
}

// FuzzPublicView feeds arbitrary GroupInfo messages to the genesis checks
// and arbitrary bytes to Load: errors, never panics, and anything accepted
// at epoch 0 loads back.
func FuzzPublicView(f *testing.F) {
	f.Add(genesisSeed(f))
	view := NewPublicView(time.Now)
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = view.Load(data)
		var msg mls.MLSMessage
		if codec.Unmarshal(data, &msg) != nil || msg.GroupInfo == nil {
			return
		}
		group, err := view.Genesis(msg.GroupInfo)
		if err != nil {
			return
		}
		state, err := group.Marshal()
		if err != nil || len(group.Members()) == 0 || group.Epoch() != msg.GroupInfo.GroupContext.Epoch {
			t.Fatalf("accepted group: %d members, epoch %d, %v", len(group.Members()), group.Epoch(), err)
		}
		if _, err = view.Load(state); err != nil {
			t.Fatalf("an accepted group does not load back: %v", err)
		}
	})
}
