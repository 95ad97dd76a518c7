package storetest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/slipway/slipway/internal/store"
)

// BenchClaim measures ClaimJob on 10,000 pending jobs with 1, 4 and 16 workers (sub-benchmarks
// workers=N).
func BenchClaim(b *testing.B, open func(tb testing.TB) store.Store) {
	for _, workers := range []int{1, 4, 16} {
		b.Run("workers="+strconv.Itoa(workers), func(b *testing.B) { benchClaim(b, open, 10000, workers) })
	}
}

// benchClaim measures ClaimJob: per iteration, a store from open gets pending jobs (100 per
// pipeline, untimed), then workers goroutines claim until none is left. It reports claims/s.
func benchClaim(b *testing.B, open func(tb testing.TB) store.Store, jobs, workers int) {
	ctx := context.Background()
	var claimed int
	var elapsed time.Duration
	for b.Loop() {
		b.StopTimer()
		s := open(b)
		p := newProject(b, s, "bench")
		for i := 0; i < jobs; i += 100 {
			var js []*store.Job
			for k := range min(100, jobs-i) {
				js = append(js, pending(fmt.Sprint("j", i+k)))
			}
			newPipeline(b, s, p.ID, js...)
		}
		b.StartTimer()
		start := time.Now()
		var wg sync.WaitGroup
		counts := make([]int, workers)
		errs := make([]error, workers)
		for w := range workers {
			wg.Go(func() {
				r := &store.Runner{ID: int64(w + 1), RunUntagged: true}
				for i := 0; ; i++ {
					_, err := s.ClaimJob(ctx, store.Claim{Runner: r, Key: fmt.Sprint(i), Now: start, LeaseUntil: start.Add(time.Hour)})
					if errors.Is(err, store.ErrNotFound) {
						return
					}
					if err != nil {
						errs[w] = err
						return
					}
					counts[w]++
				}
			})
		}
		wg.Wait()
		elapsed += time.Since(start)
		b.StopTimer()
		for w := range workers {
			if errs[w] != nil {
				b.Fatal(errs[w])
			}
			claimed += counts[w]
		}
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	if claimed != jobs*b.N {
		b.Fatalf("%d claims, want %d", claimed, jobs*b.N)
	}
	b.ReportMetric(float64(claimed)/elapsed.Seconds(), "claims/s")
}
