package routing

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestCheckCreateRoom(t *testing.T) {
	for _, tc := range []struct {
		name string
		body string
		ok   bool
	}{
		{"plain room", `{}`, true},
		{"Megolm room", `{"creation_content":{"encryption_algorithm":"m.megolm.v1.aes-sha2"}}`, true},
		{"MLS room", `{"room_version":"org.matrix.msc4244","creation_content":{"encryption_algorithm":"m.mls.10"}}`, true},
		{"MLS room, unstable key", `{"room_version":"org.matrix.msc4244","creation_content":{"org.matrix.msc4245.encryption_algorithm":"m.mls.10"}}`, true},
		{"MLS room, both keys alike", `{"room_version":"org.matrix.msc4244","creation_content":{"encryption_algorithm":"m.mls.10","org.matrix.msc4245.encryption_algorithm":"m.mls.10"}}`, true},
		{"Megolm initial state", `{"initial_state":[{"type":"m.room.encryption","state_key":"","content":{"algorithm":"m.megolm.v1.aes-sha2"}}]}`, true},
		{"not JSON: left to Dendrite", `{"room_version":`, true},
		{"creation_content not an object: left to Dendrite", `{"creation_content":3}`, true},
		{"m.mls.10 in v11", `{"room_version":"11","creation_content":{"encryption_algorithm":"m.mls.10"}}`, false},
		{"m.mls.10 without version", `{"creation_content":{"encryption_algorithm":"m.mls.10"}}`, false},
		{"MLS version without algorithm", `{"room_version":"org.matrix.msc4244"}`, false},
		{"MLS version with Megolm", `{"room_version":"org.matrix.msc4244","creation_content":{"encryption_algorithm":"m.megolm.v1.aes-sha2"}}`, false},
		{"unknown MLS algorithm", `{"room_version":"org.matrix.msc4244","creation_content":{"encryption_algorithm":"m.mls.11"}}`, false},
		{"keys disagree", `{"room_version":"org.matrix.msc4244","creation_content":{"encryption_algorithm":"m.mls.10","org.matrix.msc4245.encryption_algorithm":"m.mls.11"}}`, false},
		{"MLS initial m.room.encryption", `{"initial_state":[{"type":"m.room.encryption","state_key":"","content":{"algorithm":"m.mls.10"}}]}`, false},
	} {
		res := checkCreateRoom([]byte(tc.body))
		if tc.ok && res != nil {
			t.Errorf("%s: refused: %+v", tc.name, res.JSON)
		}
		if !tc.ok {
			if res == nil {
				t.Errorf("%s: accepted", tc.name)
				continue
			}
			body, _ := json.Marshal(res.JSON)
			if res.Code != 400 || !strings.Contains(string(body), `"errcode":"M_INVALID_PARAM"`) {
				t.Errorf("%s: HTTP %d %s, want 400 M_INVALID_PARAM", tc.name, res.Code, body)
			}
		}
	}
}
