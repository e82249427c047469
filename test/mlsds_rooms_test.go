package test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/matrix-org/dendrite/msc4244/test/client"
	"github.com/matrix-org/dendrite/msc4244/test/harness"
	"github.com/matrix-org/dendrite/msc4244/test/match"
	"github.com/matrix-org/dendrite/msc4244/test/must"
)

const (
	mlsRoomVersion = "org.matrix.msc4244"
	mlsAlgorithm   = "m.mls.10"
)

// mlsRoomBody is the /createRoom body of an MLS room.
func mlsRoomBody(extra map[string]any) map[string]any {
	body := map[string]any{
		"room_version":     mlsRoomVersion,
		"creation_content": map[string]any{"encryption_algorithm": mlsAlgorithm},
	}
	for k, v := range extra {
		body[k] = v
	}
	return body
}

func clientV3(segments ...string) []string {
	return append([]string{"_matrix", "client", "v3"}, segments...)
}

// Room creation follows the MLS rules of the profile, /capabilities lists
// the room version, and make_join offers another server to join an MLS
// room in it.
func TestMLSRoomCreation(t *testing.T) {
	harness.ForEachDatabase(t, func(t *testing.T, db harness.DB) {
		d := harness.Deploy(t, db, 2)
		a, b := d.Servers[0], d.Servers[1]
		alice := a.MustRegisterUser(t, "alice")

		res := alice.Do(t, http.MethodGet, clientV3("capabilities"))
		must.MatchResponse(t, res, match.HTTPResponse{StatusCode: http.StatusOK, JSON: []match.JSON{
			match.JSONKeyEqual("capabilities.m\\.room_versions.available."+`org\.matrix\.msc4244`, "unstable"),
		}})

		roomID := alice.MustCreateRoom(t, mlsRoomBody(map[string]any{"preset": "public_chat"}))
		create := alice.MustDo(t, http.MethodGet, clientV3("rooms", roomID, "state", "m.room.create", ""))
		must.MatchJSON(t, create,
			match.JSONKeyEqual("room_version", mlsRoomVersion),
			match.JSONKeyEqual("encryption_algorithm", mlsAlgorithm),
		)
		unstable := alice.MustCreateRoom(t, map[string]any{
			"room_version":     mlsRoomVersion,
			"creation_content": map[string]any{"org.matrix.msc4245.encryption_algorithm": mlsAlgorithm},
		})
		must.MatchJSON(t, alice.MustDo(t, http.MethodGet, clientV3("rooms", unstable, "state", "m.room.create", "")),
			match.JSONKeyEqual(`org\.matrix\.msc4245\.encryption_algorithm`, mlsAlgorithm))

		// B asks A for a join template (RFC: make_join), listing the room
		// versions it supports.
		bob := b.UserID("bob")
		makeJoin := "/_matrix/federation/v1/make_join/" + url.PathEscape(roomID) + "/" + url.PathEscape(bob)
		body := federationGET(t, b, a, makeJoin+"?ver=11&ver="+mlsRoomVersion, http.StatusOK)
		must.MatchJSON(t, gjson.ParseBytes(body),
			match.JSONKeyEqual("room_version", mlsRoomVersion),
			match.JSONKeyEqual("event.type", "m.room.member"),
			match.JSONKeyEqual("event.state_key", bob),
			match.JSONKeyEqual("event.content.membership", "join"),
		)
		body = federationGET(t, b, a, makeJoin+"?ver=11", http.StatusBadRequest)
		must.MatchJSON(t, gjson.ParseBytes(body), match.JSONKeyEqual("errcode", "M_INCOMPATIBLE_ROOM_VERSION"))

		refused := []struct {
			name string
			body map[string]any
		}{
			{"m.mls.10 in room version 11", map[string]any{"room_version": "11", "creation_content": map[string]any{"encryption_algorithm": mlsAlgorithm}}},
			{"m.mls.10 in the default room version", map[string]any{"creation_content": map[string]any{"encryption_algorithm": mlsAlgorithm}}},
			{"unstable key in room version 11", map[string]any{"room_version": "11", "creation_content": map[string]any{"org.matrix.msc4245.encryption_algorithm": mlsAlgorithm}}},
			{"MLS room version without algorithm", map[string]any{"room_version": mlsRoomVersion}},
			{"MLS room version with Megolm", map[string]any{"room_version": mlsRoomVersion, "creation_content": map[string]any{"encryption_algorithm": "m.megolm.v1.aes-sha2"}}},
			{"unknown MLS algorithm", mlsRoomBody(map[string]any{"creation_content": map[string]any{"encryption_algorithm": "m.mls.99"}})},
			{"two different algorithms", mlsRoomBody(map[string]any{"creation_content": map[string]any{
				"encryption_algorithm": mlsAlgorithm, "org.matrix.msc4245.encryption_algorithm": "m.mls.11",
			}})},
			{"m.room.encryption m.mls.10 in initial_state", map[string]any{"initial_state": []any{map[string]any{
				"type": "m.room.encryption", "state_key": "", "content": map[string]any{"algorithm": mlsAlgorithm},
			}}}},
		}
		for _, tc := range refused {
			res := alice.Do(t, http.MethodPost, clientV3("createRoom"), client.WithJSON(tc.body))
			if res.StatusCode != http.StatusBadRequest {
				t.Errorf("%s: HTTP %d, want 400", tc.name, res.StatusCode)
				continue
			}
			must.MatchResponse(t, res, match.MatrixError(http.StatusBadRequest, "M_INVALID_PARAM"))
		}

		// m.room.encryption naming MLS is refused in any room, with or
		// without a state key in the path; Megolm still works.
		plain := alice.MustCreateRoom(t, nil)
		for _, path := range [][]string{
			clientV3("rooms", plain, "state", "m.room.encryption"),
			clientV3("rooms", plain, "state", "m.room.encryption", ""),
			clientV3("rooms", roomID, "state", "m.room.encryption", ""),
		} {
			res := alice.Do(t, http.MethodPut, path, client.WithJSON(map[string]any{"algorithm": mlsAlgorithm}))
			must.MatchResponse(t, res, match.MatrixError(http.StatusBadRequest, "M_INVALID_PARAM"))
		}
		alice.MustSendState(t, plain, "m.room.encryption", "", map[string]any{"algorithm": "m.megolm.v1.aes-sha2"})
		must.MatchJSON(t, alice.MustDo(t, http.MethodGet, clientV3("rooms", plain, "state", "m.room.encryption", "")),
			match.JSONKeyEqual("algorithm", "m.megolm.v1.aes-sha2"))
	})
}
