package storage_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/matrix-org/dendrite/internal/sqlutil"
	"github.com/matrix-org/dendrite/setup/config"

	"github.com/matrix-org/dendrite/msc4244/keyserver/api"
	kpt "github.com/matrix-org/dendrite/msc4244/keyserver/keypackage/keypackagetest"
	"github.com/matrix-org/dendrite/msc4244/keyserver/storage"
	"github.com/matrix-org/dendrite/msc4244/keyserver/storage/tables"
)

const (
	alice    = "@alice:test"
	device   = "DEVICE"
	suite1   = 0x0001 // MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519
	suite3   = 0x0003 // MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519
	credBasc = 0x0001
)

var now = time.Unix(1_800_000_000, 0)

func openDB(t testing.TB, conMan *sqlutil.Connections, opts *config.DatabaseOptions) storage.Database {
	t.Helper()
	db, err := storage.NewDatabase(conMan, opts)
	if err != nil {
		t.Fatalf("NewDatabase: %v", err)
	}
	return db
}

func eachDatabase(t *testing.T, fn func(t *testing.T, db storage.Database)) {
	withDatabases(t.Run, func(t *testing.T, conMan *sqlutil.Connections, opts *config.DatabaseOptions) {
		fn(t, openDB(t, conMan, opts))
	})
}

// keyPackage returns a KeyPackage of alice's device whose content is
// derived from its key id, valid for a day from now.
func keyPackage(keyID string, suite uint16, lastResort bool) api.KeyPackage {
	return api.KeyPackage{
		UserID: alice, DeviceID: device, KeyID: keyID, Ciphersuite: suite,
		Capabilities: api.Capabilities{Credentials: []uint16{credBasc}},
		LastResort:   lastResort,
		NotAfter:     now.Add(24 * time.Hour),
		Data:         []byte("kp-" + keyID),
	}
}

func mustStore(t *testing.T, db storage.Database, kps ...api.KeyPackage) {
	t.Helper()
	if _, err := db.StoreKeyPackages(context.Background(), kps); err != nil {
		t.Fatalf("StoreKeyPackages: %v", err)
	}
}

func claim(t *testing.T, db storage.Database, at time.Time, required api.Capabilities, suites ...uint16) *api.ClaimedKeyPackage {
	t.Helper()
	kp, err := db.ClaimKeyPackage(context.Background(), alice, device, suites, required, at)
	if err != nil {
		t.Fatalf("ClaimKeyPackage: %v", err)
	}
	return kp
}

func wantCounts(t *testing.T, db storage.Database, at time.Time, want api.KeyPackageCounts) {
	t.Helper()
	got, err := db.KeyPackageCounts(context.Background(), alice, device, at)
	if err != nil {
		t.Fatalf("KeyPackageCounts: %v", err)
	}
	if got != want {
		t.Fatalf("counts = %+v, want %+v", got, want)
	}
}

func wantClaimed(t *testing.T, got *api.ClaimedKeyPackage, keyID string, lastResort bool) {
	t.Helper()
	if got == nil {
		t.Fatalf("claimed nothing, want %s", keyID)
	}
	want := api.ClaimedKeyPackage{KeyID: keyID, Data: []byte("kp-" + keyID), LastResort: lastResort}
	if got.KeyID != want.KeyID || string(got.Data) != string(want.Data) || got.LastResort != want.LastResort {
		t.Fatalf("claimed %+v, want %+v", *got, want)
	}
}

func TestUploadCountClaim(t *testing.T) {
	eachDatabase(t, func(t *testing.T, db storage.Database) {
		none := api.Capabilities{}
		wantCounts(t, db, now, api.KeyPackageCounts{})
		mustStore(t, db, keyPackage("A", suite1, false), keyPackage("B", suite1, false), keyPackage("C", suite3, false))
		wantCounts(t, db, now, api.KeyPackageCounts{OneTime: 3})
		mustStore(t, db, keyPackage("LR", suite1, true))
		wantCounts(t, db, now, api.KeyPackageCounts{OneTime: 3, LastResort: true})

		wantClaimed(t, claim(t, db, now, none, suite1), "A", false)
		wantClaimed(t, claim(t, db, now, none, suite1), "B", false)
		wantCounts(t, db, now, api.KeyPackageCounts{OneTime: 1, LastResort: true})
		// suite1 is exhausted: its last-resort package, which stays.
		wantClaimed(t, claim(t, db, now, none, suite1), "LR", true)
		wantClaimed(t, claim(t, db, now, none, suite1), "LR", true)
		wantCounts(t, db, now, api.KeyPackageCounts{OneTime: 1, LastResort: true})
		// A one-time package of any acceptable suite beats a last-resort one.
		wantClaimed(t, claim(t, db, now, none, suite1, suite3), "C", false)
		wantClaimed(t, claim(t, db, now, none, suite1, suite3), "LR", true)
		// No package at all of suite3 is left.
		if kp := claim(t, db, now, none, suite3); kp != nil {
			t.Fatalf("claimed %+v of an exhausted suite", *kp)
		}
	})
}

