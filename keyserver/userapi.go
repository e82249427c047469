package keyserver

import (
	"context"

	userapi "github.com/matrix-org/dendrite/userapi/api"
	"github.com/matrix-org/util"

	"github.com/matrix-org/dendrite/msc4244/keyserver/api"
	"github.com/matrix-org/dendrite/msc4244/keyserver/internal"
)

// UserAPI decorates Dendrite's user API for the components built on it:
// one-time key counts include "mls", and deleting devices or deactivating
// an account deletes their KeyPackages. Other methods go straight to the
// wrapped user API.
type UserAPI struct {
	userapi.UserInternalAPI
	keys *internal.KeyServer
}

var _ userapi.UserInternalAPI = (*UserAPI)(nil)

// QueryOneTimeKeys adds the device's unclaimed one-time KeyPackages to
// Dendrite's counts, as "mls", and records the counts for the /sync
// middleware (last-resort KeyPackages are reported as fallback keys).
func (u *UserAPI) QueryOneTimeKeys(ctx context.Context, req *userapi.QueryOneTimeKeysRequest, res *userapi.QueryOneTimeKeysResponse) error {
	if err := u.UserInternalAPI.QueryOneTimeKeys(ctx, req, res); err != nil || res.Error != nil {
		return err
	}
	counts, err := u.keys.DB.KeyPackageCounts(ctx, req.UserID, req.DeviceID, u.keys.Now())
	if err != nil {
		res.Error = &userapi.KeyError{Err: "counting KeyPackages: " + err.Error()}
		return nil
	}
	if res.Count.KeyCount == nil {
		res.Count.KeyCount = make(map[string]int)
	}
	res.Count.KeyCount[api.Algorithm] = counts.OneTime
	internal.RecordCounts(ctx, counts)
	return nil
}

// PerformDeviceDeletion deletes the devices and then their KeyPackages.
func (u *UserAPI) PerformDeviceDeletion(ctx context.Context, req *userapi.PerformDeviceDeletionRequest, res *userapi.PerformDeviceDeletionResponse) error {
	deleted := req.DeviceIDs
	if len(deleted) == 0 { // all the user's devices but ExceptDeviceID
		all, err := u.deviceIDs(ctx, req.UserID)
		if err != nil {
			return err
		}
		for _, deviceID := range all {
			if deviceID != req.ExceptDeviceID {
				deleted = append(deleted, deviceID)
			}
		}
	}
	if err := u.UserInternalAPI.PerformDeviceDeletion(ctx, req, res); err != nil {
		return err
	}
	u.deleteKeyPackages(ctx, req.UserID, deleted)
	return nil
}

// PerformAccountDeactivation deactivates the account, which deletes its
// devices, and then deletes their KeyPackages. (Dendrite deletes the
// devices with an internal call this decorator does not see.)
func (u *UserAPI) PerformAccountDeactivation(ctx context.Context, req *userapi.PerformAccountDeactivationRequest, res *userapi.PerformAccountDeactivationResponse) error {
	serverName := req.ServerName
	if serverName == "" {
		serverName = u.keys.Cfg.ServerName
	}
	userID := "@" + req.Localpart + ":" + string(serverName)
	deviceIDs, err := u.deviceIDs(ctx, userID)
	if err != nil {
		return err
	}
	if err = u.UserInternalAPI.PerformAccountDeactivation(ctx, req, res); err != nil {
		return err
	}
	u.deleteKeyPackages(ctx, userID, deviceIDs)
	return nil
}

func (u *UserAPI) deviceIDs(ctx context.Context, userID string) ([]string, error) {
	var res userapi.QueryDevicesResponse
	if err := u.UserInternalAPI.QueryDevices(ctx, &userapi.QueryDevicesRequest{UserID: userID}, &res); err != nil {
		return nil, err
	}
	ids := make([]string, len(res.Devices))
	for i := range res.Devices {
		ids[i] = res.Devices[i].ID
	}
	return ids, nil
}

// deleteKeyPackages deletes the KeyPackages of devices that no longer
// exist. A failure is logged, not returned: the devices are gone, and a
// KeyPackage of a deleted device can still be claimed but never used.
func (u *UserAPI) deleteKeyPackages(ctx context.Context, userID string, deviceIDs []string) {
	if err := u.keys.DB.DeleteDeviceKeyPackages(ctx, userID, deviceIDs); err != nil {
		util.GetLogger(ctx).WithError(err).Error("keyserver: deleting the KeyPackages of deleted devices failed")
	}
}
