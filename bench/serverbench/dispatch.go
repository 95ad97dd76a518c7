package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
)

// dispatchResult is one dispatch run.
type dispatchResult struct {
	jobs      int
	fill      time.Duration // triggering the pipelines until every job is pending
	claimWall time.Duration // first request to last claim
	wall      time.Duration // first request to last final update
	claims    []time.Duration
	empty     int64 // requests answered 204
	lost      int64 // final updates answered 403: the lease ran out (the job is queued again)
	hwmKB     int64 // the server's peak RSS at the end
}

func (r dispatchResult) claimedPerSec() float64   { return float64(r.jobs) / r.claimWall.Seconds() }
func (r dispatchResult) completedPerSec() float64 { return float64(r.jobs) / r.wall.Seconds() }

// newClient is a keep-alive client with room for every fake runner's connection.
func newClient(conns int) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = conns * 2
	t.MaxIdleConnsPerHost = conns * 2
	t.DisableCompression = true
	return &http.Client{Transport: t, Timeout: 2 * time.Minute}
}

func dispatchMode(ctx context.Context, o *opts, tmp string) error {
	total := o.pipelines * o.parallel
	if o.parallel < 2 || o.parallel > 200 {
		return fmt.Errorf("-parallel %d: GitLab allows 2 to 200", o.parallel)
	}
	// Every pipeline is of main: on_new_commit none keeps a new one from canceling the
	// pending jobs of the older ones (GitLab's default would). The rule is there because
	// Slipway reads workflow:auto_cancel only next to workflow:rules.
	ci := fmt.Sprintf("workflow:\n  rules:\n    - when: always\n  auto_cancel:\n    on_new_commit: none\nbench:\n  script: [\"true\"]\n  parallel: %d\n", o.parallel)
	repo, err := newRepo(ctx, filepath.Join(tmp, "repo"), ci)
	if err != nil {
		return err
	}
	results := map[string][]dispatchResult{}
	for i := range o.runs {
		for k := range o.dbs {
			db := o.dbs[(i+k)%len(o.dbs)] // rotate the order round by round
			dir := filepath.Join(tmp, fmt.Sprintf("dispatch-%s-%d", db, i))
			r, err := dispatchRun(ctx, o, dir, db, repo, total)
			if err != nil {
				return fmt.Errorf("%s run %d: %w", db, i+1, err)
			}
			logf("dispatch %s run %d: %d jobs, fill %.1f s, claimed %.0f/s, completed %.0f/s (%.2f s), claim p50 %s p99 %s, %d empty polls, %d leases lost, peak RSS %d MB",
				db, i+1, r.jobs, r.fill.Seconds(), r.claimedPerSec(), r.completedPerSec(), r.wall.Seconds(),
				ms(pct(r.claims, 50)), ms(pct(r.claims, 99)), r.empty, r.lost, r.hwmKB/1024)
			results[db] = append(results[db], r)
		}
	}
	fmt.Printf("| db | jobs | runners | runs | claimed/s median (range) | completed/s median (range) | wall s median | claim p50 ms | claim p99 ms | claim max ms | queue fill s | server peak RSS MB | leases lost |\n")
	fmt.Printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, db := range o.dbs {
		rs := results[db]
		var claimed, completed, wall, p50, p99, pmax, fill, hwm []float64
		var lostN int64
		for _, r := range rs {
			claimed = append(claimed, r.claimedPerSec())
			completed = append(completed, r.completedPerSec())
			wall = append(wall, r.wall.Seconds())
			p50 = append(p50, msf(pct(r.claims, 50)))
			p99 = append(p99, msf(pct(r.claims, 99)))
			pmax = append(pmax, msf(pct(r.claims, 100)))
			fill = append(fill, r.fill.Seconds())
			hwm = append(hwm, float64(r.hwmKB)/1024)
			lostN += r.lost
		}
		fmt.Printf("| %s | %d | %d | %d | %.0f (%.0f–%.0f) | %.0f (%.0f–%.0f) | %.2f | %.1f | %.1f | %.1f | %.1f | %.0f | %d |\n",
			db, total, o.runners, len(rs), median(claimed), minf(claimed), maxf(claimed),
			median(completed), minf(completed), maxf(completed), median(wall),
			median(p50), median(p99), median(pmax), median(fill), median(hwm), lostN)
	}
	return nil
}