func TestClaimPrefersSuitesInOrder(t *testing.T) {
	eachDatabase(t, func(t *testing.T, db storage.Database) {
		mustStore(t, db, keyPackage("one", suite1, false), keyPackage("three", suite3, false))
		wantClaimed(t, claim(t, db, now, api.Capabilities{}, suite3, suite1), "three", false)
		wantClaimed(t, claim(t, db, now, api.Capabilities{}, suite3, suite1), "one", false)
	})
}

func TestClaimMatchesCapabilities(t *testing.T) {
	eachDatabase(t, func(t *testing.T, db storage.Database) {
		plain := keyPackage("plain", suite1, false)
		rich := keyPackage("rich", suite1, false)
		rich.Capabilities = api.Capabilities{
			Extensions:  []uint16{0x000a, 0xf001},
			Proposals:   []uint16{0x0008},
			Credentials: []uint16{0x0002, credBasc},
		}
		mustStore(t, db, plain, rich)

		if kp := claim(t, db, now, api.Capabilities{Extensions: []uint16{0xf002}}, suite1); kp != nil {
			t.Fatalf("claimed %s, which lacks the required extension", kp.KeyID)
		}
		if kp := claim(t, db, now, api.Capabilities{Credentials: []uint16{0x0003}}, suite1); kp != nil {
			t.Fatalf("claimed %s, which lacks the required credential type", kp.KeyID)
		}
		if kp := claim(t, db, now, api.Capabilities{Extensions: []uint16{0xf001}, Proposals: []uint16{0x0009}}, suite1); kp != nil {
			t.Fatalf("claimed %s, which lacks the required proposal", kp.KeyID)
		}
		if kp := claim(t, db, now, api.Capabilities{Extensions: []uint16{0xf001}}, suite3); kp != nil {
			t.Fatalf("claimed %s of the wrong suite", kp.KeyID)
		}
		// Requirements in any order; default types (RFC 9420 §7.2) are
		// supported by every leaf without being listed.
		required := api.Capabilities{
			Extensions:  []uint16{0xf001, 0x0002, 0x000a},
			Proposals:   []uint16{0x0008, 0x0001},
			Credentials: []uint16{credBasc, 0x0002},
		}
		wantClaimed(t, claim(t, db, now, required, suite1), "rich", false)
		// Only default types: the plain one qualifies.
		wantClaimed(t, claim(t, db, now, api.Capabilities{Extensions: []uint16{0x0003}, Proposals: []uint16{0x0007}}, suite1), "plain", false)
	})
}

func TestExpiredKeyPackages(t *testing.T) {
	eachDatabase(t, func(t *testing.T, db storage.Database) {
		short := keyPackage("short", suite1, false)
		short.NotAfter = now.Add(time.Minute)
		shortLR := keyPackage("shortLR", suite1, true)
		shortLR.NotAfter = now.Add(time.Minute)
		mustStore(t, db, short, shortLR, keyPackage("long", suite1, false))

		later := now.Add(time.Hour)
		wantCounts(t, db, now, api.KeyPackageCounts{OneTime: 2, LastResort: true})
		wantCounts(t, db, later, api.KeyPackageCounts{OneTime: 1})
		wantClaimed(t, claim(t, db, later, api.Capabilities{}, suite1), "long", false)
		if kp := claim(t, db, later, api.Capabilities{}, suite1); kp != nil {
			t.Fatalf("claimed expired %s", kp.KeyID)
		}

		n, err := db.DeleteExpiredKeyPackages(context.Background(), later)
		if err != nil || n != 2 {
			t.Fatalf("DeleteExpiredKeyPackages = %d, %v; want 2", n, err)
		}
		// Gone, even for a claim that would still accept them.
		wantCounts(t, db, now, api.KeyPackageCounts{})
		if kp := claim(t, db, now, api.Capabilities{}, suite1); kp != nil {
			t.Fatalf("claimed swept %s", kp.KeyID)
		}
	})
}

