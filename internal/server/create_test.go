package server

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slipway/slipway/internal/jobapi"
	"github.com/slipway/slipway/internal/pipeline"
	"github.com/slipway/slipway/internal/status"
)

// manyJobs is a configuration of n jobs, each padded to about size bytes.
func manyJobs(n, size int) string {
	var b strings.Builder
	pad := strings.Repeat("x", max(0, size-60))
	for i := range n {
		fmt.Fprintf(&b, "job_%05d:\n  script:\n    - echo %s\n  tags: [linux]\n", i, pad)
	}
	return b.String()
}

// TestAttackHugePipelineStarvesLeases: a 10 MB configuration of 58,000 jobs took 43 s and
// 2.4 GB, and other projects' running jobs lost their leases meanwhile. Now, while pipelines
// at the job limit (2,000 jobs; 200 under the race detector) are created and canceled on one
// project, and attempts at the huge one are refused, a job of another project keeps its
// lease: every heartbeat is answered within half of it (3 s; 7.5 s under the race detector).
func TestAttackHugePipelineStarvesLeases(t *testing.T) {
	// Not parallel: it measures how long heartbeats wait, which the package's other tests
	// would lengthen.
	limit, heartbeat := pipeline.DefaultMaxJobs, 2*time.Second
	if raceEnabled {
		// The race detector slows the store's writes some twentyfold.
		limit, heartbeat = 200, 5*time.Second
	}
	e := newEnv(t, manyJobs(limit, 100), func(o *Options) { o.Heartbeat = heartbeat; o.Limits.Jobs = limit })
	e.git("checkout", "-q", "-b", "huge")
	e.commit(map[string]string{".gitlab-ci.yml": manyJobs(58000, 180)}, "58,000 jobs")
	e.git("checkout", "-q", "-b", "small", "main")
	e.commit(map[string]string{".gitlab-ci.yml": "deploy:\n  script: [\"true\"]\n"}, "one job")
	heavy := e.project("heavy", "")
	other := e.project("other", "")

	e.trigger(other, "small", nil)
	j := e.claim(e.mustRegister("r1"), "deploy")
	lease := e.srv.sched.Lease()

	stop := make(chan struct{})
	var beats sync.WaitGroup
	var slowest time.Duration
	var failures []string
	beats.Go(func() {
		for {
			start := time.Now()
			r, err := e.send("PUT", jobapi.PathJob(j.ID), j.Token, jobapi.Update{State: status.Running}, nil)
			took := time.Since(start)
			slowest = max(slowest, took)
			switch {
			case err != nil:
				failures = append(failures, err.Error())
				return
			case r.status != http.StatusOK:
				failures = append(failures, r.String())
				return
			}
			select {
			case <-stop:
				return
			case <-time.After(lease / 10):
			}
		}
	})

	var work sync.WaitGroup
	for w := range 2 {
		work.Go(func() {
			for range 2 {
				r := e.do("POST", fmt.Sprintf("/api/v1/projects/%d/pipelines", heavy), adminToken, map[string]any{"ref": "huge"}, nil)
				if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "more than the limit") {
					t.Errorf("the 10 MB configuration: %s, want 400 for its size", r)
				}
				var p pipelineJSON
				e.api("POST", fmt.Sprintf("/api/v1/projects/%d/pipelines", heavy), map[string]any{"ref": "main", "variables": map[string]string{"W": fmt.Sprint(w)}}, http.StatusCreated, &p)
				e.api("POST", fmt.Sprintf("/api/v1/pipelines/%d/cancel", p.ID), nil, http.StatusOK, nil)
			}
		})
	}
	work.Wait()
	close(stop)
	beats.Wait()

	t.Logf("slowest heartbeat: %v (lease %v)", slowest, lease)
	if len(failures) > 0 {
		t.Errorf("heartbeats failed: %v", failures)
	}
	if slowest > lease/2 {
		t.Errorf("a heartbeat took %v, more than half the lease (%v)", slowest, lease)
	}
	if got := e.pipeline(e.pipelines(other)[0].ID).job("deploy"); got.Status != "running" {
		t.Errorf("the other project's job is %s, want still running", got.Status)
	}
	ps := e.pipelines(heavy)
	if len(ps) != 4 {
		t.Errorf("%d pipelines of %d jobs, want 4", len(ps), limit)
	}
}
