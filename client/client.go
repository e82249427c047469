// Package client is the MLS client SDK for homeservers that implement
// MSC4244 (docs/mls-profile.md): one device of one user, its state kept in
// an encrypted profile folder (package store), talking to its homeserver
// only over HTTP (package matrix).
//
// Several processes may use one profile at once (a CLI's `listen` in one
// terminal, `send` in another): every change of local state happens under
// the profile's lock, re-reading the state first, and whatever one process
// receives is written to the profile's journal, which every process can
// read (Journal, Listen).
package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/matrix-org/dendrite/msc4244/client/devicekeys"
	"github.com/matrix-org/dendrite/msc4244/client/matrix"
	"github.com/matrix-org/dendrite/msc4244/client/mlsroom"
	"github.com/matrix-org/dendrite/msc4244/client/store"
)

// Profile is where a device's state lives and what unlocks it.
type Profile struct {
	// Dir is the profile folder.
	Dir string
	Key store.Key
	// HTTP, when set, sends the requests (tests, proxies).
	HTTP *http.Client
	// DSWait is how long operations wait for the Delivery Service's answer
	// (0: DefaultDSWait).
	DSWait time.Duration
}

// Client is a logged-in device with an open profile.
type Client struct {
	api     *matrix.Client
	store   *store.Store
	account account
	dsWait  time.Duration
}

// account is the profile's "account" record.
type account struct {
	Homeserver string `json:"homeserver"`
	matrix.Credentials
	DeviceKeys *devicekeys.Keys `json:"device_keys"`
	// DeviceKeysUploaded is false until the server took the device keys.
	DeviceKeysUploaded bool `json:"device_keys_uploaded"`
	// MLS is the device's MLS signature key and credential.
	MLS *mlsroom.Identity `json:"mls"`
}

// Record names in the store.
const (
	recordAccount = "account"
	recordSync    = "sync"
)

// ErrNoProfile is returned by Open for a folder without a profile.
var ErrNoProfile = errors.New("no profile in this folder (register or login first)")

// Open opens an existing profile.
func Open(p Profile) (*Client, error) {
	if !store.Exists(p.Dir) {
		return nil, fmt.Errorf("%s: %w", p.Dir, ErrNoProfile)
	}
	s, err := store.Open(p.Dir, p.Key)
	if err != nil {
		return nil, err
	}
	c := &Client{store: s, dsWait: p.dsWait()}
	found, err := s.Get(recordAccount, &c.account)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("%s: the profile has no account record", p.Dir)
	}
	c.api = newAPI(p, c.account.Homeserver).WithCredentials(c.account.Credentials)
	return c, nil
}

func (p Profile) dsWait() time.Duration {
	if p.DSWait > 0 {
		return p.DSWait
	}
	return DefaultDSWait
}

func newAPI(p Profile, homeserver string) *matrix.Client {
	api := matrix.New(homeserver)
	if p.HTTP != nil {
		api.HTTP = p.HTTP
	}
	return api
}

// Register creates the account username on the homeserver at homeserver
// (m.login.dummy registration), creates the profile for its first device
// and publishes the device keys. The profile folder must not exist yet; if
// registration fails, nothing is left behind.
func Register(ctx context.Context, p Profile, homeserver string, r matrix.RegisterRequest) (*Client, error) {
	return create(ctx, p, homeserver, func(api *matrix.Client) (matrix.Credentials, error) {
		return api.Register(ctx, r)
	})
}

// Login logs an existing account in as a new device (or the device r names)
// and creates the profile for it, as Register does.
func Login(ctx context.Context, p Profile, homeserver string, r matrix.LoginRequest) (*Client, error) {
	return create(ctx, p, homeserver, func(api *matrix.Client) (matrix.Credentials, error) {
		return api.Login(ctx, r)
	})
}

