package routing

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/matrix-org/util"

	"github.com/matrix-org/dendrite/msc4244/mlsds/api"
	"github.com/matrix-org/dendrite/msc4244/roomserver"
)

// checkCreateRoom applies the MLS rules of docs/mls-profile.md to a
// /createRoom body: encryption_algorithm m.mls.10 (or its MSC4245 unstable
// key) requires room version org.matrix.msc4244 and the other way round, no
// other m.mls.* algorithm exists, and no initial m.room.encryption event
// names an m.mls.* algorithm. A body that is not the JSON Dendrite expects
// is left for Dendrite's handler to refuse.
func checkCreateRoom(body []byte) *util.JSONResponse {
	var req struct {
		RoomVersion     string          `json:"room_version"`
		CreationContent json.RawMessage `json:"creation_content"`
		InitialState    []struct {
			Type    string          `json:"type"`
			Content json.RawMessage `json:"content"`
		} `json:"initial_state"`
	}
	if json.Unmarshal(body, &req) != nil {
		return nil
	}
	if errRes := checkCreationContent(req.CreationContent, req.RoomVersion); errRes != nil {
		return errRes
	}
	for _, ev := range req.InitialState {
		if ev.Type == spec.MRoomEncryption {
			if errRes := checkEncryptionEvent(ev.Content); errRes != nil {
				return errRes
			}
		}
	}
	return nil
}

func checkCreationContent(content json.RawMessage, roomVersion string) *util.JSONResponse {
	var keys map[string]json.RawMessage
	if len(content) > 0 && json.Unmarshal(content, &keys) != nil {
		return nil
	}
	stable, hasStable := keys[api.CreateKeyEncryptionAlgorithm]
	unstable, hasUnstable := keys[api.CreateKeyEncryptionAlgorithmUnstable]
	if hasStable && hasUnstable && string(stable) != string(unstable) {
		return invalidParam("creation_content names two different encryption algorithms")
	}
	algorithm := api.EncryptionAlgorithmOf(content)
	isMLSVersion := roomVersion == string(roomserver.RoomVersion)
	switch {
	case strings.HasPrefix(algorithm, api.AlgorithmPrefix) && algorithm != api.EncryptionAlgorithm:
		return invalidParam("unsupported MLS encryption algorithm " + algorithm + "; this server supports " + api.EncryptionAlgorithm)
	case algorithm == api.EncryptionAlgorithm && !isMLSVersion:
		return invalidParam("encryption_algorithm " + api.EncryptionAlgorithm + " requires room_version " + string(roomserver.RoomVersion))
	case isMLSVersion && algorithm != api.EncryptionAlgorithm:
		return invalidParam("room version " + string(roomserver.RoomVersion) + " requires creation_content.encryption_algorithm " + api.EncryptionAlgorithm)
	}
	return nil
}

// checkEncryptionEvent refuses m.room.encryption content naming an MLS
// algorithm: MLS rooms say so in their create event only.
func checkEncryptionEvent(content json.RawMessage) *util.JSONResponse {
	var c struct {
		Algorithm string `json:"algorithm"`
	}
	if json.Unmarshal(content, &c) == nil && strings.HasPrefix(c.Algorithm, api.AlgorithmPrefix) {
		return invalidParam("m.room.encryption cannot name " + c.Algorithm + ": MLS rooms are created with creation_content.encryption_algorithm")
	}
	return nil
}

func invalidParam(msg string) *util.JSONResponse {
	return &util.JSONResponse{Code: http.StatusBadRequest, JSON: spec.InvalidParam(msg)}
}
