package internal

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/fclient"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/matrix-org/util"

	"github.com/matrix-org/dendrite/msc4244/keyserver/api"
	"github.com/matrix-org/dendrite/msc4244/keyserver/keypackage"
	"github.com/matrix-org/dendrite/msc4244/keyserver/validate"
)

// ProtocolVersion is the only protocol_version a claim may ask for.
const ProtocolVersion = "mls10"

// MLSClaim is the "mls" object of a claim request, from a client or from
// another server.
type MLSClaim struct {
	ProtocolVersion string `json:"protocol_version,omitempty"`
	// AcceptableCiphersuites names suites as RFC 9420 §17.1 does, e.g.
	// "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519", most preferred first.
	AcceptableCiphersuites []string `json:"acceptable_ciphersuites,omitempty"`
	// RequiredCapabilities is the unpadded base64 of the data of a
	// required_capabilities extension (RFC 9420 §11.1).
	RequiredCapabilities string `json:"required_capabilities,omitempty"`
}

// ClaimParams is an MLSClaim checked and decoded.
type ClaimParams struct {
	Suites   []uint16
	Required api.Capabilities
	// claim is the checked MLSClaim, as sent on to other servers.
	claim MLSClaim
}

// ParseMLSClaim checks an "mls" object; nil asks for the defaults:
// protocol mls10, the profile's default suite, no required capabilities.
func ParseMLSClaim(c *MLSClaim) (ClaimParams, error) {
	if c == nil {
		c = &MLSClaim{}
	}
	p := ClaimParams{claim: *c}
	switch c.ProtocolVersion {
	case "":
		p.claim.ProtocolVersion = ProtocolVersion
	case ProtocolVersion:
	default:
		return p, fmt.Errorf("mls.protocol_version %q is not %q", c.ProtocolVersion, ProtocolVersion)
	}
	if len(c.AcceptableCiphersuites) == 0 {
		p.claim.AcceptableCiphersuites = []string{keypackage.CipherSuiteName(keypackage.DefaultCipherSuite)}
	}
	for _, name := range p.claim.AcceptableCiphersuites {
		suite, ok := keypackage.CipherSuiteByName(name)
		if !ok {
			return p, fmt.Errorf("mls.acceptable_ciphersuites: %q is not a supported cipher suite", name)
		}
		if !slices.Contains(p.Suites, suite) {
			p.Suites = append(p.Suites, suite)
		}
	}
	if c.RequiredCapabilities != "" {
		data, err := base64.RawStdEncoding.Strict().DecodeString(c.RequiredCapabilities)
		if err != nil {
			return p, fmt.Errorf("mls.required_capabilities is not unpadded base64")
		}
		if p.Required, err = keypackage.ParseRequiredCapabilities(data); err != nil {
			return p, fmt.Errorf("mls.required_capabilities: %w", err)
		}
	}
	return p, nil
}

// Devices are the devices to claim for: user id → device id → algorithm.
type Devices map[string]map[string]string

// Claimed are claimed keys: user id → device id → key id → key object.
type Claimed map[string]map[string]map[string]json.RawMessage

// add records one key, creating the maps it needs.
func (c Claimed) add(userID, deviceID, keyID string, key json.RawMessage) {
	if c[userID] == nil {
		c[userID] = make(map[string]map[string]json.RawMessage)
	}
	if c[userID][deviceID] == nil {
		c[userID][deviceID] = make(map[string]json.RawMessage)
	}
	c[userID][deviceID][keyID] = key
}

// Merge adds every key of other to c.
func (c Claimed) Merge(other Claimed) {
	for userID, devices := range other {
		for deviceID, keys := range devices {
			for keyID, key := range keys {
				c.add(userID, deviceID, keyID, key)
			}
		}
	}
}

// Claim hands out one KeyPackage for each device in devices (all with
// algorithm "mls"): local devices from the database, the others from their
// servers, asked in parallel and given timeout to answer. A server that
// fails is named in failures, as Dendrite does for Olm claims.
func (k *KeyServer) Claim(ctx context.Context, devices Devices, p ClaimParams, timeout time.Duration) (Claimed, map[string]any) {
	claimed := make(Claimed)
	failures := make(map[string]any)
	byServer := make(map[spec.ServerName]Devices)
	for userID, userDevices := range devices {
		_, server, err := gomatrixserverlib.SplitID('@', userID)
		if err != nil {
			continue // checked by the caller
		}
		if byServer[server] == nil {
			byServer[server] = make(Devices)
		}
		byServer[server][userID] = userDevices
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for server, serverDevices := range byServer {
		if k.Cfg.IsLocalServerName(server) {
			claimed.Merge(k.ClaimLocal(ctx, serverDevices, p))
			continue
		}
		wg.Go(func() {
			fedCtx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			remote, err := k.claimRemote(fedCtx, server, serverDevices, p)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				util.GetLogger(ctx).WithError(err).WithField("server", server).Warn("keyserver: remote KeyPackage claim failed")
				failures[string(server)] = map[string]any{"message": err.Error()}
				return
			}
			claimed.Merge(remote)
		})
	}
	wg.Wait()
	return claimed, failures
}

