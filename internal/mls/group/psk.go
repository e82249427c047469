package group

import (
	"bytes"
	"crypto/rand"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/cipher"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/schedule"
)

// NewExternalPSKID names the external PSK id for injection into a group of
// this suite's hash length, with a fresh nonce (RFC 9420 §8.4).
func (g *Group) NewExternalPSKID(id []byte) mls.PreSharedKeyID {
	return mls.PreSharedKeyID{Type: mls.PSKExternal, PSKID: bytes.Clone(id), PSKNonce: g.pskNonce()}
}

// NewResumptionPSKID names the resumption PSK of this group's epoch, for
// application use (RFC 9420 §8.6), with a fresh nonce.
func (g *Group) NewResumptionPSKID(epoch uint64) mls.PreSharedKeyID {
	return mls.PreSharedKeyID{
		Type: mls.PSKResumption, Usage: mls.ResumptionApplication,
		PSKGroupID: bytes.Clone(g.GroupID()), PSKEpoch: epoch, PSKNonce: g.pskNonce(),
	}
}

func (g *Group) pskNonce() []byte {
	nonce := make([]byte, g.public.suite.HashLen())
	rand.Read(nonce)
	return nonce
}

// pskSecret looks the PSKs of a commit or Welcome up and combines them
// into the key schedule's psk_secret (RFC 9420 §8.4).
func (g *Group) pskSecret(ids []mls.PreSharedKeyID) ([]byte, error) {
	return pskSecret(g.public.suite, ids, g.lookupPSK)
}

// lookupPSK finds a PSK: a resumption PSK of this group among the epochs
// the member kept, anything else through Config.PSK.
func (g *Group) lookupPSK(id *mls.PreSharedKeyID) ([]byte, bool) {
	if id.Type == mls.PSKResumption && bytes.Equal(id.PSKGroupID, g.GroupID()) {
		if id.PSKEpoch == g.Epoch() {
			return g.secrets.resumption, g.secrets.resumption != nil
		}
		for _, r := range g.resumption {
			if r.epoch == id.PSKEpoch {
				return r.secret, true
			}
		}
		return nil, false
	}
	return g.cfg.psk(id)
}

// pskSecret resolves ids with lookup and derives the psk_secret.
func pskSecret(suite *cipher.Suite, ids []mls.PreSharedKeyID, lookup func(*mls.PreSharedKeyID) ([]byte, bool)) ([]byte, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	psks := make([]schedule.PSK, len(ids))
	for i := range ids {
		secret, ok := lookup(&ids[i])
		if !ok {
			return nil, ruled(ErrMissingPSK, "%v PSK %x (group %x, epoch %d)", ids[i].Type, ids[i].PSKID, ids[i].PSKGroupID, ids[i].PSKEpoch)
		}
		psks[i] = schedule.PSK{ID: ids[i], Secret: secret}
	}
	secret, err := schedule.PSKSecret(suite, psks)
	if err != nil {
		return nil, wrap(ErrMissingPSK, err)
	}
	return secret, nil
}
