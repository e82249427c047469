package routing

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/matrix-org/dendrite/clientapi/httputil"
	userapi "github.com/matrix-org/dendrite/userapi/api"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/matrix-org/util"

	"github.com/matrix-org/dendrite/msc4244/keyserver/api"
	"github.com/matrix-org/dendrite/msc4244/keyserver/internal"
	"github.com/matrix-org/dendrite/msc4244/keyserver/validate"
)

type uploadKeysRequest struct {
	DeviceKeys   json.RawMessage            `json:"device_keys"`
	OneTimeKeys  map[string]json.RawMessage `json:"one_time_keys"`
	FallbackKeys map[string]json.RawMessage `json:"fallback_keys"`
}

// UploadKeys serves POST /keys/upload. Every part of the request is checked
// before anything is stored: device keys (validate.DeviceKeys), the key id
// of every one-time and fallback key, and every "mls:" KeyPackage. Then the
// KeyPackages are stored, and the rest goes to Dendrite; should Dendrite
// refuse it, the KeyPackages this request stored are deleted again.
func UploadKeys(req *http.Request, keys *internal.KeyServer, userAPI userapi.UserInternalAPI, device *userapi.Device) util.JSONResponse {
	var r uploadKeysRequest
	if resErr := httputil.UnmarshalJSONRequest(req, &r); resErr != nil {
		return *resErr
	}
	if present(r.DeviceKeys) {
		if err := validate.DeviceKeys(r.DeviceKeys, device.UserID, device.ID); err != nil {
			return invalidParam(err.Error())
		}
	}
	for _, id := range slices.Sorted(maps.Keys(r.FallbackKeys)) {
		if _, _, err := validate.KeyID(id); err != nil {
			return invalidParam("fallback_keys: " + err.Error())
		}
	}
	kps, otherKeys, err := keys.ParseOneTimeKeys(device.UserID, device.ID, r.OneTimeKeys)
	if err != nil {
		return invalidParam("one_time_keys: " + err.Error())
	}
	ctx := req.Context()
	stored, err := keys.DB.StoreKeyPackages(ctx, kps)
	var conflict *api.KeyIDConflictError
	if errors.As(err, &conflict) {
		return invalidParam("one_time_keys: " + conflict.Error())
	}
	if err != nil {
		return internalError(req, err, "storing KeyPackages")
	}

	uploadReq := &userapi.PerformUploadKeysRequest{UserID: device.UserID, DeviceID: device.ID}
	if present(r.DeviceKeys) {
		uploadReq.DeviceKeys = []userapi.DeviceKeys{{UserID: device.UserID, DeviceID: device.ID, KeyJSON: r.DeviceKeys}}
	}
	if len(otherKeys) > 0 {
		uploadReq.OneTimeKeys = []userapi.OneTimeKeys{{UserID: device.UserID, DeviceID: device.ID, KeyJSON: otherKeys}}
	}
	var uploadRes userapi.PerformUploadKeysResponse
	err = userAPI.PerformUploadKeys(ctx, uploadReq, &uploadRes)
	if err == nil && uploadRes.Error != nil {
		err = uploadRes.Error
	}
	if err != nil || len(uploadRes.KeyErrors) > 0 {
		if undoErr := keys.DB.DeleteKeyPackages(ctx, device.UserID, device.ID, stored); undoErr != nil {
			util.GetLogger(ctx).WithError(undoErr).Error("keyserver: undoing the KeyPackages of a refused upload failed")
		}
		if err != nil {
			return internalError(req, err, "PerformUploadKeys")
		}
		return invalidParam(keyErrors(uploadRes.KeyErrors))
	}

	counts := make(map[string]int)
	if len(uploadRes.OneTimeKeyCounts) > 0 {
		counts = uploadRes.OneTimeKeyCounts[0].KeyCount
	}
	mls, err := keys.DB.KeyPackageCounts(ctx, device.UserID, device.ID, keys.Now())
	if err != nil {
		return internalError(req, err, "counting KeyPackages")
	}
	counts[api.Algorithm] = mls.OneTime
	return util.JSONResponse{
		Code: http.StatusOK,
		JSON: struct {
			OneTimeKeyCounts map[string]int `json:"one_time_key_counts"`
		}{counts},
	}
}

// present reports whether an optional JSON field was given and not null.
func present(raw json.RawMessage) bool {
	return len(raw) > 0 && string(raw) != "null"
}

// keyErrors describes Dendrite's per-device upload errors in one line.
func keyErrors(errs map[string]map[string]*userapi.KeyError) string {
	var parts []string
	for userID, devices := range errs {
		for deviceID, err := range devices {
			parts = append(parts, fmt.Sprintf("%s %s: %s", userID, deviceID, err.Err))
		}
	}
	slices.Sort(parts)
	return strings.Join(parts, "; ")
}

func invalidParam(msg string) util.JSONResponse {
	return util.JSONResponse{Code: http.StatusBadRequest, JSON: spec.InvalidParam(msg)}
}

func internalError(req *http.Request, err error, what string) util.JSONResponse {
	util.GetLogger(req.Context()).WithError(err).Error("keyserver: " + what + " failed")
	return util.JSONResponse{Code: http.StatusInternalServerError, JSON: spec.InternalServerError{}}
}