func TestUploadIsAllOrNothing(t *testing.T) {
	eachDatabase(t, func(t *testing.T, db storage.Database) {
		ctx := context.Background()
		mustStore(t, db, keyPackage("A", suite1, false))
		// The same content again is accepted and stored once.
		stored, err := db.StoreKeyPackages(ctx, []api.KeyPackage{keyPackage("A", suite1, false), keyPackage("B", suite1, false)})
		if err != nil || !slices.Equal(stored, []string{"B"}) {
			t.Fatalf("StoreKeyPackages = %v, %v; want [B]", stored, err)
		}
		wantCounts(t, db, now, api.KeyPackageCounts{OneTime: 2})

		changed := keyPackage("A", suite1, false)
		changed.Data = []byte("other")
		_, err = db.StoreKeyPackages(ctx, []api.KeyPackage{keyPackage("C", suite1, false), changed, keyPackage("D", suite1, true)})
		var conflict *api.KeyIDConflictError
		if !errors.As(err, &conflict) || conflict.KeyID != "A" {
			t.Fatalf("StoreKeyPackages = %v, want a conflict on A", err)
		}
		// Nothing of the failed batch is stored, and A is unchanged.
		wantCounts(t, db, now, api.KeyPackageCounts{OneTime: 2})
		wantClaimed(t, claim(t, db, now, api.Capabilities{}, suite1), "A", false)
		wantClaimed(t, claim(t, db, now, api.Capabilities{}, suite1), "B", false)
		if kp := claim(t, db, now, api.Capabilities{}, suite1); kp != nil {
			t.Fatalf("claimed %s from a rejected batch", kp.KeyID)
		}
	})
}

func TestDeleteDeviceKeyPackages(t *testing.T) {
	eachDatabase(t, func(t *testing.T, db storage.Database) {
		ctx := context.Background()
		other := keyPackage("X", suite1, false)
		other.DeviceID = "OTHER"
		mustStore(t, db, keyPackage("A", suite1, false), keyPackage("LR", suite1, true), other)
		if err := db.DeleteKeyPackages(ctx, alice, device, []string{"A", "unknown"}); err != nil {
			t.Fatal(err)
		}
		wantCounts(t, db, now, api.KeyPackageCounts{LastResort: true})
		if err := db.DeleteDeviceKeyPackages(ctx, alice, []string{device}); err != nil {
			t.Fatal(err)
		}
		wantCounts(t, db, now, api.KeyPackageCounts{})
		counts, err := db.KeyPackageCounts(ctx, alice, "OTHER", now)
		if err != nil || counts.OneTime != 1 {
			t.Fatalf("other device's counts = %+v, %v; want 1 one-time", counts, err)
		}
	})
}

// oneDevicePackages returns n one-time KeyPackages of alice's device.
func oneDevicePackages(n int) []api.KeyPackage {
	kps := make([]api.KeyPackage, n)
	for i := range kps {
		kps[i] = keyPackage(fmt.Sprintf("K%06d", i), suite1, false)
	}
	return kps
}

func TestConcurrentClaimsHandOutEachOnce(t *testing.T) {
	const packages, claimers = 1000, 64
	eachDatabase(t, func(t *testing.T, db storage.Database) {
		ctx := context.Background()
		mustStore(t, db, oneDevicePackages(packages)...)
		mustStore(t, db, keyPackage("LR", suite1, true))

		kpt.ClaimConcurrently(t, claimers, packages, func() (string, bool, error) {
			kp, err := db.ClaimKeyPackage(ctx, alice, device, []uint16{suite1}, api.Capabilities{}, now)
			if err != nil || kp == nil {
				return "", false, fmt.Errorf("claim = %v, %v", kp, err)
			}
			return kp.KeyID, kp.LastResort, nil
		})
		wantClaimed(t, claim(t, db, now, api.Capabilities{}, suite1), "LR", true)
		wantCounts(t, db, now, api.KeyPackageCounts{LastResort: true})
	})
}

// TestCapabilitiesPatternAgreesWithSupports checks, in each database's
// LIKE, that the stored capabilities match a requirement's pattern exactly
// when api.Capabilities.Supports says the leaf meets the requirement.
func TestCapabilitiesPatternAgreesWithSupports(t *testing.T) {
	withDatabases(t.Run, func(t *testing.T, conMan *sqlutil.Connections, opts *config.DatabaseOptions) {
		db, _, err := conMan.Connection(opts)
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(1, 2))
		// Few distinct types, so that overlaps and defaults are common.
		types := func(most int) []uint16 {
			out := make([]uint16, rng.IntN(most+1))
			for i := range out {
				out[i] = []uint16{1, 3, 5, 7, 8, 10, 0xf001, 0xfffe}[rng.IntN(8)]
			}
			return out
		}
		caps := func(most int) api.Capabilities {
			return api.Capabilities{Extensions: types(most), Proposals: types(most), Credentials: types(most)}
		}
		matches := 0
		for range 500 {
			leaf, required := caps(5), caps(1)
			var like bool
			if err := db.QueryRow("SELECT $1 LIKE $2", tables.EncodeCapabilities(leaf), tables.CapabilitiesPattern(required)).Scan(&like); err != nil {
				t.Fatal(err)
			}
			if like != leaf.Supports(required) {
				t.Fatalf("leaf %+v, required %+v: LIKE says %v, Supports says %v", leaf, required, like, !like)
			}
			if like {
				matches++
			}
		}
		if matches < 100 || matches > 400 {
			t.Fatalf("%d of 500 random pairs match: the test explores too little", matches)
		}
	})
}