// dispatchRun starts a server, fills its queue with total jobs and drains it with the fake
// runners.
func dispatchRun(ctx context.Context, o *opts, dir, db string, repo gitRepo, total int) (dispatchResult, error) {
	res := dispatchResult{jobs: total}
	client := newClient(o.runners + 8)
	defer client.CloseIdleConnections()
	s, err := startServer(ctx, o, dir, db, 0, client)
	if err != nil {
		return res, err
	}
	defer s.stop()
	pid, err := s.createProject(ctx, "bench", repo.dir)
	if err != nil {
		return res, err
	}
	start := time.Now()
	for i := range o.pipelines {
		if err := s.call(ctx, http.MethodPost, fmt.Sprintf("/api/v1/projects/%d/pipelines", pid), adminToken,
			map[string]string{"ref": "main"}, nil, http.StatusCreated); err != nil {
			return res, fmt.Errorf("pipeline %d: %w", i+1, err)
		}
	}
	if err := waitPending(ctx, s, total, time.Minute); err != nil {
		return res, err
	}
	res.fill = time.Since(start)

	fakes := make([]*fakeRunner, o.runners)
	for i := range fakes {
		name := fmt.Sprintf("fake-%d", i)
		tok, err := s.registerRunner(ctx, name)
		if err != nil {
			return res, err
		}
		fakes[i] = &fakeRunner{s: s, name: name, token: tok, wait: time.Second}
	}

	var claimedN, doneN, empty, lost atomic.Int64
	var mu sync.Mutex
	var lastClaim, lastDone time.Time
	lat := make([][]time.Duration, len(fakes))
	rctx, stopRunners := context.WithCancel(ctx)
	defer stopRunners()
	g, gctx := errgroup.WithContext(rctx)
	t0 := time.Now()
	for i, f := range fakes {
		g.Go(func() error {
			for doneN.Load() < int64(total) {
				a := time.Now()
				j, err := f.request(gctx)
				if err != nil {
					if doneN.Load() >= int64(total) {
						return nil // canceled after the last job
					}
					return err
				}
				if j == nil {
					empty.Add(1)
					continue
				}
				b := time.Now()
				lat[i] = append(lat[i], b.Sub(a))
				if claimedN.Add(1) >= int64(total) {
					mu.Lock()
					lastClaim = b
					mu.Unlock()
				}
				if err := f.finish(gctx, j); errors.Is(err, errLeaseLost) {
					lost.Add(1) // the fake runner sends no heartbeat; the server requeues the job
					continue
				} else if err != nil {
					return err
				}
				if doneN.Add(1) == int64(total) {
					mu.Lock()
					lastDone = time.Now()
					mu.Unlock()
					stopRunners() // the others are in a long poll that cannot succeed
				}
			}
			return nil
		})
	}
	err = g.Wait()
	if doneN.Load() < int64(total) {
		if err == nil {
			err = context.Cause(ctx)
		}
		return res, fmt.Errorf("%d of %d jobs done: %w\n%s", doneN.Load(), total, err, s.logTail())
	}
	res.claimWall, res.wall, res.empty, res.lost = lastClaim.Sub(t0), lastDone.Sub(t0), empty.Load(), lost.Load()
	for _, l := range lat {
		res.claims = append(res.claims, l...)
	}
	if n, err := s.pendingJobs(ctx); err != nil || n != 0 {
		return res, fmt.Errorf("after the run: %d jobs pending (%v)", n, err)
	}
	res.hwmKB, _ = s.procStatus("VmHWM")
	return res, nil
}

// waitPending polls /metrics until want jobs are pending.
func waitPending(ctx context.Context, s *server, want int, d time.Duration) error {
	deadline := time.Now().Add(d)
	n := 0
	for {
		var err error
		n, err = s.pendingJobs(ctx)
		if err != nil {
			return err
		}
		if n == want {
			return nil
		}
		if n > want || time.Now().After(deadline) {
			return fmt.Errorf("%d jobs pending, want %d", n, want)
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
