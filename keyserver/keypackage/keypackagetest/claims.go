package keypackagetest

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

// Claim claims one KeyPackage of the device under test: the key id handed
// out and whether it is the last-resort one.
type Claim func() (keyID string, lastResort bool, err error)

// ClaimConcurrently runs claimers goroutines that each claim until they are
// handed the last-resort KeyPackage, and checks that exactly packages
// one-time KeyPackages were handed out, each once. A claimer may get the
// last-resort one only when every one-time KeyPackage is claimed or being
// claimed: at most one in flight per other claimer, and as many claimed
// but not yet counted.
func ClaimConcurrently(t testing.TB, claimers, packages int, claim Claim) {
	t.Helper()
	var oneTime atomic.Int64
	var mu sync.Mutex
	seen := make(map[string]int)
	var wg sync.WaitGroup
	errs := make(chan error, claimers)
	for range claimers {
		wg.Go(func() {
			for {
				keyID, lastResort, err := claim()
				if err != nil {
					errs <- err
					return
				}
				if lastResort {
					if n := oneTime.Load(); n < int64(packages-2*(claimers-1)) {
						errs <- fmt.Errorf("last resort handed out after only %d one-time KeyPackages", n)
					}
					return
				}
				oneTime.Add(1)
				mu.Lock()
				seen[keyID]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(seen) != packages {
		t.Fatalf("%d distinct KeyPackages handed out, want %d", len(seen), packages)
	}
	for keyID, n := range seen {
		if n != 1 {
			t.Fatalf("%s handed out %d times", keyID, n)
		}
	}
}
