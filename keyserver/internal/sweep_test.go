package internal

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/matrix-org/dendrite/internal/sqlutil"
	"github.com/matrix-org/dendrite/setup/config"
	"github.com/matrix-org/dendrite/setup/process"

	"github.com/matrix-org/dendrite/msc4244/keyserver/api"
	"github.com/matrix-org/dendrite/msc4244/keyserver/storage"
)

// The sweep deletes expired KeyPackages at once and then every interval,
// keeps the others, and ends with its context.
func TestSweepExpired(t *testing.T) {
	processCtx := process.NewProcessContext()
	t.Cleanup(func() {
		processCtx.ShutdownDendrite()
		processCtx.WaitForComponentsToFinish()
	})
	db, err := storage.NewDatabase(sqlutil.NewConnectionManager(processCtx, config.DatabaseOptions{}),
		&config.DatabaseOptions{ConnectionString: config.DataSource("file:" + filepath.Join(t.TempDir(), "ks.db"))})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	kp := func(keyID string, notAfter time.Time) api.KeyPackage {
		return api.KeyPackage{UserID: "@a:test", DeviceID: "D", KeyID: keyID, Ciphersuite: 1, NotAfter: notAfter, Data: []byte(keyID)}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err = db.StoreKeyPackages(ctx, []api.KeyPackage{kp("old", now.Add(-time.Minute)), kp("new", now.Add(time.Hour))}); err != nil {
		t.Fatal(err)
	}
	// Counted as of an hour ago, both are there until the sweep runs.
	stored := func() int {
		counts, err := db.KeyPackageCounts(ctx, "@a:test", "D", now.Add(-time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		return counts.OneTime
	}
	if n := stored(); n != 2 {
		t.Fatalf("%d KeyPackages stored, want 2", n)
	}
	k := &KeyServer{DB: db, Now: func() time.Time { return now }}
	done := make(chan struct{})
	go func() {
		k.SweepExpired(ctx, time.Hour)
		close(done)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for stored() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the sweep did not delete the expired KeyPackage")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the sweep did not end with its context")
	}
}