// create makes the profile in a temporary folder beside p.Dir and renames
// it into place once the device exists, so that a failure leaves no
// profile.
func create(ctx context.Context, p Profile, homeserver string, getDevice func(*matrix.Client) (matrix.Credentials, error)) (*Client, error) {
	if _, err := os.Stat(p.Dir); err == nil {
		return nil, fmt.Errorf("%s exists already: a profile folder is made by register or login", p.Dir)
	}
	parent := filepath.Dir(filepath.Clean(p.Dir))
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(p.Dir)+".new-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp) // nolint: errcheck // gone after the rename
	s, err := store.Create(filepath.Join(tmp, "p"), p.Key)
	if err != nil {
		return nil, err
	}
	keys, err := devicekeys.Generate()
	if err != nil {
		return nil, err
	}
	api := newAPI(p, homeserver)
	creds, err := getDevice(api)
	if err != nil {
		return nil, err
	}
	identity, err := mlsroom.NewIdentity(mlsroom.Device{UserID: creds.UserID, DeviceID: creds.DeviceID}, mlsroom.DefaultSuite)
	if err != nil {
		return nil, err
	}
	c := &Client{
		api:     api.WithCredentials(creds),
		store:   s,
		dsWait:  p.dsWait(),
		account: account{Homeserver: api.BaseURL, Credentials: creds, DeviceKeys: keys, MLS: identity},
	}
	if err = s.Put(recordAccount, &c.account); err != nil {
		return nil, err
	}
	if err = os.Rename(filepath.Join(tmp, "p"), p.Dir); err != nil {
		return nil, fmt.Errorf("moving the new profile into place: %w", err)
	}
	if c.store, err = store.Open(p.Dir, p.Key); err != nil {
		return nil, err
	}
	return c, c.ensureKeys(ctx)
}

// ensureKeys publishes the device keys unless the server has them, and
// keeps enough KeyPackages uploaded.
func (c *Client) ensureKeys(ctx context.Context) error {
	if err := c.ensureDeviceKeys(ctx); err != nil {
		return err
	}
	return c.locked(ctx, func() error { return c.replenish(ctx, -1) })
}

// ensureDeviceKeys uploads the device keys unless the server has them.
func (c *Client) ensureDeviceKeys(ctx context.Context) error {
	if c.account.DeviceKeysUploaded {
		return nil
	}
	dk, err := c.account.DeviceKeys.DeviceKeys(c.account.UserID, c.account.DeviceID)
	if err != nil {
		return err
	}
	if _, err = c.api.UploadKeys(ctx, matrix.UploadKeysRequest{DeviceKeys: dk}); err != nil {
		return fmt.Errorf("uploading the device keys: %w", err)
	}
	return c.updateAccount(ctx, func(a *account) { a.DeviceKeysUploaded = true })
}

// updateAccount changes the account record under the profile lock.
func (c *Client) updateAccount(ctx context.Context, change func(*account)) error {
	return c.locked(ctx, func() error {
		if _, err := c.store.Get(recordAccount, &c.account); err != nil {
			return err
		}
		change(&c.account)
		return c.store.Put(recordAccount, &c.account)
	})
}

// locked runs fn under the profile lock.
func (c *Client) locked(ctx context.Context, fn func() error) error {
	unlock, err := c.store.Lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	return fn()
}

// UserID is the user's Matrix ID.
func (c *Client) UserID() string { return c.account.UserID }

// DeviceID is this device's ID.
func (c *Client) DeviceID() string { return c.account.DeviceID }

// Homeserver is the client-server API URL of the user's homeserver.
func (c *Client) Homeserver() string { return c.account.Homeserver }

// ServerName is the server part of the user's ID.
func (c *Client) ServerName() string { return serverOf(c.account.UserID) }

// API gives direct access to the homeserver API as this device.
func (c *Client) API() *matrix.Client { return c.api }

// Ed25519 is the device's public signing key (its fingerprint).
func (c *Client) Ed25519() string {
	k, _ := c.account.DeviceKeys.Ed25519() // checked when the profile was made
	return k
}

// Logout deletes the device on the server. The profile stays on disk (its
// requests now fail with M_UNKNOWN_TOKEN); remove its folder to forget it.
func (c *Client) Logout(ctx context.Context) error {
	return c.api.Logout(ctx)
}

// serverOf returns the server name of a user, room or event ID.
func serverOf(id string) string {
	_, server, _ := strings.Cut(id, ":")
	return server
}
