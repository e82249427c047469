package tree

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// forEach calls f(i) for every i in [0, n), spreading chunks of chunk
// indices over up to GOMAXPROCS goroutines, and returns the error of the
// lowest i that failed. Work that fits in one chunk runs on the calling
// goroutine. Once stop, when not nil, is set, no further chunk starts.
func forEach(n, chunk int, stop *atomic.Bool, f func(i int) error) error {
	stopped := func() bool { return stop != nil && stop.Load() }
	workers := min(runtime.GOMAXPROCS(0), (n+chunk-1)/chunk)
	if workers <= 1 {
		for i := range n {
			if i%chunk == 0 && stopped() {
				return nil
			}
			if err := f(i); err != nil {
				return err
			}
		}
		return nil
	}
	var (
		next    atomic.Int64
		mu      sync.Mutex
		first   = n
		failure error
		wg      sync.WaitGroup
	)
	for range workers {
		wg.Go(func() {
			for {
				start := int(next.Add(int64(chunk))) - chunk
				if start >= n || stopped() {
					return
				}
				for i := start; i < min(start+chunk, n); i++ {
					if err := f(i); err != nil {
						mu.Lock()
						if i < first {
							first, failure = i, err
						}
						mu.Unlock()
						break
					}
				}
			}
		})
	}
	wg.Wait()
	return failure
}
