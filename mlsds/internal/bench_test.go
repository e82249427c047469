package internal

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/matrix-org/dendrite/msc4244/client/mlsroom"
	"github.com/matrix-org/dendrite/msc4244/mlsds/api"
)

// BenchmarkAccept measures the DS accepting commits: Receive of an
// m.mls.message holding a commit of a one-member group, from parsing to the
// durable append and the fan-out handed to the delivery path (here a sender
// that drops it). With 100 rooms, one device per room submits its commits
// one after the other and the rooms run in parallel. Reported: accepted
// commits per second, and the 50th and 99th percentile of Receive's
// latency.
func BenchmarkAccept(b *testing.B) {
	for _, kind := range []string{"sqlite", "postgres"} {
		for _, rooms := range []int{1, 100} {
			b.Run(fmt.Sprintf("%s/rooms=%d", kind, rooms), func(b *testing.B) { benchmarkAccept(b, kind, rooms) })
		}
	}
}

func benchmarkAccept(b *testing.B, kind string, rooms int) {
	k := newKit(b, kind)
	k.mail.discard = true
	perRoom := (b.N + rooms - 1) / rooms
	chains := make([][][]byte, rooms) // per room, the m.mls.message contents
	senders := make([]api.Device, rooms)
	var wg sync.WaitGroup
	for r := range rooms {
		roomID := fmt.Sprintf("!bench%d:ds.example", r)
		k.rs.addRoom(b, roomID)
		d := k.device(creator, fmt.Sprintf("D%d", r))
		senders[r] = d.Device
		state, gi, err := mlsroom.Create(d.id, roomID, k.es)
		if err != nil {
			b.Fatal(err)
		}
		k.mustReceive(d, map[string]any{"room_id": roomID, "message": encodeBase64(gi)})
		// The commits are made ahead, each for the epoch the previous
		// one creates, in parallel across rooms.
		wg.Go(func() {
			for range perRoom {
				p, err := state.Commit(mlsroom.CommitRequest{})
				if err == nil {
					_, err = state.HandleCommit(p.Message, p.Epoch)
				}
				if err != nil {
					b.Error(err)
					return
				}
				data, err := json.Marshal(commitContent(roomID, p))
				if err != nil {
					b.Error(err)
					return
				}
				chains[r] = append(chains[r], data)
			}
		})
	}
	wg.Wait()
	if b.Failed() {
		return
	}

	latencies := make([][]time.Duration, rooms)
	b.ResetTimer()
	start := time.Now()
	for r := range rooms {
		wg.Go(func() {
			for _, data := range chains[r] {
				t0 := time.Now()
				if err := k.ds.Receive(context.Background(), senders[r], api.EventMessage, data); err != nil {
					b.Error(err)
					return
				}
				latencies[r] = append(latencies[r], time.Since(t0))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()

	all := slices.Concat(latencies...)
	if accepted := k.mail.count.Load(); accepted != int64(len(all)) {
		b.Fatalf("%d commits fanned out, %d submitted: some were refused", accepted, len(all))
	}
	slices.Sort(all)
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "commits/s")
	b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ms")
}
