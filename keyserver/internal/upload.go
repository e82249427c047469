package internal

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/matrix-org/dendrite/msc4244/keyserver/api"
	"github.com/matrix-org/dendrite/msc4244/keyserver/keypackage"
	"github.com/matrix-org/dendrite/msc4244/keyserver/validate"
)

// UploadError rejects a whole upload, naming the key id at fault.
type UploadError struct {
	KeyID  string
	Reason string
}

func (e *UploadError) Error() string { return e.KeyID + ": " + e.Reason }

// KeyObject is the value of an "mls:<key_id>" one-time key, in uploads and
// in claim responses. Fallback is set on a last-resort KeyPackage, as on
// Olm fallback keys.
type KeyObject struct {
	Key      string `json:"key"`
	Fallback bool   `json:"fallback,omitempty"`
}

// ParseOneTimeKeys checks every key id of an upload's one_time_keys and
// every "mls:" KeyPackage among them (see keypackage.Parse). It returns the
// KeyPackages and, for Dendrite, the keys of the other algorithms. The first
// fault, in key id order, is returned as an *UploadError.
func (k *KeyServer) ParseOneTimeKeys(userID, deviceID string, keys map[string]json.RawMessage) ([]api.KeyPackage, map[string]json.RawMessage, error) {
	now := k.Now()
	var kps []api.KeyPackage
	others := make(map[string]json.RawMessage, len(keys))
	for _, id := range slices.Sorted(maps.Keys(keys)) {
		algorithm, keyID, err := validate.KeyID(id)
		if err != nil {
			return nil, nil, &UploadError{KeyID: id, Reason: err.Error()}
		}
		if algorithm != api.Algorithm {
			others[id] = keys[id]
			continue
		}
		kp, err := parseKeyObject(keys[id], userID, deviceID, now)
		if err != nil {
			return nil, nil, &UploadError{KeyID: id, Reason: err.Error()}
		}
		kp.KeyID = keyID
		kps = append(kps, *kp)
	}
	return kps, others, nil
}

// parseKeyObject decodes and checks the KeyPackage in a KeyObject.
func parseKeyObject(raw json.RawMessage, userID, deviceID string, now time.Time) (*api.KeyPackage, error) {
	var obj struct {
		Key *string `json:"key"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil || obj.Key == nil {
		return nil, fmt.Errorf(`not an object {"key": "<unpadded base64 KeyPackage>"}`)
	}
	data, err := base64.RawStdEncoding.Strict().DecodeString(*obj.Key)
	if err != nil {
		return nil, fmt.Errorf("key is not unpadded base64")
	}
	return keypackage.Parse(data, userID, deviceID, now)
}
