package client

import (
	"context"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/matrix-org/dendrite/msc4244/client/dispatch"
	"github.com/matrix-org/dendrite/msc4244/client/matrix"
	"github.com/matrix-org/dendrite/msc4244/client/mlsroom"
)

// KeyPackages the device keeps on its server: at least MinKeyPackages
// one-time ones (topped up to TargetKeyPackages when fewer remain) and one
// last-resort one.
const (
	MinKeyPackages    = 5
	TargetKeyPackages = 10
)

// keyPackages is the "keypackages" record: the private halves of the
// device's uploaded KeyPackages, by ID.
type keyPackages struct {
	ByID map[string]*mlsroom.KeyPackage `json:"by_id"`
	// LastResort is the ID of the current last-resort KeyPackage.
	LastResort string `json:"last_resort,omitempty"`
	// Uploaded is the server's last count of unclaimed one-time ones.
	Uploaded int `json:"uploaded"`
	// Made is when each KeyPackage was made (unix seconds), to forget
	// those that expired unclaimed.
	Made map[string]int64 `json:"made"`
}

// keyPackageLifetime is how long a KeyPackage of ours is valid
// (group.NewKeyPackage's default, from an hour before it is made).
const keyPackageLifetime = 90 * 24 * time.Hour

func (c *Client) loadKeyPackages() (*keyPackages, error) {
	kps := &keyPackages{ByID: map[string]*mlsroom.KeyPackage{}, Made: map[string]int64{}}
	_, err := c.store.Get("keypackages", kps)
	return kps, err
}

// replenish uploads KeyPackages when the server holds fewer than
// MinKeyPackages one-time ones (count, or the last known count when count
// is negative), and a last-resort one when there is none. The private
// halves are stored before the upload. The caller holds the lock.
func (c *Client) replenish(ctx context.Context, count int) error {
	kps, err := c.loadKeyPackages()
	if err != nil {
		return err
	}
	if count < 0 {
		count = kps.Uploaded
	}
	kps.Uploaded = count
	upload := map[string]matrix.OneTimeKey{}
	if count < MinKeyPackages {
		for range TargetKeyPackages - count {
			if err = c.newKeyPackage(kps, upload, false); err != nil {
				return err
			}
		}
	}
	if kps.LastResort == "" {
		if err = c.newKeyPackage(kps, upload, true); err != nil {
			return err
		}
	}
	forgetExpired(kps)
	if err = c.store.Put("keypackages", kps); err != nil || len(upload) == 0 {
		return err
	}
	counts, err := c.api.UploadKeys(ctx, matrix.UploadKeysRequest{OneTimeKeys: upload})
	if err != nil {
		return fmt.Errorf("uploading KeyPackages: %w", err)
	}
	kps.Uploaded = counts[matrix.KeyPackageAlgorithm]
	return c.store.Put("keypackages", kps)
}

func (c *Client) newKeyPackage(kps *keyPackages, upload map[string]matrix.OneTimeKey, lastResort bool) error {
	kp, err := c.account.MLS.NewKeyPackage(lastResort)
	if err != nil {
		return err
	}
	kps.ByID[kp.ID] = kp
	kps.Made[kp.ID] = time.Now().Unix()
	if lastResort {
		kps.LastResort = kp.ID
	}
	upload[matrix.KeyPackageAlgorithm+":"+kp.ID] = matrix.OneTimeKey{Key: base64.RawStdEncoding.EncodeToString(kp.Message)}
	return nil
}

// forgetExpired drops the private halves of KeyPackages past their
// lifetime: the server never hands them out.
func forgetExpired(kps *keyPackages) {
	cutoff := time.Now().Add(-keyPackageLifetime).Unix()
	for id, made := range kps.Made {
		if made < cutoff && id != kps.LastResort {
			delete(kps.ByID, id)
			delete(kps.Made, id)
		}
	}
}

// usedKeyPackage forgets a one-time KeyPackage a Welcome used (a
// last-resort one stays). The caller holds the lock.
func (c *Client) usedKeyPackage(id string) error {
	kps, err := c.loadKeyPackages()
	if err != nil || id == kps.LastResort {
		return err
	}
	delete(kps.ByID, id)
	delete(kps.Made, id)
	return c.store.Put("keypackages", kps)
}

// keyCounts tops KeyPackages up when a sync reports few left.
func (b *batch) keyCounts(ctx context.Context, k *dispatch.KeyCounts) error {
	// A sync that reports counts but none for "mls" means none are left.
	err := b.c.replenish(ctx, k.OneTimeKeys[matrix.KeyPackageAlgorithm])
	if Transient(err) {
		return nil // tried again at the next sync's counts
	}
	return err
}

// claimKeyPackage claims a KeyPackage of device and checks it names that
// device.
func (c *Client) claimKeyPackage(ctx context.Context, device mlsroom.Device) ([]byte, error) {
	res, err := c.api.ClaimKeys(ctx, matrix.ClaimKeysRequest{
		OneTimeKeys: map[string]map[string]string{device.UserID: {device.DeviceID: matrix.KeyPackageAlgorithm}},
	})
	if err != nil {
		return nil, err
	}
	for _, key := range res.OneTimeKeys[device.UserID][device.DeviceID] {
		message, err := base64.RawStdEncoding.DecodeString(key.Key)
		if err != nil {
			return nil, fmt.Errorf("the KeyPackage claimed for %s is not unpadded base64", device)
		}
		return message, mlsroom.ClaimedKeyPackage(message, device)
	}
	if failure, ok := res.Failures[serverOf(device.UserID)]; ok {
		return nil, fmt.Errorf("claiming a KeyPackage of %s: its server failed: %s", device, failure)
	}
	return nil, fmt.Errorf("%s has no KeyPackage left on its server", device)
}
