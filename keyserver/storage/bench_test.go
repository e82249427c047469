package storage_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/matrix-org/dendrite/internal/sqlutil"
	"github.com/matrix-org/dendrite/setup/config"
	userapi "github.com/matrix-org/dendrite/userapi/api"
	userstorage "github.com/matrix-org/dendrite/userapi/storage"

	"github.com/matrix-org/dendrite/msc4244/keyserver/api"
)

// benchClaimers is the number of concurrent claimers (issue 5's load).
const benchClaimers = 64

// BenchmarkClaim measures single-use claims of one device's keys by 64
// concurrent claimers, for MLS KeyPackages and, on the same database, for
// Dendrite's own signed_curve25519 one-time keys. Each round uploads b.N
// keys (untimed) and then claims them all; claims/s is the figure to read.
// "duplicates" counts keys handed out more than once and "misses" claims
// that found no key although unclaimed keys remained: both must be 0.
func BenchmarkClaim(b *testing.B) {
	withDatabases(b.Run, func(b *testing.B, conMan *sqlutil.Connections, opts *config.DatabaseOptions) {
		b.Run("mls", func(b *testing.B) { benchmarkMLSClaims(b, conMan, opts) })
		b.Run("signed_curve25519", func(b *testing.B) { benchmarkDendriteClaims(b, conMan, opts) })
	})
}

var benchRound atomic.Int64

// benchDevice names a fresh device for each round, so that rounds do not
// see each other's keys.
func benchDevice() string {
	return fmt.Sprintf("BENCH%d", benchRound.Add(1))
}

func benchmarkMLSClaims(b *testing.B, conMan *sqlutil.Connections, opts *config.DatabaseOptions) {
	db := openDB(b, conMan, opts)
	ctx := context.Background()
	deviceID := benchDevice()
	kps := make([]api.KeyPackage, b.N+1)
	for i := range kps {
		kps[i] = api.KeyPackage{
			UserID: alice, DeviceID: deviceID, KeyID: fmt.Sprintf("K%08d", i), Ciphersuite: suite1,
			Capabilities: api.Capabilities{Credentials: []uint16{credBasc}},
			LastResort:   i == b.N,
			NotAfter:     now.Add(time.Hour),
			Data:         randomBytes(300), // about a suite 1 KeyPackage
		}
	}
	if _, err := db.StoreKeyPackages(ctx, kps); err != nil {
		b.Fatal(err)
	}
	runClaimers(b, func() (string, error) {
		kp, err := db.ClaimKeyPackage(ctx, alice, deviceID, []uint16{suite1}, api.Capabilities{}, now)
		if err != nil || kp == nil || kp.LastResort {
			return "", err
		}
		return kp.KeyID, nil
	})
}

func benchmarkDendriteClaims(b *testing.B, conMan *sqlutil.Connections, opts *config.DatabaseOptions) {
	if opts.ConnectionString.IsSQLite() {
		// A file of its own, in the journal mode Dendrite leaves it in.
		userDB := *opts
		userDB.ConnectionString = config.DataSource(strings.Replace(string(opts.ConnectionString), "keyserver.db", "userapi.db", 1))
		opts = &userDB
	}
	db, err := userstorage.NewKeyDatabase(conMan, opts)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	deviceID := benchDevice()
	keys := userapi.OneTimeKeys{UserID: alice, DeviceID: deviceID, KeyJSON: make(map[string]json.RawMessage, b.N)}
	for i := range b.N {
		keyJSON, _ := json.Marshal(map[string]any{
			"key":        base64.RawStdEncoding.EncodeToString(randomBytes(32)),
			"signatures": map[string]any{alice: map[string]string{"ed25519:" + deviceID: base64.RawStdEncoding.EncodeToString(randomBytes(64))}},
		})
		keys.KeyJSON[fmt.Sprintf("signed_curve25519:K%08d", i)] = keyJSON
	}
	if _, err = db.StoreOneTimeKeys(ctx, keys); err != nil {
		b.Fatal(err)
	}
	request := map[string]map[string]string{alice: {deviceID: "signed_curve25519"}}
	runClaimers(b, func() (string, error) {
		claimed, err := db.ClaimKeys(ctx, request)
		for _, otk := range claimed {
			for keyID := range otk.KeyJSON {
				return keyID, err
			}
		}
		return "", err
	})
}

// runClaimers times benchClaimers goroutines making b.N claims in total
// and reports the rate and the faults. claim returns the key id handed out,
// or "" when it found none.
func runClaimers(b *testing.B, claim func() (keyID string, err error)) {
	var next atomic.Int64
	claimedBy := make([][]string, benchClaimers)
	var misses atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, benchClaimers)
	b.ResetTimer()
	start := time.Now()
	for c := range benchClaimers {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				keyID, err := claim()
				if err != nil {
					errs <- err
					return
				}
				if keyID == "" {
					misses.Add(1)
					continue
				}
				claimedBy[c] = append(claimedBy[c], keyID)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	seen := make(map[string]bool, b.N)
	duplicates := 0
	for _, keyIDs := range claimedBy {
		for _, keyID := range keyIDs {
			if seen[keyID] {
				duplicates++
			}
			seen[keyID] = true
		}
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "claims/s")
	b.ReportMetric(float64(duplicates), "duplicates")
	b.ReportMetric(float64(misses.Load()), "misses")
}

func randomBytes(n int) []byte {
	out := make([]byte, n)
	_, _ = rand.Read(out)
	return out
}