// ClaimLocal hands out one KeyPackage for each local device in devices that
// has one matching p. A device whose claim fails in the database is left
// out (and logged), so that what was claimed for the others is not lost.
func (k *KeyServer) ClaimLocal(ctx context.Context, devices Devices, p ClaimParams) Claimed {
	claimed := make(Claimed)
	now := k.Now()
	for userID, userDevices := range devices {
		_, server, err := gomatrixserverlib.SplitID('@', userID)
		if err != nil || !k.Cfg.IsLocalServerName(server) {
			continue
		}
		for deviceID := range userDevices {
			kp, err := k.DB.ClaimKeyPackage(ctx, userID, deviceID, p.Suites, p.Required, now)
			if err != nil {
				util.GetLogger(ctx).WithError(err).WithField("device", deviceID).Error("keyserver: claiming a KeyPackage failed")
				continue
			}
			if kp != nil {
				claimed.add(userID, deviceID, api.Algorithm+":"+kp.KeyID, keyObject(kp.Data, kp.LastResort))
			}
		}
	}
	return claimed
}

func keyObject(data []byte, lastResort bool) json.RawMessage {
	obj, _ := json.Marshal(KeyObject{Key: base64.RawStdEncoding.EncodeToString(data), Fallback: lastResort})
	return obj
}

// FederationClaim is the body of POST /_matrix/federation/v1/user/keys/claim
// with the "mls" object.
type FederationClaim struct {
	OneTimeKeys Devices   `json:"one_time_keys"`
	MLS         *MLSClaim `json:"mls,omitempty"`
}

// claimRemote asks server for KeyPackages of its devices, in a request
// signed by this server, and keeps only the answers that are what was asked
// for (see checkRemote).
func (k *KeyServer) claimRemote(ctx context.Context, server spec.ServerName, devices Devices, p ClaimParams) (Claimed, error) {
	identity, err := k.Cfg.SigningIdentityFor(k.Cfg.ServerName)
	if err != nil {
		return nil, err
	}
	req := fclient.NewFederationRequest("POST", identity.ServerName, server, "/_matrix/federation/v1/user/keys/claim")
	if err = req.SetContent(FederationClaim{OneTimeKeys: devices, MLS: &p.claim}); err != nil {
		return nil, err
	}
	if err = req.Sign(identity.ServerName, identity.KeyID, identity.PrivateKey); err != nil {
		return nil, err
	}
	httpReq, err := req.HTTPRequest()
	if err != nil {
		return nil, err
	}
	var res struct {
		OneTimeKeys Claimed `json:"one_time_keys"`
	}
	if err = k.FedClient.DoRequestAndParseResponse(ctx, httpReq, &res); err != nil {
		return nil, err
	}
	return k.checkRemote(ctx, server, devices, p, res.OneTimeKeys), nil
}

// checkRemote keeps, for each device asked for, the one "mls:" key that
// holds a valid KeyPackage of that device, of an acceptable suite and
// supporting the required capabilities. Anything else a server answers is
// dropped and logged: clients get only what they asked for.
func (k *KeyServer) checkRemote(ctx context.Context, server spec.ServerName, devices Devices, p ClaimParams, answer Claimed) Claimed {
	checked := make(Claimed)
	now := k.Now()
	for userID, userDevices := range devices {
		for deviceID := range userDevices {
			keys := answer[userID][deviceID]
			if len(keys) == 0 {
				continue
			}
			if err := k.checkRemoteKeys(keys, userID, deviceID, p, now, checked); err != nil {
				util.GetLogger(ctx).WithError(err).WithField("server", server).WithField("device", deviceID).
					Warn("keyserver: dropped a bad KeyPackage from a remote server")
			}
		}
	}
	return checked
}

func (k *KeyServer) checkRemoteKeys(keys map[string]json.RawMessage, userID, deviceID string, p ClaimParams, now time.Time, checked Claimed) error {
	if len(keys) != 1 {
		return fmt.Errorf("%d keys for one device", len(keys))
	}
	for id, raw := range keys {
		algorithm, _, err := validate.KeyID(id)
		if err != nil {
			return err
		}
		if algorithm != api.Algorithm {
			return fmt.Errorf("key id %q is not of algorithm %s", id, api.Algorithm)
		}
		kp, err := parseKeyObject(raw, userID, deviceID, now)
		if err != nil {
			return fmt.Errorf("%s: %w", id, err)
		}
		if !slices.Contains(p.Suites, kp.Ciphersuite) || !kp.Capabilities.Supports(p.Required) {
			return fmt.Errorf("%s does not match the claim's suites and capabilities", id)
		}
		checked.add(userID, deviceID, id, keyObject(kp.Data, kp.LastResort))
	}
	return nil
}
